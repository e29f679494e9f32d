"""Check-in/out use cases on a real PostgreSQL: the worked example, events, time zones, refusals that write nothing."""
from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from functions.timetracking import service
from functions.timetracking.schemas import ClockCommand, EntryCorrection, SummaryQuery
from shared_lib.db import engine, unit_of_work
from shared_lib.errors import BadRequest, Conflict, Forbidden, NotFound, PeriodClosed
from tests import factories as f


def utc(y, mo, d, h, mi=0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def clock_in(caller, **cmd):
    with unit_of_work() as uow:
        return service.clock_in(uow=uow, caller=caller, cmd=ClockCommand(**cmd))


def clock_out(caller, **cmd):
    with unit_of_work() as uow:
        return service.clock_out(uow=uow, caller=caller, cmd=ClockCommand(**cmd))


def summary(caller, user, date_from, date_to):
    with unit_of_work() as uow:
        return service.summary_get(uow=uow, caller=caller, user_id=user.id,
                                   q=SummaryQuery(date_from=date_from, date_to=date_to))


@pytest.fixture
def team(db):
    owner = f.make_agency().owner
    manager = f.make_user(owner, "manager")
    chatter = f.make_user(owner, "chatter", manager=manager)
    return owner, manager, chatter


def test_the_business_rules_example_recorded_by_the_owner(team):
    owner, _, chatter = team
    shift_id = f.shift(chatter, utc(2026, 11, 20, 9), utc(2026, 11, 20, 17))
    entry = clock_in(owner.caller(), user_id=chatter.id, at=utc(2026, 11, 20, 9, 12))
    assert (entry.shift_id, entry.late_minutes, entry.worked_minutes, entry.checked_out_at) == (shift_id, 12, None,
                                                                                               None)
    entry = clock_out(owner.caller(), user_id=chatter.id, at=utc(2026, 11, 20, 17, 30))
    assert (entry.late_minutes, entry.overtime_minutes, entry.worked_minutes) == (12, 30, 498)
    assert (entry.missed_check_out, entry.auto_closed, entry.source) == (False, False, "http")
    assert entry.recorded_by == owner.id
    s = summary(owner.caller(), chatter, date(2026, 11, 1), date(2026, 11, 30))
    assert (s.worked_minutes, s.late_count, s.late_minutes, s.overtime_minutes, s.missed_shifts,
            s.missed_check_outs) == (498, 1, 12, 30, 0, 0)
    # 12 late minutes are deductible but within the 15-minute threshold: a recompute event, not an alert; the
    # check-out gives the entry its worked minutes (the hourly pay's input), announced too.
    assert f.time_events() == [{"agency_id": str(owner.agency_id), "user_id": str(chatter.id), "kind": kind,
                                "shift_id": str(shift_id), "entry_id": str(entry.id), "minutes": minutes,
                                "local_date": "2026-11-20", "period": "2026-11"}
                               for kind, minutes in (("adjusted", 12), ("checked_out", 498))]


def test_check_in_within_the_grace_is_not_late_and_emits_nothing(team):
    owner, _, chatter = team
    f.shift(chatter, utc(2026, 11, 20, 9), utc(2026, 11, 20, 17))
    assert clock_in(owner.caller(), user_id=chatter.id, at=utc(2026, 11, 20, 9, 4)).late_minutes == 0
    assert f.time_events() == []


def test_lateness_above_the_threshold_publishes_a_late_event(team):
    owner, _, chatter = team
    f.set_timetracking_settings(owner, grace_minutes=5, late_event_threshold_minutes=15)
    f.shift(chatter, utc(2026, 11, 20, 9), utc(2026, 11, 20, 17))
    f.shift(chatter, utc(2026, 11, 21, 9), utc(2026, 11, 21, 17))
    clock_in(owner.caller(), user_id=chatter.id, at=utc(2026, 11, 20, 9, 15))
    clock_out(owner.caller(), user_id=chatter.id, at=utc(2026, 11, 20, 17))
    clock_in(owner.caller(), user_id=chatter.id, at=utc(2026, 11, 21, 9, 16))
    assert [(e["kind"], e["minutes"], e["local_date"]) for e in f.time_events()] == [
        ("adjusted", 15, "2026-11-20"), ("checked_out", 465, "2026-11-20"), ("late", 16, "2026-11-21")]


def test_a_chatter_checks_in_and_out_at_server_time(team):
    _, _, chatter = team
    now = datetime.now(UTC)
    f.shift(chatter, now - timedelta(minutes=12, seconds=10), now + timedelta(hours=8))
    entry = clock_in(chatter.caller())
    assert entry.late_minutes == 12 and entry.recorded_by == chatter.id
    assert now <= entry.checked_in_at <= datetime.now(UTC)
    closed = clock_out(chatter.caller())
    assert closed.id == entry.id and closed.worked_minutes == 0 and closed.overtime_minutes == 0


def test_check_in_up_to_two_hours_early_opens_the_coming_shift(team):
    owner, _, chatter = team
    shift_id = f.shift(chatter, utc(2026, 11, 20, 9), utc(2026, 11, 20, 17))
    entry = clock_in(owner.caller(), user_id=chatter.id, at=utc(2026, 11, 20, 7, 0))
    assert entry.shift_id == shift_id and entry.late_minutes == 0
    assert clock_out(owner.caller(), user_id=chatter.id, at=utc(2026, 11, 20, 17)).worked_minutes == 600


def test_back_to_back_shifts_each_take_their_own_check_in(team):
    owner, _, chatter = team
    first = f.shift(chatter, utc(2026, 11, 20, 9), utc(2026, 11, 20, 13))
    second = f.shift(chatter, utc(2026, 11, 20, 13), utc(2026, 11, 20, 17))
    assert clock_in(owner.caller(), user_id=chatter.id, at=utc(2026, 11, 20, 9)).shift_id == first
    clock_out(owner.caller(), user_id=chatter.id, at=utc(2026, 11, 20, 12, 55))
    assert clock_in(owner.caller(), user_id=chatter.id, at=utc(2026, 11, 20, 12, 58)).shift_id == second


def _refused(exc_type, slug, fn, *args, **kwargs):
    before = f.counts()
    with pytest.raises(exc_type) as err:
        fn(*args, **kwargs)
    assert err.value.slug == slug
    assert f.counts() == before  # nothing written, no outbox event
    return err.value


def test_second_check_in_while_one_is_open_is_a_conflict(team):
    owner, _, chatter = team
    f.shift(chatter, utc(2026, 11, 20, 9), utc(2026, 11, 20, 17))
    f.shift(chatter, utc(2026, 11, 20, 18), utc(2026, 11, 20, 22))
    clock_in(owner.caller(), user_id=chatter.id, at=utc(2026, 11, 20, 9))
    _refused(Conflict, "open-check-in", clock_in, owner.caller(), user_id=chatter.id, at=utc(2026, 11, 20, 17, 30))


def test_check_out_without_check_in_is_a_conflict(team):
    owner, _, chatter = team
    f.shift(chatter, utc(2026, 11, 20, 9), utc(2026, 11, 20, 17))
    _refused(Conflict, "no-open-check-in", clock_out, owner.caller(), user_id=chatter.id, at=utc(2026, 11, 20, 17))
    _refused(Conflict, "no-open-check-in", clock_out, chatter.caller())


def test_check_in_with_no_shift_or_an_already_checked_in_shift_is_a_conflict(team):
    owner, _, chatter = team
    f.shift(chatter, utc(2026, 11, 20, 9), utc(2026, 11, 20, 17))
    _refused(Conflict, "no-shift", clock_in, owner.caller(), user_id=chatter.id, at=utc(2026, 11, 20, 6, 59))
    _refused(Conflict, "no-shift", clock_in, owner.caller(), user_id=chatter.id, at=utc(2026, 11, 20, 17))
    clock_in(owner.caller(), user_id=chatter.id, at=utc(2026, 11, 20, 9))
    clock_out(owner.caller(), user_id=chatter.id, at=utc(2026, 11, 20, 10))
    _refused(Conflict, "shift-already-checked-in", clock_in, owner.caller(), user_id=chatter.id,
             at=utc(2026, 11, 20, 10, 5))


def test_a_chatter_cannot_check_in_another_user_or_set_the_time(team):
    owner, _, chatter = team
    other = f.make_user(owner, "chatter")
    now = datetime.now(UTC)
    f.shift(other, now - timedelta(hours=1), now + timedelta(hours=1))
    f.shift(chatter, now - timedelta(hours=1), now + timedelta(hours=1))
    _refused(Forbidden, "forbidden", clock_in, chatter.caller(), user_id=other.id)
    _refused(Forbidden, "forbidden", clock_out, chatter.caller(), user_id=other.id)
    _refused(Forbidden, "forbidden", clock_in, chatter.caller(), at=now - timedelta(minutes=30))


def test_a_manager_records_only_for_their_team_and_never_their_own_time(team):
    owner, manager, chatter = team
    outsider = f.make_user(owner, "chatter")
    stranger = f.make_user(f.make_agency().owner, "chatter")
    for person in (chatter, outsider, manager):
        f.shift(person, utc(2026, 11, 20, 9), utc(2026, 11, 20, 17))
    err = _refused(NotFound, "not-found", clock_in, manager.caller(), user_id=outsider.id, at=utc(2026, 11, 20, 9))
    assert err.errors == [{"loc": ["body", "user_id"], "msg": "user not found"}]
    _refused(NotFound, "not-found", clock_in, owner.caller(), user_id=stranger.id, at=utc(2026, 11, 20, 9))
    _refused(Forbidden, "forbidden", clock_in, manager.caller(), at=utc(2026, 11, 20, 9))
    assert clock_in(manager.caller(), user_id=chatter.id, at=utc(2026, 11, 20, 9)).recorded_by == manager.id


def test_recorded_times_are_not_in_the_future_and_a_check_out_not_before_its_check_in(team):
    owner, _, chatter = team
    now = datetime.now(UTC)
    f.shift(chatter, now - timedelta(hours=2), now + timedelta(hours=2))
    err = _refused(BadRequest, "validation", clock_in, owner.caller(), user_id=chatter.id, at=now + timedelta(hours=1))
    assert err.errors == [{"loc": ["body", "at"], "msg": "must not be in the future"}]
    clock_in(owner.caller(), user_id=chatter.id, at=now - timedelta(hours=1))
    err = _refused(BadRequest, "validation", clock_out, owner.caller(), user_id=chatter.id,
                   at=now - timedelta(hours=1, minutes=1))
    assert err.errors[0]["loc"] == ["body", "at"]


def test_corrections_in_a_closed_period_are_refused_but_live_check_ins_are_recorded(team):
    owner, _, chatter = team
    f.shift(chatter, utc(2026, 10, 20, 9), utc(2026, 10, 20, 17))
    with engine().begin() as c:
        c.execute(text("INSERT INTO financial_calculations.periods (agency_id, period, status) "
                       "VALUES (:a, '2026-10', 'closed')"), {"a": owner.agency_id})
    _refused(PeriodClosed, "period-closed", clock_in, owner.caller(), user_id=chatter.id, at=utc(2026, 10, 20, 9))
    now = datetime.now(UTC)
    f.shift(chatter, now - timedelta(hours=1), now + timedelta(hours=1))
    with engine().begin() as c:
        c.execute(text("INSERT INTO financial_calculations.periods (agency_id, period, status) "
                       "VALUES (:a, :p, 'closed')"), {"a": owner.agency_id, "p": now.strftime("%Y-%m")})
    assert clock_in(chatter.caller()).late_minutes == 60


def test_a_live_check_out_after_max_shift_hours_is_an_auto_clock_out_at_the_shift_end(team):
    owner, _, chatter = team
    now = datetime.now(UTC).replace(microsecond=0)
    start, end = now - timedelta(hours=13), now - timedelta(hours=5)
    shift_id = f.shift(chatter, start, end)
    clock_in(owner.caller(), user_id=chatter.id, at=start)
    entry = clock_out(chatter.caller())
    assert (entry.checked_out_at, entry.worked_minutes, entry.overtime_minutes) == (end, 480, 0)
    assert entry.auto_closed is True and entry.missed_check_out is True
    assert [(e["kind"], e["shift_id"]) for e in f.time_events()] == [("missed_check_out", str(shift_id))]


def test_a_recorded_check_out_after_max_shift_hours_is_refused(team):
    owner, _, chatter = team
    f.set_timetracking_settings(owner, max_shift_hours=10)
    f.shift(chatter, utc(2026, 11, 20, 9), utc(2026, 11, 20, 17))
    clock_in(owner.caller(), user_id=chatter.id, at=utc(2026, 11, 20, 9))
    err = _refused(BadRequest, "validation", clock_out, owner.caller(), user_id=chatter.id, at=utc(2026, 11, 20, 19))
    assert err.errors[0]["loc"] == ["body", "at"]
    assert clock_out(owner.caller(), user_id=chatter.id, at=utc(2026, 11, 20, 18, 59)).overtime_minutes == 119


def test_a_check_out_four_hours_after_the_shift_end_is_a_missed_check_out(team):
    owner, _, chatter = team
    f.shift(chatter, utc(2026, 11, 20, 9), utc(2026, 11, 20, 13))
    clock_in(owner.caller(), user_id=chatter.id, at=utc(2026, 11, 20, 9))
    entry = clock_out(owner.caller(), user_id=chatter.id, at=utc(2026, 11, 20, 17, 0))
    assert (entry.missed_check_out, entry.auto_closed, entry.overtime_minutes) == (True, False, 240)
    assert f.kinds() == ["missed_check_out"]


def test_a_night_shift_in_new_york_counts_on_its_local_start_date_across_midnight_and_dst(db):
    owner = f.make_agency(timezone="America/New_York").owner
    chatter = f.make_user(owner)
    ny = ZoneInfo("America/New_York")
    # 2026-10-31 22:00 EDT to 2026-11-01 06:00 EST: clocks go back at 02:00, so the night lasts 9 hours.
    shift_id = f.shift(chatter, datetime(2026, 10, 31, 22, 0, tzinfo=ny), datetime(2026, 11, 1, 6, 0, tzinfo=ny))
    clock_in(owner.caller(), user_id=chatter.id, at=datetime(2026, 10, 31, 22, 20, tzinfo=ny))
    entry = clock_out(owner.caller(), user_id=chatter.id, at=datetime(2026, 11, 1, 6, 45, tzinfo=ny))
    assert entry.local_date == date(2026, 10, 31)  # in UTC the shift starts on 2026-11-01 02:00
    assert (entry.late_minutes, entry.overtime_minutes, entry.worked_minutes) == (20, 45, 565)
    assert [(e["shift_id"], e["local_date"], e["period"]) for e in f.time_events()] == [
        (str(shift_id), "2026-10-31", "2026-10")] * 2  # the check-in's lateness, the check-out
    assert summary(owner.caller(), chatter, date(2026, 10, 31), date(2026, 10, 31)).worked_minutes == 565
    assert summary(owner.caller(), chatter, date(2026, 11, 1), date(2026, 11, 30)).worked_minutes == 0


def test_a_correction_recomputes_the_minutes_and_announces_the_change(team):
    owner, manager, chatter = team
    f.shift(chatter, utc(2026, 11, 20, 9), utc(2026, 11, 20, 17))
    entry = clock_in(owner.caller(), user_id=chatter.id, at=utc(2026, 11, 20, 9, 12))
    clock_out(owner.caller(), user_id=chatter.id, at=utc(2026, 11, 20, 21, 5))
    with unit_of_work() as uow:
        fixed = service.entry_correct(uow=uow, caller=manager.caller(), entry_id=entry.id,
                                      cmd=EntryCorrection(checked_in_at=utc(2026, 11, 20, 9, 3),
                                                          checked_out_at=utc(2026, 11, 20, 17, 30)))
    assert (fixed.late_minutes, fixed.overtime_minutes, fixed.worked_minutes) == (0, 30, 507)
    assert (fixed.missed_check_out, fixed.corrected_by) == (False, manager.id)
    assert [(e["kind"], e["minutes"]) for e in f.time_events()] == [("adjusted", 12), ("missed_check_out", 0),
                                                                ("adjusted", 0)]


def test_corrections_are_validated_and_scoped(team):
    owner, manager, chatter = team
    f.shift(chatter, utc(2026, 11, 20, 9), utc(2026, 11, 20, 17))
    f.shift(manager, utc(2026, 11, 20, 9), utc(2026, 11, 20, 17))
    entry = clock_in(owner.caller(), user_id=chatter.id, at=utc(2026, 11, 20, 9))
    own = clock_in(owner.caller(), user_id=manager.id, at=utc(2026, 11, 20, 9))

    def correct(caller, entry_id, **cmd):
        with unit_of_work() as uow:
            return service.entry_correct(uow=uow, caller=caller, entry_id=entry_id, cmd=EntryCorrection(**cmd))

    err = _refused(BadRequest, "validation", correct, owner.caller(), entry.id, checked_in_at=utc(2026, 11, 20, 6))
    assert err.errors[0]["loc"] == ["body", "checked_in_at"]
    err = _refused(BadRequest, "validation", correct, owner.caller(), entry.id, checked_out_at=utc(2026, 11, 20, 8))
    assert err.errors[0]["loc"] == ["body", "checked_out_at"]
    _refused(BadRequest, "validation", correct, owner.caller(), entry.id)
    _refused(Forbidden, "forbidden", correct, manager.caller(), own.id, checked_in_at=utc(2026, 11, 20, 9, 1))
    _refused(NotFound, "not-found", correct, f.make_agency().owner.caller(), entry.id,
             checked_in_at=utc(2026, 11, 20, 9, 1))
    _refused(NotFound, "not-found", correct, owner.caller(), uuid.uuid4(), checked_in_at=utc(2026, 11, 20, 9, 1))


def test_concurrent_check_ins_of_one_user_open_one_entry(team):
    owner, _, chatter = team
    f.shift(chatter, utc(2026, 11, 20, 9), utc(2026, 11, 20, 17))
    results: list[str] = []

    def attempt(_):
        try:
            clock_in(owner.caller(), user_id=chatter.id, at=utc(2026, 11, 20, 9, 1))
            results.append("ok")
        except Conflict as exc:
            results.append(exc.slug)

    f.race(attempt)
    assert sorted(results) == ["ok", "open-check-in", "open-check-in"]
    assert f.counts()["timetracking_service.time_entries"] == 1


def test_who_recorded_and_who_corrected_are_kept(team):
    owner, manager, chatter = team
    now = datetime.now(UTC)
    f.shift(chatter, now - timedelta(hours=1), now + timedelta(hours=1))
    entry = clock_in(chatter.caller())
    assert (entry.recorded_by, entry.corrected_by) == (chatter.id, None)
    closed = clock_out(manager.caller(), user_id=chatter.id)
    assert (closed.recorded_by, closed.corrected_by) == (chatter.id, manager.id)
