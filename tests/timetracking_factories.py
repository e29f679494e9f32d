"""Test data for the time tracking tests: agencies and users seeded with plain SQL, shifts, CloudEvents, counters."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from shared_lib.db import engine
from shared_lib.rbac import Caller, Role

TT = "timetracking_service"


@dataclass(frozen=True)
class Person:
    id: uuid.UUID
    uid: str
    agency_id: uuid.UUID
    role: str
    timezone: str

    def caller(self) -> Caller:
        return Caller(user_id=self.id, agency_id=self.agency_id, role=Role(self.role), firebase_uid=self.uid,
                      display_name=self.uid, email=f"{self.uid}@example.com", agency_timezone=self.timezone)


def agency(timezone: str = "UTC", name: str = "Agency", owner_uid: str | None = None) -> Person:
    """An agency and its Owner (the users service is built in parallel: rows go in with plain SQL)."""
    uid = owner_uid or f"owner-{uuid.uuid4().hex[:8]}"
    with engine().begin() as c:
        agency_id = c.execute(text("INSERT INTO user_service.agencies (name, timezone) VALUES (:n, :tz) RETURNING id"),
                              {"n": name, "tz": timezone}).scalar_one()
        owner_id = c.execute(text(
            "INSERT INTO user_service.users (agency_id, firebase_uid, email, display_name, role) "
            "VALUES (:a, :uid, :email, :uid, 'owner') RETURNING id"),
            {"a": agency_id, "uid": uid, "email": f"{uid}@example.com"}).scalar_one()
        c.execute(text("UPDATE user_service.agencies SET owner_user_id = :o WHERE id = :a"),
                  {"o": owner_id, "a": agency_id})
    return Person(owner_id, uid, agency_id, "owner", timezone)


def user(owner: Person, role: str = "chatter", *, manager: Person | None = None, active: bool = True,
         uid: str | None = None) -> Person:
    uid = uid or f"{role}-{uuid.uuid4().hex[:8]}"
    with engine().begin() as c:
        user_id = c.execute(text(
            "INSERT INTO user_service.users (agency_id, firebase_uid, email, display_name, role, manager_id, active) "
            "VALUES (:a, :uid, :email, :uid, :role, :m, :active) RETURNING id"),
            {"a": owner.agency_id, "uid": uid, "email": f"{uid}@example.com", "role": role,
             "m": manager.id if manager else None, "active": active}).scalar_one()
    return Person(user_id, uid, owner.agency_id, role, owner.timezone)


def shift(person: Person, starts_at: datetime, ends_at: datetime) -> uuid.UUID:
    """A planned shift written directly (tests of the shift rules go through the use case instead)."""
    with engine().begin() as c:
        return c.execute(text(f"INSERT INTO {TT}.shifts (agency_id, user_id, starts_at, ends_at) "
                              "VALUES (:a, :u, :s, :e) RETURNING id"),
                         {"a": person.agency_id, "u": person.id, "s": starts_at, "e": ends_at}).scalar_one()


def settings(owner: Person, effective_from: str = "2000-01-01", **values: Any) -> None:
    row = {"grace_minutes": 5, "late_event_threshold_minutes": 15, "max_shift_hours": 12,
           "fee_per_late_minute": "0.00", "fee_per_missed_shift": "0.00", **values}
    with engine().begin() as c:
        c.execute(text(
            f"INSERT INTO {TT}.settings (agency_id, effective_from, grace_minutes, late_event_threshold_minutes, "
            "max_shift_hours, fee_per_late_minute, fee_per_missed_shift) "
            "VALUES (:a, CAST(:eff AS date), :grace_minutes, :late_event_threshold_minutes, :max_shift_hours, "
            "CAST(:fee_per_late_minute AS numeric), CAST(:fee_per_missed_shift AS numeric))"),
            {**row, "a": owner.agency_id, "eff": effective_from})


EVENT_TYPES = ("employee.time.event", "timetracking.settings.updated")


def counts() -> dict[str, int]:
    """Rows in every time tracking table and its outbox events: a refused request must leave these unchanged.
    (Only this service's events: on the local platform other services' handlers write theirs concurrently.)"""
    with engine().connect() as c:
        found = {t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                 for t in (f"{TT}.shifts", f"{TT}.time_entries", f"{TT}.time_events", f"{TT}.settings")}
        found["outbox"] = c.execute(text("SELECT count(*) FROM eventing.outbox WHERE type = ANY(:t)"),
                                    {"t": list(EVENT_TYPES)}).scalar_one()
    return found


def outbox(type_: str = "employee.time.event") -> list[dict[str, Any]]:
    """The data of every outbox event of that type, in write order."""
    with engine().connect() as c:
        rows = c.execute(text("SELECT payload FROM eventing.outbox WHERE type = :t ORDER BY id"), {"t": type_}).all()
    return [(r.payload if isinstance(r.payload, dict) else json.loads(r.payload))["data"] for r in rows]


def kinds() -> list[str]:
    return [d["kind"] for d in outbox()]


def fetch(sql: str, **params: Any) -> list[Any]:
    with engine().connect() as c:
        return c.execute(text(sql), params).all()


def firestore_event(agency_id: Any, event_id: str, document: dict[str, Any] | None, *, ce_id: str | None = None,
                    received_at: datetime | None = None):
    """The CloudEvent Eventarc delivers for a created agencies/{a}/time_events/{e} document (real protobuf).

    `received_at`: the document's server create time. Default: its `at` when that is not in the future (the
    app was online: Firestore stored it as it was tapped, so tests can use fixed past dates), else now."""
    from cloudevents.http import CloudEvent

    from shared_lib.firestore_values import document_event_bytes

    path = f"agencies/{agency_id}/time_events/{event_id}"
    name = f"projects/demo-onlymanager/databases/(default)/documents/{path}"
    attributes = {
        "specversion": "1.0",
        "type": "google.cloud.firestore.document.v1.created",
        "source": "//firestore.googleapis.com/projects/demo-onlymanager/databases/(default)",
        "id": ce_id or uuid.uuid4().hex,
        "datacontenttype": "application/protobuf",
        "subject": f"documents/{path}",
        "document": path,
    }
    if received_at is None:
        at, now = (document or {}).get("at"), datetime.now(UTC)
        received_at = min(at, now) if isinstance(at, datetime) and at.tzinfo is not None else now
    return CloudEvent(attributes, document_event_bytes(name, document, update_time=received_at))
