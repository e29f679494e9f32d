-- Users service (issue #16): the agency's sales settings — which sale types earn commission and manager tick,
-- how an imported sale is attributed per transaction type, whether only verified sales count, and how long a
-- chatter may edit their own sale — effective-dated like the platform settings (0004/0010's rule: the version
-- in effect on D is the greatest effective_from <= D; saving the same date again replaces it), and the per-model
-- mapping of platform sender names to chatters that attribution `sender` reads. docs/users.md "Sales settings".

CREATE TABLE user_service.sales_settings (
    id                 uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    agency_id          uuid        NOT NULL REFERENCES user_service.agencies (id),
    commission_types   text[]      NOT NULL CHECK (commission_types <@ ARRAY['message_sale', 'tip_sale',
                                       'subscription_sale', 'post_sale', 'stream_sale', 'referral_sale']::text[]),
    -- {transaction type: shift | sender | none}; a type left out is `shift`
    attribution_rules  jsonb       NOT NULL CHECK (jsonb_typeof(attribution_rules) = 'object'),
    verification       text        NOT NULL CHECK (verification IN ('off', 'required')),
    chatter_edit_hours integer     NOT NULL CHECK (chatter_edit_hours BETWEEN 0 AND 720),
    effective_from     date        NOT NULL,
    created_by         uuid,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    updated_by         uuid,
    UNIQUE (agency_id, effective_from)
);

ALTER TABLE user_service.settings_changes DROP CONSTRAINT settings_changes_kind_check;
ALTER TABLE user_service.settings_changes
    ADD CONSTRAINT settings_changes_kind_check CHECK (kind IN ('user_financial', 'model', 'platform', 'sales'));

CREATE VIEW user_service.sales_settings_versions AS
SELECT s.id AS version_id, s.agency_id, s.commission_types, s.attribution_rules, s.verification,
       s.chatter_edit_hours, s.effective_from,
       (lead(s.effective_from) OVER (PARTITION BY s.agency_id ORDER BY s.effective_from) - 1) AS effective_to
FROM user_service.sales_settings s;

-- One row for an existing agency; before its first version the defaults (message and tip sales earn, every
-- type by shift, verification off, 24 hours) with version_id and effective_from NULL. No row: unknown agency.
CREATE FUNCTION user_service.sales_settings_on(p_agency uuid, p_day date)
RETURNS TABLE (version_id uuid, agency_id uuid, commission_types text[], attribution_rules jsonb,
               verification text, chatter_edit_hours integer, effective_from date)
LANGUAGE sql STABLE AS $$
    SELECT v.id, a.id, coalesce(v.commission_types, ARRAY['message_sale', 'tip_sale']::text[]),
           coalesce(v.attribution_rules, '{}'::jsonb), coalesce(v.verification, 'off'),
           coalesce(v.chatter_edit_hours, 24), v.effective_from
    FROM user_service.agencies a
    LEFT JOIN LATERAL (
        SELECT s.id, s.commission_types, s.attribution_rules, s.verification, s.chatter_edit_hours, s.effective_from
        FROM user_service.sales_settings s
        WHERE s.agency_id = a.id AND s.effective_from <= p_day
        ORDER BY s.effective_from DESC
        LIMIT 1
    ) v ON true
    WHERE a.id = p_agency
$$;

-- The days on which the agency's verification is `required`, as one multirange (empty: never). Consumers
-- (payouts' loaders, statistics' recomputes: shared_lib/income_types.counted_sql) evaluate it once per
-- statement — it does not depend on the row — and test a sale's date against it.
CREATE FUNCTION user_service.verification_required_days(p_agency uuid) RETURNS datemultirange
LANGUAGE sql STABLE AS $$
    SELECT coalesce(range_agg(daterange(v.effective_from, v.effective_to, '[]')), '{}'::datemultirange)
    FROM user_service.sales_settings_versions v
    WHERE v.agency_id = p_agency AND v.verification = 'required'
$$;

-- Attribution `sender`: a model's platform sender names, each to one chatter (unique per model, compared trimmed
-- and case-insensitively; stored trimmed as given).
CREATE TABLE user_service.model_senders (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    agency_id  uuid        NOT NULL,
    model_id   uuid        NOT NULL,
    sender     text        NOT NULL CHECK (sender = btrim(sender) AND length(sender) BETWEEN 1 AND 200),
    chatter_id uuid        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (agency_id, model_id) REFERENCES user_service.models (agency_id, id) ON DELETE CASCADE,
    FOREIGN KEY (agency_id, chatter_id) REFERENCES user_service.users (agency_id, id)
);
CREATE UNIQUE INDEX model_senders_name ON user_service.model_senders (model_id, lower(sender));

SELECT audit.track('user_service.sales_settings', 'sales_settings');
SELECT audit.track('user_service.model_senders', 'model_sender');

-- income: attribution rules and sender names on import, the edit window; payouts and stats: commission types
-- and verification (the read functions above run with the caller's privileges).
GRANT SELECT ON user_service.sales_settings, user_service.sales_settings_versions TO om_income, om_payouts, om_stats;
GRANT SELECT ON user_service.model_senders TO om_income;
