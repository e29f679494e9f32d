-- Users service: what GET PATCH /api/agency/ reads from other services (functions/users/queries.py).
-- PATCH refuses a currency or time-zone change once the agency has booked anything (agency_recorded); GET shows
-- the Owner the time-tracking rules in effect (timetracking_service.settings_on, which reads settings).
-- om_users is 0090's role; it is created here too when missing, with 0090's tolerance of concurrent runs.
DO $$
BEGIN
    CREATE ROLE om_users NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

GRANT USAGE ON SCHEMA income_service, expense_service, timetracking_service, statistics_service,
    financial_calculations TO om_users;
GRANT SELECT ON income_service.income_records, income_service.recurring_income_schedules,
    expense_service.expenses, expense_service.recurring_expense_schedules,
    timetracking_service.shifts, timetracking_service.settings,
    statistics_service.subscriber_count_snapshots,
    financial_calculations.periods
    TO om_users;
