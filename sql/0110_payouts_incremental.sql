-- Payouts: incremental recalculation by scope, coalesced per (agency, period).
-- An event handler marks the scopes it dirtied here in a short transaction of its own and commits; then, under
-- the period's calculation lock, one recalculation takes (DELETE … RETURNING) every pending scope of the period
-- and recomputes their union once. The ledger keeps its history from now on: a recalculation posts only the
-- differences (financial_calculations.ledger_postings rows are never deleted by a recalculation).
CREATE TABLE financial_calculations.pending_scopes (
    agency_id uuid        NOT NULL,
    period    char(7)     NOT NULL CHECK (period ~ '^\d{4}-(0[1-9]|1[0-2])$'),
    -- model: one model's commission/tick lines and model payouts; user: one user's lines not tied to a model's
    -- sales; user_sales: the model scopes one user's sales (as chatter or manager) lie in; users: every user's
    -- lines not tied to a model's sales; totals: the period's figures only; all: everything.
    kind      text        NOT NULL CHECK (kind IN ('model', 'user', 'user_sales', 'users', 'totals', 'all')),
    scope_id  uuid        NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    marked_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (agency_id, period, kind, scope_id)
);
-- om_payouts owns the schema (sql/0090's default privileges grant it this table); written out for the reader:
GRANT SELECT, INSERT, UPDATE, DELETE ON financial_calculations.pending_scopes TO om_payouts;

-- The scoped reads of the stored result.
CREATE INDEX payout_lines_model ON financial_calculations.payout_lines (agency_id, period, model_id)
    WHERE model_id IS NOT NULL;
