"""A catch-up owner absorbs a burst (shared_lib.catchup.Absorber, issue #13): the delivery that becomes the owner
takes, in its rounds, the income events committed to the outbox after its own, claims them in its consumer's
inbox and recomputes what they changed; when it returns the read models hold the whole burst, and every later
delivery of those events is a duplicate of one statement. Through the real event functions, under the services'
database roles, against a full recalculation (payouts) and a rebuild (statistics) from the truth."""
from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import event as sa_event

from functions.payouts import service as payouts
from functions.stats import queries as stats_queries
from shared_lib import catchup, registry
from shared_lib.contracts import IncomeRegistered
from shared_lib.db import engine, unit_of_work
from shared_lib.periods import Period
from tests.factories import aggregates, cloud_event, income_event, rebuild, seed_income, sql
from tests.integration.test_payouts_incremental import NOV, from_scratch, stored, world
from tests.integration.test_payouts_incremental import outbox_only  # noqa: F401  (autouse: no bus)

DEC = Period(2026, 12)



@pytest.fixture
def handled(monkeypatch):
    """The deliveries whose handler ran (not turned away by the inbox), per function."""
    import functions.payouts.main  # noqa: F401  (declares the functions)
    import functions.stats.main  # noqa: F401

    ran: list[str] = []
    real_payouts, real_stats = payouts.changed_periods_recalculate, stats_queries.mark_pending

    def payouts_ran(**kw):
        ran.append("payouts")
        return real_payouts(**kw)

    def stats_ran(uow, agency_id, kind, slices):
        ran.append("stats")
        return real_stats(uow, agency_id, kind, slices)

    monkeypatch.setattr(payouts, "changed_periods_recalculate", payouts_ran)
    monkeypatch.setattr(stats_queries, "mark_pending", stats_ran)
    return ran


def burst(rows: list[dict]) -> list:
    """The sales' income.registered events in one transaction, as the recurring generator writes them."""
    with unit_of_work() as uow:
        return uow.emit_many("income.registered", [
            (r["agency_id"], r["id"], IncomeRegistered.model_validate(income_event("registered", None, r).data))
            for r in rows])


def deliver(function: str, ev) -> None:
    registry.REGISTRY[function].entry_point(cloud_event(ev.type, ev.payload(), attributes=ev.attributes()))


def claimed(function: str, events) -> int:
    return sql("SELECT count(*) FROM eventing.inbox WHERE consumer = :c AND event_id = ANY(:e)",
               {"c": function, "e": [str(e.event_id) for e in events]})[0][0]


def pending_scopes(agency_id) -> int:
    return sql("SELECT count(*) FROM financial_calculations.pending_scopes WHERE agency_id = :a",
               {"a": agency_id})[0][0]


def sales(agency, n: int, *, first_day: int = 3, december: int = 0) -> list[dict]:
    rows = [seed_income(agency, day=date(2026, 11, first_day + i % 20), gross=f"{100 + i}.{i % 100:02d}",
                        model="AB"[i % 2], chatter=("C1", "C2", "C3")[i % 3]) for i in range(n)]
    return rows + [seed_income(agency, day=date(2026, 12, 1 + i), gross=f"{50 + i}.00", model="A", chatter="C1")
                   for i in range(december)]


class Statements:
    """The statements sent on the engine's connections while in the block."""

    def __enter__(self) -> list[str]:
        self.seen: list[str] = []
        sa_event.listen(engine(), "before_cursor_execute", self._record)
        return self.seen

    def _record(self, conn, cursor, statement, *args) -> None:
        self.seen.append(statement)

    def __exit__(self, *exc) -> None:
        sa_event.remove(engine(), "before_cursor_execute", self._record)


def test_the_owner_absorbs_the_burst_and_every_later_delivery_is_a_one_statement_duplicate(db, handled):
    agency = world()
    first = seed_income(agency, day=date(2026, 11, 2), gross="10.00", model="A", chatter="C1")
    deliver("payouts_on_income_registered", burst([first])[0])  # the period calculated once before the burst
    handled.clear()
    rows = sales(agency, 30, december=2)
    events = burst(rows)

    deliver("payouts_on_income_registered", events[0])  # the first delivery: the owner

    assert claimed("payouts_on_income_registered", events) == len(events)
    assert pending_scopes(agency.id) == 0
    november, december = stored(agency.id, NOV), stored(agency.id, DEC)
    assert november["figures"][0][0] == sum(r["gross_amount"] for r in rows[:30]) + 10
    assert november == from_scratch(agency.id, NOV)  # all 30 November sales, to the cent
    assert december == from_scratch(agency.id, DEC)  # the absorbed December sales caught their own period up
    assert handled == ["payouts"]

    with Statements() as seen:
        for ev in events[1:]:
            deliver("payouts_on_income_registered", ev)
    assert handled == ["payouts"]  # every later delivery turned away by the inbox
    assert len(seen) == len(events) - 1 and all("eventing.inbox" in s for s in seen)
    assert stored(agency.id, NOV) == november


def test_the_statistics_owner_absorbs_the_burst_equal_to_a_rebuild(db, handled):
    agency = world()
    deliver("stats_on_income_registered", burst([seed_income(agency, day=date(2026, 11, 2), gross="10.00",
                                                              model="A", chatter="C1")])[0])
    handled.clear()
    events = burst(sales(agency, 25, december=1))

    deliver("stats_on_income_registered", events[0])

    assert claimed("stats_on_income_registered", events) == len(events)
    got = aggregates(agency.id)
    rebuild(agency)
    assert got == aggregates(agency.id)  # every sale of the burst, each day, model and chatter
    for ev in events[1:]:
        deliver("stats_on_income_registered", ev)
    assert handled == ["stats"]
    assert aggregates(agency.id) == got


def test_events_before_the_anchor_and_those_already_claimed_are_left_to_their_delivery(db, handled):
    """The owner looks only past its own event; an event its delivery claimed first is that delivery's. Each
    event is handled exactly once — by its delivery or by the owner — and the result is a full calculation's."""
    agency = world()
    events = burst(sales(agency, 12))
    deliver("payouts_on_income_registered", events[2])  # claims 2, becomes owner: absorbs 3..11
    assert claimed("payouts_on_income_registered", events[3:]) == 9
    assert claimed("payouts_on_income_registered", events[:2]) == 0
    deliver("payouts_on_income_registered", events[0])  # its own; as owner it absorbs 1 (past it, unclaimed)
    assert claimed("payouts_on_income_registered", events) == 12
    for ev in events:
        deliver("payouts_on_income_registered", ev)
    assert handled == ["payouts"] * 2  # 2 and 0 ran; 1 and 3..11 were absorbed, their deliveries duplicates
    assert claimed("payouts_on_income_registered", events) == 12
    assert pending_scopes(agency.id) == 0
    assert stored(agency.id, NOV) == from_scratch(agency.id, NOV)


def test_rounds_follow_the_burst_past_the_limit_and_the_span_and_take_only_their_agency(db, handled, monkeypatch):
    monkeypatch.setattr(catchup, "ABSORB_LIMIT", 4)
    monkeypatch.setattr(catchup, "ABSORB_SPAN", 7)
    agency, other = world(), world()
    mine, theirs = sales(agency, 15), sales(other, 15)
    events = burst([r for pair in zip(mine, theirs) for r in pair])  # the two agencies' outbox rows interleaved
    ours = [e for e in events if e.agency_id == agency.id]
    rounds: list[int] = []
    real = catchup.Absorber.take
    monkeypatch.setattr(catchup.Absorber, "take", lambda self, uow: rounds.append(1) or real(self, uow))

    deliver("stats_on_income_registered", ours[0])

    assert claimed("stats_on_income_registered", ours) == 15  # across several rounds (4 a round, 7 rows a look)
    assert claimed("stats_on_income_registered", [e for e in events if e.agency_id == other.id]) == 0
    assert len(rounds) >= 15 * 2 // 7
    got = aggregates(agency.id)
    rebuild(agency)
    assert got == aggregates(agency.id)
    assert aggregates(other.id)["daily_model_stats"] == []  # nothing of the other agency's was taken


def test_an_outbox_row_off_its_contract_is_left_unclaimed_for_its_delivery_to_dead_letter(db, handled):
    agency = world()
    events = burst(sales(agency, 3))
    poison = uuid.uuid4()
    sql("""INSERT INTO eventing.outbox (event_id, type, agency_id, subject, payload, occurred_at)
           VALUES (:e, 'income.registered', :a, 'x', CAST(:p AS jsonb), now())""",
        {"e": poison, "a": agency.id, "p": f'{{"event_id": "{poison}", "type": "income.registered", '
                                            f'"occurred_at": "2026-11-03T10:00:00Z", "agency_id": "{agency.id}", '
                                            f'"data": {{"income_id": "not a uuid"}}}}'})
    events += burst(sales(agency, 2, first_day=10))

    deliver("payouts_on_income_registered", events[0])

    assert claimed("payouts_on_income_registered", events) == len(events)  # the valid ones, on both sides
    assert sql("SELECT count(*) FROM eventing.inbox WHERE event_id = :e", {"e": str(poison)})[0][0] == 0
    assert stored(agency.id, NOV) == from_scratch(agency.id, NOV)
