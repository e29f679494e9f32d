-- Payout periods (owned by the payouts service): a row exists once a period is closed or calculated.
CREATE TABLE financial_calculations.periods (
    agency_id  uuid        NOT NULL,
    period     char(7)     NOT NULL CHECK (period ~ '^\d{4}-(0[1-9]|1[0-2])$'),
    status     text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    closed_at  timestamptz,
    closed_by  uuid,
    PRIMARY KEY (agency_id, period)
);

-- The one question every service asks before a change dated D (income, expenses, settings versions).
CREATE FUNCTION financial_calculations.period_closed(p_agency uuid, p_day date) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM financial_calculations.periods
                   WHERE agency_id = p_agency AND period = to_char(p_day, 'YYYY-MM') AND status = 'closed')
$$;
