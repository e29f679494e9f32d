"""A Chatter cannot back-date a check-in through a Firestore time event: the app's `at` counts only within the
clock skew (5 min) of when Firestore received the document, in the handler (against the DocumentEventData's
create time, which the app cannot set) and in firestore.rules (against request.time)."""
from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from functions.timetracking import time_events
from shared_lib import firestore
from shared_lib.config import reset_settings
from tests import factories as f
from tests.integration.test_stats_firestore_rules import A, CHATTER_A, _event, create, rules_emulator
from tests.integration.test_timetracking_firestore import deliver, doc, entries

__all__ = ["rules_emulator"]

TT = "timetracking_service"


@pytest.fixture
def late_chatter(db, platform):
    """A chatter whose shift started 90 minutes ago, on the local platform with the Firestore emulator."""
    assert os.environ.get("FIRESTORE_EMULATOR_HOST"), "run `. .local/services.env` (make test starts the emulator)"
    reset_settings()
    firestore.reset_client()
    now = datetime.now(UTC).replace(microsecond=0)
    person = f.make_user(f.make_agency().owner)
    f.shift(person, now - timedelta(minutes=90), now + timedelta(hours=6))
    yield person, now - timedelta(minutes=90)
    firestore.reset_client()


def app_writes(platform, person, at: datetime) -> str:
    """The app creates the document in Firestore; the platform delivers the `created` event as Eventarc does."""
    event_id = f"in-{uuid.uuid4().hex[:8]}"
    path = time_events.path(str(person.agency_id), event_id)
    document = doc(person, "check_in", at)
    firestore.client().document(path).set(document)
    assert platform.deliver_document(path, document) == ["timetracking_time_event"]
    return event_id


def written_back(person, event_id: str) -> dict:
    return firestore.client().document(time_events.path(str(person.agency_id), event_id)).get().to_dict()


def test_a_check_in_back_dated_to_the_shift_start_is_rejected_and_the_real_one_is_90_minutes_late(platform,
                                                                                                  late_chatter):
    person, shift_start = late_chatter
    before = f.counts()
    back_dated = app_writes(platform, person, shift_start)   # 90 minutes late, claiming to be on time
    assert entries() == []
    assert f.counts() == before                              # rejected: no log row, no entry, no event
    answer = written_back(person, back_dated)
    assert (answer["status"], answer["reason"], answer["entry_id"]) == ("rejected", "past-time", None)
    assert "more than 5 minutes before the server received it" in answer["detail"]

    honest = app_writes(platform, person, datetime.now(UTC))
    [entry] = entries()
    assert entry.late_minutes == 90 and entry.source == "firestore"
    assert written_back(person, honest)["status"] == "recorded"
    assert f.kinds() == ["late"]


def test_an_app_offline_for_a_few_minutes_keeps_its_own_time(platform, late_chatter):
    person, shift_start = late_chatter
    tapped = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=4)   # synced 4 minutes later
    app_writes(platform, person, tapped)
    [entry] = entries()
    assert (entry.checked_in_at, entry.late_minutes) == (tapped, 86)


def test_the_handler_bounds_at_by_the_documents_create_time_not_by_when_it_runs(late_chatter):
    """A redelivery hours later still judges the document by when Firestore stored it (its create time)."""
    person, shift_start = late_chatter
    stored = shift_start + timedelta(minutes=20)
    # Written at its create time (20 min late), delivered now (70 minutes later): recorded with its own time.
    deliver(f.firestore_event(person.agency_id, "ev-1", doc(person, "check_in", stored), received_at=stored))
    [entry] = entries()
    assert (entry.checked_in_at, entry.late_minutes) == (stored, 20)
    # 6 minutes before its create time: refused, even though that is in the past too.
    other = f.make_user(person)  # a colleague in the same agency
    f.shift(other, shift_start, shift_start + timedelta(hours=8))
    before = f.counts()
    deliver(f.firestore_event(other.agency_id, "ev-2", doc(other, "check_in", stored - timedelta(minutes=6)),
                              received_at=stored))
    assert f.counts() == before and len(entries()) == 1


# --- firestore.rules (Google's rules-aware emulator) -------------------------------------------------------------


@pytest.mark.parametrize("minutes, status", [(-90, 403), (-6, 403), (-4, 200), (0, 200), (4, 200), (6, 403)])
def test_the_rules_let_the_app_name_a_time_only_within_5_minutes_of_the_server_time(rules_emulator, minutes,
                                                                                   status):
    at = datetime.now(UTC) + timedelta(minutes=minutes)
    path = f"agencies/{A}/time_events/{uuid.uuid4()}"
    assert create(rules_emulator, path, _event(at=at), CHATTER_A) == status
