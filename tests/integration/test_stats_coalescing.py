"""Coalescing: income events of one agency that arrive together are one recomputation of exactly the slices they
touched, and the aggregates still equal a rebuild from the truth."""
from __future__ import annotations

import threading
from datetime import date

import pytest

from functions.stats import queries, service
from shared_lib.config import reset_settings
from shared_lib.db import dispose_engine, unit_of_work
from tests.factories import (
    aggregates,
    delete_income,
    deliver,
    income_event,
    make_agency,
    make_model,
    make_user,
    rebuild,
    seed_income,
    sql,
    update_income,
)

DAY = date(2026, 11, 3)


@pytest.fixture
def agency(db):
    g = make_agency(prefix="co")
    for name in ("C1", "C2"):
        make_user(g, "chatter", name=name)
    make_model(g, "A", "C1", "C2")
    make_model(g, "B", "C1", "C2")
    return g


@pytest.fixture
def wide_pool(monkeypatch):
    """Room for several handlers at once in this process, beside the blocking holder's connection."""
    monkeypatch.setenv("DB_POOL_SIZE", "5")
    monkeypatch.setenv("DB_MAX_OVERFLOW", "3")
    reset_settings()
    dispose_engine()
    yield
    monkeypatch.undo()
    reset_settings()
    dispose_engine()


@pytest.fixture
def recomputations(monkeypatch):
    """How many times a handler recomputed slices (and how many slices each time)."""
    calls: list[int] = []
    real = queries.recompute_income_slices

    def counting(uow, agency_id, slices):
        calls.append(len(slices))
        return real(uow, agency_id, slices)

    monkeypatch.setattr(queries, "recompute_income_slices", counting)
    return calls


def _pending(agency) -> int:
    return sql("SELECT count(*) FROM statistics_service.pending_slices WHERE agency_id = :a", {"a": agency.id})[0][0]


def test_events_arriving_together_are_one_recomputation(agency, wide_pool, recomputations):
    sales = [seed_income(agency, day=DAY, gross=f"{10 + i}.00", model=model, chatter=chatter)
             for i, (model, chatter) in enumerate((("A", "C1"), ("A", "C2"), ("B", "C1"), ("B", "C2")))]
    events = [income_event("registered", None, row) for row in sales]
    errors: list[BaseException] = []

    def handle(ev):
        try:
            deliver(ev)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    # A blocking holder of the agency's lock (a rebuild) while the four arrive: each delivery marks, fails its
    # try against the holder and returns at once; the holder drains after its commit (service.drain_after_commit).
    with unit_of_work() as holder:
        queries.lock_agency(holder, agency.id)
        service.drain_after_commit(holder, agency.id)
        threads = [threading.Thread(target=handle, args=(ev,)) for ev in events]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=20)
        assert not any(t.is_alive() for t in threads)  # none waited for the holder
        assert not errors
        assert holder.execute("SELECT count(*) FROM statistics_service.pending_slices WHERE agency_id = :a",
                              {"a": agency.id}).scalar() == 4
        assert recomputations == []
    # The holder's drain took all four slices in one round.
    assert recomputations == [4]
    assert _pending(agency) == 0
    incrementally = aggregates(agency.id)
    assert [r[-1] for r in incrementally["daily_chatter_stats"]] == ["1", "1", "1", "1"]
    rebuild(agency)
    assert aggregates(agency.id) == incrementally


def test_an_event_recomputes_only_its_own_slices(agency, recomputations):
    for i in range(6):
        seed_income(agency, day=DAY, gross="5.00", model="A", chatter="C1")
    rebuild(agency)
    row = seed_income(agency, day=DAY, gross="7.00", model="B", chatter="C2")
    deliver(income_event("registered", None, row))
    assert recomputations == [1]
    other = sql("SELECT sales_count FROM statistics_service.daily_chatter_stats WHERE agency_id = :a "
                "AND chatter_id = :c", {"a": agency.id, "c": agency.users["C1"]})
    assert [r[0] for r in other] == [6]
    incrementally = aggregates(agency.id)
    rebuild(agency)
    assert aggregates(agency.id) == incrementally


def test_an_edit_moves_the_sale_between_slices_and_a_delete_empties_its_slice(agency):
    row = seed_income(agency, day=DAY, gross="40.00", model="A", chatter="C1")
    deliver(income_event("registered", None, row))
    old, new = update_income(row["id"], day=date(2026, 12, 1), gross="50.00", chatter_id=agency.users["C2"])
    deliver(income_event("updated", old, new))
    assert [(r.day, r.chatter_id, r.net) for r in sql(
        "SELECT day, chatter_id, net FROM statistics_service.daily_chatter_stats WHERE agency_id = :a",
        {"a": agency.id})] == [(date(2026, 12, 1), agency.users["C2"], 40)]
    deliver(income_event("deleted", delete_income(row["id"]), None))
    assert aggregates(agency.id) == {"daily_model_stats": [], "daily_chatter_stats": [], "daily_expense_stats": []}


def test_a_handler_whose_marks_were_taken_does_nothing(agency, recomputations):
    row = seed_income(agency, day=DAY, gross="12.00", model="A", chatter="C1")
    ev = income_event("registered", None, row)
    deliver(ev)
    with unit_of_work() as uow:
        assert service.stats_catch_up(uow=uow, agency_id=agency.id) == 0
    assert recomputations == [1]


def test_a_day_with_many_slices_in_a_round_is_recomputed_whole(agency, recomputations, monkeypatch):
    """service.WHOLE_DAY_SLICES: a round holding that many slices of one day (a burst) recomputes the day in one
    pass instead of slice by slice; another day's few slices stay slices; both equal a rebuild."""
    monkeypatch.setattr(service, "WHOLE_DAY_SLICES", 3)
    busy, quiet = DAY, date(2026, 11, 9)
    whole: list[list[date]] = []
    real = queries.recompute_income

    def recompute_income(uow, agency_id, **kw):
        whole.append(kw.get("days"))
        return real(uow, agency_id, **kw)

    monkeypatch.setattr(queries, "recompute_income", recompute_income)
    rows = [seed_income(agency, day=busy, gross=f"{20 + i}.00", model=model, chatter=chatter)
            for i, (model, chatter) in enumerate((("A", "C1"), ("A", "C2"), ("B", "C1")))]
    rows.append(seed_income(agency, day=quiet, gross="9.00", model="B", chatter="C2"))
    with unit_of_work() as holder:  # the four marked while a holder has the lock, then taken in one round
        queries.lock_agency(holder, agency.id)
        service.drain_after_commit(holder, agency.id)
        for row in rows:
            deliver(income_event("registered", None, row))
    assert whole == [[busy]]
    assert recomputations == [1]  # the quiet day's one slice
    monkeypatch.undo()
    incrementally = aggregates(agency.id)
    assert len(incrementally["daily_chatter_stats"]) == 4
    rebuild(agency)
    assert aggregates(agency.id) == incrementally
