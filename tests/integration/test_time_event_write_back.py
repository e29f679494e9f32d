"""A Firestore time event gets its outcome written back on its document (recorded / pending / rejected), after
commit, once, and without re-entering the trigger (it fires on `created` only)."""
from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from functions.timetracking import time_events
from shared_lib import firestore, registry
from shared_lib.config import reset_settings
from tests import factories as f
from tests.integration.test_timetracking_firestore import deliver, doc, entries, utc

TT = "timetracking_service"


@pytest.fixture
def chatter(db):
    assert os.environ.get("FIRESTORE_EMULATOR_HOST"), "run `. .local/services.env` (make test starts the emulator)"
    reset_settings()
    firestore.reset_client()
    person = f.make_user(f.make_agency().owner)
    f.shift(person, utc(9), utc(17))
    yield person
    firestore.reset_client()


def created(person, event_id: str, document: dict, *, agency=None):
    """The app creates the document (in the emulator), then Eventarc delivers the `created` CloudEvent."""
    agency = agency or person.agency_id
    firestore.client().document(time_events.path(str(agency), event_id)).set(document)
    event = f.firestore_event(agency, event_id, document)
    deliver(event)
    return event


def read(person, event_id: str) -> dict:
    return firestore.client().document(time_events.path(str(person.agency_id), event_id)).get().to_dict()


def outcome(person, event_id: str) -> tuple:
    d = read(person, event_id)
    return d["status"], d["reason"], d["entry_id"]


def test_an_accepted_check_in_is_marked_recorded_with_its_entry(chatter):
    eid = f"in-{uuid.uuid4().hex[:6]}"
    created(chatter, eid, doc(chatter, "check_in", utc(9, 12)))
    [entry] = entries()
    assert outcome(chatter, eid) == ("recorded", None, str(entry.id))
    d = read(chatter, eid)
    assert d["detail"] is None and isinstance(d["processed_at"], datetime)
    assert (d["kind"], d["uid"], d["user_id"]) == ("check_in", chatter.uid, str(chatter.id))  # the app's fields kept


def test_a_check_out_before_its_check_in_is_pending_then_recorded(chatter):
    out, in_ = f"out-{uuid.uuid4().hex[:6]}", f"in-{uuid.uuid4().hex[:6]}"
    created(chatter, out, doc(chatter, "check_out", utc(17)))
    assert outcome(chatter, out) == ("pending", "no-open-check-in", None)
    assert "no open entry" in read(chatter, out)["detail"]
    created(chatter, in_, doc(chatter, "check_in", utc(9)))
    [entry] = entries()
    assert outcome(chatter, in_) == ("recorded", None, str(entry.id))
    assert outcome(chatter, out) == ("recorded", None, str(entry.id))  # applied in the same transaction


@pytest.mark.parametrize("case, reason", [("future", "future-time"), ("colleague", "not-the-writer"),
                                          ("bad_kind", "invalid-document"), ("stranger", "not-a-member")])
def test_a_document_that_never_applies_is_marked_rejected_and_records_nothing(chatter, case, reason):
    eid = f"bad-{uuid.uuid4().hex[:6]}"
    document = doc(chatter, "check_in", utc(9))
    if case == "future":
        document["at"] = datetime.now(UTC) + timedelta(minutes=10)
    elif case == "colleague":
        document["user_id"] = str(f.make_user(chatter).id)
    elif case == "bad_kind":
        document["kind"] = "lunch"
    elif case == "stranger":
        document = doc(f.make_user(f.make_agency().owner), "check_in", utc(9))
    before = f.counts()
    created(chatter, eid, document)
    assert f.counts() == before
    assert f.sql("SELECT count(*) AS n FROM eventing.inbox")[0].n == 0
    d = read(chatter, eid)
    assert (d["status"], d["reason"], d["entry_id"]) == ("rejected", reason, None) and d["detail"]


def test_a_redelivery_writes_nothing_again(chatter):
    eid = f"in-{uuid.uuid4().hex[:6]}"
    event = created(chatter, eid, doc(chatter, "check_in", utc(9)))
    first = read(chatter, eid)["processed_at"]
    deliver(event)  # the same CloudEvent: the inbox drops it
    deliver(f.firestore_event(chatter.agency_id, eid, doc(chatter, "check_in", utc(9))))  # a new CloudEvent id
    assert read(chatter, eid)["processed_at"] == first
    assert len(entries()) == 1


def test_the_write_back_never_fires_the_trigger_again(chatter, platform):
    """Only `created` is subscribed (also what terraform deploys): the backend's update calls nothing."""
    assert registry.REGISTRY["timetracking_time_event"].document_event == "created"
    eid = f"in-{uuid.uuid4().hex[:6]}"
    created(chatter, eid, doc(chatter, "check_in", utc(9)))
    after = read(chatter, eid)
    before = {k: v for k, v in after.items() if k not in ("status", "reason", "detail", "entry_id", "processed_at")}
    assert platform.deliver_document(time_events.path(str(chatter.agency_id), eid), after, before) == []


def test_a_document_deleted_before_the_write_back_stays_deleted(chatter):
    eid = f"in-{uuid.uuid4().hex[:6]}"
    document = doc(chatter, "check_in", utc(9))
    deliver(f.firestore_event(chatter.agency_id, eid, document))  # the app deleted it: no document in Firestore
    assert len(entries()) == 1
    assert not firestore.client().document(time_events.path(str(chatter.agency_id), eid)).get().exists


def test_a_document_pending_for_24_hours_is_marked_rejected_expired(chatter):
    from shared_lib.db import unit_of_work

    from functions.timetracking import sweep

    eid = f"early-{uuid.uuid4().hex[:6]}"
    created(chatter, eid, doc(chatter, "check_in", utc(6)))  # no shift then
    assert outcome(chatter, eid) == ("pending", "no-shift", None)
    with unit_of_work() as uow:
        assert sweep.sweep(uow=uow, as_of=datetime.now(UTC).date(),
                           now=datetime.now(UTC) + timedelta(hours=25)).expired_time_events == 1
    assert outcome(chatter, eid) == ("rejected", "expired", None)
    assert "expired" in read(chatter, eid)["detail"]


def test_a_rejection_whose_answer_cannot_be_written_is_still_acknowledged(chatter, monkeypatch, caplog):
    def unreachable(path, fields):
        raise ConnectionError("Firestore is unreachable")

    monkeypatch.setattr(firestore, "update_fields", unreachable)
    before = f.counts()
    document = doc(chatter, "check_in", datetime.now(UTC) + timedelta(minutes=10))
    deliver(f.firestore_event(chatter.agency_id, "late-answer", document))  # returns: acknowledged, no retry
    assert f.counts() == before
    assert "could not write the rejection back" in caplog.text and "permanent failure" in caplog.text


def test_every_answer_names_the_users_manager_for_the_rules(chatter):
    """firestore.rules let a Manager read a time event only once the backend names them (`manager_uid`)."""
    owner = f.make_agency().owner
    manager = f.make_user(owner, "manager")
    member = f.make_user(owner, manager=manager)
    f.shift(member, utc(9), utc(17))
    recorded, rejected = f"in-{uuid.uuid4().hex[:6]}", f"late-{uuid.uuid4().hex[:6]}"
    created(member, recorded, doc(member, "check_in", utc(9, 3)))
    created(member, rejected, doc(member, "check_out", datetime.now(UTC) + timedelta(minutes=10)))
    assert (read(member, recorded)["status"], read(member, recorded)["manager_uid"]) == ("recorded", manager.uid)
    assert (read(member, rejected)["reason"], read(member, rejected)["manager_uid"]) == ("future-time", manager.uid)
    # Outside a team nobody but the Owner and the writer reads it.
    solo = f"in-{uuid.uuid4().hex[:6]}"
    created(chatter, solo, doc(chatter, "check_in", utc(9, 1)))
    assert (read(chatter, solo)["status"], read(chatter, solo)["manager_uid"]) == ("recorded", None)
