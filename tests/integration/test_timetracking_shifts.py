"""Planned shifts on a real PostgreSQL: the rules, role scoping, and no overlaps even under concurrent writes."""
from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from functions.timetracking import service
from functions.timetracking.schemas import RangeQuery, ShiftCreate
from shared_lib.db import engine, unit_of_work
from shared_lib.errors import BadRequest, Conflict, NotFound, PeriodClosed
from tests import factories as f


def utc(d, h, mi=0) -> datetime:
    return datetime(2026, 11, d, h, mi, tzinfo=UTC)


def create(caller, user, starts_at, ends_at):
    with unit_of_work() as uow:
        return service.shift_create(uow=uow, caller=caller, cmd=ShiftCreate(user_id=user.id, starts_at=starts_at,
                                                                             ends_at=ends_at))


def listing(caller, **q):
    with unit_of_work() as uow:
        return service.shift_list(uow=uow, caller=caller, q=RangeQuery(**q))


@pytest.fixture
def team(db):
    owner = f.make_agency().owner
    manager = f.make_user(owner, "manager")
    chatter = f.make_user(owner, "chatter", manager=manager)
    return owner, manager, chatter


def refused(exc_type, fn, *args):
    before = f.counts()
    with pytest.raises(exc_type) as err:
        fn(*args)
    assert f.counts() == before
    return err.value


def test_owner_plans_a_shift(team):
    owner, _, chatter = team
    s = create(owner.caller(), chatter, utc(20, 9), utc(20, 17))
    assert (s.user_id, s.starts_at, s.ends_at, s.local_date, s.status) == (chatter.id, utc(20, 9), utc(20, 17),
                                                                          date(2026, 11, 20), "planned")
    assert (s.missed_at, s.entry_id, s.created_by) == (None, None, owner.id)


def test_end_before_start_or_longer_than_a_day_is_invalid(team):
    owner, _, chatter = team
    for starts_at, ends_at, msg in ((utc(20, 17), utc(20, 9), "must be after starts_at"),
                                    (utc(20, 9), utc(20, 9), "must be after starts_at"),
                                    (utc(20, 9), utc(21, 9, 1), "must be at most 24 hours after starts_at")):
        err = refused(BadRequest, create, owner.caller(), chatter, starts_at, ends_at)
        assert err.errors == [{"loc": ["body", "ends_at"], "msg": msg}]
    assert create(owner.caller(), chatter, utc(20, 9), utc(21, 9)).ends_at == utc(21, 9)


def test_overlapping_shifts_of_one_user_are_refused_back_to_back_are_fine(team):
    owner, _, chatter = team
    other = f.make_user(owner)
    first = create(owner.caller(), chatter, utc(20, 9), utc(20, 17))
    for starts_at, ends_at in ((utc(20, 16, 59), utc(20, 20)), (utc(20, 8), utc(20, 9, 1)), (utc(20, 10), utc(20, 11)),
                               (utc(20, 8), utc(20, 18))):
        err = refused(Conflict, create, owner.caller(), chatter, starts_at, ends_at)
        assert err.slug == "shift-overlap" and str(first.id) in err.detail
    create(owner.caller(), chatter, utc(20, 17), utc(20, 20))
    create(owner.caller(), chatter, utc(20, 5), utc(20, 9))
    create(owner.caller(), other, utc(20, 9), utc(20, 17))  # another user's time is theirs


def test_concurrent_overlapping_shifts_create_exactly_one(team):
    owner, _, chatter = team
    results: list[str] = []

    def attempt(offset):
        try:
            create(owner.caller(), chatter, utc(20, 9 + offset), utc(20, 17 + offset))
            results.append("created")
        except Conflict as exc:
            results.append(exc.slug)

    f.race(attempt)
    assert sorted(results) == ["created", "shift-overlap", "shift-overlap"]
    assert f.counts()["timetracking_service.shifts"] == 1


def test_who_may_plan_whose_shifts(team):
    owner, manager, chatter = team
    outsider = f.make_user(owner)
    stranger = f.make_user(f.make_agency().owner)
    gone = f.make_user(owner, active=False)
    assert create(manager.caller(), chatter, utc(20, 9), utc(20, 17)).created_by == manager.id
    err = refused(NotFound, create, manager.caller(), outsider, utc(20, 9), utc(20, 17))
    assert err.errors == [{"loc": ["body", "user_id"], "msg": "user not found"}]
    refused(NotFound, create, owner.caller(), stranger, utc(20, 9), utc(20, 17))
    err = refused(BadRequest, create, owner.caller(), gone, utc(20, 9), utc(20, 17))
    assert err.errors == [{"loc": ["body", "user_id"], "msg": "user is deactivated"}]


def test_a_shift_in_a_closed_period_is_refused(team):
    owner, _, chatter = team
    with engine().begin() as c:
        c.execute(text("INSERT INTO financial_calculations.periods (agency_id, period, status) "
                       "VALUES (:a, '2026-10', 'closed')"), {"a": owner.agency_id})
    refused(PeriodClosed, create, owner.caller(), chatter, datetime(2026, 10, 31, 22, tzinfo=UTC),
            datetime(2026, 11, 1, 4, tzinfo=UTC))


def test_lists_are_scoped_newest_first_and_paged(team):
    owner, manager, chatter = team
    outsider = f.make_user(owner)
    ids = [create(owner.caller(), chatter, utc(d, 9), utc(d, 17)).id for d in (18, 19, 20)]
    other = create(owner.caller(), outsider, utc(20, 9), utc(20, 17)).id
    own = create(owner.caller(), manager, utc(20, 9), utc(20, 17)).id
    assert len(listing(owner.caller()).items) == 5
    assert {s.id for s in listing(manager.caller()).items} == {*ids, own}
    assert [s.id for s in listing(chatter.caller()).items] == ids[::-1]
    page = listing(owner.caller(), user_id=chatter.id, limit=2)
    assert [s.id for s in page.items] == [ids[2], ids[1]] and page.next_cursor
    rest = listing(owner.caller(), user_id=chatter.id, limit=2, cursor=page.next_cursor)
    assert [s.id for s in rest.items] == [ids[0]] and rest.next_cursor is None
    assert [s.id for s in listing(owner.caller(), date_from=date(2026, 11, 19), date_to=date(2026, 11, 19)).items] \
        == [ids[1]]
    with pytest.raises(NotFound):
        listing(manager.caller(), user_id=outsider.id)
    assert other not in {s.id for s in listing(chatter.caller()).items}
    with pytest.raises(BadRequest) as err:
        listing(owner.caller(), cursor="garbage")
    assert err.value.errors[0]["loc"] == ["query", "cursor"]
    with pytest.raises(BadRequest):
        listing(owner.caller(), date_from=date(2026, 11, 20), date_to=date(2026, 11, 19))


def test_list_dates_are_local_dates_of_the_agency(db):
    owner = f.make_agency(timezone="Asia/Tokyo").owner
    chatter = f.make_user(owner)
    tokyo = ZoneInfo("Asia/Tokyo")
    early = create(owner.caller(), chatter, datetime(2026, 11, 21, 1, 0, tzinfo=tokyo),
                   datetime(2026, 11, 21, 9, 0, tzinfo=tokyo))
    assert early.local_date == date(2026, 11, 21)  # 2026-11-20 16:00 UTC
    assert [s.id for s in listing(owner.caller(), date_from=date(2026, 11, 21)).items] == [early.id]
    assert listing(owner.caller(), date_to=date(2026, 11, 20)).items == []

