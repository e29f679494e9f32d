"""Every knob of the platform, read from the environment once per process (pydantic-settings)."""
from __future__ import annotations

from functools import lru_cache

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PROJECT = "demo-onlymanager"


class EmulatorInCloudError(RuntimeError):
    """Refuse to start: the Auth emulator accepts unsigned tokens, so it must never run on Cloud Run."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    # Google project: the Firebase ID token audience and the Pub/Sub / Firestore project.
    google_cloud_project: str = Field(DEFAULT_PROJECT, validation_alias="GOOGLE_CLOUD_PROJECT")
    # Set by Cloud Run (and so by Cloud Functions gen2) in every instance.
    k_service: str | None = Field(None, validation_alias="K_SERVICE")
    k_revision: str | None = Field(None, validation_alias="K_REVISION")

    # Database: locally a plain URL (pg8000); in the cloud the Cloud SQL connector.
    database_url: str | None = Field(None, validation_alias="DATABASE_URL")
    instance_connection_name: str | None = Field(None, validation_alias="INSTANCE_CONNECTION_NAME")
    db_user: str = Field("postgres", validation_alias="DB_USER")
    db_pass: str | None = Field(None, validation_alias="DB_PASS")
    db_name: str = Field("onlymanager", validation_alias="DB_NAME")
    db_iam_auth: bool = Field(False, validation_alias="DB_IAM_AUTH")
    db_ip_type: str = Field("PRIVATE", validation_alias="DB_IP_TYPE")
    # Serverless: a small pool per instance (pool_size + max_overflow <= 5).
    db_pool_size: int = Field(2, ge=1, le=5, validation_alias="DB_POOL_SIZE")
    db_max_overflow: int = Field(2, ge=0, le=3, validation_alias="DB_MAX_OVERFLOW")
    db_pool_recycle_seconds: int = Field(1800, validation_alias="DB_POOL_RECYCLE_SECONDS")
    db_pool_timeout_seconds: int = Field(10, validation_alias="DB_POOL_TIMEOUT_SECONDS")
    # Run each function's transactions as its service's group role (SET LOCAL ROLE om_<service>). On for the
    # local platform and the tests, whose one login is a superuser; off in the cloud, where each function
    # already connects as its own IAM user, a member of that role: one statement less per transaction.
    db_service_roles: bool = Field(False, validation_alias="DB_SERVICE_ROLES")

    # Local platform.
    om_data_dir: str = Field(".local", validation_alias="OM_DATA_DIR")
    # The clock seam (shared_lib/clock.py): a fixed instant (2026-11-05T12:00:00Z) or an offset (+3d, -12h, +90m)
    # for every rule that asks "now" or "today". Local platform and tests only: refused on Cloud Run.
    om_clock: str | None = Field(None, validation_alias="OM_CLOCK")

    # Pub/Sub's project when it differs from the Google project: test processes sharing one Pub/Sub fake each take
    # their own, so one process's subscriptions never pull another's events.
    pubsub_project: str | None = Field(None, validation_alias="PUBSUB_PROJECT")

    # Emulators (set => use them).
    pubsub_emulator_host: str | None = Field(None, validation_alias="PUBSUB_EMULATOR_HOST")
    firestore_emulator_host: str | None = Field(None, validation_alias="FIRESTORE_EMULATOR_HOST")
    firebase_auth_emulator_host: str | None = Field(None, validation_alias="FIREBASE_AUTH_EMULATOR_HOST")
    # Where firebase-admin fetches the token-signing certificates; Google's by default.
    # Only tests point it at a local server (Google's certificate endpoint cannot run here).
    firebase_cert_url: str | None = Field(None, validation_alias="FIREBASE_CERT_URL")

    # HTTP.
    max_body_bytes: int = Field(64 * 1024, validation_alias="MAX_BODY_BYTES")
    idempotency_ttl_hours: int = Field(24, validation_alias="IDEMPOTENCY_TTL_HOURS")
    idempotency_wait_ms: int = Field(5_000, validation_alias="IDEMPOTENCY_WAIT_MS")

    # Events.
    outbox_relay_min_age_seconds: int = Field(10, ge=0, validation_alias="OUTBOX_RELAY_MIN_AGE_SECONDS")
    outbox_relay_batch: int = Field(500, ge=1, validation_alias="OUTBOX_RELAY_BATCH")
    event_max_age_seconds: int = Field(7 * 24 * 3600, validation_alias="EVENT_MAX_AGE_SECONDS")
    event_max_attempts: int = Field(5, ge=1, validation_alias="EVENT_MAX_ATTEMPTS")

    # Retention (the daily retention-prune job): published outbox rows, inbox rows and idempotency keys
    # older than these are deleted, RETENTION_BATCH rows per transaction. Idempotency keys go after
    # IDEMPOTENCY_TTL_HOURS, when they can no longer replay anything.
    outbox_retention_hours: int = Field(7 * 24, ge=1, validation_alias="OUTBOX_RETENTION_HOURS")
    inbox_retention_hours: int = Field(8 * 24, ge=1, validation_alias="INBOX_RETENTION_HOURS")
    retention_batch: int = Field(5_000, ge=1, le=100_000, validation_alias="RETENTION_BATCH")

    # Generated files (payout statements): a GCS bucket in the cloud, else a folder under OM_DATA_DIR.
    storage_bucket: str | None = Field(None, validation_alias="STORAGE_BUCKET")

    version: str = Field("0.1.0", validation_alias="OM_VERSION")

    @property
    def pubsub_project_id(self) -> str:
        return self.pubsub_project or self.google_cloud_project

    @property
    def in_cloud(self) -> bool:
        return self.k_service is not None

    @model_validator(mode="after")
    def _inbox_outlives_redelivery(self) -> "Settings":
        # A redelivery is handled until EVENT_MAX_AGE_SECONDS after publishing; an inbox row pruned before
        # that would let a late duplicate run its handler twice.
        if self.inbox_retention_hours * 3600 < self.event_max_age_seconds:
            raise ValueError(
                f"INBOX_RETENTION_HOURS={self.inbox_retention_hours} is shorter than EVENT_MAX_AGE_SECONDS="
                f"{self.event_max_age_seconds}: a late redelivery would run its handler twice")
        return self

    @model_validator(mode="after")
    def _no_emulator_auth_in_cloud(self) -> "Settings":
        if self.in_cloud and self.firebase_auth_emulator_host:
            raise EmulatorInCloudError(
                "FIREBASE_AUTH_EMULATOR_HOST is set on Cloud Run (K_SERVICE="
                f"{self.k_service!r}): emulator mode accepts unsigned tokens; refusing to start"
            )
        if self.in_cloud and self.firebase_cert_url:
            raise EmulatorInCloudError(
                "FIREBASE_CERT_URL is a test seam and is set on Cloud Run; refusing to start")
        if self.in_cloud and self.om_clock:
            raise EmulatorInCloudError(
                f"OM_CLOCK={self.om_clock!r} is set on Cloud Run (K_SERVICE={self.k_service!r}): the clock seam "
                "of the local platform and the tests would move every date rule; refusing to start")
        return self

    @model_validator(mode="after")
    def _clock_readable(self) -> "Settings":
        if self.om_clock:
            from .clock import parse

            parse(self.om_clock)  # a typo fails at startup, not at the first rule that asks the time
        return self


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests change the environment)."""
    settings.cache_clear()
