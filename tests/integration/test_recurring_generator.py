"""The recurring-generate handlers on a real PostgreSQL: due dates, catch-up, end dates, closed periods, exactly
once under doubled and concurrent runs, one event per created row."""
from __future__ import annotations

import threading
import time
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.expenses import recurring as expense_recurring
from functions.expenses.schemas import ExpenseScheduleCreate, ExpenseSchedulePatch
from functions.income import recurring as income_recurring
from functions.income import service as income_service
from functions.income.schemas import IncomeScheduleCreate, IncomeSchedulePatch
from shared_lib.db import UnitOfWork, engine, unit_of_work
from shared_lib.periods import clamp_day
from tests.factories import close_period, make_agency, make_user, outbox, scalar, sql


def income_schedule(agency, **fields):
    body = {"source": "Sponsorship", "amount": "400.00", **fields}
    with unit_of_work() as uow:
        return income_recurring.income_schedule_create(uow=uow, caller=agency.owner.caller(),
                                                       cmd=IncomeScheduleCreate.model_validate(body))


def expense_schedule(agency, **fields):
    body = {"source": "Software", "amount": "1200.00", **fields}
    with unit_of_work() as uow:
        return expense_recurring.expense_schedule_create(uow=uow, caller=agency.owner.caller(),
                                                         cmd=ExpenseScheduleCreate.model_validate(body))


def run_income(as_of: date) -> int:
    with unit_of_work() as uow:
        return income_recurring.income_recurring_generate(uow=uow, as_of=as_of)


def run_expenses(as_of: date) -> int:
    with unit_of_work() as uow:
        return expense_recurring.expenses_recurring_generate(uow=uow, as_of=as_of)


def income_dates(schedule_id=None) -> list[date]:
    rows = sql("SELECT sale_date FROM income_service.income_records "
               "WHERE schedule_id = coalesce(:s, schedule_id) ORDER BY sale_date", {"s": schedule_id})
    return [r[0] for r in rows]


def expense_dates() -> list[date]:
    return [r[0] for r in sql("SELECT expense_date FROM expense_service.expenses ORDER BY expense_date")]


@pytest.fixture
def agency(db, platform):
    # With the platform running, the events these tests commit reach every subscriber as in production.
    return make_agency(prefix="gen")


# --- due dates -------------------------------------------------------------------------------------------------


def test_monthly_day_31_falls_back_to_each_months_last_day(agency):
    s = income_schedule(agency, frequency="monthly", day_of_month=31, start_date="2024-01-01")
    assert run_income(date(2024, 6, 30)) == 6
    assert income_dates(s.id) == [date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 31), date(2024, 4, 30),
                                  date(2024, 5, 31), date(2024, 6, 30)]


def test_monthly_day_30_gives_february_28_in_a_common_year(agency):
    s = expense_schedule(agency, frequency="monthly", day_of_month=30, start_date="2025-01-01",
                         end_date="2025-04-30")
    assert run_expenses(date(2025, 12, 31)) == 4
    assert expense_dates() == [date(2025, 1, 30), date(2025, 2, 28), date(2025, 3, 30), date(2025, 4, 30)]
    assert sql("SELECT DISTINCT schedule_id FROM expense_service.expenses")[0][0] == s.id


def test_weekly_uses_iso_days_monday_is_1_sunday_is_7(agency):
    monday = income_schedule(agency, frequency="weekly", day_of_week=1, start_date="2026-11-01")
    sunday = income_schedule(agency, frequency="weekly", day_of_week=7, start_date="2026-11-01")
    run_income(date(2026, 11, 23))
    assert income_dates(monday.id) == [date(2026, 11, 2), date(2026, 11, 9), date(2026, 11, 16), date(2026, 11, 23)]
    # 2026-11-01 is a Sunday: the start date itself is an occurrence.
    assert income_dates(sunday.id) == [date(2026, 11, 1), date(2026, 11, 8), date(2026, 11, 15), date(2026, 11, 22)]


def test_a_schedule_starting_mid_period_begins_at_its_first_due_date(agency):
    monthly = income_schedule(agency, frequency="monthly", day_of_month=15, start_date="2026-09-16")
    daily = income_schedule(agency, frequency="daily", start_date="2026-09-28")
    run_income(date(2026, 10, 20))
    assert income_dates(monthly.id) == [date(2026, 10, 15)]  # not 2026-09-15, before the start
    assert income_dates(daily.id) == [date(2026, 9, 28) + timedelta(days=i) for i in range(23)]


def test_end_date_is_inclusive_and_nothing_after_it_is_generated(agency):
    daily = income_schedule(agency, frequency="daily", start_date="2026-11-01", end_date="2026-11-05")
    monthly = expense_schedule(agency, frequency="monthly", day_of_month=5, start_date="2026-09-01",
                               end_date="2026-11-05")
    assert run_income(date(2026, 11, 20)) == 5
    assert income_dates(daily.id) == [date(2026, 11, d) for d in range(1, 6)]
    assert run_expenses(date(2026, 11, 20)) == 3
    assert expense_dates() == [date(2026, 9, 5), date(2026, 10, 5), date(2026, 11, 5)]
    assert monthly.end_date == date(2026, 11, 5)


def test_nothing_is_due_before_the_start_date(agency):
    income_schedule(agency, frequency="daily", start_date="2026-11-20")
    assert run_income(date(2026, 11, 19)) == 0
    assert income_count_all() == 0 and outbox("income.") == []


def income_count_all() -> int:
    return scalar("SELECT count(*) FROM income_service.income_records")


# --- catch-up and exactly once ---------------------------------------------------------------------------------


def test_a_run_after_a_week_of_missed_runs_catches_up_every_day(agency):
    daily = income_schedule(agency, frequency="daily", start_date="2026-11-01")
    weekly = expense_schedule(agency, frequency="weekly", day_of_week=3, start_date="2026-11-01")
    assert run_income(date(2026, 11, 3)) == 3
    assert run_expenses(date(2026, 11, 3)) == 0
    # Runs for 11-04 … 11-09 never happened; the 11-10 run creates all of them.
    assert run_income(date(2026, 11, 10)) == 7
    assert run_expenses(date(2026, 11, 10)) == 1
    assert income_dates(daily.id) == [date(2026, 11, d) for d in range(1, 11)]
    assert expense_dates() == [date(2026, 11, 4)]  # the Wednesday of the missed week
    assert weekly.day_of_week == 3


def test_a_doubled_run_creates_nothing_and_publishes_nothing(agency):
    income_schedule(agency, frequency="daily", start_date="2026-11-01")
    expense_schedule(agency, frequency="daily", start_date="2026-11-01")
    assert (run_income(date(2026, 11, 4)), run_expenses(date(2026, 11, 4))) == (4, 4)
    events = len(outbox("income.") + outbox("expense."))
    assert (run_income(date(2026, 11, 4)), run_expenses(date(2026, 11, 4))) == (0, 0)
    # An older as_of (a late duplicate message) changes nothing either.
    assert (run_income(date(2026, 11, 2)), run_expenses(date(2026, 11, 2))) == (0, 0)
    assert income_count_all() == 4 and scalar("SELECT count(*) FROM expense_service.expenses") == 4
    assert len(outbox("income.") + outbox("expense.")) == events == 8


@pytest.mark.parametrize("generate, make, table", [
    (income_recurring.income_recurring_generate, income_schedule, "income_service.income_records"),
    (expense_recurring.expenses_recurring_generate, expense_schedule, "expense_service.expenses"),
])
def test_two_concurrent_runs_create_each_occurrence_once(agency, generate, make, table):
    make(agency, frequency="daily", start_date="2026-11-01")
    as_of = date(2026, 11, 10)
    # Run A claims the occurrences and holds its transaction open; run B starts meanwhile on its own connection
    # and must wait on A's uncommitted ledger keys, then skip them all once A commits.
    conn_a = engine().connect()
    tx_a = conn_a.begin()
    created_a = generate(uow=UnitOfWork(conn_a), as_of=as_of)
    result: dict[str, object] = {}

    def run_b():
        try:
            with unit_of_work() as uow:
                result["created"] = generate(uow=uow, as_of=as_of)
        except Exception as exc:  # surfaced by the assert below
            result["error"] = exc

    thread = threading.Thread(target=run_b)
    thread.start()
    try:
        assert _wait_for_a_blocked_session(), "run B never waited on run A's rows"
    finally:
        tx_a.commit()
        conn_a.close()
    thread.join(20)
    assert not thread.is_alive()
    assert "error" not in result, result.get("error")
    assert (created_a, result["created"]) == (10, 0)
    assert scalar(f"SELECT count(*) FROM {table}") == 10
    assert scalar(f"SELECT count(DISTINCT occurrence_date) FROM {table}") == 10
    assert len(outbox("income.") + outbox("expense.")) == 10


def _wait_for_a_blocked_session(timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # A row-level wait is on the other transaction's id: such locks carry no database, so match by session.
        if scalar("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                  "WHERE NOT l.granted AND a.datname = current_database()"):
            return True
        time.sleep(0.02)
    return False


def test_many_racing_runs_leave_each_occurrence_once(agency):
    for day in (1, 15, 31):
        income_schedule(agency, frequency="monthly", day_of_month=day, start_date="2025-01-01")
    income_schedule(agency, frequency="daily", start_date="2026-10-01")
    barrier = threading.Barrier(4)
    counts, errors = [], []

    def run():
        try:
            barrier.wait(5)
            counts.append(run_income(date(2026, 11, 20)))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    expected = 23 + 23 + 22 + 51  # 2025-01 … 2026-11 on the 1st and 15th, to 2026-10 on the 31st; 51 days
    assert sum(counts) == expected
    assert income_count_all() == expected
    assert scalar("SELECT count(*) FROM (SELECT DISTINCT schedule_id, sale_date "
                  "FROM income_service.income_records) x") == expected
    assert len(outbox("income.registered")) == expected


# --- what a generated record is ----------------------------------------------------------------------------------


def test_generated_income_is_other_income_with_the_schedules_split_and_one_event(agency):
    manager = make_user(agency, "manager", name="M").id
    s = income_schedule(agency, frequency="monthly", day_of_month=15, start_date="2026-11-01",
                        split_percent="25.00", assigned_to_user_id=str(manager), notes="monthly retainer")
    assert run_income(date(2026, 11, 30)) == 1
    (row,) = sql("SELECT * FROM income_service.income_records")
    r = row._mapping
    assert (r["type"], r["gross_amount"], r["fee_percent"], r["fee_amount"], r["net_amount"]) == \
        ("other_income", Decimal("400.00"), Decimal("0.00"), Decimal("0.00"), Decimal("400.00"))
    assert (r["sale_date"], r["schedule_id"], r["occurrence_date"]) == (date(2026, 11, 15), s.id, date(2026, 11, 15))
    assert (r["assigned_to_user_id"], r["split_percent"], r["split_fixed_amount"]) == (manager, Decimal("25.00"), None)
    assert (r["source"], r["notes"], r["registered_by_user_id"], r["chatter_id"], r["manager_id"]) == \
        ("Sponsorship", "monthly retainer", agency.owner_id, None, None)
    (event,) = outbox("income.")
    assert event["type"] == "income.registered" and event["subject"] == str(r["id"])
    assert event["agency_id"] == str(agency.id)
    assert event["data"] == {
        "income_id": str(r["id"]), "agency_id": str(agency.id), "schedule_id": str(s.id), "reason": "generated",
        "sale_date": "2026-11-15", "old_sale_date": None, "model_id": None, "chatter_id": None, "old": None,
        "new": {"type": "other_income", "sale_date": "2026-11-15", "model_id": None, "chatter_id": None,
                "manager_id": None, "assigned_to_user_id": str(manager), "gross_amount": "400.00",
                "fee_amount": "0.00", "net_amount": "400.00", "refund_of": None}}


def test_generated_expense_carries_its_schedule_and_one_event(agency):
    s = expense_schedule(agency, frequency="monthly", day_of_month=1, start_date="2026-11-01", notes="SaaS")
    assert run_expenses(date(2026, 11, 30)) == 1
    (row,) = sql("SELECT id, amount, expense_date, source, notes, schedule_id, created_by "
                 "FROM expense_service.expenses")
    assert tuple(row[1:]) == (Decimal("1200.00"), date(2026, 11, 1), "Software", "SaaS", s.id, agency.owner_id)
    (event,) = outbox("expense.")
    assert event["type"] == "expense.recorded"
    assert event["data"] == {"expense_id": str(row[0]), "agency_id": str(agency.id), "schedule_id": str(s.id),
                             "reason": "generated", "expense_date": "2026-11-01", "old_expense_date": None,
                             "old": None,
                             "new": {"expense_date": "2026-11-01", "amount": "1200.00", "source": "Software"}}


# --- closed periods, deletions, ends -----------------------------------------------------------------------------


def test_occurrences_in_a_closed_period_are_skipped(agency):
    close_period(agency, "2026-10")
    income_schedule(agency, frequency="daily", start_date="2026-10-30")
    expense_schedule(agency, frequency="monthly", day_of_month=31, start_date="2026-09-01")
    assert run_income(date(2026, 11, 2)) == 2
    assert run_expenses(date(2026, 11, 2)) == 1
    assert income_dates() == [date(2026, 11, 1), date(2026, 11, 2)]
    assert expense_dates() == [date(2026, 9, 30)]  # October's (the 31st) fell in the closed period
    assert scalar("SELECT count(*) FROM income_service.recurring_income_occurrences "
                  "WHERE occurrence_date < '2026-11-01'") == 0
    # A later run still does not create them.
    assert run_income(date(2026, 11, 2)) == 0 and run_expenses(date(2026, 11, 2)) == 0


def test_a_deleted_occurrence_is_never_generated_again(agency):
    income_schedule(agency, frequency="daily", start_date="2026-11-01")
    run_income(date(2026, 11, 3))
    victim = sql("SELECT id FROM income_service.income_records WHERE sale_date = '2026-11-02'")[0][0]
    with unit_of_work() as uow:
        income_service.income_delete(uow=uow, caller=agency.owner.caller(), income_id=victim)
    assert run_income(date(2026, 11, 4)) == 1
    assert income_dates() == [date(2026, 11, 1), date(2026, 11, 3), date(2026, 11, 4)]
    assert sql("SELECT income_record_id FROM income_service.recurring_income_occurrences "
               "WHERE occurrence_date = '2026-11-02'")[0][0] is None


def test_ending_a_schedule_stops_future_occurrences_and_keeps_past_ones(agency):
    s = income_schedule(agency, frequency="daily", start_date="2026-11-01")
    e = expense_schedule(agency, frequency="daily", start_date="2026-11-01")
    run_income(date(2026, 11, 6))
    run_expenses(date(2026, 11, 6))
    with unit_of_work() as uow:
        income_recurring.income_schedule_end(uow=uow, caller=agency.owner.caller(), schedule_id=s.id,
                                             cmd=IncomeSchedulePatch(end_date=date(2026, 11, 3)))
        expense_recurring.expense_schedule_end(uow=uow, caller=agency.owner.caller(), schedule_id=e.id,
                                               cmd=ExpenseSchedulePatch(end_date=date(2026, 11, 8)))
    assert run_income(date(2026, 11, 20)) == 0
    assert run_expenses(date(2026, 11, 20)) == 2
    # The ones generated after the new end date stay: ending never deletes.
    assert income_dates() == [date(2026, 11, d) for d in range(1, 7)]
    assert expense_dates() == [date(2026, 11, d) for d in range(1, 9)]


def test_clearing_the_end_date_resumes_and_catches_up(agency):
    s = income_schedule(agency, frequency="weekly", day_of_week=1, start_date="2026-11-01", end_date="2026-11-02")
    run_income(date(2026, 11, 20))
    with unit_of_work() as uow:
        income_recurring.income_schedule_end(uow=uow, caller=agency.owner.caller(), schedule_id=s.id,
                                             cmd=IncomeSchedulePatch(end_date=None))
    assert run_income(date(2026, 11, 20)) == 2
    assert income_dates() == [date(2026, 11, 2), date(2026, 11, 9), date(2026, 11, 16)]


def test_dates_from_a_period_the_run_did_not_lock_wait_for_the_next_run(agency):
    # A schedule created or extended between the run's two statements has dates in periods it did not lock:
    # those, and every later date of that schedule, wait — the next run starts after the ledger's last date.
    from shared_lib import recurrence

    income_schedule(agency, frequency="daily", start_date="2026-09-28")
    locked = [f"{agency.id}:2026-09", f"{agency.id}:2026-11"]  # not 2026-10
    with unit_of_work() as uow:
        rows = recurrence.claim_due(uow, as_of=date(2026, 11, 2), locked=locked, **income_recurring.GENERATOR)
    assert [r.sale_date for r in rows] == [date(2026, 9, 28), date(2026, 9, 29), date(2026, 9, 30)]
    assert run_income(date(2026, 11, 2)) == 33
    assert income_dates() == [date(2026, 9, 28) + timedelta(days=i) for i in range(36)]


# --- the SQL against a plain reading of the rule -------------------------------------------------------------------


def reference_dates(frequency, dow, dom, start, end, as_of) -> list[date]:
    out, d, last = [], start, min(end or as_of, as_of)
    while d <= last:
        if (frequency == "daily" or (frequency == "weekly" and d.isoweekday() == dow)
                or (frequency == "monthly" and d == clamp_day(d.year, d.month, dom))):
            out.append(d)
        d += timedelta(days=1)
    return out


@st.composite
def schedules(draw):
    frequency = draw(st.sampled_from(["daily", "weekly", "monthly"]))
    start = draw(st.dates(date(2023, 1, 1), date(2026, 6, 30)))
    end = draw(st.none() | st.integers(0, 200).map(lambda n: start + timedelta(days=n)))
    first_run = start + timedelta(days=draw(st.integers(-5, 120)))
    second_run = first_run + timedelta(days=draw(st.integers(0, 90)))
    return (frequency, draw(st.integers(1, 7)) if frequency == "weekly" else None,
            draw(st.integers(1, 31)) if frequency == "monthly" else None, start, end, first_run, second_run)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(schedules())
def test_generated_dates_match_the_rule_across_runs(agency, schedule):
    frequency, dow, dom, start, end, first_run, second_run = schedule
    with engine().connect() as conn:
        tx = conn.begin()
        try:
            uow = UnitOfWork(conn)
            uow.execute(
                "INSERT INTO income_service.recurring_income_schedules (agency_id, source, amount, frequency, "
                "day_of_week, day_of_month, start_date, end_date, created_by) "
                "VALUES (:a, 'x', 1, :f, :dow, :dom, :s, :e, :by)",
                {"a": agency.id, "f": frequency, "dow": dow, "dom": dom, "s": start, "e": end,
                 "by": agency.owner_id})
            n1 = income_recurring.income_recurring_generate(uow=uow, as_of=first_run)
            n2 = income_recurring.income_recurring_generate(uow=uow, as_of=second_run)
            got = [r[0] for r in uow.execute(
                "SELECT sale_date FROM income_service.income_records ORDER BY sale_date").all()]
        finally:
            tx.rollback()
    assert got == reference_dates(frequency, dow, dom, start, end, second_run)
    assert n1 == len(reference_dates(frequency, dow, dom, start, end, first_run))
    assert n1 + n2 == len(got)


def test_the_generators_are_declared_on_the_recurring_generate_job():
    from functions.expenses import main as expenses_main
    from functions.income import main as income_main
    from shared_lib import registry

    for entry, name in ((income_main.income_recurring_generate, "income_recurring_generate"),
                        (expenses_main.expenses_recurring_generate, "expenses_recurring_generate")):
        spec = registry.REGISTRY[name]
        assert entry.spec is spec
        assert (spec.trigger, spec.job, spec.topic) == ("schedule", "recurring-generate", "recurring.generate")
    assert registry.JOBS["recurring-generate"].schedule == "10 0 * * *"
    assert {s.name for s in registry.subscribers("recurring.generate")} == \
        {"income_recurring_generate", "expenses_recurring_generate"}


def test_outbox_batch_rows_match_the_published_envelopes(agency):
    income_schedule(agency, frequency="daily", start_date="2026-11-01")
    with unit_of_work() as uow:
        income_recurring.income_recurring_generate(uow=uow, as_of=date(2026, 11, 3))
        pending = [e.model_dump(mode="json") for e in uow.pending_events]
    stored = sql("SELECT event_id, type, agency_id, subject, payload FROM eventing.outbox "
                 "WHERE type LIKE 'income.%' ORDER BY id")
    assert [str(r[0]) for r in stored] == [p["event_id"] for p in pending]
    assert [r[4]["data"]["new"]["sale_date"] for r in stored] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    for row, event in zip(stored, pending):
        assert (row[1], str(row[2]), row[3]) == ("income.registered", str(agency.id), event["subject"])
        assert {**row[4], "occurred_at": None} == {**event, "occurred_at": None}
