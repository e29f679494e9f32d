-- Least privilege: one NOLOGIN group role per service. Each function's login (in the cloud the service
-- account's IAM database user, granted its group role by `python -m shared_lib.migrate`; locally SET LOCAL
-- ROLE, DB_SERVICE_ROLES) can read and write its own schema, read exactly the tables of other schemas its
-- code reads, and touch the eventing tables only as the shared pipeline needs. docs/DESIGN.md has the table.
--
-- Roles are cluster-wide while grants are per database, and test processes migrate their own databases on
-- one server at the same time: a role another run created first (duplicate_object), or is creating right now
-- (unique_violation once it commits), is the same role.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['om_users', 'om_income', 'om_expenses', 'om_payouts', 'om_stats', 'om_timetracking',
                             'om_eventing']
    LOOP
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END LOOP;
END
$$;

-- === Own schema: read/write, now and for every table or sequence later migrations create ===
-- (ALTER DEFAULT PRIVILEGES covers objects created by the role running this file: migrations always run as
-- the same admin login, the migrate job's.)
DO $$
DECLARE
    own record;
BEGIN
    FOR own IN SELECT * FROM (VALUES ('om_users', 'user_service'), ('om_income', 'income_service'),
                                     ('om_expenses', 'expense_service'), ('om_payouts', 'financial_calculations'),
                                     ('om_stats', 'statistics_service'), ('om_timetracking', 'timetracking_service'))
                             AS t(role, schema)
    LOOP
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', own.schema, own.role);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %I', own.schema, own.role);
        EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I', own.schema, own.role);
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I',
                       own.schema, own.role);
        EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT ON SEQUENCES TO %I',
                       own.schema, own.role);
    END LOOP;
END
$$;

-- === Other services' schemas: SELECT on exactly what the code reads (a new cross-service read is a grant
-- in a new migration; the tests run every flow under these roles, so a missing one fails there) ===
-- Functions run with the caller's privileges: calling user_service.fee_percent_on needs SELECT on
-- platform_settings, timetracking_service.deductions_for on settings, shifts and time_entries.

-- Every HTTP service resolves its caller (shared_lib/http.py: users joined to agencies).
GRANT USAGE ON SCHEMA user_service TO om_income, om_expenses, om_payouts, om_stats, om_timetracking;
GRANT SELECT ON user_service.users, user_service.agencies
    TO om_income, om_expenses, om_payouts, om_stats, om_timetracking;
-- income: model checks, chatter-model assignments, the OnlyFans fee in effect on the sale date.
GRANT SELECT ON user_service.models, user_service.model_assignments, user_service.platform_settings TO om_income;
-- payouts: the settings versions every calculation applies.
GRANT SELECT ON user_service.models, user_service.model_settings, user_service.user_financial_settings
    TO om_payouts;
-- stats: model names and time zones.
GRANT SELECT ON user_service.models TO om_stats;

-- users: an agency's currency and time zone are fixed once anything is booked in them (agency_recorded:
-- existence checks only), and GET /api/agency/ shows the time-tracking settings in effect.
GRANT USAGE ON SCHEMA income_service, expense_service, timetracking_service, statistics_service TO om_users;
GRANT SELECT ON income_service.income_records, income_service.recurring_income_schedules, expense_service.expenses,
    expense_service.recurring_expense_schedules, timetracking_service.shifts, timetracking_service.settings,
    statistics_service.subscriber_count_snapshots TO om_users;

-- The closed-period rule (shared_lib/closing.py, the recurring generators): every service that changes dated
-- figures asks financial_calculations.periods; stats also shows the calculated period results.
GRANT USAGE ON SCHEMA financial_calculations TO om_users, om_income, om_expenses, om_stats, om_timetracking;
GRANT SELECT ON financial_calculations.periods TO om_users, om_income, om_expenses, om_stats, om_timetracking;
GRANT SELECT ON financial_calculations.period_results TO om_stats;

-- The truth payouts calculate from and stats aggregate.
GRANT USAGE ON SCHEMA income_service, expense_service TO om_payouts, om_stats;
GRANT SELECT ON income_service.income_records, expense_service.expenses TO om_payouts, om_stats;
-- payouts: deductions_for (lateness and missed shifts at the settings in effect).
GRANT USAGE ON SCHEMA timetracking_service TO om_payouts;
GRANT SELECT ON timetracking_service.settings, timetracking_service.shifts, timetracking_service.time_entries
    TO om_payouts;

-- === eventing: what the shared pipeline does, per kind of function ===
GRANT USAGE ON SCHEMA eventing TO om_users, om_income, om_expenses, om_payouts, om_stats, om_timetracking,
    om_eventing;
-- Every service writes events in its transaction and marks them published after commit (events.py).
GRANT INSERT, SELECT (event_id), UPDATE (published_at, claimed_until) ON eventing.outbox
    TO om_users, om_income, om_expenses, om_payouts, om_stats, om_timetracking;
-- Services with event triggers claim each event once (claim_inbox: INSERT … ON CONFLICT DO NOTHING).
GRANT INSERT ON eventing.inbox TO om_users, om_income, om_payouts, om_stats, om_timetracking;
-- Every HTTP service may declare idempotent POSTs (claim, replay, store the answer: http.py).
GRANT SELECT, INSERT, UPDATE ON eventing.idempotency_keys
    TO om_users, om_income, om_expenses, om_payouts, om_stats, om_timetracking;
-- The eventing service: the outbox relay (claim and lease unpublished rows) and retention-prune.
GRANT SELECT, UPDATE, DELETE ON eventing.outbox TO om_eventing;
GRANT SELECT, DELETE ON eventing.inbox, eventing.idempotency_keys TO om_eventing;
