"""Firestore time events (agencies/{agencyId}/time_events/{eventId}): validated, logged once, applied in `at` order,
and the outcome written back on the document for the app to show."""
from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared_lib import firestore
from shared_lib.clock import now as clock_now
from shared_lib.db import UnitOfWork
from shared_lib.errors import DomainError
from shared_lib.eventfn import PermanentError

from . import clock, queries, rules
from .schemas import TimeEventDocument

log = logging.getLogger(__name__)

DOCUMENT = "agencies/{agencyId}/time_events/{eventId}"
WAITING_FOR_CHECK_IN = "waiting-for-check-in"


class TimeEventOutcome(BaseModel):
    """The fields the backend writes back on a time-event document (never the app: firestore.rules)."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["recorded", "pending", "rejected"] = Field(
        description="recorded: applied to entry_id; pending: logged, not applicable yet (reason says why; it is "
                    "retried when the user's next document arrives, rejected after 24 h); rejected: never applies")
    reason: str | None = Field(description="a stable code: a problem slug such as no-shift or open-check-in, "
                                           "or invalid-document, not-a-member, not-the-writer, future-time, "
                                           "past-time, expired")
    detail: str | None = Field(description="the reason in words, for people")
    entry_id: str | None = Field(description="the time entry it was recorded on (status recorded)")
    processed_at: datetime
    manager_uid: str | None = Field(
        description="the Firebase uid of the user's manager when the backend answered (null: no team, or the "
                    "document is not a member's own): firestore.rules let that Manager read it")


@firestore.document_model("time_events", DOCUMENT)
class TimeEventStored(TimeEventOutcome):
    """A time-event document once the backend has answered: the app's fields (firestore.rules lets the app
    create exactly these) and the outcome written back."""

    uid: str
    user_id: str
    kind: Literal["check_in", "check_out"]
    at: datetime
    note: str | None = Field(None, max_length=500)


class Rejected(PermanentError):
    """A document that can never apply: acknowledged, nothing recorded, the reason written back."""

    def __init__(self, event_id: str, reason: str, detail: str, *, manager_uid: str | None = None):
        super().__init__(f"time event {event_id}: {detail}")
        self.reason, self.detail, self.manager_uid = reason, detail, manager_uid


def path(agency_ref: str, event_id: str) -> str:
    return DOCUMENT.format(agencyId=agency_ref, eventId=event_id)


def time_event_record(*, uow: UnitOfWork, agency_ref: str, event_id: str, document: dict[str, Any] | None,
                      received_at: datetime | None = None) -> None:
    """Record a check-in/out document from the chatter app, and tell the app what became of it.

    `received_at` is when Firestore stored the document: the created version's update_time (its create time) in
    the DocumentEventData, which the server sets and the app cannot; without one, the handler's clock (later
    still, so never more lenient). The app's `at` is taken only within rules.CLOCK_SKEW of it either way
    (firestore.rules bounds it by request.time the same): a Chatter cannot back-date a check-in through
    Firestore any more than over HTTP, where the server's time is theirs.

    A document that can never apply (bad fields, a user who is not an active member of the agency, an
    unknown agency, a time more than the skew after or before it was received) raises PermanentError:
    logged, acknowledged, nothing recorded, and
    `status: rejected` with the reason written back on the document (the transaction holds nothing to commit,
    so the order does not matter). A redelivered document is a no-op. The rest is logged, then every pending
    document of the user is tried in `at` order, so a check-out delivered before its check-in is applied as
    soon as the check-in arrives; after commit each document whose state this changed gets `recorded` (with the
    entry) or `pending` (with the reason). The trigger fires on `created` only: these updates never re-enter it.
    """
    try:
        outcomes = _record(uow, agency_ref=agency_ref, event_id=event_id, document=document,
                           received_at=received_at or clock_now())
    except Rejected as exc:
        if document is not None:  # a created document without fields is not there to answer on
            try:
                firestore.update_fields(path(agency_ref, event_id), TimeEventOutcome(
                    status="rejected", reason=exc.reason, detail=exc.detail, entry_id=None,
                    processed_at=datetime.now(UTC), manager_uid=exc.manager_uid))
            except Exception:  # like an after-commit hook: a lost answer must not turn a rejection into a retry
                log.exception("time event %s: could not write the rejection back", event_id)
        raise
    if outcomes:
        uow.after_commit(lambda: write_back(agency_ref, outcomes))


def write_back(agency_ref: str, outcomes: dict[str, TimeEventOutcome]) -> None:
    """Each document's outcome on it (after commit; a document the app deleted meanwhile is left deleted)."""
    for event_id, outcome in outcomes.items():
        firestore.update_fields(path(agency_ref, event_id), outcome)


def _record(uow: UnitOfWork, *, agency_ref: str, event_id: str, document: dict[str, Any] | None,
            received_at: datetime) -> dict[str, TimeEventOutcome]:
    if document is None:
        raise Rejected(event_id, "invalid-document", "the created document has no fields")
    try:
        agency_id = uuid.UUID(agency_ref)
    except ValueError:
        raise Rejected(event_id, "not-a-member", f"agency id {agency_ref!r} is not a UUID") from None
    try:
        doc = TimeEventDocument.model_validate(document)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "document" for e in exc.errors())
        raise Rejected(event_id, "invalid-document", f"invalid fields: {fields}") from None
    user = queries.member(uow, agency_id, doc.user_id)
    if user is None or not user.active:
        # The app is signed in as one user, but the document is data: never trust its user_id or path.
        raise Rejected(event_id, "not-a-member", f"user {doc.user_id} is not an active member of agency "
                                                 f"{agency_id} (or the agency does not exist)")
    if user.firebase_uid != doc.uid:
        # The rules only prove who wrote the document (uid); user_id must be that same person.
        raise Rejected(event_id, "not-the-writer", f"written by {doc.uid}, not by user {doc.user_id}")
    if doc.at > received_at + rules.CLOCK_SKEW:
        raise Rejected(event_id, "future-time", f"at {doc.at.isoformat()} is in the future",
                       manager_uid=user.manager_uid)
    if doc.at < received_at - rules.CLOCK_SKEW:
        # A device offline longer than the skew, or a back-dated time: only an Owner or Manager records a past
        # time (HTTP `at`, a correction), as for a check-in over HTTP.
        raise Rejected(event_id, "past-time", f"at {doc.at.isoformat()} is more than "
                                              f"{rules.CLOCK_SKEW // rules.MINUTE} minutes before the server "
                                              f"received it ({received_at.isoformat()}); an Owner or Manager "
                                              "can record the time", manager_uid=user.manager_uid)
    queries.lock_user(uow, doc.user_id)
    if not queries.insert_time_event(uow, agency_id=agency_id, event_id=event_id, user_id=doc.user_id,
                                     kind=doc.kind, at=doc.at):
        log.info("time event %s/%s already received", agency_id, event_id)
        return {}
    outcomes: dict[str, TimeEventOutcome] = {}
    replay_pending(uow, agency_id=agency_id, user_id=doc.user_id, outcomes=outcomes, manager_uid=user.manager_uid)
    return outcomes


def replay_pending(uow: UnitOfWork, *, agency_id: uuid.UUID, user_id: uuid.UUID,
                   outcomes: dict[str, TimeEventOutcome] | None = None, manager_uid: str | None = None) -> int:
    """Apply the user's pending documents in `at` order until none more applies; returns how many did.

    Each try runs in a savepoint: one that is refused (409/400) leaves no row and no event behind and stays
    pending with its reason. The caller holds the user's lock. `outcomes` collects each tried document's
    latest state (naming `manager_uid`, the user's manager), for the write-back after commit.
    """
    seen = {} if outcomes is None else outcomes

    def _outcome(status, reason: str | None, detail: str | None, *, entry_id: str | None = None):
        return TimeEventOutcome(status=status, reason=reason, detail=detail, entry_id=entry_id,
                                processed_at=datetime.now(UTC), manager_uid=manager_uid)

    applied, progress = 0, True
    while progress:
        progress = False
        for ev in queries.pending_time_events(uow, agency_id, user_id):
            if ev.kind == "check_out" and (blocker := _later_check_in(uow, user_id, ev.at)) is not None:
                detail = (f"waiting: the check-in at {blocker.at.isoformat()} is pending, so this check-out may "
                          "belong to its shift, not to the open entry")
                queries.time_event_waiting(uow, agency_id, ev.event_id, detail)
                seen[ev.event_id] = _outcome("pending", WAITING_FOR_CHECK_IN, detail)
                continue
            action = clock.check_in if ev.kind == "check_in" else clock.check_out
            events_before = len(uow.pending_events)
            try:
                with uow.conn.begin_nested():
                    entry = action(uow, agency_id=agency_id, user_id=user_id, at=ev.at, recorded_by=user_id,
                                   source="firestore", correction=False)
            except DomainError as exc:  # refused for now (409/400): stays pending with the reason
                del uow.pending_events[events_before:]  # their outbox rows went with the savepoint
                queries.time_event_waiting(uow, agency_id, ev.event_id, exc.detail)
                seen[ev.event_id] = _outcome("pending", exc.slug, exc.detail)
                log.info("time event %s/%s pending: %s", agency_id, ev.event_id, exc.detail)
                continue
            queries.time_event_applied(uow, agency_id, ev.event_id, entry.id)
            seen[ev.event_id] = _outcome("recorded", None, None, entry_id=str(entry.id))
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


def write_back_expired(uow: UnitOfWork, rows: list[Any]) -> None:
    """After the sweep commits, documents it rejected as expired say so (reason `expired`)."""
    if not rows:
        return
    now = datetime.now(UTC)
    by_agency: dict[str, dict[str, TimeEventOutcome]] = {}
    for r in rows:
        by_agency.setdefault(str(r.agency_id), {})[r.event_id] = TimeEventOutcome(
            status="rejected", reason="expired", detail=r.last_error, entry_id=None, processed_at=now,
            manager_uid=r.manager_uid)
    uow.after_commit(lambda: [write_back(agency, outcomes) for agency, outcomes in by_agency.items()])
