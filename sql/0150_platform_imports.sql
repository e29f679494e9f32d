-- Platform sales import (issue #16, docs/income.md "Platform imports"): the platform's transactions stored once
-- per (agency, model, transaction id), the four platform sale types, and where a record came from.

-- === Income records: platform sale types, origin, verified ===
ALTER TABLE income_service.income_records
    ADD COLUMN origin   text    NOT NULL DEFAULT 'self' CHECK (origin IN ('self', 'import')),
    ADD COLUMN verified boolean NOT NULL DEFAULT false;

-- The scraper's imports (scraper.transactions) are registered by nobody: null, for imports only.
ALTER TABLE income_service.income_records
    ALTER COLUMN registered_by_user_id DROP NOT NULL,
    ADD CONSTRAINT income_records_registered_by CHECK (registered_by_user_id IS NOT NULL OR origin = 'import');

ALTER TABLE income_service.income_records DROP CONSTRAINT income_records_type_check;
ALTER TABLE income_service.income_records
    ADD CONSTRAINT income_records_type_check CHECK (type IN (
        'message_sale', 'tip_sale', 'subscription_sale', 'post_sale', 'stream_sale', 'referral_sale',
        'other_income', 'refund', 'chargeback'));

-- 0020's "a sale has a model and a chatter" (an unnamed table CHECK): an imported sale nobody was on shift for
-- is unattributed (no chatter), and so is its chargeback (refund_of: its chatter is its sale's).
DO $$
DECLARE
    c text;
BEGIN
    SELECT conname INTO STRICT c FROM pg_constraint
    WHERE conrelid = 'income_service.income_records'::regclass AND contype = 'c'
      AND pg_get_constraintdef(oid) LIKE '%model_id IS NOT NULL%chatter_id IS NOT NULL%';
    EXECUTE format('ALTER TABLE income_service.income_records DROP CONSTRAINT %I', c);
END
$$;
ALTER TABLE income_service.income_records
    ADD CONSTRAINT income_records_sale_attribution CHECK (
        type = 'other_income'
        OR (model_id IS NOT NULL AND (chatter_id IS NOT NULL OR origin = 'import' OR refund_of IS NOT NULL)));

-- An imported reversal charges a sale back once (the import's chargebacks carry origin 'import').
CREATE UNIQUE INDEX income_records_one_import_chargeback
    ON income_service.income_records (refund_of) WHERE origin = 'import' AND type = 'chargeback';
-- The Owner's / Manager's list of unattributed sales.
CREATE INDEX income_records_unattributed
    ON income_service.income_records (agency_id, sale_date DESC, created_at DESC, id DESC)
    WHERE chatter_id IS NULL AND type <> 'other_income';

-- === The platform's transactions, once per (agency, model, transaction id) ===
CREATE TABLE income_service.platform_transactions (
    agency_id           uuid          NOT NULL,
    model_id            uuid          NOT NULL,
    transaction_id      text          NOT NULL CHECK (length(transaction_id) BETWEEN 1 AND 200),
    occurred_at         timestamptz   NOT NULL,
    type                text          NOT NULL
                        CHECK (type IN ('message', 'tip', 'subscription', 'post', 'stream', 'referral')),
    gross_amount        numeric(14,2) NOT NULL CHECK (gross_amount <> 0 AND abs(gross_amount) <= 1000000),
    platform_fee_amount numeric(14,2) CHECK (abs(platform_fee_amount) <= 1000000),
    platform_net_amount numeric(14,2) CHECK (abs(platform_net_amount) <= 1000000),
    status              text          NOT NULL CHECK (status IN ('pending', 'cleared', 'reversed')),
    reverses            text          CHECK (length(reverses) BETWEEN 1 AND 200),
    fan_id              text          CHECK (length(fan_id) <= 200),
    fan_username        text          CHECK (length(fan_username) <= 100),
    sender              text          CHECK (length(sender) <= 200),
    -- the record it produced or matched; the chargeback its reversal produced. Deferred: an import claims the
    -- transaction first (ON CONFLICT DO NOTHING) and inserts the records it names in the next statements.
    income_id           uuid          UNIQUE REFERENCES income_service.income_records (id)
                                      ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED,
    chargeback_id       uuid          UNIQUE REFERENCES income_service.income_records (id)
                                      ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED,
    imported_by         uuid,
    first_seen_at       timestamptz   NOT NULL DEFAULT clock_timestamp(),
    updated_at          timestamptz   NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (agency_id, model_id, transaction_id),
    -- a negative row gives back the transaction it names (Fanvue style)
    CHECK (gross_amount > 0 OR reverses IS NOT NULL),
    CHECK (reverses IS NULL OR reverses <> transaction_id)
);
CREATE INDEX platform_transactions_reverses
    ON income_service.platform_transactions (agency_id, model_id, reverses) WHERE reverses IS NOT NULL;

SELECT audit.track('income_service.platform_transactions', 'platform_transaction', '{model_id,transaction_id}');

-- Attribution by shift reads the time entries open at a transaction's time.
GRANT USAGE ON SCHEMA timetracking_service TO om_income;
GRANT SELECT ON timetracking_service.time_entries TO om_income;
