"""The transactional outbox: events written in the change's transaction, published after commit, relayed if lost.

Below shared_lib/db.py (its UnitOfWork writes and publishes through here) and above shared_lib/events.py (the
envelope and the publishers), so the imports run one way: db → outbox → events. This module never finds an
engine of its own: the unit of work hands it its own after commit, the relay's callers hand it theirs.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable

from .config import settings
from .contracts import Contract, payload
from .events import Event, publisher

if TYPE_CHECKING:  # keep SQLAlchemy's import cost off the module import path
    from sqlalchemy.engine import Engine


def write(uow, type: str, items: Iterable[tuple[Any, Any, Contract | dict[str, Any]]]) -> list[Event]:
    """Insert one event per (agency_id, subject, data) with a single statement, in order, in the caller's
    transaction (uow.emit and uow.emit_many). `data` is the type's contract model (shared_lib/contracts.py)."""
    now = datetime.now(timezone.utc)
    events = [Event(event_id=uuid.uuid4(), type=type, occurred_at=now, agency_id=agency_id,
                    subject=None if subject is None else str(subject), data=payload(type, data))
              for agency_id, subject, data in items]
    if events:
        # One jsonb text of the envelopes, the columns read from it: pg8000 sends a str as it is, where a jsonb[]
        # parameter would be escaped character by character (issue #13).
        uow.execute(
            """
            INSERT INTO eventing.outbox (event_id, type, agency_id, subject, payload, occurred_at)
            SELECT CAST(e.p ->> 'event_id' AS uuid), :type, CAST(e.p ->> 'agency_id' AS uuid), e.p ->> 'subject',
                   e.p, :at
            FROM jsonb_array_elements(CAST(:payloads AS jsonb)) WITH ORDINALITY AS e(p, n)
            ORDER BY e.n
            """,
            {"type": type, "at": now, "payloads": "[" + ",".join(e.model_dump_json() for e in events) + "]"},
        )
    return events


def publish_pending(events: list[Event], engine: "Engine") -> int:
    """Publish right after commit and mark published; what fails stays for the relay. Returns how many went out."""
    p = publisher()
    published = p.publish_many(events)
    if published and not _marks_when_handled(p):
        mark_published(published, engine)
    return len(published)


def _marks_when_handled(p) -> bool:
    return getattr(p, "marks_when_handled", False)  # a publisher that does not say (a test's double) is durable


def mark_published(event_ids: list[uuid.UUID], engine: "Engine") -> None:
    """The relay owes these no more: set once the publisher holds them durably (or, for the in-process bus,
    once every subscriber's handler finished)."""
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text("UPDATE eventing.outbox SET published_at = now(), claimed_until = NULL "
                          "WHERE event_id = ANY(:ids)"), {"ids": [str(i) for i in event_ids]})


def relay_outbox(engine: "Engine", *, min_age_seconds: int | None = None, batch: int | None = None) -> int:
    """Republish what is still unpublished. Rows are claimed with FOR UPDATE SKIP LOCKED and a short lease,
    so concurrent relays never take the same row and nothing is held locked while publishing."""
    from sqlalchemy import text

    s = settings()
    age = s.outbox_relay_min_age_seconds if min_age_seconds is None else min_age_seconds
    limit = batch or s.outbox_relay_batch
    total = 0
    while True:
        with engine.begin() as conn:
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
            mark_published(published, engine)
        total += len(published)
        if len(published) < len(events) or len(rows) < limit:
            return total
