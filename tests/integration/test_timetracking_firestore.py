"""Firestore-triggered check-in/out: real DocumentEventData CloudEvents through the registry entry point."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cloudevents.http import CloudEvent
from sqlalchemy import text

from functions.timetracking import main, sweep
from shared_lib import registry
from shared_lib.db import engine, unit_of_work
from tests import factories as f

TT = "timetracking_service"


def deliver(cloud_event) -> None:
    """As Eventarc does: the deployed function is called with the CloudEvent; returning acknowledges it."""
    registry.REGISTRY["timetracking_time_event"].entry_point(cloud_event)


def doc(person, kind, at, **extra):
    return {"uid": person.uid, "user_id": str(person.id), "kind": kind, "at": at, **extra}


def entries():
    return f.sql(f"SELECT * FROM {TT}.time_entries ORDER BY checked_in_at")


def utc(h, mi=0, d=20) -> datetime:
    return datetime(2026, 11, d, h, mi, tzinfo=UTC)


@pytest.fixture
def chatter(db):
    owner = f.make_agency().owner
    person = f.make_user(owner)
    f.shift(person, utc(9), utc(17))
    return person


def test_the_entry_point_is_the_registered_firestore_function():
    spec = registry.REGISTRY["timetracking_time_event"]
    assert (spec.trigger, spec.document, spec.document_event) == (
        "firestore", "agencies/{agencyId}/time_events/{eventId}", "created")
    assert spec.entry_point is main.timetracking_time_event


def test_check_in_and_out_documents_are_recorded_like_http(chatter):
    deliver(f.firestore_event(chatter.agency_id, "ev-in", doc(chatter, "check_in", utc(9, 12), device="ios")))
    deliver(f.firestore_event(chatter.agency_id, "ev-out", doc(chatter, "check_out", utc(17, 30))))
    [e] = entries()
    assert (e.late_minutes, e.overtime_minutes, e.worked_minutes) == (12, 30, 498)
    assert (e.source, e.recorded_by, e.user_id) == ("firestore", chatter.id, chatter.id)
    logged = f.sql(f"SELECT event_id, status, entry_id FROM {TT}.time_events ORDER BY at")
    assert [tuple(r) for r in logged] == [("ev-in", "applied", e.id), ("ev-out", "applied", e.id)]
    assert f.kinds() == ["adjusted", "checked_out"]


def test_a_redelivered_document_changes_nothing(chatter):
    event = f.firestore_event(chatter.agency_id, "ev-1", doc(chatter, "check_in", utc(9, 20)))
    deliver(event)
    before = f.counts()
    deliver(event)  # the same CloudEvent again (at-least-once)
    deliver(f.firestore_event(chatter.agency_id, "ev-1", doc(chatter, "check_in", utc(9, 20))))  # new CE id
    assert f.counts() == before
    assert f.kinds() == ["late"]


def test_a_check_out_delivered_before_its_check_in_waits_and_then_applies(chatter):
    deliver(f.firestore_event(chatter.agency_id, "ev-out", doc(chatter, "check_out", utc(17, 0))))
    assert entries() == []
    pending = f.sql(f"SELECT status, last_error FROM {TT}.time_events")[0]
    assert pending.status == "pending" and "no open entry" in pending.last_error
    assert f.kinds() == []
    deliver(f.firestore_event(chatter.agency_id, "ev-in", doc(chatter, "check_in", utc(9, 0))))
    [e] = entries()
    assert (e.checked_in_at, e.checked_out_at, e.worked_minutes) == (utc(9), utc(17), 480)
    assert {r.status for r in f.sql(f"SELECT status FROM {TT}.time_events")} == {"applied"}


def test_a_next_check_in_delivered_before_the_previous_check_out_waits_for_it(chatter):
    f.shift(chatter, utc(18), utc(22))
    deliver(f.firestore_event(chatter.agency_id, "a-in", doc(chatter, "check_in", utc(9))))
    deliver(f.firestore_event(chatter.agency_id, "b-in", doc(chatter, "check_in", utc(18))))
    assert len(entries()) == 1
    deliver(f.firestore_event(chatter.agency_id, "b-out", doc(chatter, "check_out", utc(22))))
    deliver(f.firestore_event(chatter.agency_id, "a-out", doc(chatter, "check_out", utc(17))))
    assert [(e.checked_in_at, e.checked_out_at) for e in entries()] == [(utc(9), utc(17)), (utc(18), utc(22))]
    assert {r.status for r in f.sql(f"SELECT status FROM {TT}.time_events")} == {"applied"}


def test_a_document_that_never_applies_stays_pending_then_expires(chatter):
    deliver(f.firestore_event(chatter.agency_id, "ev-x", doc(chatter, "check_in", utc(6))))  # no shift then
    assert entries() == [] and f.kinds() == []
    with unit_of_work() as uow:
        sweep.sweep(uow=uow, as_of=datetime.now(UTC).date(), now=datetime.now(UTC) + timedelta(hours=25))
    row = f.sql(f"SELECT status, last_error FROM {TT}.time_events")[0]
    assert row.status == "rejected" and "no planned shift" in row.last_error and "expired" in row.last_error


@pytest.mark.parametrize("case", ["other_agency_user", "unknown_agency", "agency_not_uuid", "bad_kind", "no_at",
                                  "user_not_uuid", "inactive_user", "future_at", "no_value", "colleague_id",
                                  "no_uid"])
def test_documents_that_can_never_apply_are_acknowledged_and_write_nothing(chatter, case, caplog):
    stranger = f.make_user(f.make_agency().owner)  # so "unknown agency" is not just "the only agency"
    agency_id: object = chatter.agency_id
    document: dict | None = doc(chatter, "check_in", utc(9))
    if case == "other_agency_user":
        document = doc(stranger, "check_in", utc(9))  # a user of another agency under this agency's path
    elif case == "unknown_agency":
        agency_id = uuid.uuid4()
    elif case == "agency_not_uuid":
        agency_id = "not-a-uuid"
    elif case == "bad_kind":
        document["kind"] = "lunch"
    elif case == "no_at":
        del document["at"]
    elif case == "user_not_uuid":
        document["user_id"] = "nobody"
    elif case == "inactive_user":
        with engine().begin() as c:
            c.execute(text("UPDATE user_service.users SET active = false WHERE id = :u"), {"u": chatter.id})
    elif case == "future_at":
        document["at"] = datetime.now(UTC) + timedelta(minutes=10)
    elif case == "no_value":
        document = None
    elif case == "colleague_id":  # signed in as the chatter (uid), clocking in a colleague of the same agency
        colleague = f.make_user(chatter)  # same agency as the chatter
        document["user_id"] = str(colleague.id)
    elif case == "no_uid":
        del document["uid"]
    before = f.counts()
    deliver(f.firestore_event(agency_id, "ev-bad", document))  # returns: acknowledged, not retried
    assert f.counts() == before
    assert f.sql("SELECT count(*) AS n FROM eventing.inbox")[0].n == 0
    assert "permanent failure" in caplog.text


def test_a_payload_that_is_not_protobuf_is_acknowledged_and_writes_nothing(chatter):
    event = CloudEvent({"type": "google.cloud.firestore.document.v1.created", "source": "//firestore",
                        "id": "x1", "datacontenttype": "application/protobuf",
                        "document": f"agencies/{chatter.agency_id}/time_events/e"}, b"\x00garbage\xff")
    before = f.counts()
    deliver(event)
    assert f.counts() == before


def test_a_stray_check_in_with_no_shift_does_not_hold_back_a_check_out(chatter):
    deliver(f.firestore_event(chatter.agency_id, "in", doc(chatter, "check_in", utc(9))))
    deliver(f.firestore_event(chatter.agency_id, "stray", doc(chatter, "check_in", utc(16))))  # shift 9-17 is taken
    deliver(f.firestore_event(chatter.agency_id, "out", doc(chatter, "check_out", utc(17))))
    [e] = entries()
    assert e.checked_out_at == utc(17)
    statuses = {r.event_id: r.status for r in f.sql(f"SELECT event_id, status FROM {TT}.time_events")}
    assert statuses == {"in": "applied", "stray": "pending", "out": "applied"}
