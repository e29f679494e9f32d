-- The audit trail's reason (issue #16, reassignment; docs/audit.md "Reason"): a change made for a stated reason
-- (POST /api/income/records/{id}/reassign/ requires one) carries it on each of its entries. The use case puts it
-- in the transaction-local setting om.reason (shared_lib/audit.set_reason), beside om.actor_id; the trigger
-- copies it. Null for every other change, and for every entry written before this migration.
ALTER TABLE audit.entries
    ADD COLUMN reason text CHECK (reason IS NULL OR length(reason) BETWEEN 1 AND 500);

-- 0120's audit.record(), the same statements with the reason.
CREATE OR REPLACE FUNCTION audit.record() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    entity        text   := TG_ARGV[0];
    id_columns    text[] := TG_ARGV[1]::text[];
    agency_column text   := TG_ARGV[2];
    actor         uuid   := nullif(current_setting('om.actor_id', true), '')::uuid;
    actor_role    text   := coalesce(nullif(current_setting('om.actor_role', true), ''), 'system');
    why           text   := nullif(current_setting('om.reason', true), '');
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO audit.entries (agency_id, actor_user_id, actor_role, action, entity, entity_id, before, after,
                                   reason)
        SELECT (n.v ->> agency_column)::uuid, actor, actor_role, 'create', entity, audit.key_of(n.v, id_columns),
               NULL, n.v, why
        FROM (SELECT to_jsonb(r) AS v FROM new_rows r) n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO audit.entries (agency_id, actor_user_id, actor_role, action, entity, entity_id, before, after,
                                   reason)
        SELECT (o.v ->> agency_column)::uuid, actor, actor_role, 'delete', entity, audit.key_of(o.v, id_columns),
               o.v, NULL, why
        FROM (SELECT to_jsonb(r) AS v FROM old_rows r) o;
    ELSE
        INSERT INTO audit.entries (agency_id, actor_user_id, actor_role, action, entity, entity_id, before, after,
                                   reason)
        SELECT (n.v ->> agency_column)::uuid, actor, actor_role, 'update', entity, n.k, o.v, n.v, why
        FROM (SELECT to_jsonb(r) AS v, audit.key_of(to_jsonb(r), id_columns) AS k FROM old_rows r) o
        JOIN (SELECT to_jsonb(r) AS v, audit.key_of(to_jsonb(r), id_columns) AS k FROM new_rows r) n USING (k)
        WHERE o.v - 'updated_at' IS DISTINCT FROM n.v - 'updated_at';
    END IF;
    RETURN NULL;
END
$$;
