"""The transactional outbox: events written in the change's transaction, published after commit, relayed if lost.

Below shared_lib/db.py (its UnitOfWork writes and publishes through here) and above shared_lib/events.py (the
envelope and the publishers), so the imports run one way: db → outbox → events. This module never finds an
engine of its own: the unit of work hands it its own after commit, the relay's callers hand it theirs.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterable

from .config import settings
from .contracts import Contract, payload
from .events import Event, publisher

if TYPE_CHECKING:  # keep SQLAlchemy's import cost off the module import path
    from sqlalchemy.engine import Engine


def events_for(type: str, items: Iterable[tuple[Any, Any, Contract | dict[str, Any]]]) -> list[Event]:
    """The envelopes of one event per (agency_id, subject, data), `data` the type's contract model
    (shared_lib/contracts.py)."""
    now = datetime.now(timezone.utc)
    return [Event(event_id=uuid.uuid4(), type=type, occurred_at=now, agency_id=agency_id,
                  subject=None if subject is None else str(subject), data=payload(type, data))
            for agency_id, subject, data in items]


def insert_sql(events: list[Event], *, when: str | None = None, prefix: str = "outbox") -> tuple[str, dict[str, Any]]:
    """The outbox INSERT of `events` (all of one type) as SQL text and its parameters (named `<prefix>_…`), for a
    statement of the caller's own: e.g. a data-modifying CTE beside the change it records, `WITH rec AS (INSERT …
    RETURNING …), ev AS (<this>) SELECT … FROM rec`, with `when="EXISTS (SELECT 1 FROM rec)"` so the rows are
    written only if the change was. The one text every outbox row is written with (write() runs it alone); the
    caller then hands `events` to uow.emitted() once the statement ran, so they are published after commit.

    One jsonb text of the envelopes, the columns read from it: pg8000 sends a str as it is, where a jsonb[]
    parameter would be escaped character by character (issue #13)."""
    if not events or len({e.type for e in events}) != 1:
        raise ValueError("insert_sql takes one or more events of one type")
    if not prefix.isidentifier():
        raise ValueError(f"not a parameter prefix: {prefix!r}")
    sql = f"""
        INSERT INTO eventing.outbox (event_id, type, agency_id, subject, payload, occurred_at)
        SELECT CAST(e.p ->> 'event_id' AS uuid), :{prefix}_type, CAST(e.p ->> 'agency_id' AS uuid), e.p ->> 'subject',
               e.p, :{prefix}_at
        FROM jsonb_array_elements(CAST(:{prefix}_payloads AS jsonb)) WITH ORDINALITY AS e(p, n)
        {"" if when is None else f"WHERE {when}"}
        ORDER BY e.n
        """
    params = {f"{prefix}_type": events[0].type, f"{prefix}_at": events[0].occurred_at,
              f"{prefix}_payloads": "[" + ",".join(e.model_dump_json() for e in events) + "]"}
    return sql, params


def write(uow, type: str, items: Iterable[tuple[Any, Any, Contract | dict[str, Any]]]) -> list[Event]:
    """Insert one event per (agency_id, subject, data) with a single statement, in order, in the caller's
    transaction (uow.emit and uow.emit_many). `data` is the type's contract model (shared_lib/contracts.py)."""
    events = events_for(type, items)
    if events:
        sql, params = insert_sql(events)
        uow.execute(sql, params)
    return events


def publish_pending(events: list[Event], engine: "Engine", *, mark: Callable[[list[uuid.UUID]], None] | None = None
                    ) -> int:
    """Publish right after commit and mark published; what fails stays for the relay. Returns how many went out.
    `mark` marks the ids published (the unit of work's: one simple query on its own connection); without it,
    mark_published on a connection of `engine`."""
    p = publisher()
    published = p.publish_many(events)
    if published and not _marks_when_handled(p):
        (mark or (lambda ids: mark_published(ids, engine)))(published)
    return len(published)


def _marks_when_handled(p) -> bool:
    return getattr(p, "marks_when_handled", False)  # a publisher that does not say (a test's double) is durable


def mark_published(event_ids: list[uuid.UUID], engine: "Engine") -> None:
    """The relay owes these no more: set once the publisher holds them durably (or, for the in-process bus,
    once every subscriber's handler finished)."""
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text(_MARK + "= ANY(:ids)"), {"ids": [str(i) for i in event_ids]})


_MARK = "UPDATE eventing.outbox SET published_at = now(), claimed_until = NULL WHERE event_id "


def mark_published_sql(event_ids: list[uuid.UUID]) -> str:
    """mark_published's UPDATE as literal SQL, for a simple query (no parameters, so it can go in one message
    with its BEGIN and COMMIT): each id is rendered by uuid.UUID itself, hex digits and dashes only."""
    if not event_ids:
        raise ValueError("mark_published_sql takes one or more event ids")
    return _MARK + "IN (" + ", ".join(f"'{uuid.UUID(str(i))}'" for i in event_ids) + ")"


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
