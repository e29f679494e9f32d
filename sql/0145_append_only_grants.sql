-- Append-only tables, one rule (the exception to sql/0090's own-schema read/write grants): a row of an append-only
-- business table is never edited or deleted, by anyone. Two guards, both always:
--   1. a BEFORE UPDATE OR DELETE trigger refuses the statement for every role, the owner and the admin login too
--      (SQLSTATE 42501, insufficient_privilege);
--   2. the writing service's role is not granted UPDATE, DELETE or TRUNCATE on it: it may SELECT and INSERT only
--      (INSERT … ON CONFLICT DO NOTHING needs no UPDATE), so a refusal comes from the privilege check already.
-- sql/0135 did both for financial_calculations.adjustments; sql/0140 left financial_calculations.payments with the
-- schema's default grants (ALTER DEFAULT PRIVILEGES of sql/0090). This brings payments in line. TRUNCATE is granted
-- to no service role (the revoke is for the record); it stays possible for the admin login, which the tests use to
-- empty every service table between tests.
-- tests/integration/test_service_roles.py lists the append-only tables and checks both guards for each.
REVOKE UPDATE, DELETE, TRUNCATE ON financial_calculations.payments FROM om_payouts;
REVOKE UPDATE, DELETE, TRUNCATE ON financial_calculations.adjustments FROM om_payouts;
