-- The dashboard's per-chatter figures in documents of their own (issue #13, docs/stats.md "Live dashboards"):
-- agencies/{agencyId}/dashboards/{period}/chatters/{userId}, each written only when its figures changed. The
-- digest last written per (agency, period, chatter); a row whose chatter is no longer in the period's figures
-- names the document to delete. Removed again when a write fails, so the next refresh writes.
-- (om_stats has read/write on every statistics_service table through 0090's default privileges.)
CREATE TABLE statistics_service.dashboard_chatter_digests (
    agency_id uuid        NOT NULL,
    period    text        NOT NULL,
    user_id   uuid        NOT NULL,
    digest    text        NOT NULL,
    version   bigint      NOT NULL,
    built_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (agency_id, period, user_id)
);
