"""The users service's read API for other services (SQL functions and views on real PostgreSQL), the one
"version on date D" function, and the invariants the database and the team lock hold under concurrency."""
from __future__ import annotations

import threading
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from functions.users import queries
from shared_lib.db import engine, unit_of_work
from tests.factories import (
    make_agency,
    make_model,
    make_user,
    set_financial_settings,
    set_model_settings,
    set_platform_fee,
)

D = date.fromisoformat


def _one(sql: str, **params):
    with engine().connect() as c:
        return c.execute(text(sql), params).one_or_none()


@pytest.fixture
def agency(db):
    return make_agency()


# --- version on date D ---------------------------------------------------------------------------------------------


def test_user_settings_on_the_day_before_of_and_after_a_change(agency):
    c = make_user(agency, role="chatter")
    set_financial_settings(c, D("2026-11-01"), commission_rate="10.00")
    set_financial_settings(c, D("2026-12-01"), commission_rate="12.50")

    def rate(day):
        row = _one("SELECT commission_rate FROM user_service.user_financial_settings_on(:u, :d)", u=c.id, d=D(day))
        return row and row.commission_rate

    assert rate("2026-10-31") is None
    assert rate("2026-11-01") == Decimal("10.00")
    assert rate("2026-11-30") == Decimal("10.00")
    assert rate("2026-12-01") == Decimal("12.50")
    assert rate("2027-12-01") == Decimal("12.50")


def test_python_settings_on_matches_the_rule_on_every_day(agency):
    """settings_on (the one Python entry) against the rule itself — the greatest effective_from <= D — on every
    day around three versions, for all three kinds of settings."""
    c = make_user(agency, role="chatter")
    x = make_model(agency, "X")
    starts = [D("2026-01-31"), D("2026-02-01"), D("2026-03-15")]
    for i, start in enumerate(starts):
        set_financial_settings(c, start, commission_rate=f"{i + 1}.00")
        set_model_settings(agency, x, start, model_share_percent=f"{i + 1}0.00")
        set_platform_fee(agency, start, f"{i + 1}5.00")
    day = D("2026-01-29")
    with unit_of_work() as uow:
        while day <= D("2026-03-17"):
            applicable = [i for i, s in enumerate(starts) if s <= day]
            i = applicable[-1] if applicable else None
            user = queries.settings_on(uow, kind="user_financial", subject_id=c.id, day=day)
            model = queries.settings_on(uow, kind="model", subject_id=x, day=day)
            platform = queries.settings_on(uow, kind="platform", subject_id=agency.id, day=day)
            if i is None:
                assert user is None
                assert (model.model_share_percent, model.version_id) == (Decimal("0.00"), None)
                assert (platform.onlyfans_fee_percent, platform.version_id) == (Decimal("20.00"), None)
            else:
                assert user.commission_rate == Decimal(f"{i + 1}.00") and user.effective_from == starts[i]
                assert model.model_share_percent == Decimal(f"{i + 1}0.00")
                assert platform.onlyfans_fee_percent == Decimal(f"{i + 1}5.00")
            day += timedelta(days=1)


def test_unknown_subjects_have_no_settings(agency):
    with unit_of_work() as uow:
        assert queries.settings_on(uow, kind="model", subject_id=uuid.uuid4(), day=D("2026-11-01")) is None
        assert queries.settings_on(uow, kind="platform", subject_id=uuid.uuid4(), day=D("2026-11-01")) is None
        assert queries.settings_on(uow, kind="user_financial", subject_id=uuid.uuid4(), day=D("2026-11-01")) is None


def test_fee_percent_on_keeps_its_answers(agency):
    assert _one("SELECT user_service.fee_percent_on(:a, :d) AS f", a=agency.id, d=D("2026-11-01")).f == Decimal("20.00")
    assert _one("SELECT user_service.fee_percent_on(:a, :d) AS f", a=uuid.uuid4(), d=D("2026-11-01")).f == Decimal(
        "20.00")
    set_platform_fee(agency, D("2026-11-02"), "17.00")
    assert _one("SELECT user_service.fee_percent_on(:a, :d) AS f", a=agency.id, d=D("2026-11-01")).f == Decimal("20.00")
    assert _one("SELECT user_service.fee_percent_on(:a, :d) AS f", a=agency.id, d=D("2026-11-02")).f == Decimal("17.00")


# --- set-based reads -----------------------------------------------------------------------------------------------


def test_versions_views_give_each_version_its_last_day(agency):
    c = make_user(agency, role="chatter")
    for start in ("2026-11-01", "2026-11-16", "2027-01-01"):
        set_financial_settings(c, D(start), commission_rate="1.00")
    with engine().connect() as conn:
        rows = conn.execute(text("SELECT effective_from, effective_to FROM user_service.user_financial_settings_versions "
                                 "WHERE user_id = :u ORDER BY effective_from"), {"u": c.id}).all()
    assert [tuple(r) for r in rows] == [(D("2026-11-01"), D("2026-11-15")), (D("2026-11-16"), D("2026-12-31")),
                                        (D("2027-01-01"), None)]


def test_one_query_prices_many_sales_with_the_versions_view(agency):
    """What payouts does: join sales to the rate in effect on each sale's date, set-based, and prorate a salary."""
    c1, c2 = make_user(agency, role="chatter"), make_user(agency, role="chatter")
    set_financial_settings(c1, D("2026-11-01"), commission_rate="10.00")
    set_financial_settings(c1, D("2026-11-16"), compensation_type="fixed_plus_commission", commission_rate="20.00",
                           fixed_salary="3000.00")
    set_financial_settings(c2, D("2026-11-10"), commission_rate="5.00")
    with engine().connect() as conn:
        rows = conn.execute(text("""
            WITH sales(user_id, sale_date, net) AS (VALUES
                (CAST(:c1 AS uuid), DATE '2026-11-15', 100.00), (CAST(:c1 AS uuid), DATE '2026-11-16', 100.00),
                (CAST(:c2 AS uuid), DATE '2026-11-09', 100.00), (CAST(:c2 AS uuid), DATE '2026-11-10', 100.00))
            SELECT s.user_id, s.sale_date, v.commission_rate
            FROM sales s LEFT JOIN user_service.user_financial_settings_versions v
              ON v.user_id = s.user_id AND s.sale_date BETWEEN v.effective_from AND coalesce(v.effective_to, 'infinity')
            ORDER BY s.user_id = CAST(:c1 AS uuid) DESC, s.sale_date"""), {"c1": c1.id, "c2": c2.id}).all()
        days = conn.execute(text("""
            SELECT sum(least(coalesce(effective_to, DATE '2026-11-30'), DATE '2026-11-30')
                       - greatest(effective_from, DATE '2026-11-01') + 1)
            FROM user_service.user_financial_settings_versions
            WHERE user_id = :c1 AND fixed_salary > 0 AND effective_from <= DATE '2026-11-30'
              AND coalesce(effective_to, 'infinity') >= DATE '2026-11-01'"""), {"c1": c1.id}).scalar()
    assert [r.commission_rate for r in rows] == [Decimal("10.00"), Decimal("20.00"), None, Decimal("5.00")]
    assert days == 15  # 16–30 November: the fixed salary is paid for 15 of 30 days


# --- invariants ----------------------------------------------------------------------------------------------------


def test_the_database_refuses_a_manager_from_another_agency_and_self_management(agency):
    other = make_agency("Other")
    foreign = make_user(other, role="manager")
    c = make_user(agency, role="chatter")
    with pytest.raises(DBAPIError, match="users_manager_same_agency"):
        with engine().begin() as conn:
            conn.execute(text("UPDATE user_service.users SET manager_id = :m WHERE id = :u"), {"m": foreign.id, "u": c.id})
    with pytest.raises(DBAPIError, match="users_not_own_manager"):
        with engine().begin() as conn:
            conn.execute(text("UPDATE user_service.users SET manager_id = id WHERE id = :u"), {"u": c.id})


def test_concurrent_team_changes_cannot_make_a_loop(agency, monkeypatch):
    """M1 → M2 and M2 → M1 at the same moment: the agency's team lock lets exactly one through."""
    import time

    from functions.users import service
    from functions.users.schemas import UserPatch
    from shared_lib.errors import BadRequest
    from shared_lib.rbac import Caller, Role

    m1, m2 = make_user(agency, role="manager"), make_user(agency, role="manager")
    owner = Caller(user_id=agency.owner.id, agency_id=agency.id, role=Role.owner, firebase_uid=agency.owner.uid,
                   display_name=None, email=None)
    barrier, outcomes = threading.Barrier(2), []
    checked = queries.manages_transitively

    def slow_check(uow, **kw):  # widen the check-then-write window so an unlocked race would surely happen
        result = checked(uow, **kw)
        time.sleep(0.3)
        return result

    monkeypatch.setattr(queries, "manages_transitively", slow_check)

    def move(user, manager):
        barrier.wait()
        try:
            with unit_of_work() as uow:
                service.user_update(uow=uow, caller=owner, user_id=user.id, cmd=UserPatch(manager_id=manager.id))
            outcomes.append("ok")
        except BadRequest:
            outcomes.append("refused")

    threads = [threading.Thread(target=move, args=(m1, m2)), threading.Thread(target=move, args=(m2, m1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["ok", "refused"]
    with engine().connect() as conn:
        managers = conn.execute(text("SELECT count(*) FROM user_service.users WHERE id IN (:a, :b) "
                                     "AND manager_id IS NOT NULL"), {"a": m1.id, "b": m2.id}).scalar()
    assert managers == 1


def test_concurrent_saves_of_the_same_version_keep_every_value_in_the_change_log(agency):
    from functions.users import settings_service
    from functions.users.schemas import FinancialSettingsPut
    from shared_lib.rbac import Caller, Role

    c = make_user(agency, role="chatter")
    owner = Caller(user_id=agency.owner.id, agency_id=agency.id, role=Role.owner, firebase_uid=agency.owner.uid,
                   display_name=None, email=None)
    barrier = threading.Barrier(4)

    def save(rate):
        cmd = FinancialSettingsPut(compensation_type="commission", commission_rate=rate, fixed_salary="0.00",
                                   manager_tick_rate="0.00", effective_from="2026-11-01")
        barrier.wait()
        with unit_of_work() as uow:
            settings_service.financial_settings_put(uow=uow, caller=owner, user_id=c.id, cmd=cmd)

    threads = [threading.Thread(target=save, args=(f"{i}.00",)) for i in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    with engine().connect() as conn:
        versions = conn.execute(text("SELECT commission_rate FROM user_service.user_financial_settings "
                                     "WHERE user_id = :u"), {"u": c.id}).scalars().all()
        log = conn.execute(text("SELECT old_values->>'commission_rate' AS old, new_values->>'commission_rate' AS new "
                                "FROM user_service.settings_changes WHERE subject_id = :u ORDER BY id"),
                           {"u": c.id}).all()
        events = conn.execute(text("SELECT count(*) FROM eventing.outbox WHERE type = 'user.settings.updated'"
                                   )).scalar()
    assert len(versions) == 1 and len(log) == 4 and events == 4
    # The log is a chain: each save saw exactly the value the previous one wrote.
    assert log[0].old is None
    assert [r.old for r in log[1:]] == [r.new for r in log[:-1]]
    assert Decimal(log[-1].new) == versions[0]
