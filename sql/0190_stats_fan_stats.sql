-- Fan statistics from an aggregate (issue #16, docs/stats.md "Fans"): what a (day, model, type) slice's records
-- with a platform fan add up per fan and per chatter-figures chatter, kept by the same slice recompute as
-- daily_model_stats (queries.recompute_income_slices, recompute_income, the rebuild). The AFV answer's paying
-- fans and a model's top fans are then one GROUP BY over this narrow table, without joining income_records to
-- platform_transactions (1.5 s at 100,000 imported sales a month, ~8 s at 1,000,000: measured in docs/stats.md).
CREATE TABLE statistics_service.daily_fan_stats (
    agency_id    uuid          NOT NULL,
    day          date          NOT NULL,   -- the records' own sale_date (a refund's: its refund date)
    model_id     uuid          NOT NULL,
    type         text          NOT NULL CHECK (type IN (
        'message_sale', 'tip_sale', 'subscription_sale', 'post_sale', 'stream_sale', 'referral_sale',
        'refund', 'chargeback')),
    -- The chatter whose figures hold these records (attributed chatting sales and refunds of chatting sales:
    -- queries._CHATTER_RECORD); NULL for platform sales, unattributed sales and their refunds.
    chatter_id   uuid,
    fan_id       text          NOT NULL,
    -- The net in cents (refunds and chargebacks negative, on their own day): exact like numeric(14,2), and a sum
    -- of bigints aggregates ~3x faster per fan than a numeric sum (its transition state), which is what the
    -- answer does per (model, fan) and (chatter, fan); the reads turn it back into numeric(16,2).
    net_cents    bigint        NOT NULL,
    sales_count  integer       NOT NULL CHECK (sales_count >= 0),   -- sales (SALES), not refunds
    -- The fan's username on the latest of these records' transactions that gave one (top fans: the latest).
    last_named_at timestamptz,
    fan_username text,
    -- Also the range read's index: (agency, day) first, and net_cents included for index-only scans.
    CONSTRAINT daily_fan_stats_row UNIQUE NULLS NOT DISTINCT (agency_id, day, model_id, type, chatter_id, fan_id)
        INCLUDE (net_cents)
);
-- A model's fans over a range (top fans), and a slice's rows (its DELETE): by model, then day.
CREATE INDEX daily_fan_stats_by_model ON statistics_service.daily_fan_stats (agency_id, model_id, day, type);
GRANT SELECT, INSERT, UPDATE, DELETE ON statistics_service.daily_fan_stats TO om_stats;
