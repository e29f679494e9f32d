"""POST /api/income/records/{id}/refunds/ (issue #15): refunds and chargebacks of chatting sales, in full or in
parts, priced at the sale's fee %, never more than its gross (even concurrently), in an open period; a refunded
sale can't be changed, a refund can't be edited and is deleted like a record; events and audit entries."""
from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest

from functions.income import service
from functions.income.schemas import IncomeRefund
from shared_lib import clock
from shared_lib.db import unit_of_work
from shared_lib.errors import Conflict
from tests.factories import (
    close_period,
    error_locs,
    golden_agency,
    income_count,
    make_agency,
    make_model,
    make_user,
    ok,
    outbox,
    problem,
    race,
    set_platform_fee,
    sql,
)


def refunds(record_id: str) -> str:
    return f"/api/income/records/{record_id}/refunds/"


def one(record_id: str) -> str:
    return f"/api/income/records/{record_id}/"


@pytest.fixture
def g(client):
    """The golden agency (fee 20.00 % from 2026-11-01) with C1's 5000.00 and C2's 1255.50 sale of model A, C3's
    3000.00 of B, and an other income."""
    g = golden_agency("rf", client=client)
    A, B = str(g.models["A"]), str(g.models["B"])
    g.sale = {}
    for name, who, body in [
        ("c1", "C1", {"type": "message_sale", "gross_amount": "5000.00", "sale_date": "2026-11-03", "model_id": A,
                      "customer_username": "fan_1"}),
        ("c2", "C2", {"type": "tip_sale", "gross_amount": "1255.50", "sale_date": "2026-11-04", "model_id": A}),
        ("c3", "C3", {"type": "message_sale", "gross_amount": "3000.00", "sale_date": "2026-11-05", "model_id": B}),
        ("other", "owner", {"type": "other_income", "gross_amount": "400.00", "sale_date": "2026-11-06"}),
    ]:
        g.sale[name] = ok(client.post("/api/income/register/", json=body, headers=g.h(who)), 201)
    sql("DELETE FROM eventing.outbox")
    return g


def refund(client, g, sale: str, amount: str, day: str = "2026-11-10", kind: str = "refund", who: str = "owner",
           **extra):
    return client.post(refunds(g.sale[sale]["id"]), json={"kind": kind, "amount": amount, "refund_date": day,
                                                          **extra}, headers=g.h(who))


# --- the refund record -----------------------------------------------------------------------------------------------


def test_a_full_chargeback_mirrors_the_sale_on_its_own_date(client, g):
    sale = g.sale["c1"]
    r = ok(refund(client, g, "c1", "5000.00", kind="chargeback", reason="fan disputed the charge"), 201)
    assert {k: r[k] for k in ("type", "gross_amount", "fee_percent", "fee_amount", "net_amount", "sale_date",
                              "model_id", "chatter_id", "manager_id", "customer_username", "notes", "refund_of",
                              "registered_by_user_id")} == {
        "type": "chargeback", "gross_amount": "-5000.00", "fee_percent": "20.00", "fee_amount": "-1000.00",
        "net_amount": "-4000.00", "sale_date": "2026-11-10", "model_id": sale["model_id"],
        "chatter_id": sale["chatter_id"], "manager_id": str(g.users["M"]), "customer_username": "fan_1",
        "notes": "fan disputed the charge", "refund_of": sale["id"], "registered_by_user_id": str(g.owner_id)}
    assert sale["refund_of"] is None

    (event,) = outbox("income.")
    assert event["type"] == "income.registered" and event["subject"] == r["id"]
    assert event["data"]["sale_date"] == "2026-11-10" and event["data"]["old"] is None
    assert event["data"]["new"]["type"] == "chargeback" and event["data"]["new"]["refund_of"] == sale["id"]
    assert event["data"]["new"]["net_amount"] == "-4000.00"

    # one audit entry, the refund's create, by the Owner
    assert [(e.action, e.entity, e.actor_user_id) for e in sql(
        "SELECT action, entity, actor_user_id FROM audit.entries WHERE entity_id = :i", {"i": r["id"]})] == [
        ("create", "income", g.owner_id)]

    # listed like any record; the type filter takes refund and chargeback
    items = ok(client.get("/api/income/records/?type=chargeback", headers=g.h()))["items"]
    assert [i["id"] for i in items] == [r["id"]]
    assert ok(client.get("/api/income/records/?type=refund", headers=g.h()))["items"] == []
    assert ok(client.get(one(r["id"]), headers=g.h("C1")))["refund_of"] == sale["id"]  # in the chatter's scope


def test_partial_refunds_round_the_fee_half_up_and_never_exceed_the_gross(client, g):
    first = ok(refund(client, g, "c2", "0.05"), 201)          # 0.05 × 20 % = 0.01
    assert (first["gross_amount"], first["fee_amount"], first["net_amount"]) == ("-0.05", "-0.01", "-0.04")
    second = ok(refund(client, g, "c2", "1255.45", kind="chargeback"), 201)  # exactly what is left
    assert (second["gross_amount"], second["fee_amount"], second["net_amount"]) == ("-1255.45", "-251.09",
                                                                                    "-1004.36")
    before, events = income_count(), len(outbox("income."))
    audit = sql("SELECT count(*) AS n FROM audit.entries")[0].n
    p = problem(refund(client, g, "c2", "0.01"), 409)
    assert p["type"].endswith("/refund-exceeds-sale") and "0.00" in p["detail"]
    assert income_count() == before and len(outbox("income.")) == events
    assert sql("SELECT count(*) AS n FROM audit.entries")[0].n == audit  # a refused refund leaves no entry
    # the sale and its refunds add up to nothing: gross, fee and net alike
    (total,) = sql("SELECT sum(gross_amount) AS g, sum(fee_amount) AS f, sum(net_amount) AS n "
                   "FROM income_service.income_records WHERE id = :s OR refund_of = :s", {"s": g.sale["c2"]["id"]})
    assert (total.g, total.f, total.n) == (0, 0, 0)


def test_two_concurrent_refunds_over_the_gross_one_wins_one_conflicts(client, g):
    results = []
    race(lambda i: results.append(refund(client, g, "c1", "3000.00", day=f"2026-11-{10 + i}").status_code), 2)
    assert sorted(results) == [201, 409]
    assert sql("SELECT sum(gross_amount) AS s FROM income_service.income_records WHERE refund_of = :s",
               {"s": g.sale["c1"]["id"]})[0].s == -3000


def test_a_second_refund_waits_for_the_first_to_commit_and_then_sees_it(client, g):
    """The lock, not luck: while one refund's transaction is open, another of the same sale waits on the sale's
    row; once the first commits, the second sees it and is refused."""
    owner = g.owner.caller()
    cmd = IncomeRefund(kind="refund", amount="3000.00", refund_date="2026-11-10")
    sale_id = g.sale["c1"]["id"]
    second: list = []

    def other() -> None:
        try:
            with unit_of_work() as uow:
                service.income_refund(uow=uow, caller=owner, income_id=sale_id, cmd=cmd)
            second.append("created")
        except Conflict as exc:
            second.append(exc.slug)

    with unit_of_work() as uow:
        service.income_refund(uow=uow, caller=owner, income_id=sale_id, cmd=cmd)
        t = threading.Thread(target=other)
        t.start()
        t.join(1.0)
        assert t.is_alive() and second == []  # waiting on the sale's row lock
    t.join(10)
    assert second == ["refund-exceeds-sale"]


def test_the_fee_is_the_one_in_effect_on_the_sales_date(client, g):
    set_platform_fee(g, date(2026, 11, 8), "10.00")  # after the sale, before the refund
    r = ok(refund(client, g, "c1", "1000.00", day="2026-11-10"), 201)
    assert (r["fee_percent"], r["fee_amount"], r["net_amount"]) == ("20.00", "-200.00", "-800.00")


def test_a_fee_change_recomputes_a_refund_at_its_sales_date(client, g):
    r = ok(refund(client, g, "c1", "1000.00", day="2026-11-10"), 201)
    set_platform_fee(g, date(2026, 11, 2), "10.00")  # covers the sale's date
    with unit_of_work() as uow:
        service.income_fees_recompute(uow=uow, agency_id=g.id, effective_from=date(2026, 11, 2))
    got = ok(client.get(one(r["id"]), headers=g.h()))
    assert (got["fee_percent"], got["fee_amount"], got["net_amount"]) == ("10.00", "-100.00", "-900.00")

    set_platform_fee(g, date(2026, 11, 9), "30.00")  # after the sale: the refund keeps its sale's 10 %
    with unit_of_work() as uow:
        service.income_fees_recompute(uow=uow, agency_id=g.id, effective_from=date(2026, 11, 9))
    assert ok(client.get(one(r["id"]), headers=g.h()))["fee_amount"] == "-100.00"


def test_idempotency_key_returns_the_same_refund_once(client, g):
    headers = {**g.h(), "Idempotency-Key": "refund-1"}
    body = {"kind": "refund", "amount": "100.00", "refund_date": "2026-11-10"}
    a = ok(client.post(refunds(g.sale["c1"]["id"]), json=body, headers=headers), 201)
    b = ok(client.post(refunds(g.sale["c1"]["id"]), json=body, headers=headers), 201)
    assert a["id"] == b["id"]
    assert sql("SELECT count(*) AS n FROM income_service.income_records WHERE refund_of = :s",
               {"s": g.sale["c1"]["id"]})[0].n == 1


# --- refused: nothing written ------------------------------------------------------------------------------------


BAD = [
    ({"kind": "refund", "amount": "0.00", "refund_date": "2026-11-10"}, ["body", "amount"]),
    ({"kind": "refund", "amount": "-5.00", "refund_date": "2026-11-10"}, ["body", "amount"]),
    ({"kind": "refund", "amount": "1.005", "refund_date": "2026-11-10"}, ["body", "amount"]),
    ({"kind": "discount", "amount": "5.00", "refund_date": "2026-11-10"}, ["body", "kind"]),
    ({"kind": "refund", "amount": "5.00", "refund_date": "10/11/2026"}, ["body", "refund_date"]),
    ({"kind": "refund", "amount": "5.00"}, ["body", "refund_date"]),
    ({"kind": "refund", "amount": "5.00", "refund_date": "2026-11-10", "reason": ""}, ["body", "reason"]),
    ({"kind": "refund", "amount": "5.00", "refund_date": "2026-11-10", "gross_amount": "5"},
     ["body", "gross_amount"]),
]


def test_bad_input_names_the_field(client, g):
    before = income_count()
    for body, loc in BAD:
        assert error_locs(client.post(refunds(g.sale["c1"]["id"]), json=body, headers=g.h()), 400) == [loc], body
    assert income_count() == before and outbox("income.") == []


def test_refund_date_not_before_the_sale_and_not_in_the_future(client, g):
    assert error_locs(refund(client, g, "c1", "5.00", day="2026-11-02"), 400) == [["body", "refund_date"]]
    with clock.frozen(datetime(2026, 11, 20, 12, tzinfo=UTC)):
        assert error_locs(refund(client, g, "c1", "5.00", day="2026-11-21"), 400) == [["body", "refund_date"]]
        ok(refund(client, g, "c1", "5.00", day="2026-11-20"), 201)
    assert income_count() == 5


def test_only_chatting_sales_are_refunded(client, g):
    p = problem(refund(client, g, "other", "5.00"), 409)
    assert p["type"].endswith("/not-refundable") and "editing" in p["detail"]
    r = ok(refund(client, g, "c1", "5.00"), 201)
    p = problem(client.post(refunds(r["id"]), json={"kind": "refund", "amount": "1.00",
                                                    "refund_date": "2026-11-10"}, headers=g.h()), 409)
    assert p["type"].endswith("/not-refundable")
    assert income_count() == 5


def test_the_refund_lands_in_its_own_open_period_even_when_the_sales_is_closed(client, g):
    sql("UPDATE income_service.income_records SET sale_date = '2026-10-28' WHERE id = :i", {"i": g.sale["c1"]["id"]})
    close_period(g, "2026-10")
    r = ok(refund(client, g, "c1", "500.00", day="2026-11-02"), 201)
    assert r["sale_date"] == "2026-11-02"
    close_period(g, "2026-11")
    assert problem(refund(client, g, "c2", "5.00", day="2026-11-10"), 409)["type"].endswith("/period-closed")
    assert problem(client.delete(one(r["id"]), headers=g.h()), 409)["type"].endswith("/period-closed")


def test_who_may_refund(client, g):
    # a Manager for their team's sales (C3 is on no team: not in M's scope); a Chatter never; another agency: 404
    ok(refund(client, g, "c1", "5.00", who="M"), 201)
    assert problem(refund(client, g, "c3", "5.00", who="M"), 404)["type"].endswith("/not-found")
    assert problem(refund(client, g, "c1", "5.00", who="C1"), 403)["type"].endswith("/forbidden")
    other = make_agency(client=client)
    assert problem(client.post(refunds(g.sale["c1"]["id"]), json={
        "kind": "refund", "amount": "5.00", "refund_date": "2026-11-10"}, headers=other.owner.headers), 404)
    assert income_count() == 5


# --- a refunded sale, and a refund, afterwards ---------------------------------------------------------------------


def test_a_refunded_sale_is_not_changed_and_a_refund_is_not_edited(client, g):
    sale = g.sale["c1"]
    r = ok(refund(client, g, "c1", "100.00"), 201)
    put = {"type": "message_sale", "gross_amount": "6000.00", "sale_date": "2026-11-03",
           "model_id": sale["model_id"], "chatter_id": sale["chatter_id"]}
    assert problem(client.put(one(sale["id"]), json=put, headers=g.h()), 409)["type"].endswith("/has-refunds")
    assert problem(client.delete(one(sale["id"]), headers=g.h()), 409)["type"].endswith("/has-refunds")
    p = problem(client.put(one(r["id"]), json=put, headers=g.h()), 409)
    assert p["type"].endswith("/refund-not-editable")
    # a Chatter can't delete the refund of their own sale
    assert problem(client.delete(one(r["id"]), headers=g.h("C1")), 403)["type"].endswith("/forbidden")
    assert ok(client.get(one(sale["id"]), headers=g.h()))["gross_amount"] == "5000.00"
    assert len(outbox("income.")) == 1  # the refund's registration only

    assert client.delete(one(r["id"]), headers=g.h("M")).status_code == 204
    (event,) = outbox("income.deleted")
    assert event["data"]["old"]["refund_of"] == sale["id"] and event["data"]["old"]["gross_amount"] == "-100.00"
    assert [e.action for e in sql("SELECT action FROM audit.entries WHERE entity_id = :i ORDER BY id",
                                  {"i": r["id"]})] == ["create", "delete"]
    # without refunds the sale is a sale again
    ok(client.put(one(sale["id"]), json=put, headers=g.h()))
    assert client.delete(one(sale["id"]), headers=g.h()).status_code == 204


def test_a_refund_of_a_sale_whose_chatter_left_the_team_keeps_the_snapshot(client):
    agency = make_agency(client=client)
    m = make_user(agency, "manager")
    c = make_user(agency, "chatter", manager=m)
    x = make_model(agency, "X", c)
    sale = ok(client.post("/api/income/register/", json={
        "type": "tip_sale", "gross_amount": "200.00", "sale_date": "2026-11-03", "model_id": str(x),
        "chatter_id": str(c.id)}, headers=agency.owner.headers), 201)
    sql("UPDATE user_service.users SET manager_id = NULL WHERE id = :c", {"c": c.id})
    r = ok(client.post(refunds(sale["id"]), json={"kind": "refund", "amount": "200.00",
                                                  "refund_date": "2026-11-04"}, headers=agency.owner.headers), 201)
    assert r["manager_id"] == str(m.id) and r["chatter_id"] == str(c.id) and r["model_id"] == str(x)
