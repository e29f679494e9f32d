-- Users service, part 2: team invariants, settings bookkeeping, and the read API other services use
-- ("which version applies on date D", version ranges, current assignments). Builds on 0002 and 0004.

-- Teams. A manager is a user of the same agency (foreign key); nobody manages themselves. "Only a manager
-- can have a team" and "no team loops" need the role and the whole chain, so functions/users checks them
-- under the agency's team lock (pg_advisory_xact_lock), which serializes every team-changing write.
ALTER TABLE user_service.users
    ADD CONSTRAINT users_manager_same_agency FOREIGN KEY (agency_id, manager_id)
        REFERENCES user_service.users (agency_id, id),
    ADD CONSTRAINT users_not_own_manager CHECK (manager_id IS DISTINCT FROM id);

-- Saving a version for an effective_from that already has one replaces it (0004's rule); these say when
-- and by whom, and settings_changes keeps every value a version ever had.
ALTER TABLE user_service.user_financial_settings
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN updated_by uuid;
ALTER TABLE user_service.model_settings
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN updated_by uuid;
ALTER TABLE user_service.platform_settings
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN updated_by uuid;

-- Append-only: one row per settings write (old_values NULL when the version is new).
CREATE TABLE user_service.settings_changes (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agency_id      uuid        NOT NULL REFERENCES user_service.agencies (id),
    kind           text        NOT NULL CHECK (kind IN ('user_financial', 'model', 'platform')),
    subject_id     uuid        NOT NULL,   -- the user, the model, or the agency (platform)
    effective_from date        NOT NULL,
    old_values     jsonb,
    new_values     jsonb       NOT NULL,
    changed_by     uuid,
    changed_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX settings_changes_subject ON user_service.settings_changes (agency_id, kind, subject_id, changed_at DESC);

-- Model lists scoped to a chatter or a manager's team start from the assignment side.
CREATE INDEX model_assignments_agency_user ON user_service.model_assignments (agency_id, user_id, model_id);


-- === Read API for other services (income, payouts, stats): read these, never the rules re-implemented ===

-- Every version with the last day it is in effect (effective_to, inclusive; NULL = still in effect).
-- Set-based consumers join on `d BETWEEN effective_from AND coalesce(effective_to, 'infinity')`, and
-- prorate with the overlap of [effective_from, effective_to] and a period.
CREATE VIEW user_service.user_financial_settings_versions AS
SELECT s.id AS version_id, s.agency_id, s.user_id, s.compensation_type, s.commission_rate, s.fixed_salary,
       s.manager_tick_rate, s.effective_from,
       (lead(s.effective_from) OVER (PARTITION BY s.user_id ORDER BY s.effective_from) - 1) AS effective_to
FROM user_service.user_financial_settings s;

CREATE VIEW user_service.model_settings_versions AS
SELECT s.id AS version_id, s.agency_id, s.model_id, s.model_share_percent, s.split_chatting_costs, s.effective_from,
       (lead(s.effective_from) OVER (PARTITION BY s.model_id ORDER BY s.effective_from) - 1) AS effective_to
FROM user_service.model_settings s;

CREATE VIEW user_service.platform_settings_versions AS
SELECT s.id AS version_id, s.agency_id, s.onlyfans_fee_percent, s.effective_from,
       (lead(s.effective_from) OVER (PARTITION BY s.agency_id ORDER BY s.effective_from) - 1) AS effective_to
FROM user_service.platform_settings s;

-- "Which version applies on date D": the greatest effective_from <= D. functions/users/queries.py
-- (settings_on) calls these same functions, so Python and SQL consumers cannot disagree.

-- No row when the user has no version in effect on that day: nothing is paid (there is no default pay).
CREATE FUNCTION user_service.user_financial_settings_on(p_user uuid, p_day date)
RETURNS TABLE (version_id uuid, agency_id uuid, user_id uuid, compensation_type text, commission_rate numeric,
               fixed_salary numeric, manager_tick_rate numeric, effective_from date)
LANGUAGE sql STABLE AS $$
    SELECT s.id, s.agency_id, s.user_id, s.compensation_type, s.commission_rate, s.fixed_salary,
           s.manager_tick_rate, s.effective_from
    FROM user_service.user_financial_settings s
    WHERE s.user_id = p_user AND s.effective_from <= p_day
    ORDER BY s.effective_from DESC
    LIMIT 1
$$;

-- One row for an existing model; before its first version the defaults (share 0.00, split off) with
-- version_id and effective_from NULL. No row for an unknown model.
CREATE FUNCTION user_service.model_settings_on(p_model uuid, p_day date)
RETURNS TABLE (version_id uuid, agency_id uuid, model_id uuid, model_share_percent numeric,
               split_chatting_costs boolean, effective_from date)
LANGUAGE sql STABLE AS $$
    SELECT v.id, m.agency_id, m.id, coalesce(v.model_share_percent, 0.00), coalesce(v.split_chatting_costs, false),
           v.effective_from
    FROM user_service.models m
    LEFT JOIN LATERAL (
        SELECT s.id, s.model_share_percent, s.split_chatting_costs, s.effective_from
        FROM user_service.model_settings s
        WHERE s.model_id = m.id AND s.effective_from <= p_day
        ORDER BY s.effective_from DESC
        LIMIT 1
    ) v ON true
    WHERE m.id = p_model
$$;

-- One row for an existing agency; before its first version the default fee 20.00 (NULL version).
CREATE FUNCTION user_service.platform_settings_on(p_agency uuid, p_day date)
RETURNS TABLE (version_id uuid, agency_id uuid, onlyfans_fee_percent numeric, effective_from date)
LANGUAGE sql STABLE AS $$
    SELECT v.id, a.id, coalesce(v.onlyfans_fee_percent, 20.00), v.effective_from
    FROM user_service.agencies a
    LEFT JOIN LATERAL (
        SELECT s.id, s.onlyfans_fee_percent, s.effective_from
        FROM user_service.platform_settings s
        WHERE s.agency_id = a.id AND s.effective_from <= p_day
        ORDER BY s.effective_from DESC
        LIMIT 1
    ) v ON true
    WHERE a.id = p_agency
$$;

-- fee_percent_on (0004) keeps its signature and answers; now one definition behind both.
CREATE OR REPLACE FUNCTION user_service.fee_percent_on(p_agency uuid, p_day date) RETURNS numeric
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT onlyfans_fee_percent FROM user_service.platform_settings_on(p_agency, p_day)), 20.00)
$$;

-- Current assignments with what registration checks need (role, team, active flags).
CREATE VIEW user_service.current_assignments AS
SELECT ma.agency_id, ma.model_id, ma.user_id, u.role, u.manager_id, u.active AS user_active,
       m.active AS model_active, ma.created_at AS assigned_at
FROM user_service.model_assignments ma
JOIN user_service.users u ON u.id = ma.user_id
JOIN user_service.models m ON m.id = ma.model_id;

CREATE FUNCTION user_service.is_assigned(p_model uuid, p_user uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM user_service.model_assignments WHERE model_id = p_model AND user_id = p_user)
$$;
