"""calc.calculate's second release rules, pure: refunds priced on their original's date, bonus bands, hourly pay,
adjustments and carries (the database-backed versions: tests/integration/test_payouts_lines_v2.py)."""
from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal as D

from functions.payouts.calc import (Adjustment, Carry, ModelSettings, Sale, Scope, UserSettings, WorkedDay,
                                    calculate)
from shared_lib.periods import Period

OCT = Period(2026, 10)
C, M, P = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def lines(result, user=C) -> list[tuple[str, str, str]]:
    return sorted((l.kind, str(l.amount), l.detail) for l in result.lines if l.user_id == user)


def run(sales=(), users=None, models=None, **kw):
    return calculate(period=OCT, sales=list(sales), user_settings=users or {}, model_settings=models or {},
                     expenses=D("0"), **kw)


def test_a_refund_prices_at_its_originals_versions_and_joins_its_model_payout_item():
    users = {C: [UserSettings(date(2026, 9, 1), "commission", commission_rate=D("10.00")),
                 UserSettings(date(2026, 10, 1), "commission", commission_rate=D("20.00"))]}
    models = {P: [ModelSettings(date(2026, 9, 1), D("40.00"), True), ModelSettings(date(2026, 10, 1), D("50.00"))]}
    refund = Sale(None, "chargeback", D("-500.00"), D("-400.00"), date(2026, 10, 5), P, C,
                  priced_on=date(2026, 9, 20))
    r = run([refund], users, models)
    assert lines(r) == [("commission", "-40.00", "")]
    (item,) = r.model_payouts
    assert (item.effective_from, item.base, item.amount) == (date(2026, 9, 1), D("-360.00"), D("-144.00"))
    assert r.net_income == D("-400.00")


def test_only_the_highest_band_reached_pays_and_a_zero_band_pays_nothing():
    bands = ((D("100.00"), D("10.00")), (D("500.00"), D("55.00")), (D("900.00"), D("0.00")))
    users = {C: [UserSettings(date(2026, 1, 1), "commission", bonus_bands=bands)]}
    assert lines(run(users=users, chatting_net={C: D("500.00")})) == [("bonus", "55.00", "from_net 500.00")]
    assert lines(run(users=users, chatting_net={C: D("499.99")})) == [("bonus", "10.00", "from_net 100.00")]
    assert lines(run(users=users, chatting_net={C: D("950.00")})) == []
    # Without a given net, the sales' own (refunds included) count.
    sales = [Sale(None, "tip_sale", D("700"), D("560.00"), date(2026, 10, 3), P, C),
             Sale(None, "refund", D("-100"), D("-80.00"), date(2026, 10, 4), P, C, priced_on=date(2026, 10, 3))]
    assert lines(run(sales, users=users))[0] == ("bonus", "10.00", "from_net 100.00")


def test_the_bands_of_the_last_days_version_apply():
    users = {C: [UserSettings(date(2026, 1, 1), "commission", bonus_bands=((D("1.00"), D("5.00")),)),
                 UserSettings(date(2026, 10, 31), "commission")]}
    assert lines(run(users=users, chatting_net={C: D("100.00")})) == []


def test_hourly_pay_rounds_once_per_version_and_only_for_hourly_types():
    users = {C: [UserSettings(date(2026, 1, 1), "hourly", hourly_rate=D("0.50")),
                 UserSettings(date(2026, 10, 10), "hourly_plus_commission", D("5.00"), hourly_rate=D("6.00")),
                 UserSettings(date(2026, 10, 20), "commission", D("5.00"))]}
    worked = [WorkedDay(C, date(2026, 10, 1), 1), WorkedDay(C, date(2026, 10, 2), 2),  # 3 × 0.50 / 60 = 0.025
              WorkedDay(C, date(2026, 10, 12), 1830), WorkedDay(C, date(2026, 10, 25), 600),
              WorkedDay(C, date(2026, 11, 1), 600)]
    assert lines(run(users=users, worked=worked)) == [("hourly", "0.03", "3 min"), ("hourly", "183.00", "1830 min")]


def test_adjustments_and_carries_are_user_lines_the_scope_keeps():
    adjustments = [Adjustment(C, D("-25.00"), "late report"), Adjustment(M, D("50.00"), "team target")]
    carries = [Carry(C, "2026-10", "2026-11", D("24.00")), Carry(M, "2026-09", "2026-10", D("5.00"))]
    r = run(adjustments=adjustments, carries=carries, scope=Scope(frozenset(), frozenset({C})))
    assert lines(r) == [("adjustment", "-25.00", "late report"), ("carried_forward", "24.00", "to 2026-11")]
    assert lines(r, M) == []
    assert lines(run(adjustments=adjustments, carries=carries), M) == [
        ("adjustment", "50.00", "team target"), ("carried_balance", "-5.00", "from 2026-09")]
