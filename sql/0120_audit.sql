-- The audit trail (BUSINESS_RULES "Audit trail", docs/audit.md): every create, change and delete of a business
-- table writes one entry per row in the same transaction, written by the database itself (a trigger), so no
-- code path can forget it. Entries can't be changed or removed: a trigger refuses UPDATE, DELETE and TRUNCATE
-- for everyone (the table's owner too), and the service roles get INSERT only; om_audit (GET /api/audit/) reads.
--
-- Adding an audited table (wave 2 and later) is one line in a new migration:
--     SELECT audit.track('financial_calculations.adjustments', 'adjustment');
-- after the table exists and its service's role has its grants (track() grants that role INSERT here).
CREATE SCHEMA IF NOT EXISTS audit;

DO $$
BEGIN
    CREATE ROLE om_audit NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- roles are cluster-wide: another run's (0090's tolerance of concurrent runs)
END
$$;

CREATE TABLE audit.entries (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agency_id     uuid        NOT NULL,
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_user_id uuid,                 -- NULL: no person (the scheduler, an event handler, a signup)
    actor_role    text        NOT NULL CHECK (length(actor_role) BETWEEN 1 AND 32),
    action        text        NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    entity        text        NOT NULL,
    entity_id     text        NOT NULL,
    before        jsonb,
    after         jsonb,
    CHECK ((action = 'create') = (before IS NULL) AND (action = 'delete') = (after IS NULL))
);
-- GET /api/audit/ is newest first by id within one agency; each filter has its index.
CREATE INDEX entries_agency ON audit.entries (agency_id, id DESC);
CREATE INDEX entries_entity ON audit.entries (agency_id, entity, entity_id, id DESC);
CREATE INDEX entries_actor ON audit.entries (agency_id, actor_user_id, id DESC);
CREATE INDEX entries_at ON audit.entries (agency_id, at);

-- What is audited, as entity → table (track() keeps it; the tests read it to compare entries with rows).
CREATE TABLE audit.tracked (
    entity        text     PRIMARY KEY,
    table_name    regclass NOT NULL UNIQUE,
    id_columns    text[]   NOT NULL,
    agency_column text     NOT NULL
);

CREATE FUNCTION audit.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit entries cannot be changed or removed (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON audit.entries
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse();
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON audit.entries
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse();
REVOKE ALL ON audit.entries, audit.tracked FROM PUBLIC;

-- An entity's id as text: its key columns joined by ':' (model_assignments: "<model_id>:<user_id>").
CREATE FUNCTION audit.key_of(row_values jsonb, id_columns text[]) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
    SELECT string_agg(row_values ->> k, ':' ORDER BY i) FROM unnest(id_columns) WITH ORDINALITY AS u(k, i)
$$;

-- The trigger of every audited table: AFTER each statement, one INSERT … SELECT over the statement's transition
-- table(s), so a 50,000-row import writes its 50,000 entries in one statement. The actor is the transaction's
-- (shared_lib/audit.py sets om.actor_id / om.actor_role); none set is the system. An update that changes
-- nothing but updated_at is not an entry. Arguments: entity, id columns, agency column (track() passes them).
-- SECURITY INVOKER: the writing service's role needs INSERT on audit.entries, which track() grants.
CREATE FUNCTION audit.record() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    entity        text   := TG_ARGV[0];
    id_columns    text[] := TG_ARGV[1]::text[];
    agency_column text   := TG_ARGV[2];
    actor         uuid   := nullif(current_setting('om.actor_id', true), '')::uuid;
    actor_role    text   := coalesce(nullif(current_setting('om.actor_role', true), ''), 'system');
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO audit.entries (agency_id, actor_user_id, actor_role, action, entity, entity_id, before, after)
        SELECT (n.v ->> agency_column)::uuid, actor, actor_role, 'create', entity, audit.key_of(n.v, id_columns),
               NULL, n.v
        FROM (SELECT to_jsonb(r) AS v FROM new_rows r) n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO audit.entries (agency_id, actor_user_id, actor_role, action, entity, entity_id, before, after)
        SELECT (o.v ->> agency_column)::uuid, actor, actor_role, 'delete', entity, audit.key_of(o.v, id_columns),
               o.v, NULL
        FROM (SELECT to_jsonb(r) AS v FROM old_rows r) o;
    ELSE
        INSERT INTO audit.entries (agency_id, actor_user_id, actor_role, action, entity, entity_id, before, after)
        SELECT (n.v ->> agency_column)::uuid, actor, actor_role, 'update', entity, n.k, o.v, n.v
        FROM (SELECT to_jsonb(r) AS v, audit.key_of(to_jsonb(r), id_columns) AS k FROM old_rows r) o
        JOIN (SELECT to_jsonb(r) AS v, audit.key_of(to_jsonb(r), id_columns) AS k FROM new_rows r) n USING (k)
        WHERE o.v - 'updated_at' IS DISTINCT FROM n.v - 'updated_at';
    END IF;
    RETURN NULL;
END
$$;

-- Audit `tbl` as `entity`: its three statement triggers, its row in audit.tracked, and INSERT on the entries
-- for every role that may write it. The id columns must not change in an UPDATE (an update is paired with its
-- old row by them). Running it again for the same table replaces its triggers.
CREATE FUNCTION audit.track(tbl regclass, entity text, id_columns text[] DEFAULT '{id}',
                            agency_column text DEFAULT 'agency_id') RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    missing text;
    writer  text;
    ev      text;
BEGIN
    SELECT string_agg(c, ', ') INTO missing FROM unnest(id_columns || agency_column) AS c
    WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = c AND a.attnum > 0
                                                    AND NOT a.attisdropped);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'audit.track(%): no column %', tbl, missing;
    END IF;
    INSERT INTO audit.tracked (entity, table_name, id_columns, agency_column)
    VALUES (track.entity, tbl, track.id_columns, track.agency_column)
    ON CONFLICT ON CONSTRAINT tracked_pkey DO UPDATE
        SET table_name = EXCLUDED.table_name, id_columns = EXCLUDED.id_columns,
            agency_column = EXCLUDED.agency_column;
    FOREACH ev IN ARRAY ARRAY['insert', 'update', 'delete'] LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS audit_%s ON %s', ev, tbl);
        EXECUTE format('CREATE TRIGGER audit_%s AFTER %s ON %s REFERENCING %s FOR EACH STATEMENT '
                       'EXECUTE FUNCTION audit.record(%L, %L, %L)',
                       ev, upper(ev), tbl,
                       CASE ev WHEN 'insert' THEN 'NEW TABLE AS new_rows'
                               WHEN 'update' THEN 'OLD TABLE AS old_rows NEW TABLE AS new_rows'
                               ELSE 'OLD TABLE AS old_rows' END,
                       entity, id_columns, agency_column);
    END LOOP;
    FOR writer IN
        SELECT DISTINCT a.grantee::regrole::text
        FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.oid = tbl AND a.grantee <> 0 AND a.grantee <> c.relowner
          AND a.privilege_type IN ('INSERT', 'UPDATE', 'DELETE')
    LOOP
        EXECUTE format('GRANT USAGE ON SCHEMA audit TO %s', writer);
        EXECUTE format('GRANT INSERT ON audit.entries TO %s', writer);
    END LOOP;
END
$$;

-- === What is audited today (derived tables are not: payout results, statistics, outbox/inbox, the recurring
-- generators' occurrence bookkeeping, settings_changes (a history the settings tables' entries already hold),
-- time_events (the app's raw documents; the shifts and entries they make are audited)) ===
SELECT audit.track('user_service.agencies', 'agency', '{id}', 'id');
SELECT audit.track('user_service.users', 'user');
SELECT audit.track('user_service.models', 'model');
SELECT audit.track('user_service.model_assignments', 'model_assignment', '{model_id,user_id}');
SELECT audit.track('user_service.user_financial_settings', 'user_financial_settings');
SELECT audit.track('user_service.model_settings', 'model_settings');
SELECT audit.track('user_service.platform_settings', 'platform_settings');
SELECT audit.track('timetracking_service.settings', 'timetracking_settings', '{effective_from}');
SELECT audit.track('financial_calculations.periods', 'period', '{period}');
SELECT audit.track('income_service.income_records', 'income');
SELECT audit.track('income_service.recurring_income_schedules', 'income_schedule');
SELECT audit.track('expense_service.expenses', 'expense');
SELECT audit.track('expense_service.recurring_expense_schedules', 'expense_schedule');
SELECT audit.track('timetracking_service.shifts', 'shift');
SELECT audit.track('timetracking_service.time_entries', 'time_entry');

-- === The audit service: reads the entries, and resolves its caller like every HTTP service ===
GRANT USAGE ON SCHEMA audit TO om_audit;
GRANT SELECT ON audit.entries TO om_audit;
GRANT USAGE ON SCHEMA user_service TO om_audit;
GRANT SELECT ON user_service.users, user_service.agencies TO om_audit;
