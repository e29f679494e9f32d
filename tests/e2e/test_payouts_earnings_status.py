"""Earnings documents in Firestore follow their period's status: open while it is open, closed once it is."""
from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from functions.payouts import earnings, service
from shared_lib import clock, firestore
from shared_lib.config import reset_settings
from shared_lib.db import unit_of_work
from tests.factories import bearer
from tests.integration.test_payouts_store import NOV, seed_golden

PEOPLE = ("M", "C1", "C2", "C3")
TOTALS = {"M": "850.22", "C1": "1400.00", "C2": "1550.22", "C3": "2000.00"}


@pytest.fixture
def golden(client):
    assert os.environ.get("FIRESTORE_EMULATOR_HOST"), "run `. .local/services.env` (make test starts the emulator)"
    reset_settings()
    firestore.reset_client()
    ids = seed_golden()
    with unit_of_work() as uow:
        service.period_recalculate(uow=uow, agency_id=ids["agency"], period=NOV)
    yield ids
    firestore.reset_client()


def doc(ids, name):
    snap = firestore.client().document(earnings.path(ids["agency"], str(ids[name]), NOV)).get()
    return snap.to_dict() if snap.exists else None


def close(client, ids):
    with clock.frozen(datetime(2026, 12, 1, 12, 0, tzinfo=UTC)):  # a period is closed once it has ended
        r = client.post("/api/financials/periods/2026-11/close/", headers=bearer(f"g-owner-{ids['agency']}"))
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.get_json() == {"period": "2026-11", "status": "closed"}


def test_closing_the_period_turns_every_earnings_document_closed(client, golden):
    before = {n: doc(golden, n) for n in PEOPLE}
    assert {n: (d["status"], d["total"]) for n, d in before.items()} == {n: ("open", TOTALS[n]) for n in PEOPLE}
    close(client, golden)
    after = {n: doc(golden, n) for n in PEOPLE}
    assert {n: (d["status"], d["total"]) for n, d in after.items()} == {n: ("closed", TOTALS[n]) for n in PEOPLE}
    assert all(after[n]["version"] > before[n]["version"] for n in PEOPLE)
    assert sorted(line["amount"] for line in after["C2"]["lines"]) == ["1500.00", "50.22"]
    assert after["C2"]["uid"] == f"g-C2-{golden['agency']}"


def test_closing_again_rewrites_a_lost_document_and_changes_no_figure(client, golden):
    close(client, golden)
    firestore.client().document(earnings.path(golden["agency"], str(golden["C1"]), NOV)).delete()
    close(client, golden)  # 200 again: the period is closed, and its documents say so
    assert (doc(golden, "C1")["status"], doc(golden, "C1")["total"]) == ("closed", "1400.00")
    with unit_of_work() as uow:  # a late event for a closed period recalculates nothing, writes nothing
        assert service.period_recalculate(uow=uow, agency_id=golden["agency"], period=NOV) is None
    assert doc(golden, "C2")["status"] == "closed"


def test_the_status_derivation_is_the_periods_status_then_the_payment():
    assert (earnings.earnings_status("open"), earnings.earnings_status("closed")) == ("open", "closed")
    assert (earnings.earnings_status("closed", paid=True), earnings.earnings_status("open", paid=True)) == \
        ("paid", "open")


def test_a_user_whose_lines_went_away_is_closed_at_zero_too(client, golden):
    from sqlalchemy import text

    from shared_lib.db import engine

    with engine().begin() as c:  # C3's only line was the fixed salary
        c.execute(text("DELETE FROM user_service.user_financial_settings WHERE user_id = :u"), {"u": golden["C3"]})
    with unit_of_work() as uow:
        service.period_recalculate(uow=uow, agency_id=golden["agency"], period=NOV)
    assert (doc(golden, "C3")["status"], doc(golden, "C3")["total"], doc(golden, "C3")["lines"]) == \
        ("open", "0.00", [])
    close(client, golden)
    assert (doc(golden, "C3")["status"], doc(golden, "C3")["total"]) == ("closed", "0.00")
    assert doc(golden, "C3")["uid"] == f"g-C3-{golden['agency']}"
    assert doc(golden, "C2")["status"] == "closed"


def test_a_paid_person_s_document_says_paid_and_a_repeated_close_keeps_it(client, golden):
    close(client, golden)
    with clock.frozen(datetime(2026, 12, 2, 12, 0, tzinfo=UTC)):
        r = client.post("/api/financials/periods/2026-11/payments/", headers=bearer(f"g-owner-{golden['agency']}"),
                        json={"user_id": str(golden["C1"]), "paid_at": "2026-12-02", "method": "bank",
                              "reference": "TX-1"})
    assert (r.status_code, r.get_json()["amount"]) == (201, "1400.00")
    assert (doc(golden, "C1")["status"], doc(golden, "C1")["total"]) == ("paid", "1400.00")
    assert doc(golden, "C2")["status"] == "closed"
    close(client, golden)  # rewrites every document of the period: the paid one stays paid
    assert {n: doc(golden, n)["status"] for n in PEOPLE} == {"M": "closed", "C1": "paid", "C2": "closed",
                                                            "C3": "closed"}
