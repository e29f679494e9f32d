"""The payout core against BUSINESS_RULES.md: the worked example to the cent, mid-month changes, laws."""
from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from functions.payouts.calc import Deduction, ModelSettings, Sale, UserSettings, calculate, ledger_legs
from shared_lib.money import percent_of
from shared_lib.periods import Period

NOV = Period(2026, 11)
FIRST = date(2026, 11, 1)
M, C1, C2, C3 = (uuid.UUID(int=i) for i in (1, 2, 3, 4))
A, B = uuid.UUID(int=10), uuid.UUID(int=11)


def chatting(type_, gross, fee_pct, model, chatter, manager=None, day=FIRST):
    gross = D(gross)
    net = gross - percent_of(gross, D(fee_pct))
    return Sale(uuid.uuid4(), type_, gross, net, day, model, chatter, manager)


def golden():
    sales = [
        chatting("message_sale", "5000.00", 20, A, C1, M),
        chatting("tip_sale", "2500.00", 20, A, C1, M),
        chatting("message_sale", "10000.00", 20, B, C1, M),
        chatting("tip_sale", "1255.50", 20, A, C2, M),
        chatting("message_sale", "3000.00", 20, B, C3),
        Sale(uuid.uuid4(), "other_income", D("400.00"), D("400.00"), date(2026, 11, 15),
             split_user_id=M, split_percent=D("25.00")),
    ]
    users = {
        M: [UserSettings(FIRST, "commission", D("0"), D("0"), D("5.00"))],
        C1: [UserSettings(FIRST, "commission", D("10.00"))],
        C2: [UserSettings(FIRST, "fixed_plus_commission", D("5.00"), D("1500.00"))],
        C3: [UserSettings(FIRST, "fixed", D("0"), D("2000.00"))],
    }
    models = {A: [ModelSettings(FIRST, D("50.00"), True)], B: [ModelSettings(FIRST, D("60.00"), False)]}
    return calculate(period=NOV, sales=sales, user_settings=users, model_settings=models, expenses=D("1500.00"))


def test_worked_example_to_the_cent():
    r = golden()
    assert r.net_income == D("17804.40")
    assert r.gross_income == D("22155.50") and r.platform_fees == D("4351.10")
    totals = r.totals_by_user()
    assert totals == {C1: D("1400.00"), C2: D("1550.22"), C3: D("2000.00"), M: D("850.22")}
    assert r.employee_payouts == D("5800.44")
    assert {m.model_id: m.amount for m in r.model_payouts} == {A: D("3177.09"), B: D("6240.00")}
    assert {m.model_id: m.base for m in r.model_payouts} == {A: D("6354.18"), B: D("10400.00")}
    assert r.expenses == D("1500.00")
    assert r.agency_profit == D("1086.87")


def test_worked_example_lines():
    lines = {(l.user_id, l.kind, l.model_id): (l.basis, l.rate, l.amount) for l in golden().lines}
    assert lines == {
        (C1, "commission", A): (D("6000.00"), D("10.00"), D("600.00")),
        (C1, "commission", B): (D("8000.00"), D("10.00"), D("800.00")),
        (C2, "commission", A): (D("1004.40"), D("5.00"), D("50.22")),
        (C2, "fixed_salary", None): (D("1500.00"), None, D("1500.00")),
        (C3, "fixed_salary", None): (D("2000.00"), None, D("2000.00")),
        (M, "manager_tick", A): (D("7004.40"), D("5.00"), D("350.22")),
        (M, "manager_tick", B): (D("8000.00"), D("5.00"), D("400.00")),
        (M, "other_income_share", None): (D("400.00"), D("25.00"), D("100.00")),
    }


def test_commission_rate_change_mid_month_splits_the_lines_by_rate():
    sales = [chatting("message_sale", "1000.00", 20, A, C1, day=date(2026, 11, 5)),
             chatting("message_sale", "1000.00", 20, A, C1, day=date(2026, 11, 20))]
    users = {C1: [UserSettings(FIRST, "commission", D("10.00")),
                  UserSettings(date(2026, 11, 16), "commission", D("12.50"))]}
    r = calculate(period=NOV, sales=sales, user_settings=users, model_settings={}, expenses=D("0"))
    assert sorted((l.rate, l.amount) for l in r.lines) == [(D("10.00"), D("80.00")), (D("12.50"), D("100.00"))]


def test_salary_starting_on_the_11th_of_a_31_day_month_pays_21_31():
    dec = Period(2026, 12)
    users = {C3: [UserSettings(date(2026, 12, 11), "fixed", D("0"), D("1500.00"))]}
    r = calculate(period=dec, sales=[], user_settings=users, model_settings={}, expenses=D("0"))
    assert [(l.kind, l.amount, l.detail) for l in r.lines] == [("fixed_salary", D("1016.13"), "21/31 days")]


def test_salary_change_mid_month_prorates_each_version():
    users = {C3: [UserSettings(date(2026, 10, 1), "fixed", D("0"), D("3000.00")),
                  UserSettings(date(2026, 11, 16), "fixed", D("0"), D("6000.00"))]}
    r = calculate(period=NOV, sales=[], user_settings=users, model_settings={}, expenses=D("0"))
    assert sorted(l.amount for l in r.lines) == [D("1500.00"), D("3000.00")]


def test_round_once_per_line_not_per_sale():
    # Three sales of 0.05 net at 10 %: per sale 0.01 each (0.005 rounds up) = 0.03; per line 0.015 → 0.02.
    sales = [Sale(uuid.uuid4(), "tip_sale", D("0.05"), D("0.05"), FIRST, A, C1) for _ in range(3)]
    users = {C1: [UserSettings(FIRST, "commission", D("10.00"))]}
    r = calculate(period=NOV, sales=sales, user_settings=users, model_settings={}, expenses=D("0"))
    assert [l.amount for l in r.lines] == [D("0.02")]


def test_model_settings_change_mid_month_subtracts_each_versions_own_commission():
    sales = [chatting("message_sale", "1000.00", 0, A, C1, day=date(2026, 11, 5)),
             chatting("message_sale", "2000.00", 0, A, C1, day=date(2026, 11, 25))]
    users = {C1: [UserSettings(FIRST, "commission", D("10.00"))]}
    models = {A: [ModelSettings(FIRST, D("50.00"), True), ModelSettings(date(2026, 11, 20), D("40.00"), False)]}
    r = calculate(period=NOV, sales=sales, user_settings=users, model_settings=models, expenses=D("0"))
    assert [(m.base, m.model_share_percent, m.amount) for m in r.model_payouts] == [
        (D("900.00"), D("50.00"), D("450.00")), (D("2000.00"), D("40.00"), D("800.00"))]
    assert sorted(l.amount for l in r.lines) == [D("100.00"), D("200.00")]


def test_deductions_are_negative_lines_and_keep_conservation():
    users = {C3: [UserSettings(FIRST, "fixed", D("0"), D("2000.00"))]}
    ded = [Deduction(C3, "late_minutes", D("12"), D("0.50"), D("-6.00"))]
    r = calculate(period=NOV, sales=[], user_settings=users, model_settings={}, expenses=D("0"), deductions=ded)
    assert r.totals_by_user() == {C3: D("1994.00")}
    assert r.net_income == r.employee_payouts + r.model_payouts_total + r.expenses + r.agency_profit


def test_fixed_split_amount_is_paid_as_is():
    s = Sale(uuid.uuid4(), "other_income", D("300.00"), D("300.00"), FIRST, split_user_id=M,
             split_fixed_amount=D("75.50"))
    r = calculate(period=NOV, sales=[s], user_settings={}, model_settings={}, expenses=D("0"))
    assert [(l.kind, l.rate, l.amount) for l in r.lines] == [("other_income_share", None, D("75.50"))]


def test_sales_outside_the_period_are_ignored():
    s = chatting("message_sale", "100.00", 20, A, C1, day=date(2026, 10, 31))
    r = calculate(period=NOV, sales=[s], user_settings={}, model_settings={}, expenses=D("0"))
    assert r.net_income == D("0") and r.model_payouts == []


# --- laws over random agencies -----------------------------------------------------------------------------

money = st.decimals(min_value=D("0.01"), max_value=D("20000"), places=2, allow_nan=False, allow_infinity=False)
rate = st.decimals(min_value=D("0"), max_value=D("100"), places=2, allow_nan=False, allow_infinity=False)
PEOPLE = [uuid.UUID(int=100 + i) for i in range(5)]
MODELS = [uuid.UUID(int=200 + i) for i in range(3)]


@st.composite
def agencies(draw):
    sales = []
    for _ in range(draw(st.integers(0, 25))):
        kind = draw(st.sampled_from(["message_sale", "tip_sale", "other_income"]))
        gross = draw(money)
        day = FIRST + timedelta(days=draw(st.integers(0, 29)))
        if kind == "other_income":
            split = draw(st.sampled_from(["none", "pct", "fixed"]))
            sales.append(Sale(uuid.uuid4(), kind, gross, gross, day,
                              split_user_id=None if split == "none" else draw(st.sampled_from(PEOPLE)),
                              split_percent=draw(rate) if split == "pct" else None,
                              split_fixed_amount=min(gross, draw(money)) if split == "fixed" else None))
        else:
            net = gross - percent_of(gross, draw(rate))
            sales.append(Sale(uuid.uuid4(), kind, gross, net, day, draw(st.sampled_from(MODELS)),
                              draw(st.sampled_from(PEOPLE)), draw(st.sampled_from([None, *PEOPLE]))))
    users = {}
    for p in PEOPLE:
        versions = {}
        for _ in range(draw(st.integers(0, 2))):
            eff = FIRST + timedelta(days=draw(st.integers(-40, 29)))
            versions[eff] = UserSettings(eff, draw(st.sampled_from(["commission", "fixed", "fixed_plus_commission"])),
                                         draw(rate), draw(money), draw(rate))
        users[p] = list(versions.values())
    models = {}
    for m in MODELS:
        versions = {}
        for _ in range(draw(st.integers(0, 2))):
            eff = FIRST + timedelta(days=draw(st.integers(-40, 29)))
            versions[eff] = ModelSettings(eff, draw(rate), draw(st.booleans()))
        models[m] = list(versions.values())
    return sales, users, models, draw(money)


@settings(max_examples=150, deadline=None)
@given(agencies(), st.randoms())
def test_conservation_exactness_and_order_independence(agency, rnd):
    sales, users, models, expenses = agency
    r = calculate(period=NOV, sales=sales, user_settings=users, model_settings=models, expenses=expenses)
    assert r.net_income == r.employee_payouts + r.model_payouts_total + r.expenses + r.agency_profit
    assert sum(amount for _, _, amount in ledger_legs(r)) == 0  # every posting balances
    for line in r.lines:
        assert line.amount == line.amount.quantize(D("0.01"))
    # The result does not depend on the order the inputs arrive in.
    shuffled = list(sales)
    rnd.shuffle(shuffled)
    users2 = {k: list(reversed(v)) for k, v in reversed(list(users.items()))}
    r2 = calculate(period=NOV, sales=shuffled, user_settings=users2, model_settings=models, expenses=expenses)
    assert r2.lines == r.lines and r2.model_payouts == r.model_payouts
    assert r2.agency_profit == r.agency_profit
    # Recalculating from the same truth changes nothing.
    r3 = calculate(period=NOV, sales=sales, user_settings=users, model_settings=models, expenses=expenses)
    assert (r3.lines, r3.model_payouts, ledger_legs(r3)) == (r.lines, r.model_payouts, ledger_legs(r))
