"""Events: the envelope, the transactional outbox, the relay, the inbox, and the publisher (Pub/Sub, or the local
platform's bus installed with set_publisher)."""
from __future__ import annotations

import json
import logging
import threading
import uuid
from datetime import date, datetime, timezone
from typing import Any, Callable, Iterable, Protocol

from pydantic import BaseModel, Field

from .config import settings

log = logging.getLogger(__name__)


class Event(BaseModel):
    """The envelope of ARCHITECTURE.md; the JSON body of every Pub/Sub message we publish."""

    event_id: uuid.UUID
    type: str = Field(pattern=r"^[a-z][a-z0-9_.-]+$")
    occurred_at: datetime
    agency_id: uuid.UUID | None = None
    subject: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    def attributes(self) -> dict[str, str]:
        attrs = {"event_id": str(self.event_id), "type": self.type}
        if self.agency_id:
            attrs["agency_id"] = str(self.agency_id)
        if self.subject:
            attrs["subject"] = self.subject
        return attrs

    def payload(self) -> bytes:
        return self.model_dump_json().encode()


def named_dates(data: Any) -> set[date]:
    """Every date an event payload names, at any depth (old and new snapshots alike): ISO strings under keys
    ending in `_date`, or named `effective_from` or `date`. Consumers that recompute from the truth need only
    these to know which days or periods an event touched."""
    found: set[date] = set()

    def walk(value: Any, key: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, str(k))
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str) and (key.endswith("_date") or key in ("effective_from", "date")):
            try:
                found.add(date.fromisoformat(value))
            except ValueError:
                pass

    walk(data, "")
    return found


# --- outbox --------------------------------------------------------------------------------------------------


def write_outbox(uow, *, type: str, agency_id: Any, subject: Any, data: dict[str, Any]) -> Event:
    """Insert one event in the caller's transaction (uow.emit calls this)."""
    return write_outbox_many(uow, type, [(agency_id, subject, data)])[0]


def write_outbox_many(uow, type: str, items: Iterable[tuple[Any, Any, dict[str, Any]]]) -> list[Event]:
    """Insert one event per (agency_id, subject, data) with a single statement, in order (uow.emit_many)."""
    now = datetime.now(timezone.utc)
    events = [Event(event_id=uuid.uuid4(), type=type, occurred_at=now, agency_id=agency_id,
                    subject=None if subject is None else str(subject), data=data)
              for agency_id, subject, data in items]
    if events:
        uow.execute(
            """
            INSERT INTO eventing.outbox (event_id, type, agency_id, subject, payload, occurred_at)
            SELECT e.id, :type, e.agency, e.subject, e.payload, :at
            FROM unnest(CAST(:ids AS uuid[]), CAST(:agencies AS uuid[]), CAST(:subjects AS text[]),
                        CAST(:payloads AS jsonb[])) WITH ORDINALITY AS e(id, agency, subject, payload, n)
            ORDER BY e.n
            """,
            {"type": type, "at": now,
             "ids": [str(e.event_id) for e in events],
             "agencies": [None if e.agency_id is None else str(e.agency_id) for e in events],
             "subjects": [e.subject for e in events],
             "payloads": [e.model_dump_json() for e in events]},
        )
    return events


def publish_pending(events: list[Event]) -> int:
    """Publish right after commit and mark published; what fails stays for the relay. Returns how many went out."""
    p = publisher()
    published = p.publish_many(events)
    if published and not _marks_when_handled(p):
        mark_published(published)
    return len(published)


def _marks_when_handled(p: "Publisher") -> bool:
    return getattr(p, "marks_when_handled", False)  # a publisher that does not say (a test's double) is durable


def mark_published(event_ids: list[uuid.UUID]) -> None:
    """The relay owes these no more: set once the publisher holds them durably (or, for the in-process bus,
    once every subscriber's handler finished)."""
    from .db import engine
    from sqlalchemy import text

    with engine().begin() as conn:
        conn.execute(text("UPDATE eventing.outbox SET published_at = now(), claimed_until = NULL "
                          "WHERE event_id = ANY(:ids)"), {"ids": [str(i) for i in event_ids]})


def relay_outbox(*, min_age_seconds: int | None = None, batch: int | None = None) -> int:
    """Republish what is still unpublished. Rows are claimed with FOR UPDATE SKIP LOCKED and a short lease,
    so concurrent relays never take the same row and nothing is held locked while publishing."""
    from sqlalchemy import text

    from .db import engine

    s = settings()
    age = s.outbox_relay_min_age_seconds if min_age_seconds is None else min_age_seconds
    limit = batch or s.outbox_relay_batch
    total = 0
    while True:
        with engine().begin() as conn:
            rows = conn.execute(
                text(
                    """
                    UPDATE eventing.outbox o SET claimed_until = now() + interval '60 seconds',
                           attempts = o.attempts + 1
                    WHERE o.id IN (
                        SELECT id FROM eventing.outbox
                        WHERE published_at IS NULL
                          AND (claimed_until IS NULL OR claimed_until < now())
                          AND created_at <= now() - make_interval(secs => :age)
                        ORDER BY id
                        LIMIT :limit
                        FOR UPDATE SKIP LOCKED)
                    RETURNING o.payload
                    """
                ),
                {"age": age, "limit": limit},
            ).all()
        if not rows:
            return total
        events = [Event.model_validate(r.payload if isinstance(r.payload, dict) else json.loads(r.payload))
                  for r in rows]
        p = publisher()
        published = p.publish_many(events)
        if published and not _marks_when_handled(p):
            mark_published(published)
        total += len(published)
        if len(published) < len(events) or len(rows) < limit:
            return total


# --- inbox ---------------------------------------------------------------------------------------------------


def claim_inbox(uow, consumer: str, event_id: str) -> bool:
    """True the first time `consumer` sees `event_id` (in this transaction); a concurrent twin waits, then skips."""
    row = uow.execute(
        "INSERT INTO eventing.inbox (consumer, event_id) VALUES (:c, :e) ON CONFLICT DO NOTHING RETURNING 1",
        {"c": consumer, "e": str(event_id)},
    ).first()
    return row is not None


# --- publishers ----------------------------------------------------------------------------------------------


class Publisher(Protocol):
    # False: publish_many's answer means the message is stored durably (Pub/Sub has it) and the caller marks
    # the outbox rows published. True: the publisher marks them itself once they are handled, because what it
    # holds dies with the process (the local platform's in-memory bus); until then the relay still owes them.
    marks_when_handled: bool

    def publish_many(self, events: list[Event]) -> list[uuid.UUID]:
        """Hand the events over; returns the ids accepted (the rest stay for the relay)."""
        ...

    def publish_raw(self, topic: str, data: bytes, attributes: dict[str, str] | None = None) -> str: ...


class PubSubPublisher:
    """google-cloud-pubsub: the real service in the cloud, the pstest fake when PUBSUB_EMULATOR_HOST is set."""

    marks_when_handled = False

    def __init__(self, project: str):
        from google.cloud import pubsub_v1

        self.project = project
        # Batching off: an event goes out at once (serverless instances may freeze right after the response).
        self.client = pubsub_v1.PublisherClient(
            batch_settings=pubsub_v1.types.BatchSettings(max_messages=1, max_latency=0.0))

    def topic_path(self, topic: str) -> str:
        return self.client.topic_path(self.project, topic)

    def publish_raw(self, topic: str, data: bytes, attributes: dict[str, str] | None = None) -> str:
        return self.client.publish(self.topic_path(topic), data, **(attributes or {})).result(timeout=30)

    def publish_many(self, events: list[Event]) -> list[uuid.UUID]:
        futures = [(e, self.client.publish(self.topic_path(e.type), e.payload(), **e.attributes())) for e in events]
        done = []
        for event, fut in futures:
            try:
                fut.result(timeout=30)
                done.append(event.event_id)
            except Exception:
                log.exception("publish of %s %s failed; the outbox relay will retry", event.type, event.event_id)
        _notify(len(done))
        return done


class NullPublisher:
    """No bus configured (a bare process, not the local platform): events wait in the outbox for the relay."""

    marks_when_handled = False

    def publish_raw(self, topic: str, data: bytes, attributes: dict[str, str] | None = None) -> str:
        raise RuntimeError("no event bus configured")

    def publish_many(self, events: list[Event]) -> list[uuid.UUID]:
        if events:
            log.info("no event bus configured: %d event(s) left in the outbox", len(events))
        return []


_publisher: Publisher | None = None
_publisher_lock = threading.Lock()
_listeners: list[Callable[[int], None]] = []


def publisher() -> Publisher:
    global _publisher
    if _publisher is None:
        with _publisher_lock:
            if _publisher is None:
                s = settings()
                if s.pubsub_emulator_host or s.in_cloud:
                    _publisher = PubSubPublisher(s.pubsub_project_id)
                else:
                    _publisher = NullPublisher()
    return _publisher


def set_publisher(p: Publisher | None) -> None:
    """The local platform installs its bus here; None goes back to the configured default."""
    global _publisher
    with _publisher_lock:
        _publisher = p


def on_publish(listener: Callable[[int], None]) -> None:
    """The local platform counts publishes to know when everything is drained."""
    _listeners.append(listener)


def _notify(n: int) -> None:
    for listener in list(_listeners):
        listener(n)
