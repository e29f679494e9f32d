-- Second release payout lines (BUSINESS_RULES "Payroll operations", docs/payouts.md "Second release lines"):
-- the carries a close writes, the adjustments an Owner records, and the line kinds they and the bonus bands
-- and hourly pay add. Payout lines may now be negative (a refund claws back commission and tick).

-- === Carries (written by the period close, G2's functions/payouts/payments.py) ===
-- A negative employee total at close: `amount` = |total|. The payouts calculation reads each row twice, as user
-- scope lines: in from_period a `carried_forward` line of +amount (the total becomes 0.00), in to_period a
-- `carried_balance` line of −amount. One carry per user and closing period.
CREATE TABLE financial_calculations.carries (
    agency_id   uuid          NOT NULL,
    from_period text          NOT NULL CHECK (from_period ~ '^\d{4}-(0[1-9]|1[0-2])$'),
    to_period   text          NOT NULL CHECK (to_period ~ '^\d{4}-(0[1-9]|1[0-2])$'),
    user_id     uuid          NOT NULL,
    amount      numeric(14,2) NOT NULL CHECK (amount > 0),
    created_at  timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (agency_id, from_period, user_id),
    CHECK (to_period > from_period)
);
CREATE INDEX carries_to ON financial_calculations.carries (agency_id, to_period, user_id);
-- Money moved between periods is a business fact (what an employee owes the agency), so it is audited.
SELECT audit.track('financial_calculations.carries', 'carry', '{from_period,user_id}');

-- === Adjustments: bonuses (> 0), penalties (< 0), corrections; append-only ===
-- A reversal names the adjustment it reverses (`reverses`, UNIQUE: an adjustment is reversed at most once, two
-- concurrent reversals meet the constraint, not a check-then-act), has the opposite amount, the same user and
-- period, and can't itself be reversed (the trigger below; the referenced row never changes, so its check holds).
CREATE TABLE financial_calculations.adjustments (
    id         uuid          PRIMARY KEY DEFAULT gen_random_uuid(),
    agency_id  uuid          NOT NULL,
    user_id    uuid          NOT NULL,
    period     char(7)       NOT NULL CHECK (period ~ '^\d{4}-(0[1-9]|1[0-2])$'),
    amount     numeric(14,2) NOT NULL CHECK (amount <> 0 AND abs(amount) <= 1000000),
    reason     text          NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    reverses   uuid          CONSTRAINT adjustments_reverses_once UNIQUE
                             REFERENCES financial_calculations.adjustments (id),
    created_by uuid          NOT NULL,
    created_at timestamptz   NOT NULL DEFAULT clock_timestamp(),
    CHECK (reverses IS DISTINCT FROM id)
);
-- The calculation reads a period's adjustments per user; the list pages by (created_at, id) newest first.
CREATE INDEX adjustments_period_user ON financial_calculations.adjustments (agency_id, period, user_id);
CREATE INDEX adjustments_list ON financial_calculations.adjustments (agency_id, created_at DESC, id DESC);

CREATE FUNCTION financial_calculations.adjustments_check_reversal() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    orig financial_calculations.adjustments;
BEGIN
    IF NEW.reverses IS NULL THEN
        RETURN NEW;
    END IF;
    SELECT * INTO orig FROM financial_calculations.adjustments WHERE id = NEW.reverses;
    IF orig.reverses IS NOT NULL THEN
        RAISE EXCEPTION 'adjustment % is a reversal and cannot be reversed', orig.id USING ERRCODE = '23514';
    END IF;
    IF orig.agency_id <> NEW.agency_id OR orig.user_id <> NEW.user_id OR orig.period <> NEW.period
       OR orig.amount <> -NEW.amount THEN
        RAISE EXCEPTION 'a reversal of % must have its agency, user, period and the opposite amount', orig.id
            USING ERRCODE = '23514';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER adjustments_reversal BEFORE INSERT ON financial_calculations.adjustments
    FOR EACH ROW EXECUTE FUNCTION financial_calculations.adjustments_check_reversal();

-- Never edited or deleted, by anyone (the owner too): UPDATE and DELETE are refused like audit entries
-- (audit.refuse, sql/0120) and not granted. TRUNCATE is granted to no service role; it stays possible for the
-- admin login (the tests empty every service table between tests with it).
CREATE TRIGGER adjustments_append_only BEFORE UPDATE OR DELETE ON financial_calculations.adjustments
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse();
REVOKE UPDATE, DELETE, TRUNCATE ON financial_calculations.adjustments FROM om_payouts;
SELECT audit.track('financial_calculations.adjustments', 'adjustment');

-- === The line kinds of the second release, and their signs ===
-- bonus, hourly ≥ 0; adjustment ≠ 0 either way; carried_forward ≥ 0, carried_balance ≤ 0; deduction ≤ 0;
-- commission and manager_tick any sign now (a period's refunds can outweigh its sales); the rest ≥ 0.
ALTER TABLE financial_calculations.payout_lines
    DROP CONSTRAINT payout_lines_kind_check,
    DROP CONSTRAINT payout_lines_check,
    ADD CONSTRAINT payout_lines_kind_check CHECK (kind IN (
        'commission', 'fixed_salary', 'manager_tick', 'other_income_share', 'deduction',
        'bonus', 'hourly', 'adjustment', 'carried_forward', 'carried_balance')),
    ADD CONSTRAINT payout_lines_sign CHECK (CASE
        WHEN kind IN ('deduction', 'carried_balance') THEN amount <= 0
        WHEN kind IN ('commission', 'manager_tick', 'adjustment') THEN true
        ELSE amount >= 0 END);
