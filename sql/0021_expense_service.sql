-- Expenses service: expenses (one-off or generated), recurring expense schedules and the occurrence ledger.

CREATE TABLE expense_service.recurring_expense_schedules (
    id           uuid          PRIMARY KEY DEFAULT gen_random_uuid(),
    agency_id    uuid          NOT NULL,
    source       text          NOT NULL CHECK (length(btrim(source)) BETWEEN 1 AND 200),
    amount       numeric(14,2) NOT NULL CHECK (amount > 0 AND amount <= 1000000),
    frequency    text          NOT NULL CHECK (frequency IN ('daily', 'weekly', 'monthly')),
    day_of_week  smallint      CHECK (day_of_week BETWEEN 1 AND 7),
    day_of_month smallint      CHECK (day_of_month BETWEEN 1 AND 31),
    start_date   date          NOT NULL CHECK (start_date >= DATE '2000-01-01'),
    end_date     date,
    notes        text          CHECK (length(notes) <= 2000),
    created_by   uuid          NOT NULL,
    created_at   timestamptz   NOT NULL DEFAULT now(),
    updated_at   timestamptz   NOT NULL DEFAULT now(),
    CHECK (end_date IS NULL OR end_date >= start_date),
    CHECK ((frequency = 'weekly') = (day_of_week IS NOT NULL)),
    CHECK ((frequency = 'monthly') = (day_of_month IS NOT NULL))
);
CREATE INDEX recurring_expense_schedules_list
    ON expense_service.recurring_expense_schedules (agency_id, created_at DESC, id DESC);

CREATE TABLE expense_service.expenses (
    id              uuid          PRIMARY KEY DEFAULT gen_random_uuid(),
    agency_id       uuid          NOT NULL,
    amount          numeric(14,2) NOT NULL CHECK (amount > 0 AND amount <= 1000000),
    expense_date    date          NOT NULL CHECK (expense_date >= DATE '2000-01-01'),
    source          text          NOT NULL CHECK (length(btrim(source)) BETWEEN 1 AND 200),
    notes           text          CHECK (length(notes) <= 2000),
    schedule_id     uuid          REFERENCES expense_service.recurring_expense_schedules (id),
    occurrence_date date,
    created_by      uuid          NOT NULL,
    created_at      timestamptz   NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz   NOT NULL DEFAULT clock_timestamp(),
    CHECK ((schedule_id IS NULL) = (occurrence_date IS NULL))
);
CREATE UNIQUE INDEX expenses_occurrence
    ON expense_service.expenses (schedule_id, occurrence_date) WHERE schedule_id IS NOT NULL;
-- GET /api/expenses/: date range filter and the (expense_date, created_at, id) descending cursor.
CREATE INDEX expenses_list
    ON expense_service.expenses (agency_id, expense_date DESC, created_at DESC, id DESC);

-- Every occurrence ever generated, kept when its expense is deleted (never generated twice).
CREATE TABLE expense_service.recurring_expense_occurrences (
    schedule_id     uuid        NOT NULL REFERENCES expense_service.recurring_expense_schedules (id),
    occurrence_date date        NOT NULL,
    expense_id      uuid        REFERENCES expense_service.expenses (id)
                                ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED,
    generated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schedule_id, occurrence_date)
);
CREATE INDEX recurring_expense_occurrences_expense
    ON expense_service.recurring_expense_occurrences (expense_id) WHERE expense_id IS NOT NULL;
