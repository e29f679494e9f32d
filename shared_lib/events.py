"""Events: the envelope, the inbox, and the publisher (Pub/Sub, or the local platform's bus installed with
set_publisher). The outbox that feeds the publisher is shared_lib/outbox.py; the payloads, shared_lib/contracts.py."""
from __future__ import annotations

import logging
import threading
import uuid
from datetime import datetime
from typing import Any, Callable, Protocol

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
        futures = []
        for event in events:
            # publish() itself may raise, not only its future (a client being shut down: "Publish after stop()"
            # is an AssertionError): that event stays for the relay, the others still go, and nothing escapes to
            # the caller, whose transaction has committed already.
            try:
                futures.append((event, self.client.publish(self.topic_path(event.type), event.payload(),
                                                           **event.attributes())))
            except Exception:
                log.exception("publish of %s %s failed; the outbox relay will retry", event.type, event.event_id)
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

    def __init__(self) -> None:
        self._said = False

    def publish_raw(self, topic: str, data: bytes, attributes: dict[str, str] | None = None) -> str:
        raise RuntimeError("no event bus configured")

    def publish_many(self, events: list[Event]) -> list[uuid.UUID]:
        # Said once per process (a fact of its configuration, not of the request): a line per request was a
        # formatted log record on every event-emitting request (issue #13).
        if events and not self._said:
            self._said = True
            log.info("no event bus configured: events are left in the outbox for the relay")
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
