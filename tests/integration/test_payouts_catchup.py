"""Payouts consumers on shared_lib.catchup (issue #13): a handler marks its scopes in its own transaction and, after
commit, either owns the period's catch-up or returns at once; a burst through the real event functions ends equal
to a full recalculation in far fewer rounds than events, and a blocking holder (POST calculate) drains what the
handlers marked while it held the lock."""
from __future__ import annotations

import queue
import threading
import time
from datetime import date

import pytest
from sqlalchemy import event as sa_event

from functions.payouts import service
from shared_lib import registry
from shared_lib.db import engine, unit_of_work
from tests.factories import cloud_event, income_event, seed_income, sql, use_case
from tests.integration.test_payouts_coalescing import completed_count
from tests.integration.test_payouts_incremental import NOV, from_scratch, income, stored, world
from tests.integration.test_payouts_incremental import outbox_only  # noqa: F401  (autouse: no bus)



def registered(row: dict) -> None:
    """income.registered delivered to the payouts function as Pub/Sub pushes it (inbox, handler, after commit)."""
    import functions.payouts.main  # noqa: F401  (declares the functions)

    ev = income_event("registered", None, row)
    registry.REGISTRY["payouts_on_income_registered"].entry_point(
        cloud_event(ev.type, ev.payload(), attributes=ev.attributes()))


def pending_count() -> int:
    return sql("SELECT count(*) FROM financial_calculations.pending_scopes")[0][0]


@pytest.fixture
def rounds(monkeypatch):
    """The catch-up rounds, counted (True: it took something)."""
    taken = []
    real = service._catch_up_round

    def counted(uow, agency_id, period, absorber):
        took = real(uow, agency_id, period, absorber)
        taken.append(took)
        return took

    monkeypatch.setattr(service, "_catch_up_round", counted)
    return taken


def deliver_concurrently(rows: list[dict], workers: int = 4) -> list[BaseException]:
    """Each sale's event delivered by one of `workers` concurrent deliveries (the pool's 4 connections); the
    failures, none expected."""
    todo: queue.Queue = queue.Queue()
    for row in rows:
        todo.put(row)
    failures: list[BaseException] = []
    barrier = threading.Barrier(workers)

    def work() -> None:
        barrier.wait()
        while True:
            try:
                row = todo.get_nowait()
            except queue.Empty:
                return
            try:
                registered(row)
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return failures


def test_a_burst_of_registered_sales_is_caught_up_in_few_rounds_and_equals_a_full_recalculation(db, rounds):
    agency = world()
    income("registered", None, seed_income(agency, day=date(2026, 11, 2), gross="10.00", model="A", chatter="C1"))
    n = 80
    rows = [seed_income(agency, day=date(2026, 11, 3 + i % 20), gross=f"{100 + i}.{i % 100:02d}",
                        model="AB"[i % 2], chatter=("C1", "C2", "C3")[i % 3]) for i in range(n)]
    before = completed_count(agency.id)
    assert deliver_concurrently(rows) == []

    assert pending_count() == 0
    took = sum(rounds)
    assert 1 <= took < n / 4, f"{took} rounds for {n} events"  # coalesced
    assert completed_count(agency.id) - before <= took  # at most one announcement per round
    assert stored(agency.id, NOV) == from_scratch(agency.id, NOV)


def test_a_calculation_holding_the_lock_while_events_arrive_leaves_nothing_pending(db, monkeypatch):
    """POST calculate (a blocking holder) computes while sales' events arrive: each handler marks, fails its try
    and returns at once; after the calculation commits, its own catch-up takes their marks."""
    agency = world()
    income("registered", None, seed_income(agency, day=date(2026, 11, 2), gross="10.00", model="A", chatter="C1"))
    inside, release = threading.Event(), threading.Event()
    real = service._recalculate

    def slow_first(uow, agency_id, period, scope, **kw):
        if not inside.is_set():
            inside.set()
            assert release.wait(30)
        return real(uow, agency_id, period, scope, **kw)

    monkeypatch.setattr(service, "_recalculate", slow_first)
    calculation = threading.Thread(target=use_case, args=(service.financials_calculate, agency),
                                   kwargs={"period": NOV, "user_id": None})
    calculation.start()
    try:
        assert inside.wait(30)
        rows = [seed_income(agency, day=date(2026, 11, 5 + i), gross=f"{200 + i}.00", model="AB"[i % 2],
                            chatter=("C1", "C3")[i % 2]) for i in range(3)]
        for row in rows:
            started = time.monotonic()
            registered(row)
            assert time.monotonic() - started < 5  # returned without waiting for the calculation
        assert pending_count() > 0  # marked, not yet taken
    finally:
        release.set()
        calculation.join(60)
    assert pending_count() == 0
    assert stored(agency.id, NOV) == from_scratch(agency.id, NOV)
    assert stored(agency.id, NOV)["figures"][0][0] == sum(r["gross_amount"] for r in rows) + 10


def test_a_round_that_changes_nothing_announces_nothing(db):
    """The same sale announced again (a new event id: not an inbox duplicate) is recomputed, finds the stored
    result already true, and emits no financial_calculation.completed."""
    agency = world()
    row = seed_income(agency, day=date(2026, 11, 3), gross="250.00", model="B", chatter="C3")
    registered(row)
    before = completed_count(agency.id)
    registered(row)
    assert completed_count(agency.id) == before
    assert pending_count() == 0


def test_a_turned_away_delivery_costs_a_mark_and_a_try(db, monkeypatch):
    """While another owner holds the period's lock, a delivery runs its inbox claim, one mark statement and one
    try of the lock, which rides the ping of its transaction (no statement of its own; no time zone look-up, no
    second connection, no recalculation)."""
    from shared_lib import catchup

    tries: list[tuple[bool, bool]] = []
    real_try = catchup.try_lock

    def recorded(uow, key):
        got = real_try(uow, key)
        tries.append((uow.first_read is not None, got))
        return got

    monkeypatch.setattr(catchup, "try_lock", recorded)
    agency = world()
    income("registered", None, seed_income(agency, day=date(2026, 11, 2), gross="10.00", model="A", chatter="C1"))
    row = seed_income(agency, day=date(2026, 11, 4), gross="75.00", model="A", chatter="C2")
    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        seen.append(statement)

    with unit_of_work("payouts") as holder:
        holder.execute("SELECT pg_advisory_xact_lock(hashtext(:k))", {"k": f"calc:{agency.id}:{NOV}"})
        sa_event.listen(engine(), "before_cursor_execute", record)
        try:
            registered(row)
        finally:
            sa_event.remove(engine(), "before_cursor_execute", record)
    own = [s for s in seen if "outbox" not in s]
    assert any("eventing.inbox" in s for s in own)
    assert sum("pending_scopes" in s for s in own) == 1  # the mark
    assert tries[-1] == (True, False)  # tried with the ping, and turned away
    assert sum("pg_try_advisory_xact_lock" in s for s in own) == 0
    assert not any("user_service.agencies" in s and "timezone" in s for s in own)
    assert len(own) <= 3, own
    assert pending_count() > 0  # the mark (its scopes), left to the owner
