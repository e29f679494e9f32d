-- Statistics service: daily pre-aggregates of income and expenses (kept current by income.* / expense.* events,
-- always recomputed from the truth, so a rebuild gives the same rows) and the history of model subscriber counts.
-- Days are the records' own local dates (sale_date, expense_date): nothing here converts time zones.

-- All income per agency, day, model and type: the Owner's summary and income trend (other income included).
CREATE TABLE statistics_service.daily_model_stats (
    agency_id   uuid          NOT NULL,
    day         date          NOT NULL,
    model_id    uuid,                       -- NULL: other income booked without a model
    type        text          NOT NULL CHECK (type IN ('message_sale', 'tip_sale', 'other_income')),
    gross       numeric(14,2) NOT NULL CHECK (gross > 0),
    fees        numeric(14,2) NOT NULL CHECK (fees >= 0),
    net         numeric(14,2) NOT NULL CHECK (net >= 0),
    sales_count integer       NOT NULL CHECK (sales_count > 0),
    CHECK (gross - fees = net),
    -- One row per slice; NULLS NOT DISTINCT makes "no model" one slice too. Leads with (agency_id, day): the
    -- index every range read and every recompute uses.
    CONSTRAINT daily_model_stats_slice UNIQUE NULLS NOT DISTINCT (agency_id, day, model_id, type)
);

-- Chatting sales per agency, day, chatter, model and type: top earners, AFV, and every role-scoped figure.
CREATE TABLE statistics_service.daily_chatter_stats (
    agency_id   uuid          NOT NULL,
    day         date          NOT NULL,
    chatter_id  uuid          NOT NULL,
    model_id    uuid          NOT NULL,
    type        text          NOT NULL CHECK (type IN ('message_sale', 'tip_sale')),
    gross       numeric(14,2) NOT NULL CHECK (gross > 0),
    fees        numeric(14,2) NOT NULL CHECK (fees >= 0),
    net         numeric(14,2) NOT NULL CHECK (net >= 0),
    sales_count integer       NOT NULL CHECK (sales_count > 0),
    CHECK (gross - fees = net),
    PRIMARY KEY (agency_id, day, chatter_id, model_id, type)
);
-- A Chatter's (or a small team's) figures over a long range: by person first, then days.
CREATE INDEX daily_chatter_stats_by_chatter
    ON statistics_service.daily_chatter_stats (agency_id, chatter_id, day)
    INCLUDE (model_id, net, gross, fees, sales_count);

CREATE TABLE statistics_service.daily_expense_stats (
    agency_id     uuid          NOT NULL,
    day           date          NOT NULL,
    amount        numeric(14,2) NOT NULL CHECK (amount > 0),
    expense_count integer       NOT NULL CHECK (expense_count > 0),
    PRIMARY KEY (agency_id, day)
);

-- Every observation is kept (history); AFV uses the latest one on or before a range's end.
CREATE TABLE statistics_service.subscriber_count_snapshots (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agency_id        uuid        NOT NULL,
    model_id         uuid        NOT NULL,
    subscriber_count integer     NOT NULL CHECK (subscriber_count >= 0),
    observed_at      timestamptz NOT NULL,
    -- observed_at's local date in the agency's time zone when it was recorded: what "on or before the range's
    -- end" (a local date) compares with, without converting every row at read time.
    observed_on      date        NOT NULL,
    source           text        NOT NULL CHECK (source IN ('scraper', 'manual')),
    recorded_by      uuid,                     -- the Owner of a manual entry; NULL for the scraper
    received_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- One observation per model and instant: a resend is a no-op, a different count for the same instant a correction.
    CONSTRAINT subscriber_count_snapshots_observation UNIQUE (model_id, observed_at)
);
CREATE INDEX subscriber_count_snapshots_latest
    ON statistics_service.subscriber_count_snapshots (agency_id, model_id, observed_on DESC, observed_at DESC, id DESC)
    INCLUDE (subscriber_count);
-- GET /api/stats/subscriber-counts/: the agency's history, newest observation first (cursor observed_at, id).
CREATE INDEX subscriber_count_snapshots_list
    ON statistics_service.subscriber_count_snapshots (agency_id, observed_at DESC, id DESC);

-- Orders dashboard writes: a value taken under the agency's statistics lock, so a later commit has a larger one
-- and an older projection never overwrites a newer one in Firestore.
CREATE SEQUENCE statistics_service.dashboard_version;
