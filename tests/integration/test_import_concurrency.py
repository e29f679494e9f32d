"""Platform imports under concurrency (issue #16, docs/income.md "Platform imports" → Concurrency), with real
concurrent transactions: imports of one (agency, model) take turns on a transaction advisory lock, so two whose
different transactions match one self-reported sale never fail (the second's becomes a new record); an import
chargeback and a manual refund of the same sale lock the sale's row first, so together they never give back more
than the sale, whichever commits first."""
from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest

import functions.income.main  # noqa: F401  (declares the income endpoints)
from functions.income import imports, service
from functions.income.schemas import IncomeRefund, PlatformImport
from shared_lib.db import unit_of_work
from shared_lib.errors import Conflict
from tests.factories import golden_agency, race, sql


def tx(tid: str, gross: str, at: str = "2026-11-03T15:00:00Z", status: str = "cleared", **extra):
    return {"transaction_id": tid, "occurred_at": at, "type": "message", "gross_amount": gross, "status": status,
            **extra}


@pytest.fixture
def g(client):
    g = golden_agency("ic", client=client)
    g.A = g.models["A"]
    return g


def run_import(g, *rows):
    with unit_of_work() as uow:
        return imports.income_import(uow=uow, caller=g.owner.caller(),
                                     cmd=PlatformImport(model_id=g.A, transactions=list(rows)), dry_run=False)


def refund(g, sale_id, amount: str) -> str:
    try:
        with unit_of_work() as uow:
            service.income_refund(uow=uow, caller=g.owner.caller(), income_id=sale_id, cmd=IncomeRefund(
                kind="refund", amount=amount, refund_date="2026-11-10"))
        return "created"
    except Conflict as exc:
        return exc.slug


def in_thread(fn) -> tuple[threading.Thread, list]:
    out: list = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    return t, out


def self_reported(client, g, gross: str = "100.00") -> str:
    r = client.post("/api/income/register/", json={"type": "message_sale", "gross_amount": gross,
                                                   "sale_date": "2026-11-03", "model_id": str(g.A)},
                    headers=g.h("C2"))
    assert r.status_code == 201, r.get_data(as_text=True)
    return r.get_json()["id"]


def given_back(sale_id) -> Decimal:
    return sql("SELECT coalesce(-sum(gross_amount), 0) AS s FROM income_service.income_records WHERE refund_of = :s",
               {"s": sale_id})[0].s


def test_a_second_import_waits_for_the_first_and_its_other_transaction_becomes_a_new_record(client, g):
    sale = self_reported(client, g)
    with unit_of_work() as uow:
        first = imports.income_import(uow=uow, caller=g.owner.caller(), dry_run=False,
                                      cmd=PlatformImport(model_id=g.A, transactions=[tx("T1", "100.00")]))
        t, second = in_thread(lambda: run_import(g, tx("T2", "100.00", at="2026-11-03T16:00:00Z")))
        t.join(1.0)
        assert t.is_alive() and second == []  # waiting on the (agency, model)'s import lock
    t.join(20)
    assert (first.matched, first.new) == (1, 0)
    assert (second[0].matched, second[0].new, second[0].unattributed) == (0, 1, 1)
    rows = sql("SELECT p.transaction_id, r.id, r.origin, r.verified FROM income_service.platform_transactions p "
               "JOIN income_service.income_records r ON r.id = p.income_id ORDER BY p.transaction_id")
    assert [(r.transaction_id, str(r.id) == sale, r.origin, r.verified) for r in rows] == [
        ("T1", True, "self", True), ("T2", False, "import", True)]


def test_two_imports_racing_over_http_for_one_self_reported_sale_both_answer_200(client, g):
    self_reported(client, g)
    statuses: list[int] = []
    race(lambda i: statuses.append(client.post("/api/income/imports/", headers=g.h("owner"), json={
        "model_id": str(g.A), "transactions": [tx(f"T{i}", "100.00", at=f"2026-11-03T1{i}:00:00Z")]}).status_code), 2)
    assert statuses == [200, 200]
    made = sql("SELECT origin, count(*) AS n FROM income_service.income_records GROUP BY origin ORDER BY origin")
    assert [(r.origin, r.n) for r in made] == [("import", 1), ("self", 1)]
    assert sql("SELECT count(*) AS n FROM income_service.income_records WHERE verified")[0].n == 2


def test_a_refund_holding_the_sale_makes_the_import_chargeback_wait_and_give_back_only_what_is_left(client, g):
    run_import(g, tx("T1", "100.00"))
    (sale,) = sql("SELECT id FROM income_service.income_records")
    with unit_of_work() as uow:
        service.income_refund(uow=uow, caller=g.owner.caller(), income_id=sale.id, cmd=IncomeRefund(
            kind="refund", amount="60.00", refund_date="2026-11-10"))
        t, result = in_thread(lambda: run_import(g, tx("R1", "-100.00", reverses="T1")))
        t.join(1.0)
        assert t.is_alive() and result == []  # waiting on the sale's row
    t.join(20)
    assert result[0].reversed == 1
    (cb,) = sql("SELECT gross_amount FROM income_service.income_records WHERE type = 'chargeback'")
    assert (str(cb.gross_amount), given_back(sale.id)) == ("-40.00", Decimal("100.00"))


def test_an_import_chargeback_holding_the_sale_makes_a_refund_wait_and_be_refused(client, g):
    run_import(g, tx("T1", "100.00"))
    (sale,) = sql("SELECT id FROM income_service.income_records")
    with unit_of_work() as uow:
        imports.income_import(uow=uow, caller=g.owner.caller(), dry_run=False, cmd=PlatformImport(
            model_id=g.A, transactions=[tx("R1", "-100.00", reverses="T1")]))
        t, result = in_thread(lambda: refund(g, sale.id, "60.00"))
        t.join(1.0)
        assert t.is_alive() and result == []
    t.join(20)
    assert result == ["refund-exceeds-sale"] and given_back(sale.id) == Decimal("100.00")


def test_refunds_and_an_import_chargeback_racing_never_give_back_more_than_the_sale(client, g):
    run_import(g, tx("T1", "100.00"))
    (sale,) = sql("SELECT id FROM income_service.income_records")
    outcomes: list = []

    def attempt(i: int) -> None:
        if i == 0:
            outcomes.append(("import", run_import(g, tx("R1", "-100.00", reverses="T1")).reversed))
        else:
            outcomes.append(("refund", refund(g, sale.id, "70.00")))

    race(attempt, 3)
    assert given_back(sale.id) <= Decimal("100.00")
    refunds = [o for kind, o in outcomes if kind == "refund"]
    assert sorted(refunds) in (["created", "refund-exceeds-sale"], ["refund-exceeds-sale", "refund-exceeds-sale"])
    # whoever came first, the sale is given back in full exactly: a refund of 70 and a chargeback of 30, or all 100
    assert given_back(sale.id) == Decimal("100.00")
