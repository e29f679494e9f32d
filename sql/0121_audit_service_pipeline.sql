-- The audit service is an HTTP service like the others: the shared pipeline may keep idempotency keys for it
-- (0090's rule for every HTTP service, so a new function of an existing kind needs no new grant).
GRANT USAGE ON SCHEMA eventing TO om_audit;
GRANT SELECT, INSERT, UPDATE ON eventing.idempotency_keys TO om_audit;
