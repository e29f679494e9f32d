"""Many events of one type into the outbox in one statement, for set-based writers (generators, recomputes)."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any, Iterable

from .events import Event


def emit_many(uow, type: str, items: Iterable[tuple[Any, Any, dict[str, Any]]]) -> list[Event]:
    """uow.emit for each (agency_id, subject, data), written with one INSERT; published after commit like emit."""
    now = datetime.now(timezone.utc)
    events = [Event(event_id=uuid.uuid4(), type=type, occurred_at=now, agency_id=agency_id,
                    subject=None if subject is None else str(subject), data=data)
              for agency_id, subject, data in items]
    if not events:
        return []
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
    uow.pending_events.extend(events)
    return events
