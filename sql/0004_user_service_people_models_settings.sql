-- Users service: models, assignments and the effective-dated settings every calculation reads.
-- Rule for every versioned table: the version in effect on date D is the row with the greatest
-- effective_from <= D; one version per (owner, effective_from) — saving the same date again replaces it.

CREATE TABLE user_service.models (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    agency_id  uuid        NOT NULL REFERENCES user_service.agencies (id),
    name       text        NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    active     boolean     NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (agency_id, id)
);
CREATE INDEX models_agency ON user_service.models (agency_id, created_at DESC, id DESC);

CREATE TABLE user_service.model_assignments (
    agency_id  uuid        NOT NULL,
    model_id   uuid        NOT NULL,
    user_id    uuid        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model_id, user_id),
    -- Both ends belong to the same agency, enforced by the database.
    FOREIGN KEY (agency_id, model_id) REFERENCES user_service.models (agency_id, id) ON DELETE CASCADE,
    FOREIGN KEY (agency_id, user_id) REFERENCES user_service.users (agency_id, id)
);
CREATE INDEX model_assignments_user ON user_service.model_assignments (user_id);

CREATE TABLE user_service.user_financial_settings (
    id                uuid          PRIMARY KEY DEFAULT gen_random_uuid(),
    agency_id         uuid          NOT NULL,
    user_id           uuid          NOT NULL,
    compensation_type text          NOT NULL CHECK (compensation_type IN ('commission', 'fixed', 'fixed_plus_commission')),
    commission_rate   numeric(5,2)  NOT NULL DEFAULT 0 CHECK (commission_rate BETWEEN 0 AND 100),
    fixed_salary      numeric(14,2) NOT NULL DEFAULT 0 CHECK (fixed_salary >= 0),
    manager_tick_rate numeric(5,2)  NOT NULL DEFAULT 0 CHECK (manager_tick_rate BETWEEN 0 AND 100),
    effective_from    date          NOT NULL,
    created_by        uuid,
    created_at        timestamptz   NOT NULL DEFAULT now(),
    UNIQUE (user_id, effective_from),
    FOREIGN KEY (agency_id, user_id) REFERENCES user_service.users (agency_id, id)
);
CREATE INDEX user_financial_settings_agency ON user_service.user_financial_settings (agency_id, effective_from);

CREATE TABLE user_service.model_settings (
    id                   uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    agency_id            uuid         NOT NULL,
    model_id             uuid         NOT NULL,
    model_share_percent  numeric(5,2) NOT NULL DEFAULT 0 CHECK (model_share_percent BETWEEN 0 AND 100),
    split_chatting_costs boolean      NOT NULL DEFAULT false,
    effective_from       date         NOT NULL,
    created_by           uuid,
    created_at           timestamptz  NOT NULL DEFAULT now(),
    UNIQUE (model_id, effective_from),
    FOREIGN KEY (agency_id, model_id) REFERENCES user_service.models (agency_id, id)
);
CREATE INDEX model_settings_agency ON user_service.model_settings (agency_id, effective_from);

CREATE TABLE user_service.platform_settings (
    id                   uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    agency_id            uuid         NOT NULL REFERENCES user_service.agencies (id),
    onlyfans_fee_percent numeric(5,2) NOT NULL CHECK (onlyfans_fee_percent BETWEEN 0 AND 100),
    effective_from       date         NOT NULL,
    created_by           uuid,
    created_at           timestamptz  NOT NULL DEFAULT now(),
    UNIQUE (agency_id, effective_from)
);

-- The one answer to "which OnlyFans fee applies on date D" for every consumer (default 20.00).
CREATE FUNCTION user_service.fee_percent_on(p_agency uuid, p_day date) RETURNS numeric
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT onlyfans_fee_percent FROM user_service.platform_settings
                     WHERE agency_id = p_agency AND effective_from <= p_day
                     ORDER BY effective_from DESC LIMIT 1), 20.00)
$$;
