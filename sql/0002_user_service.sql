-- Users service: agencies and their members (the rest of the service arrives with its own migrations).
CREATE SCHEMA IF NOT EXISTS user_service;

CREATE TABLE user_service.agencies (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name          text        NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    currency      char(3)     NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    timezone      text        NOT NULL DEFAULT 'UTC',
    owner_user_id uuid,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE user_service.users (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    agency_id    uuid        NOT NULL REFERENCES user_service.agencies (id),
    firebase_uid text        UNIQUE,
    email        text,
    display_name text,
    photo_url    text,
    role         text        NOT NULL CHECK (role IN ('owner', 'manager', 'chatter')),
    manager_id   uuid        REFERENCES user_service.users (id),
    active       boolean     NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    -- The (agency_id, id) key lets other tables prove a row belongs to the same agency.
    UNIQUE (agency_id, id)
);
CREATE INDEX users_agency ON user_service.users (agency_id, created_at DESC, id DESC);
CREATE INDEX users_manager ON user_service.users (manager_id) WHERE manager_id IS NOT NULL;

ALTER TABLE user_service.agencies
    ADD CONSTRAINT agencies_owner_fk FOREIGN KEY (id, owner_user_id)
    REFERENCES user_service.users (agency_id, id) DEFERRABLE INITIALLY DEFERRED;
