-- Statistics coalescing (issue #13): an income or expense event first marks the slices it touches here and
-- commits; then, under the agency's statistics lock, one handler takes every pending slice of the agency at once
-- (DELETE … RETURNING) and recomputes exactly those from the truth. Events that arrive together are one
-- recomputation; a handler that finds its marks already taken has nothing left to do.
-- (om_stats has read/write on every statistics_service table through 0090's default privileges.)

CREATE TABLE statistics_service.pending_slices (
    agency_id  uuid        NOT NULL,
    kind       text        NOT NULL CHECK (kind IN ('income', 'expense')),
    day        date        NOT NULL,
    -- income: the (day, model, type) slice of daily_model_stats and, with a chatter, the (day, chatter, model,
    -- type) slice of daily_chatter_stats; type NULL: the whole day (an event that names no slice).
    -- expense: the day (model, type, chatter NULL).
    model_id   uuid,
    type       text        CHECK (type IN ('message_sale', 'tip_sale', 'other_income')),
    chatter_id uuid,
    marked_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT pending_slices_slice UNIQUE NULLS NOT DISTINCT (agency_id, kind, day, model_id, type, chatter_id)
);

-- The figures last written to each Firestore dashboard (a digest of the document without version and time):
-- a refresh whose figures did not change writes nothing. Removed again when the write fails, so the next
-- refresh writes.
CREATE TABLE statistics_service.dashboard_digests (
    agency_id uuid        NOT NULL,
    period    text        NOT NULL,
    digest    text        NOT NULL,
    version   bigint      NOT NULL,
    built_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (agency_id, period)
);
