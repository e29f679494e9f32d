"""Firestore time events (agencies/{agencyId}/time_events/{eventId}): validated, logged once, applied in `at` order."""
from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from shared_lib.db import UnitOfWork
from shared_lib.errors import ApiError
from shared_lib.eventfn import PermanentError

from . import clock, queries, rules
from .schemas import TimeEventDocument

log = logging.getLogger(__name__)


def time_event_record(*, uow: UnitOfWork, agency_ref: str, event_id: str, document: dict[str, Any] | None,
                      now: datetime | None = None) -> None:
    """Record a check-in/out document from the chatter app.

    A document that can never apply (bad fields, a user who is not an active member of the agency, an
    unknown agency, a time in the future) raises PermanentError: logged, acknowledged, nothing written.
    A redelivered document is a no-op. The rest is logged, then every pending document of the user is tried
    in `at` order, so a check-out delivered before its check-in is applied as soon as the check-in arrives.
    """
    if document is None:
        raise PermanentError(f"time event {event_id}: the created document has no fields")
    try:
        agency_id = uuid.UUID(agency_ref)
    except ValueError:
        raise PermanentError(f"time event {event_id}: agency id {agency_ref!r} is not a UUID") from None
    try:
        doc = TimeEventDocument.model_validate(document)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "document" for e in exc.errors())
        raise PermanentError(f"time event {event_id}: invalid fields: {fields}") from None
    user = queries.member(uow, agency_id, doc.user_id)
    if user is None or not user.active:
        # The app is signed in as one user, but the document is data: never trust its user_id or path.
        raise PermanentError(f"time event {event_id}: user {doc.user_id} is not an active member of agency "
                             f"{agency_id} (or the agency does not exist)")
    if user.firebase_uid != doc.uid:
        # The rules only prove who wrote the document (uid); user_id must be that same person.
        raise PermanentError(f"time event {event_id}: written by {doc.uid}, not by user {doc.user_id}")
    if doc.at > (now or datetime.now(UTC)) + rules.CLOCK_SKEW:
        raise PermanentError(f"time event {event_id}: at {doc.at.isoformat()} is in the future")
    queries.lock_user(uow, doc.user_id)
    if not queries.insert_time_event(uow, agency_id=agency_id, event_id=event_id, user_id=doc.user_id,
                                     kind=doc.kind, at=doc.at):
        log.info("time event %s/%s already received", agency_id, event_id)
        return
    replay_pending(uow, agency_id=agency_id, user_id=doc.user_id)


def replay_pending(uow: UnitOfWork, *, agency_id: uuid.UUID, user_id: uuid.UUID) -> int:
    """Apply the user's pending documents in `at` order until none more applies; returns how many did.

    Each try runs in a savepoint: one that is refused (409/400) leaves no row and no event behind and stays
    pending with its reason. The caller holds the user's lock.
    """
    applied, progress = 0, True
    while progress:
        progress = False
        for ev in queries.pending_time_events(uow, agency_id, user_id):
            if ev.kind == "check_out" and (blocker := _later_check_in(uow, user_id, ev.at)) is not None:
                queries.time_event_waiting(uow, agency_id, ev.event_id,
                                           f"waiting: the check-in at {blocker.at.isoformat()} is pending, so this "
                                           "check-out may belong to its shift, not to the open entry")
                continue
            action = clock.check_in if ev.kind == "check_in" else clock.check_out
            events_before = len(uow.pending_events)
            try:
                with uow.conn.begin_nested():
                    entry = action(uow, agency_id=agency_id, user_id=user_id, at=ev.at, recorded_by=user_id,
                                   source="firestore", correction=False)
            except ApiError as exc:
                del uow.pending_events[events_before:]  # their outbox rows went with the savepoint
                queries.time_event_waiting(uow, agency_id, ev.event_id, exc.detail)
                log.info("time event %s/%s pending: %s", agency_id, ev.event_id, exc.detail)
                continue
            queries.time_event_applied(uow, agency_id, ev.event_id, entry.id)
            applied += 1
            progress = True
    return applied


def _later_check_in(uow: UnitOfWork, user_id: uuid.UUID, at: datetime):
    """A pending check-in between the open entry's check-in and `at` (see pending_check_in_between)."""
    open_entry = queries.open_entry(uow, user_id)
    if open_entry is None:
        return None
    return queries.pending_check_in_between(uow, user_id=user_id, after=open_entry.checked_in_at, before=at,
                                            window=rules.CHECK_IN_WINDOW)
