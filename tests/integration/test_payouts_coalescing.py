"""Coalescing: events of one agency and period arriving together are recomputed in fewer recalculations than
events, with the right final result; a redelivered event is harmless."""
from __future__ import annotations

from datetime import date

from functions.payouts import queries, service
from shared_lib.contracts import IncomeRegistered
from shared_lib.db import unit_of_work
from tests.factories import income_event, race, seed_income, sql
from tests.integration.test_payouts_incremental import NOV, from_scratch, income, stored, world
from tests.integration.test_payouts_incremental import outbox_only  # noqa: F401  (autouse: no bus)



def completed_count(agency_id) -> int:
    return sql("SELECT count(*) FROM eventing.outbox WHERE type = 'financial_calculation.completed' "
               "AND agency_id = :a", {"a": agency_id})[0][0]


def test_events_marked_together_are_recomputed_once(db):
    """The interleaving concurrent handlers produce: each commits its marks, then waits on the lock; the first in
    takes everybody's scopes, the others find nothing left."""
    agency = world()
    income("registered", None, seed_income(agency, day=date(2026, 11, 2), gross="10.00", model="A", chatter="C1"))
    before = completed_count(agency.id)
    n = 8
    events = []
    for i in range(n):
        row = seed_income(agency, day=date(2026, 11, 3 + i), gross=f"{100 + i}.00", model="AB"[i % 2],
                          chatter="C3" if i % 2 else "C1")
        events.append(IncomeRegistered.model_validate(income_event("registered", None, row).data))
    for data in events:  # every handler's first transaction
        with unit_of_work("payouts") as uow:
            queries.mark_pending(uow, agency.id, service.scopes_for_event(data, "UTC"))
    done = []
    for data in events:  # then each takes the lock in turn
        with unit_of_work("payouts") as uow:
            done.append(service.pending_recalculate(uow=uow, agency_id=agency.id, period=NOV))
    assert [d is not None for d in done] == [True] + [False] * (n - 1)
    assert completed_count(agency.id) - before == 1
    assert stored(agency.id, NOV) == from_scratch(agency.id, NOV)


def test_concurrent_handlers_end_with_the_right_result_and_nothing_pending(db):
    agency = world()
    income("registered", None, seed_income(agency, day=date(2026, 11, 2), gross="10.00", model="A", chatter="C1"))
    sales = [seed_income(agency, day=date(2026, 11, 5), gross=g, model=m, chatter=c)
             for g, m, c in (("120.00", "A", "C2"), ("80.00", "B", "C3"))]
    before = completed_count(agency.id)
    race(lambda i: income("registered", None, sales[i]), 2)  # two handlers, two connections each: the pool's 4
    assert 1 <= completed_count(agency.id) - before <= 2
    assert sql("SELECT count(*) FROM financial_calculations.pending_scopes")[0][0] == 0
    assert stored(agency.id, NOV) == from_scratch(agency.id, NOV)


def test_a_redelivered_event_changes_nothing(db):
    agency = world()
    row = seed_income(agency, day=date(2026, 11, 3), gross="250.00", model="B", chatter="C3")
    income("registered", None, row)
    first = stored(agency.id, NOV)
    postings = sql("SELECT count(*) FROM financial_calculations.ledger_postings")[0][0]
    income("registered", None, row)  # at-least-once delivery: the same event again
    assert stored(agency.id, NOV) == first
    assert sql("SELECT count(*) FROM financial_calculations.ledger_postings")[0][0] == postings


def test_a_handler_that_finds_its_scopes_taken_returns_without_recalculating(db):
    agency = world()
    income("registered", None, seed_income(agency, day=date(2026, 11, 3), gross="50.00", model="A", chatter="C1"))
    with unit_of_work("payouts") as uow:
        assert service.pending_recalculate(uow=uow, agency_id=agency.id, period=NOV) is None
