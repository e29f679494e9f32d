"""The timetracking sweep on a real PostgreSQL: missed shifts, missed check-outs, auto clock-out; idempotent."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from functions.timetracking import service, sweep
from functions.timetracking.schemas import ClockCommand, SummaryQuery
from shared_lib.db import unit_of_work
from tests import factories as f

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)  # the sweeps below run "at" this instant


def utc(d, h, mi=0) -> datetime:
    return datetime(2026, 11, d, h, mi, tzinfo=UTC)


def run(as_of: date, now: datetime = NOW) -> sweep.SweepResult:
    with unit_of_work() as uow:
        return sweep.sweep(uow=uow, as_of=as_of, now=now)


def record(owner, person, kind, at):
    fn = service.clock_in if kind == "in" else service.clock_out
    with unit_of_work() as uow:
        return fn(uow=uow, caller=owner.caller(), cmd=ClockCommand(user_id=person.id, at=at))


def entry_row(entry_id):
    return f.sql("SELECT * FROM timetracking_service.time_entries WHERE id = :id", id=entry_id)[0]


@pytest.fixture
def people(db):
    owner = f.make_agency().owner
    return owner, f.make_user(owner)


def test_the_sweep_finds_a_missed_shift_once(people):
    owner, chatter = people
    shift_id = f.shift(chatter, utc(20, 9), utc(20, 17))
    result = run(date(2026, 11, 20))
    assert (result.missed_shifts, result.missed_check_outs, result.auto_closed) == (1, 0, 0)
    assert result.cutoff == utc(21, 0)
    row = f.sql("SELECT status, missed_at FROM timetracking_service.shifts WHERE id = :id", id=shift_id)[0]
    assert (row.status, row.missed_at) == ("missed", NOW)
    assert f.time_events() == [{"agency_id": str(owner.agency_id), "user_id": str(chatter.id), "kind": "missed_shift",
                           "shift_id": str(shift_id), "entry_id": None, "minutes": 480,
                           "local_date": "2026-11-20", "period": "2026-11"}]
    before = f.counts()
    again = run(date(2026, 11, 20), NOW + timedelta(minutes=5))
    assert (again.missed_shifts, again.missed_check_outs, again.auto_closed) == (0, 0, 0)
    assert f.counts() == before  # nothing changed, no second event
    with unit_of_work() as uow:
        s = service.summary_get(uow=uow, caller=owner.caller(), user_id=chatter.id,
                                q=SummaryQuery(date_from=date(2026, 11, 20), date_to=date(2026, 11, 20)))
    assert (s.missed_shifts, s.worked_minutes) == (1, 0)


def test_as_of_is_the_end_of_that_utc_date_and_never_beyond_now(people):
    _, chatter = people
    late_night = f.shift(chatter, utc(20, 20), utc(21, 0, 30))
    assert run(date(2026, 11, 20)).missed_shifts == 0
    assert run(date(2026, 11, 21)).missed_shifts == 1
    ongoing = f.shift(chatter, NOW - timedelta(hours=2), NOW + timedelta(minutes=1))
    assert run(date(2026, 12, 31), now=NOW).missed_shifts == 0  # as_of in the future stops at now
    assert run(date(2026, 12, 31), now=NOW + timedelta(minutes=1)).missed_shifts == 1
    assert {r.id for r in f.sql("SELECT id FROM timetracking_service.shifts WHERE status = 'missed'")} \
        == {late_night, ongoing}


def test_a_shift_with_a_check_in_is_not_missed_and_an_inactive_users_shift_is_left_alone(people):
    owner, chatter = people
    gone = f.make_user(owner, active=False)
    f.shift(chatter, utc(20, 9), utc(20, 17))
    f.shift(gone, utc(20, 9), utc(20, 17))
    record(owner, chatter, "in", utc(20, 9))
    record(owner, chatter, "out", utc(20, 17))
    assert run(date(2026, 11, 20)).missed_shifts == 0
    assert f.kinds() == ["checked_out"]  # the check-out's own; the sweep adds none


def test_recording_a_check_in_for_a_missed_shift_undoes_it(people):
    owner, chatter = people
    shift_id = f.shift(chatter, utc(20, 9), utc(20, 17))
    run(date(2026, 11, 20))
    entry = record(owner, chatter, "in", utc(20, 9, 2))
    assert entry.shift_id == shift_id and entry.late_minutes == 0
    row = f.sql("SELECT status, missed_at FROM timetracking_service.shifts WHERE id = :id", id=shift_id)[0]
    assert (row.status, row.missed_at) == ("attended", None)
    assert [(e["kind"], e["minutes"]) for e in f.time_events()] == [("missed_shift", 480), ("adjusted", 0)]


def test_a_missed_check_out_four_hours_after_the_end_then_auto_clock_out(people):
    owner, chatter = people
    shift_id = f.shift(chatter, utc(20, 9), utc(20, 17))
    entry = record(owner, chatter, "in", utc(20, 9, 3))
    assert run(date(2026, 11, 20), now=utc(20, 20, 59)).missed_check_outs == 0
    first = run(date(2026, 11, 20), now=utc(20, 21, 0))
    assert (first.missed_check_outs, first.auto_closed) == (1, 0)
    row = entry_row(entry.id)
    assert (row.missed_check_out, row.checked_out_at) == (True, None)
    assert run(date(2026, 11, 20), now=utc(20, 21, 2)).auto_closed == 0  # 12 h after 09:03 is 21:03
    closing = run(date(2026, 11, 20), now=utc(20, 21, 3))
    assert (closing.auto_closed, closing.missed_check_outs) == (1, 0)
    row = entry_row(entry.id)
    assert (row.checked_out_at, row.worked_minutes, row.overtime_minutes, row.auto_closed) == (utc(20, 17), 477, 0,
                                                                                              True)
    assert run(date(2026, 11, 20), now=utc(20, 22)).auto_closed == 0
    assert [(e["kind"], e["shift_id"], e["entry_id"]) for e in f.time_events()] == [
        ("missed_check_out", str(shift_id), str(entry.id))]


def test_auto_clock_out_when_max_shift_hours_is_shorter_than_the_shift(people):
    owner, chatter = people
    f.set_timetracking_settings(owner, max_shift_hours=6)
    f.shift(chatter, utc(20, 9), utc(20, 19))
    entry = record(owner, chatter, "in", utc(20, 9))
    result = run(date(2026, 11, 20), now=utc(20, 15))
    assert (result.auto_closed, result.missed_check_outs) == (1, 1)
    row = entry_row(entry.id)
    assert (row.checked_out_at, row.worked_minutes, row.missed_check_out) == (utc(20, 15), 360, True)
    assert f.kinds() == ["missed_check_out"]


def test_the_sweep_is_set_based_across_agencies(db):
    owners = [f.make_agency(timezone="UTC").owner, f.make_agency(timezone="Asia/Tokyo").owner]
    people = [f.make_user(o) for o in owners for _ in range(3)]
    for p in people:
        f.shift(p, utc(20, 9), utc(20, 17))
    assert run(date(2026, 11, 20)).missed_shifts == 6
    tokyo_dates = {e["local_date"] for e in f.time_events() if e["agency_id"] == str(owners[1].agency_id)}
    assert tokyo_dates == {"2026-11-20"}  # 18:00 in Tokyo
    assert run(date(2026, 11, 20)).missed_shifts == 0
