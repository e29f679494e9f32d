-- Payouts service: the persisted result of each period's calculation and its double-entry ledger.
-- A recalculation replaces the period's rows in one transaction while the period is open.

CREATE TABLE financial_calculations.period_results (
    agency_id        uuid          NOT NULL,
    period           char(7)       NOT NULL CHECK (period ~ '^\d{4}-(0[1-9]|1[0-2])$'),
    gross_income     numeric(14,2) NOT NULL,
    platform_fees    numeric(14,2) NOT NULL,
    net_income       numeric(14,2) NOT NULL,
    employee_payouts numeric(14,2) NOT NULL,
    model_payouts    numeric(14,2) NOT NULL,
    expenses         numeric(14,2) NOT NULL CHECK (expenses >= 0),
    agency_profit    numeric(14,2) NOT NULL,
    calculated_at    timestamptz   NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (agency_id, period),
    CHECK (net_income = employee_payouts + model_payouts + expenses + agency_profit),
    CHECK (gross_income - platform_fees = net_income)
);

CREATE TABLE financial_calculations.calculated_payouts_summary (
    agency_id     uuid          NOT NULL,
    period        char(7)       NOT NULL,
    user_id       uuid          NOT NULL,
    total         numeric(14,2) NOT NULL,
    calculated_at timestamptz   NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (agency_id, period, user_id),
    FOREIGN KEY (agency_id, period) REFERENCES financial_calculations.period_results ON DELETE CASCADE
);
CREATE INDEX calculated_payouts_summary_user ON financial_calculations.calculated_payouts_summary (user_id, period);

CREATE TABLE financial_calculations.payout_lines (
    id        bigint        GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agency_id uuid          NOT NULL,
    period    char(7)       NOT NULL,
    user_id   uuid          NOT NULL,
    kind      text          NOT NULL CHECK (kind IN ('commission', 'fixed_salary', 'manager_tick',
                                                     'other_income_share', 'deduction')),
    model_id  uuid,
    basis     numeric(14,2) NOT NULL,
    rate      numeric(7,2),
    amount    numeric(14,2) NOT NULL,
    detail    text          NOT NULL DEFAULT '',
    FOREIGN KEY (agency_id, period, user_id)
        REFERENCES financial_calculations.calculated_payouts_summary ON DELETE CASCADE,
    -- Deductions are shown as negative lines; everything else pays.
    CHECK ((kind = 'deduction') = (amount < 0) OR amount = 0)
);
CREATE INDEX payout_lines_summary ON financial_calculations.payout_lines (agency_id, period, user_id);

CREATE TABLE financial_calculations.model_payouts (
    agency_id            uuid          NOT NULL,
    period               char(7)       NOT NULL,
    model_id             uuid          NOT NULL,
    effective_from       date          NOT NULL,  -- the model-settings version the line is priced with
    base                 numeric(14,2) NOT NULL,
    model_share_percent  numeric(5,2)  NOT NULL CHECK (model_share_percent BETWEEN 0 AND 100),
    split_chatting_costs boolean       NOT NULL,
    amount               numeric(14,2) NOT NULL,
    PRIMARY KEY (agency_id, period, model_id, effective_from),
    FOREIGN KEY (agency_id, period) REFERENCES financial_calculations.period_results ON DELETE CASCADE
);

-- Double-entry: one posting per calculation, legs summing to zero (checked at commit).
CREATE TABLE financial_calculations.ledger_postings (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    agency_id   uuid        NOT NULL,
    period      char(7)     NOT NULL,
    description text        NOT NULL,
    posted_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    FOREIGN KEY (agency_id, period) REFERENCES financial_calculations.period_results ON DELETE CASCADE
);
CREATE INDEX ledger_postings_period ON financial_calculations.ledger_postings (agency_id, period);

CREATE TABLE financial_calculations.transaction_ledger (
    id         bigint        GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    posting_id uuid          NOT NULL REFERENCES financial_calculations.ledger_postings ON DELETE CASCADE,
    account    text          NOT NULL CHECK (account IN ('revenue:net_income', 'payable:employee',
                                                         'payable:model', 'expense:operating',
                                                         'equity:agency_profit')),
    party_id   uuid,          -- the employee or model of a payable leg
    amount     numeric(14,2) NOT NULL  -- debit positive, credit negative
);
CREATE INDEX transaction_ledger_posting ON financial_calculations.transaction_ledger (posting_id);

CREATE FUNCTION financial_calculations.check_posting_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    imbalance numeric;
BEGIN
    SELECT coalesce(sum(amount), 0) INTO imbalance
    FROM financial_calculations.transaction_ledger WHERE posting_id = NEW.posting_id;
    IF imbalance <> 0 THEN
        RAISE EXCEPTION 'ledger posting % does not balance: legs sum to %', NEW.posting_id, imbalance
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

-- Deferred: the legs of a posting are inserted one statement at a time; the sum is checked at commit.
CREATE CONSTRAINT TRIGGER transaction_ledger_balanced
    AFTER INSERT OR UPDATE ON financial_calculations.transaction_ledger
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION financial_calculations.check_posting_balanced();
