-- Dashboards owed (issue #13, docs/stats.md "Catch-up"): a period whose Firestore dashboard must be built again
-- — its slices were recomputed, a payout calculation completed, a subscriber count changed its AFV. The events
-- only mark the period here (in their own transaction) and drain the agency's catch-up (shared_lib.catchup, key
-- 'stats:' || agency_id); the owner builds each owed period once for however many marks it had, when no slice of
-- the period is still pending, or at the latest once its oldest mark is DASHBOARD_STALE_SECONDS old while a burst
-- goes on. Append-only like financial_calculations.pending_scopes (0195): with a unique (agency, period) key a
-- marking handler would wait in its INSERT for the round that is taking that period's row to commit.
-- pending_slices becomes append-only for the same reason: marks now go in the handler's transaction and the owner
-- takes them while a burst marks the same (day, model, type, chatter) slices; with the unique key every such mark
-- waited for the round to commit. A repeated mark is one more row; take_pending recomputes the union once.
-- (om_stats has read/write on every statistics_service table through 0090's default privileges.)

CREATE TABLE statistics_service.pending_dashboards (
    id        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agency_id uuid        NOT NULL,
    period    text        NOT NULL,
    -- When this mark was made: the period's oldest mark bounds how long its dashboard may wait.
    since     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX pending_dashboards_agency ON statistics_service.pending_dashboards (agency_id, period);
GRANT SELECT, INSERT, UPDATE, DELETE ON statistics_service.pending_dashboards TO om_stats;

ALTER TABLE statistics_service.pending_slices DROP CONSTRAINT pending_slices_slice;
ALTER TABLE statistics_service.pending_slices ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;
CREATE INDEX pending_slices_agency ON statistics_service.pending_slices (agency_id, day);
