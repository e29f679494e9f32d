"""The Firestore dashboard read model: written after changes, calculations and counts; never overwritten by older."""
from __future__ import annotations

import os
import uuid
from datetime import date, datetime

import pytest

from functions.stats import dashboard
from shared_lib import firestore
from shared_lib.config import reset_settings
from shared_lib.db import unit_of_work
from shared_lib.periods import Period
from tests.factories import delete_income, deliver, event, income_event, scalar, seed_income, set_manager, sql
from tests.integration.test_stats_aggregates import worked_example


@pytest.fixture
def firestore_emulator(db):
    host = os.environ.get("FIRESTORE_EMULATOR_HOST")
    if not host:
        pytest.fail("FIRESTORE_EMULATOR_HOST is not set: these tests need the Firestore emulator. Start it with "
                    "`emulator/services.sh start && . .local/services.env` (make test does this)")
    reset_settings()
    firestore.reset_client()
    yield host
    firestore.reset_client()


def read(agency_id, period: str) -> dict | None:
    snap = firestore.client().document(f"agencies/{agency_id}/dashboards/{period}").get()
    return snap.to_dict() if snap.exists else None


def chatters(agency_id, period: str) -> list[dict]:
    """The period's chatter documents, by display name."""
    docs = firestore.client().collection(f"agencies/{agency_id}/dashboards/{period}/chatters").stream()
    return sorted((d.to_dict() for d in docs), key=lambda c: c["display_name"])


def test_income_and_expense_events_write_the_periods_dashboard(firestore_emulator):
    g, events = worked_example()
    for ev in events:
        deliver(ev)
    doc = read(g.id, "2026-11")
    assert doc["period"] == "2026-11" and (doc["date_from"], doc["date_to"]) == ("2026-11-01", "2026-11-30")
    assert doc["summary"] == {"gross_income": "22155.50", "platform_fees": "4351.10", "net_income": "17804.40",
                              "expenses": "1500.00", "sales_count": 5, "refunds_count": 0,
                              "refunds_amount": "0.00"}
    assert [(t["display_name"], t["net_sales"], t["sales_count"]) for t in doc["top_earners"]] == \
        [("C1", "14000.00", 3), ("C3", "2400.00", 1), ("C2", "1004.40", 1)]
    assert [(m["name"], m["afv"]) for m in doc["afv"]["models"]] == [("A", "7.00"), ("B", "5.20")]
    assert "chatters" not in doc["afv"] and doc["chatters_count"] == 3  # each chatter: a document of their own
    people = chatters(g.id, "2026-11")
    assert [(c["display_name"], c["net"], c["subscriber_count"], c["afv"]) for c in people] == \
        [("C1", "14000.00", 3000, "4.67"), ("C2", "1004.40", 1000, "1.00"), ("C3", "2400.00", 2000, "1.20")]
    by_name = {c["display_name"]: c for c in people}
    assert by_name["C1"]["uid"] == g.uid("C1") and by_name["C1"]["manager_uid"] == g.uid("M")
    assert by_name["C3"]["manager_uid"] is None  # in no team
    assert {c["user_id"] for c in people} == {str(g.users[n]) for n in ("C1", "C2", "C3")}
    # each written when their own figures last changed: never after the dashboard's newest version
    assert all(isinstance(c["version"], int) and c["version"] <= doc["version"] for c in people)
    assert doc["profit"] is None
    assert isinstance(doc["version"], int) and isinstance(doc["updated_at"], datetime)


def test_a_completed_payout_calculation_adds_the_profit(firestore_emulator):
    g, events = worked_example()
    for ev in events:
        deliver(ev)
    sql("""INSERT INTO financial_calculations.period_results
               (agency_id, period, gross_income, platform_fees, net_income, employee_payouts, model_payouts,
                expenses, agency_profit)
           VALUES (:a, '2026-11', 22155.50, 4351.10, 17804.40, 5800.44, 9417.09, 1500.00, 1086.87)""", {"a": g.id})
    before = read(g.id, "2026-11")["version"]
    deliver(event("financial_calculation.completed", g.id,
                  {"agency_id": str(g.id), "period": "2026-11", "user_ids": []}))
    doc = read(g.id, "2026-11")
    assert doc["version"] > before
    profit = doc["profit"]
    assert {k: profit[k] for k in ("net_income", "employee_payouts", "model_payouts", "expenses", "agency_profit",
                                   "status")} == {
        "net_income": "17804.40", "employee_payouts": "5800.44", "model_payouts": "9417.09", "expenses": "1500.00",
        "agency_profit": "1086.87", "status": "open"}
    assert doc["summary"]["net_income"] == "17804.40"


def test_a_new_subscriber_count_rewrites_the_afv(firestore_emulator):
    g, events = worked_example()
    for ev in events:
        deliver(ev)
    sql("""INSERT INTO statistics_service.subscriber_count_snapshots
               (agency_id, model_id, subscriber_count, observed_at, observed_on, source)
           VALUES (:a, :m, 500, '2026-11-10T12:00:00Z', '2026-11-10', 'manual')""", {"a": g.id, "m": g.models["A"]})
    deliver(event("model.subscriber_count.updated", g.id, {
        "agency_id": str(g.id), "model_id": str(g.models["A"]), "subscriber_count": 500,
        "observed_at": "2026-11-10T12:00:00+00:00", "observed_on": "2026-11-10", "source": "manual"}))
    assert [(m["name"], m["subscriber_count"], m["afv"]) for m in read(g.id, "2026-11")["afv"]["models"]] == \
        [("A", 500, "14.01"), ("B", 2000, "5.20")]


def test_an_older_projection_never_overwrites_a_newer_one(firestore_emulator):
    path = f"agencies/{uuid.uuid4()}/dashboards/2026-11"
    assert firestore.write_read_model(path, {"version": 7, "summary": {"net_income": "2.00"}}) is True
    assert firestore.write_read_model(path, {"version": 5, "summary": {"net_income": "1.00"}}) is False
    assert firestore.write_read_model(path, {"version": 7, "summary": {"net_income": "1.50"}}) is False
    assert firestore.client().document(path).get().to_dict() == {"version": 7, "summary": {"net_income": "2.00"}}
    assert firestore.write_read_model(path, {"version": 8, "summary": {"net_income": "3.00"}}) is True
    assert firestore.client().document(path).get().to_dict()["summary"] == {"net_income": "3.00"}


def test_a_failed_transaction_writes_no_dashboard(firestore_emulator):
    g, _ = worked_example()
    with pytest.raises(RuntimeError):
        with unit_of_work() as uow:
            assert dashboard.refresh(uow, g.id, [Period(2026, 11)]) == 1
            raise RuntimeError("the handler failed after building it")
    assert read(g.id, "2026-11") is None
    assert scalar("SELECT count(*) FROM eventing.inbox") == 0


def test_a_refresh_whose_figures_did_not_change_writes_nothing(firestore_emulator):
    g, events = worked_example()
    for ev in events:
        deliver(ev)
    written = read(g.id, "2026-11")["version"]
    with unit_of_work() as uow:
        assert dashboard.refresh(uow, g.id, [Period(2026, 11)]) == 0
    deliver(events[0])  # the same event again (a new message, same id): the inbox skips it
    assert read(g.id, "2026-11")["version"] == written
    with unit_of_work() as uow:  # the rebuild endpoint's refresh writes whatever the figures
        assert dashboard.refresh(uow, g.id, [Period(2026, 11)], force=True) == 1
    assert read(g.id, "2026-11")["version"] > written


def test_only_the_chatter_documents_whose_figures_changed_are_written_and_a_gone_one_is_deleted(firestore_emulator):
    g, events = worked_example()
    for ev in events:
        deliver(ev)
    before = {c["display_name"]: c["version"] for c in chatters(g.id, "2026-11")}
    extra = seed_income(g, day=date(2026, 11, 20), gross="50.00", model="B", chatter="C3")
    deliver(income_event("registered", None, extra))
    after = {c["display_name"]: (c["version"], c["net"]) for c in chatters(g.id, "2026-11")}
    assert after["C3"][1] == "2440.00" and after["C3"][0] > before["C3"]
    assert {n: v for n, (v, _) in after.items() if n != "C3"} == {n: before[n] for n in ("C1", "C2")}
    assert read(g.id, "2026-11")["version"] == after["C3"][0]  # the agency's figures changed too
    # C2's only sale deleted: C2's document goes, the others stay as they were.
    c2_sale = scalar("SELECT id FROM income_service.income_records WHERE chatter_id = :c", c=g.users["C2"])
    deliver(income_event("deleted", delete_income(c2_sale), None))
    assert [c["display_name"] for c in chatters(g.id, "2026-11")] == ["C1", "C3"]
    assert read(g.id, "2026-11")["chatters_count"] == 2
    assert scalar("SELECT count(*) FROM statistics_service.dashboard_chatter_digests WHERE agency_id = :a",
                  a=g.id) == 2


def test_a_team_change_rewrites_that_chatters_document_only(firestore_emulator):
    g, events = worked_example()
    for ev in events:
        deliver(ev)
    main = read(g.id, "2026-11")["version"]
    before = {c["display_name"]: c["version"] for c in chatters(g.id, "2026-11")}
    set_manager(g, "C3", "M")
    with unit_of_work() as uow:
        assert dashboard.refresh(uow, g.id, [Period(2026, 11)]) == 1
    people = {c["display_name"]: c for c in chatters(g.id, "2026-11")}
    assert people["C3"]["manager_uid"] == g.uid("M") and people["C3"]["version"] > main
    assert {n: people[n]["version"] for n in ("C1", "C2")} == {n: before[n] for n in ("C1", "C2")}
    assert read(g.id, "2026-11")["version"] == main  # the agency's figures did not change


def test_a_failed_write_is_written_by_the_next_refresh(firestore_emulator, monkeypatch):
    g, _ = worked_example()

    def unavailable(path, data, **kw):
        raise RuntimeError("Firestore unavailable")

    monkeypatch.setattr(firestore, "write_read_model", unavailable)
    with unit_of_work() as uow:
        assert dashboard.refresh(uow, g.id, [Period(2026, 11)]) == 1
    assert read(g.id, "2026-11") is None
    monkeypatch.undo()
    with unit_of_work() as uow:
        assert dashboard.refresh(uow, g.id, [Period(2026, 11)]) == 1
    assert read(g.id, "2026-11")["summary"]["net_income"] == "0.00"


def test_a_slice_marked_during_a_round_is_the_owners_next_round_and_one_dashboard_build(firestore_emulator,
                                                                                          monkeypatch):
    from functions.stats import queries
    from functions.stats.rules import Slice

    g, events = worked_example()
    real = queries.recompute_income_slices
    marked: list[bool] = []

    def while_another_event_marks(uow, agency_id, slices):  # another handler marks November during the first round
        if not marked:
            marked.append(True)
            with unit_of_work() as other:
                queries.mark_pending(other, agency_id, "income", [Slice(date(2026, 11, 20))])
        return real(uow, agency_id, slices)

    real_write = firestore.write_read_model
    november_writes: list[str] = []

    def counting(path, data, **kw):
        if path.endswith("/2026-11"):
            november_writes.append(path)
        return real_write(path, data, **kw)

    monkeypatch.setattr(queries, "recompute_income_slices", while_another_event_marks)
    monkeypatch.setattr(firestore, "write_read_model", counting)
    deliver(events[0])
    # The first round left November owed (a slice of it pending); the owner's next round took the slice and built
    # the dashboard once, after both.
    assert marked and november_writes == [november_writes[0]]
    assert read(g.id, "2026-11")["summary"]["sales_count"] >= 1
    assert scalar("SELECT count(*) FROM statistics_service.pending_slices WHERE agency_id = :a", {"a": g.id}) == 0
    assert scalar("SELECT count(*) FROM statistics_service.pending_dashboards WHERE agency_id = :a", {"a": g.id}) == 0


def test_without_firestore_configured_no_dashboard_is_built(db, monkeypatch):
    monkeypatch.delenv("FIRESTORE_EMULATOR_HOST", raising=False)
    monkeypatch.delenv("K_SERVICE", raising=False)
    reset_settings()
    try:
        g, _ = worked_example()
        with unit_of_work() as uow:
            assert dashboard.refresh(uow, g.id, [Period(2026, 11)]) == 0
            assert uow._after_commit == []
    finally:
        monkeypatch.undo()
        reset_settings()


def test_dashboard_path_is_the_agencys_period_document():
    agency = uuid.UUID("00000000-0000-0000-0000-000000000001")
    assert dashboard.path(agency, Period.of(date(2026, 11, 30))) == f"agencies/{agency}/dashboards/2026-11"
