"""The whole platform in one process: database, migrations, event bus, every HTTP function behind one WSGI app."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from shared_lib import registry
from shared_lib.config import reset_settings, settings

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_DB = "onlymanager"


def embedded_database_url(data_dir: str | os.PathLike | None = None, *, cleanup_mode: str | None = "stop") -> str:
    """Boot (or reuse) the embedded PostgreSQL (PyPI pgserver) under OM_DATA_DIR/pg and return a pg8000 URL."""
    import pgserver

    base = Path(data_dir or settings().om_data_dir).resolve()
    pgdata = base / "pg"
    pgdata.mkdir(parents=True, exist_ok=True)
    srv = pgserver.get_server(pgdata, cleanup_mode=cleanup_mode)
    exists = srv.psql(f"SELECT 1 FROM pg_database WHERE datname = '{EMBEDDED_DB}';")
    if "1 row" not in exists:
        srv.psql(f"CREATE DATABASE {EMBEDDED_DB};")
    _EMBEDDED.append(srv)  # keep a reference: with cleanup_mode="stop" the server stops when it is collected
    return f"postgresql+pg8000://postgres@/{EMBEDDED_DB}?unix_sock={pgdata}/.s.PGSQL.5432"


_EMBEDDED: list[Any] = []


def ensure_database_url() -> str:
    """DATABASE_URL when set, else the embedded server; exported so every module sees the same database."""
    url = settings().database_url
    if not url:
        url = embedded_database_url()
        os.environ["DATABASE_URL"] = url
        reset_settings()
        log.info("embedded PostgreSQL under %s", Path(settings().om_data_dir).resolve() / "pg")
    return url


@dataclass
class Platform:
    bus: Any = None
    scheduler: Any = None
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @classmethod
    def start(cls, *, migrate: bool = True, scheduler: bool = False) -> "Platform":
        from shared_lib import events
        from shared_lib.migrate import migrate as run_migrations

        from .bus import EventBus, MemoryTransport, PubSubTransport

        ensure_database_url()
        # Each function's transactions run as its service's role (SET LOCAL ROLE), as the cloud's per-service
        # logins do: a missing grant shows here. DB_SERVICE_ROLES=false for a login that may not SET ROLE.
        os.environ.setdefault("DB_SERVICE_ROLES", "true")
        reset_settings()
        registry.load_all()
        if migrate:
            applied = run_migrations()
            if applied:
                log.info("applied %d migration(s)", len(applied))
        s = settings()
        transport = PubSubTransport(s.pubsub_project_id) if s.pubsub_emulator_host else MemoryTransport()
        bus = EventBus(transport, s.pubsub_project_id, max_attempts=s.event_max_attempts).start()
        events.set_publisher(bus)
        platform = cls(bus=bus)
        if scheduler:
            from .scheduler import SchedulerLoop

            platform.scheduler = SchedulerLoop(platform).start()
        return platform

    def stop(self) -> None:
        from shared_lib import events

        if self.scheduler:
            self.scheduler.stop()
        if self.bus:
            self.bus.stop()
        events.set_publisher(None)

    # --- admin ---------------------------------------------------------------------------------------------
    def drain(self, timeout: float = 30.0) -> bool:
        from shared_lib.db import engine
        from shared_lib.outbox import relay_outbox

        relay_outbox(engine(), min_age_seconds=0)  # anything a crashed publish left behind goes out first
        return self.bus.drain(timeout)

    def run_job(self, job: str, as_of: date | None) -> int:
        """Publish the job's scheduler message, as Cloud Scheduler does; returns the number of subscribers."""
        import json

        if job not in registry.JOBS:
            raise KeyError(job)
        spec = registry.JOBS[job]
        payload = json.dumps({"as_of": as_of.isoformat() if as_of else None}).encode()
        self.bus.publish_raw(spec.topic, payload, {"job": job})
        return len(registry.subscribers(spec.topic))

    def deliver_document(self, path: str, new: dict[str, Any] | None, old: dict[str, Any] | None = None) -> list[str]:
        """What Eventarc does for a Firestore write: a DocumentEventData CloudEvent to every matching trigger.

        The Firestore emulator used here emits no triggers, so the local platform delivers them itself.
        """
        import uuid

        from cloudevents.http import CloudEvent

        from shared_lib.eventfn import document_params
        from shared_lib.firestore_values import document_event_bytes

        kind = "created" if old is None else "deleted" if new is None else "updated"
        project = settings().google_cloud_project
        name = f"projects/{project}/databases/(default)/documents/{path}"
        payload = document_event_bytes(name, new, old)
        called = []
        for spec in registry.REGISTRY.values():
            if spec.trigger != "firestore" or document_params(spec.document or "", path) is None:
                continue
            if spec.document_event not in ("written", kind):
                continue
            event = CloudEvent({
                "specversion": "1.0", "id": uuid.uuid4().hex,
                "source": f"//firestore.googleapis.com/projects/{project}/databases/(default)",
                "type": f"google.cloud.firestore.document.v1.{spec.document_event}",
                "datacontenttype": "application/protobuf", "document": path, "database": "(default)",
                "namespace": "(default)",
            }, payload)
            spec.entry_point(event)
            called.append(spec.name)
        return called

    def wsgi_app(self):
        from .app import create_app

        return create_app(self)

