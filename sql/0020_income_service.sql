-- Income service: income records (chatting sales and other income), recurring other-income schedules and the
-- ledger of generated occurrences. Ids of users and models (user_service) are checked by the service, not by
-- cross-schema foreign keys: each service owns its schema and may later live in its own database.

CREATE TABLE income_service.recurring_income_schedules (
    id                  uuid          PRIMARY KEY DEFAULT gen_random_uuid(),
    agency_id           uuid          NOT NULL,
    source              text          NOT NULL CHECK (length(btrim(source)) BETWEEN 1 AND 200),
    amount              numeric(14,2) NOT NULL CHECK (amount > 0 AND amount <= 1000000),
    frequency           text          NOT NULL CHECK (frequency IN ('daily', 'weekly', 'monthly')),
    day_of_week         smallint      CHECK (day_of_week BETWEEN 1 AND 7),    -- ISO: Monday = 1
    day_of_month        smallint      CHECK (day_of_month BETWEEN 1 AND 31),  -- past the month's end: its last day
    start_date          date          NOT NULL CHECK (start_date >= DATE '2000-01-01'),
    end_date            date,                                                  -- inclusive; NULL = open-ended
    model_id            uuid,
    assigned_to_user_id uuid,
    split_percent       numeric(5,2)  CHECK (split_percent > 0 AND split_percent <= 100),
    split_fixed_amount  numeric(14,2) CHECK (split_fixed_amount > 0),
    notes               text          CHECK (length(notes) <= 2000),
    created_by          uuid          NOT NULL,
    created_at          timestamptz   NOT NULL DEFAULT now(),
    updated_at          timestamptz   NOT NULL DEFAULT now(),
    CHECK (end_date IS NULL OR end_date >= start_date),
    CHECK ((frequency = 'weekly') = (day_of_week IS NOT NULL)),
    CHECK ((frequency = 'monthly') = (day_of_month IS NOT NULL)),
    CHECK (split_percent IS NULL OR split_fixed_amount IS NULL),
    CHECK (split_fixed_amount IS NULL OR split_fixed_amount <= amount),
    CHECK ((assigned_to_user_id IS NULL) = (split_percent IS NULL AND split_fixed_amount IS NULL))
);
-- GET /api/income/recurring/: the agency's schedules, newest first.
CREATE INDEX recurring_income_schedules_list
    ON income_service.recurring_income_schedules (agency_id, created_at DESC, id DESC);

CREATE TABLE income_service.income_records (
    id                    uuid          PRIMARY KEY DEFAULT gen_random_uuid(),
    agency_id             uuid          NOT NULL,
    -- message_sale, tip_sale: chatting sales (OnlyFans, a model, one chatter, platform fee);
    -- other_income: not from OnlyFans (no fee, optional model, no chatter). The rules live in code, not a table.
    type                  text          NOT NULL CHECK (type IN ('message_sale', 'tip_sale', 'other_income')),
    gross_amount          numeric(14,2) NOT NULL CHECK (gross_amount > 0 AND gross_amount <= 1000000),
    fee_percent           numeric(5,2)  NOT NULL CHECK (fee_percent BETWEEN 0 AND 100),
    fee_amount            numeric(14,2) NOT NULL CHECK (fee_amount >= 0),
    net_amount            numeric(14,2) NOT NULL CHECK (net_amount >= 0),
    sale_date             date          NOT NULL CHECK (sale_date >= DATE '2000-01-01'),
    model_id              uuid,
    chatter_id            uuid,
    manager_id            uuid,          -- the chatter's manager when the sale was registered (tick snapshot)
    registered_by_user_id uuid          NOT NULL,
    customer_username     text          CHECK (length(customer_username) <= 100),
    source                text          CHECK (length(source) <= 200),
    notes                 text          CHECK (length(notes) <= 2000),
    assigned_to_user_id   uuid,
    split_percent         numeric(5,2)  CHECK (split_percent > 0 AND split_percent <= 100),
    split_fixed_amount    numeric(14,2) CHECK (split_fixed_amount > 0),
    schedule_id           uuid          REFERENCES income_service.recurring_income_schedules (id),
    occurrence_date       date,
    created_at            timestamptz   NOT NULL DEFAULT clock_timestamp(),
    updated_at            timestamptz   NOT NULL DEFAULT clock_timestamp(),
    CHECK (fee_amount + net_amount = gross_amount),
    -- Chatting sales: a model and a chatter. Other income: no chatter, no platform fee.
    CHECK (type = 'other_income' OR (model_id IS NOT NULL AND chatter_id IS NOT NULL)),
    CHECK (type <> 'other_income' OR (chatter_id IS NULL AND manager_id IS NULL AND fee_percent = 0
                                      AND fee_amount = 0 AND customer_username IS NULL)),
    -- A split belongs to other income only, to one user, by percent or by a fixed amount (never both).
    CHECK (type = 'other_income' OR assigned_to_user_id IS NULL),
    CHECK (split_percent IS NULL OR split_fixed_amount IS NULL),
    CHECK (split_fixed_amount IS NULL OR split_fixed_amount <= gross_amount),
    CHECK ((assigned_to_user_id IS NULL) = (split_percent IS NULL AND split_fixed_amount IS NULL)),
    CHECK ((schedule_id IS NULL) = (occurrence_date IS NULL))
);
CREATE UNIQUE INDEX income_records_occurrence
    ON income_service.income_records (schedule_id, occurrence_date) WHERE schedule_id IS NOT NULL;
-- GET /api/income/records/ sorts by (sale_date, created_at, id) descending; one index per filter and scope
-- column, so a Manager's OR of scopes can combine them. The first also serves date ranges and fee recomputes.
CREATE INDEX income_records_list
    ON income_service.income_records (agency_id, sale_date DESC, created_at DESC, id DESC);
CREATE INDEX income_records_by_chatter
    ON income_service.income_records (agency_id, chatter_id, sale_date DESC, created_at DESC, id DESC)
    WHERE chatter_id IS NOT NULL;
CREATE INDEX income_records_by_model
    ON income_service.income_records (agency_id, model_id, sale_date DESC, created_at DESC, id DESC)
    WHERE model_id IS NOT NULL;
CREATE INDEX income_records_by_type
    ON income_service.income_records (agency_id, type, sale_date DESC, created_at DESC, id DESC);
CREATE INDEX income_records_by_manager
    ON income_service.income_records (agency_id, manager_id, sale_date DESC, created_at DESC, id DESC)
    WHERE manager_id IS NOT NULL;
CREATE INDEX income_records_by_registrant
    ON income_service.income_records (agency_id, registered_by_user_id, sale_date DESC, created_at DESC, id DESC);

-- Every occurrence ever generated, kept when its record is deleted: a deleted occurrence is never generated
-- again. The primary key is the exactly-once guard (INSERT … ON CONFLICT DO NOTHING).
CREATE TABLE income_service.recurring_income_occurrences (
    schedule_id      uuid        NOT NULL REFERENCES income_service.recurring_income_schedules (id),
    occurrence_date  date        NOT NULL,
    income_record_id uuid        REFERENCES income_service.income_records (id)
                                 ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED,
    generated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schedule_id, occurrence_date)
);
CREATE INDEX recurring_income_occurrences_record
    ON income_service.recurring_income_occurrences (income_record_id) WHERE income_record_id IS NOT NULL;
