"""Payouts count imported platform sales (issue #16): every sale and its refunds in net income and the model payout
base; commission and manager tick only for the commission types (message, tip; a refund: its sale's type) credited
to a chatter — a platform sale or an unattributed one earns neither; a chargeback follows its sale."""
from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from functions.payouts.calc import Sale, calculate, commission_types
from functions.payouts.service import full_recalculate, scopes_for_event
from shared_lib import clock
from shared_lib.contracts import IncomeChange
from shared_lib.db import unit_of_work
from shared_lib.periods import Period
from tests.factories import golden_agency, set_financial_settings, set_model_settings, shift, sql

NOV = Period.parse("2026-11")
TT = "timetracking_service"


@pytest.fixture
def g(client):
    """The golden agency (fee 20.00 %): C1 earns 10 % commission, M a 5 % tick, model A 30 % share."""
    g = golden_agency("ps", client=client)
    set_financial_settings(g.person("C1"), date(2026, 11, 1), commission_rate="10.00")
    set_financial_settings(g.person("M"), date(2026, 11, 1), compensation_type="fixed", manager_tick_rate="5.00")
    set_model_settings(g, g.models["A"], date(2026, 11, 1), model_share_percent="30.00")
    return g


def on_shift(g, who: str = "C1") -> None:
    """`who` checked in on 2026-11-03 14:00–18:00 UTC: imports of that time are attributed to them."""
    person = g.person(who)
    start, end = datetime(2026, 11, 3, 14, tzinfo=UTC), datetime(2026, 11, 3, 18, tzinfo=UTC)
    shift_id = shift(person, start, end)
    sql(f"INSERT INTO {TT}.time_entries (agency_id, user_id, shift_id, checked_in_at, checked_out_at, "
        "worked_minutes, overtime_minutes, source) VALUES (:a, :u, :s, :i, :o, 240, 0, 'http')",
        {"a": person.agency_id, "u": person.id, "s": shift_id, "i": start, "o": end})


def tx(tid: str, gross: str, type: str = "message", status: str = "cleared", at: str = "2026-11-03T15:00:00Z",
       **extra) -> dict:
    return {"transaction_id": tid, "occurred_at": at, "type": type, "gross_amount": gross, "status": status, **extra}


def imported(client, g, *rows) -> None:
    r = client.post("/api/income/imports/", json={"model_id": str(g.models["A"]), "transactions": list(rows)},
                    headers=g.h("owner"))
    assert r.status_code == 200, r.get_data(as_text=True)


def recalculated(g, period: Period = NOV):
    """(figures, {(user name, kind): (basis, amount)}, {model name: (base, amount)}) of the period, from scratch."""
    with unit_of_work("payouts") as uow:
        rec = full_recalculate(uow=uow, agency_id=g.id, period=period)
    names = {v: k for k, v in g.users.items()}
    models = {v: k for k, v in g.models.items()}
    lines = {(names[l.user_id], l.kind): (str(l.basis), str(l.amount)) for l in rec.result.lines
             if l.kind in ("commission", "manager_tick")}
    payouts = {models[m.model_id]: (str(m.base), str(m.amount)) for m in rec.result.model_payouts}
    return {k: str(v) for k, v in rec.figures.items()}, lines, payouts


def test_a_subscription_sale_counts_in_net_income_and_the_model_payout_and_earns_no_commission_or_tick(client, g):
    on_shift(g)  # attributed to C1 by shift, manager snapshot M: still no commission, no tick
    imported(client, g, tx("T1", "50.00", type="subscription"))
    (rec,) = sql("SELECT type, chatter_id, manager_id FROM income_service.income_records")
    assert (rec.type, rec.chatter_id, rec.manager_id) == ("subscription_sale", g.user("C1"), g.user("M"))
    figures, lines, payouts = recalculated(g)
    assert (figures["gross_income"], figures["platform_fees"], figures["net_income"]) == ("50.00", "10.00", "40.00")
    assert payouts == {"A": ("40.00", "12.00")}  # 30 % of 40.00
    assert lines == {}
    assert figures["model_payouts"] == "12.00"


def test_an_unattributed_imported_message_counts_in_net_income_and_the_model_payout_without_commission(client, g):
    imported(client, g, tx("T1", "100.00"))  # nobody on shift
    (rec,) = sql("SELECT type, chatter_id FROM income_service.income_records")
    assert (rec.type, rec.chatter_id) == ("message_sale", None)
    figures, lines, payouts = recalculated(g)
    assert figures["net_income"] == "80.00"
    assert payouts == {"A": ("80.00", "24.00")}
    assert lines == {}


def test_an_attributed_imported_message_earns_commission_and_tick_like_a_self_reported_one(client, g):
    on_shift(g)
    imported(client, g, tx("T1", "100.00"))
    imported_lines = recalculated(g)[1]
    assert imported_lines == {("C1", "commission"): ("80.00", "8.00"), ("M", "manager_tick"): ("80.00", "4.00")}
    # the same sale self-reported by C1 (another day, the import's record deleted): the same lines
    sql("DELETE FROM income_service.platform_transactions")
    sql("DELETE FROM income_service.income_records")
    r = client.post("/api/income/register/", json={"type": "message_sale", "gross_amount": "100.00",
                                                   "sale_date": "2026-11-04", "model_id": str(g.models["A"])},
                    headers=g.h("C1"))
    assert r.status_code == 201, r.get_data(as_text=True)
    assert recalculated(g)[1] == imported_lines


def test_a_chargeback_of_a_platform_sale_nets_it_out_and_never_touches_commission(client, g):
    on_shift(g)
    imported(client, g, tx("T1", "100.00"), tx("T2", "50.00", type="subscription"))
    before = recalculated(g)
    assert before[2] == {"A": ("120.00", "36.00")}
    with clock.frozen(datetime(2026, 11, 5, 10, tzinfo=UTC)):  # a chargeback is dated the day it is recorded
        imported(client, g, tx("T3", "-50.00", type="subscription", reverses="T2", at="2026-11-05T10:00:00Z"))
    (cb,) = sql("SELECT net_amount, sale_date FROM income_service.income_records WHERE type = 'chargeback'")
    assert (str(cb.net_amount), cb.sale_date) == ("-40.00", date(2026, 11, 5))
    figures, lines, payouts = recalculated(g)
    assert figures["net_income"] == "80.00"  # the message alone
    assert payouts == {"A": ("80.00", "24.00")}
    assert lines == before[1] == {("C1", "commission"): ("80.00", "8.00"), ("M", "manager_tick"): ("80.00", "4.00")}


def test_a_chargeback_of_an_imported_message_in_a_later_period_takes_its_commission_back_there(client, g):
    on_shift(g)
    imported(client, g, tx("T1", "100.00"))
    november = recalculated(g)
    imported(client, g, tx("T2", "-100.00", reverses="T1"))  # recorded today: dated in a later period
    (cb,) = sql("SELECT sale_date FROM income_service.income_records WHERE type = 'chargeback'")
    later = Period.of(cb.sale_date)
    assert later > NOV and recalculated(g) == november
    figures, lines, payouts = recalculated(g, later)  # priced by the sale's (November's) settings
    assert figures["net_income"] == "-80.00"
    assert payouts == {"A": ("-80.00", "-24.00")}
    assert lines == {("C1", "commission"): ("-80.00", "-8.00"), ("M", "manager_tick"): ("-80.00", "-4.00")}


def test_a_chargeback_of_a_platform_sale_in_a_later_period_nets_the_model_payout_alone(client, g):
    imported(client, g, tx("T1", "50.00", type="post"))
    imported(client, g, tx("T2", "-50.00", type="post", reverses="T1"))
    (cb,) = sql("SELECT sale_date FROM income_service.income_records WHERE type = 'chargeback'")
    figures, lines, payouts = recalculated(g, Period.of(cb.sale_date))
    assert (figures["net_income"], payouts, lines) == ("-40.00", {"A": ("-40.00", "-12.00")}, {})


def test_the_commission_types_are_the_default_message_and_tip():
    assert commission_types() == frozenset({"message_sale", "tip_sale"})


def test_calc_a_refund_follows_its_sale_type_and_bonus_net_counts_chatting_alone():
    import uuid

    from functions.payouts.calc import UserSettings
    model, chatter = uuid.uuid4(), uuid.uuid4()
    day = date(2026, 11, 3)
    sales = [Sale(None, "post_sale", Decimal("50.00"), Decimal("40.00"), day, model, chatter),
             Sale(None, "chargeback", Decimal("-50.00"), Decimal("-40.00"), day, model, chatter,
                  priced_on=day, sale_type="post_sale"),
             Sale(None, "message_sale", Decimal("10.00"), Decimal("8.00"), day, model, chatter)]
    settings = {chatter: [UserSettings(date(2026, 1, 1), "commission", Decimal("10.00"),
                                       bonus_bands=((Decimal("8.00"), Decimal("5.00")),))]}
    result = calculate(period=NOV, sales=sales, user_settings=settings, model_settings={}, expenses=Decimal("0"))
    assert result.net_income == Decimal("8.00")
    assert [(l.kind, str(l.basis), str(l.amount)) for l in result.lines] == [
        ("bonus", "8.00", "5.00"), ("commission", "8.00", "0.80")]
    assert [str(m.base) for m in result.model_payouts] == ["8.00"]


def test_an_income_event_of_a_platform_sale_marks_its_model_and_chatter_scopes():
    import uuid
    agency, model, chatter = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    snap = {"type": "subscription_sale", "sale_date": "2026-11-03", "model_id": str(model),
            "chatter_id": str(chatter), "manager_id": None, "assigned_to_user_id": None,
            "gross_amount": "50.00", "fee_amount": "10.00", "net_amount": "40.00"}
    data = IncomeChange.model_validate({
        "income_id": str(uuid.uuid4()), "agency_id": str(agency), "schedule_id": None, "reason": "imported",
        "sale_date": "2026-11-03", "old_sale_date": None, "model_id": str(model), "chatter_id": str(chatter),
        "old": None, "new": snap})
    marks = scopes_for_event(data, "UTC")
    assert (NOV, "model", model) in marks and (NOV, "user", chatter) in marks and (NOV, "totals", None) in marks
