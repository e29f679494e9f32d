"""The nightly reconciliation: drift injected behind the service's back is found, logged and repaired (the ledger
gets the difference); with no drift nothing changes."""
from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal as D

import pytest

from functions.payouts import service
from tests.factories import close_period, seed_expense, seed_income, sql
from tests.integration.test_payouts_incremental import NOV, from_scratch, income, stored, world
from tests.integration.test_payouts_incremental import outbox_only  # noqa: F401  (autouse: no bus)



@pytest.fixture
def calculated(db):
    agency = world()
    for model, chatter, gross in (("A", "C1", "1000.00"), ("B", "C3", "500.00"), ("A", "C2", "300.00")):
        income("registered", None, seed_income(agency, day=date(2026, 11, 3), gross=gross, model=model,
                                               chatter=chatter))
    seed_expense(agency, day=date(2026, 11, 4), amount="120.00")  # its event was lost: drift in the figures
    return agency


def postings() -> int:
    return sql("SELECT count(*) FROM financial_calculations.ledger_postings")[0][0]


DRIFTS = {
    "a payout line's amount": ("UPDATE financial_calculations.payout_lines SET amount = amount + 1 "
                               "WHERE id = (SELECT min(id) FROM financial_calculations.payout_lines)", "lines"),
    "a deleted line": ("DELETE FROM financial_calculations.payout_lines "
                       "WHERE id = (SELECT max(id) FROM financial_calculations.payout_lines)", "lines"),
    "a summary's total": ("UPDATE financial_calculations.calculated_payouts_summary SET total = total - 5 "
                          "WHERE user_id = (SELECT user_id FROM financial_calculations.calculated_payouts_summary "
                          "ORDER BY user_id LIMIT 1)",
                          "summaries"),
    "a model payout": ("UPDATE financial_calculations.model_payouts SET amount = amount + 0.01", "model_payouts"),
    "the period's figures": ("UPDATE financial_calculations.period_results SET gross_income = gross_income + 10, "
                             "platform_fees = platform_fees + 10", "figures"),
}


@pytest.mark.parametrize("drift", DRIFTS.values(), ids=DRIFTS.keys())
def test_injected_drift_is_reported_and_repaired(calculated, drift, caplog):
    agency = calculated
    service.reconcile()  # the lost expense event: found and repaired on the first night
    truth = stored(agency.id, NOV)
    before = postings()
    statement, what = drift
    sql(statement)

    with caplog.at_level(logging.WARNING, logger="functions.payouts.service"):
        summary = service.reconcile(as_of=date(2026, 12, 2))

    (found,) = summary["drifted"]
    assert (found["agency_id"], found["period"]) == (str(agency.id), "2026-11") and what in found["drift"]
    assert any("payout drift repaired" in r.getMessage() and str(agency.id) in r.getMessage()
               for r in caplog.records)
    assert stored(agency.id, NOV) == truth
    assert postings() <= before + 1  # at most one posting of differences (none when the ledger still agreed)


def test_the_lost_expense_is_repaired_into_the_figures_and_the_ledger(calculated):
    agency = calculated
    summary = service.reconcile()
    assert summary["drifted"][0]["drift"]["figures"]["expenses"] == ["0.00", "120.00"]
    (expenses,) = sql("SELECT expenses FROM financial_calculations.period_results WHERE agency_id = :a",
                      {"a": agency.id})[0]
    assert expenses == D("120.00")
    assert stored(agency.id, NOV)["ledger"][("expense:operating", None)] == D("120.00")


def test_without_drift_nothing_changes(calculated):
    agency = calculated
    service.reconcile()
    truth, before = stored(agency.id, NOV), postings()
    summary = service.reconcile()
    assert summary["drifted"] == [] and summary["periods_checked"] == 1
    assert stored(agency.id, NOV) == truth and postings() == before
    assert truth == from_scratch(agency.id, NOV)


def test_a_closed_period_is_left_alone(calculated):
    agency = calculated
    close_period(agency, "2026-11")
    sql("UPDATE financial_calculations.model_payouts SET amount = amount + 1")
    assert service.reconcile()["periods_checked"] == 0
