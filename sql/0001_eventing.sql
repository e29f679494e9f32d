-- The platform's own bookkeeping: transactional outbox, consumer inbox, idempotency keys.
CREATE SCHEMA IF NOT EXISTS eventing;

CREATE TABLE eventing.outbox (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id      uuid        NOT NULL UNIQUE,
    type          text        NOT NULL,
    agency_id     uuid,
    subject       text,
    payload       jsonb       NOT NULL,
    occurred_at   timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    claimed_until timestamptz,
    attempts      integer     NOT NULL DEFAULT 0
);
-- The relay scans only what is unpublished.
CREATE INDEX outbox_unpublished ON eventing.outbox (id) WHERE published_at IS NULL;

CREATE TABLE eventing.inbox (
    consumer     text        NOT NULL,
    event_id     text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

CREATE TABLE eventing.idempotency_keys (
    scope       text        NOT NULL,   -- the caller's Firebase uid
    key         text        NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    fingerprint text        NOT NULL,   -- sha256 of method, path and canonical body
    status      integer,
    body        jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
