-- Payments of a closed period (BUSINESS_RULES "Closing, carrying and paying", docs/payouts.md "Payments"): the
-- Owner records that a person (user_id) or a model (model_id) was paid the period's closed payout. The amount is
-- the server's (the closed total), never sent. One payment per person (or model) and period: the UNIQUE constraint
-- (NULLS NOT DISTINCT, so (user, NULL) and (NULL, model) each count once) decides a race, not a read first.
-- A payment is never edited or deleted: a trigger refuses UPDATE and DELETE for everyone (the grants stay the
-- schema's usual ones, sql/0090). Audited like every business table.
CREATE TABLE financial_calculations.payments (
    id         uuid          PRIMARY KEY DEFAULT gen_random_uuid(),
    agency_id  uuid          NOT NULL,
    period     char(7)       NOT NULL CHECK (period ~ '^\d{4}-(0[1-9]|1[0-2])$'),
    user_id    uuid,
    model_id   uuid,
    amount     numeric(14,2) NOT NULL CHECK (amount > 0),
    paid_at    date          NOT NULL,
    method     text          NOT NULL CHECK (method IN ('bank', 'cash', 'crypto', 'paypal', 'wise', 'other')),
    reference  text          NOT NULL CHECK (length(reference) BETWEEN 1 AND 200),
    created_by uuid          NOT NULL,
    created_at timestamptz   NOT NULL DEFAULT clock_timestamp(),
    CHECK ((user_id IS NULL) <> (model_id IS NULL)),
    -- only a closed period is paid, and a period row exists once it is closed
    FOREIGN KEY (agency_id, period) REFERENCES financial_calculations.periods,
    CONSTRAINT payments_once UNIQUE NULLS NOT DISTINCT (agency_id, period, user_id, model_id)
);
-- GET …/payments/ is a keyset page by (created_at, id) within one period.
CREATE INDEX payments_list ON financial_calculations.payments (agency_id, period, created_at, id);

CREATE FUNCTION financial_calculations.refuse_payment_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'payments are never changed or removed (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER payments_append_only BEFORE UPDATE OR DELETE ON financial_calculations.payments
    FOR EACH STATEMENT EXECUTE FUNCTION financial_calculations.refuse_payment_change();

SELECT audit.track('financial_calculations.payments', 'payment');
