-- Payouts pending scopes as an append-only list of marks (issue #13, docs/payouts.md "Coalescing").
-- A catch-up round (shared_lib.catchup) takes the period's marks with DELETE … RETURNING and holds those rows
-- until it commits. With the (agency, period, kind, scope_id) key, every handler marking a scope being taken
-- (the period's totals: every sale) waited in its INSERT … ON CONFLICT for the round to commit — one delivery
-- per round and connection, the burst serialised behind the owner. Without a unique key an INSERT never waits
-- for a DELETE, and a repeated mark is one more row that the next round takes with the others (it recomputes
-- their union once, so duplicates cost a row each, not a recalculation).
ALTER TABLE financial_calculations.pending_scopes DROP CONSTRAINT pending_scopes_pkey;
ALTER TABLE financial_calculations.pending_scopes ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;
CREATE INDEX pending_scopes_period ON financial_calculations.pending_scopes (agency_id, period);
