"""A full payouts calculation reads the month once, summed in SQL per pricing bucket (issue #13): what it stores is
what calc.calculate gives fed one Sale per income record, to the cent, whatever the history — settings versions
taking effect mid-month, refunds priced at their original sale's older rates, other income with and without a
split — and the period's gross and net are those of every record of the month."""
from __future__ import annotations

import uuid
from collections import Counter
from datetime import date
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.payouts import calc, queries, service
from functions.payouts.calc import EVERYTHING, Sale, calculate
from shared_lib.db import unit_of_work
from shared_lib.periods import Period
from tests.factories import seed_expense, seed_income, sql
from tests.integration.test_payouts_incremental import (NOV, OCT, OPS, apply, from_scratch, outbox_only,  # noqa: F401
                                                        stored, world)


def per_record(agency_id: uuid.UUID, period: Period) -> dict:
    """The reference: calc.calculate over one Sale per income record of the period (nothing summed in SQL), in
    the shape from_scratch returns."""
    with unit_of_work("payouts") as uow:
        sales = [Sale(r.id, r.type, r.gross_amount, r.net_amount, r.sale_date, r.model_id, r.chatter_id,
                      r.manager_id, r.assigned_to_user_id, r.split_percent, r.split_fixed_amount, r.priced_on,
                      r.sale_type) for r in uow.execute(
            """
            SELECT i.id, i.type, i.gross_amount, i.net_amount, i.sale_date, i.model_id, i.chatter_id, i.manager_id,
                   i.assigned_to_user_id, i.split_percent, i.split_fixed_amount, o.sale_date AS priced_on,
                   coalesce(o.type, i.type) AS sale_type
            FROM income_service.income_records i LEFT JOIN income_service.income_records o ON o.id = i.refund_of
            WHERE i.agency_id = :a AND i.sale_date BETWEEN :first AND :last
            """, {"a": agency_id, "first": period.first_day, "last": period.last_day}).all()]
        result = calculate(
            period=period, sales=sales,
            user_settings=queries.load_user_settings(uow, agency_id, period),
            model_settings=queries.load_model_settings(uow, agency_id, period),
            expenses=queries.load_expenses(uow, agency_id, period),
            deductions=queries.load_deductions(uow, agency_id, period),
            worked=queries.load_worked(uow, agency_id, period, EVERYTHING),
            adjustments=queries.load_adjustments(uow, agency_id, period, EVERYTHING),
            carries=queries.load_carries(uow, agency_id, period, EVERYTHING))
    return {
        "lines": Counter((l.user_id, l.kind, l.model_id, l.basis, l.rate, l.amount, l.detail) for l in result.lines),
        "model_payouts": sorted((m.model_id, m.effective_from, m.base, m.model_share_percent, m.split_chatting_costs,
                                 m.amount) for m in result.model_payouts),
        "summaries": {u: t for u, t in result.totals_by_user().items()},
        "figures": [tuple(result.figures()[k] for k in calc.FIGURES)],
    }


def unsplit_other_income(agency, day: date, gross: str, model: str | None) -> None:
    """Other income nobody shares (no split): it pays no line but counts in the period's gross and net."""
    sql("""INSERT INTO income_service.income_records (agency_id, type, gross_amount, fee_percent, fee_amount,
               net_amount, sale_date, model_id, registered_by_user_id)
           VALUES (:a, 'other_income', :g, 0, 0, :g, :d, :m, :o)""",
        {"a": agency.id, "g": D(gross), "d": day, "m": agency.models[model] if model else None,
         "o": agency.owner_id})


def assert_full_equals_per_record(agency) -> None:
    for period in (OCT, NOV):
        full = from_scratch(agency.id, period)
        if not full["figures"]:
            continue
        reference = per_record(agency.id, period)
        assert {k: full[k] for k in reference} == reference
        (gross, _, net, *_), = full["figures"]
        truth = sql("SELECT coalesce(sum(gross_amount), 0), coalesce(sum(net_amount), 0) "
                    "FROM income_service.income_records WHERE agency_id = :a AND sale_date BETWEEN :f AND :l",
                    {"a": agency.id, "f": period.first_day, "l": period.last_day})[0]
        assert (gross, net) == tuple(truth)


def test_any_history_calculated_fully_equals_the_calculation_over_single_records(db):
    @settings(max_examples=8, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(st.lists(OPS, min_size=4, max_size=10))
    def check(ops):
        agency = world()
        records: list = []
        for op in ops:
            apply(agency, records, op)
        unsplit_other_income(agency, date(2026, 11, 5), "70.00", "A")
        assert_full_equals_per_record(agency)

    check()


def test_versions_taking_effect_mid_month_and_refunds_of_older_sales_price_by_their_day(db):
    """Every bucket boundary at once: C1's rate and M's tick change on the 3rd and the 17th, model A's share on
    the 17th; sales the day before, on and after each; October sales refunded in November at October's rates."""
    nov = [date(2026, 11, d) for d in (1, 2, 3, 16, 17, 30)]
    ops = [("sale", "message_sale", "A", "C1", date(2026, 10, 20), "400.00"),
           ("sale", "tip_sale", "B", "C2", date(2026, 10, 20), "250.00"),
           ("user", "C1", nov[2], "12.50"), ("user", "M", nov[2], "3.00"), ("user", "C1", nov[4], "3.00"),
           ("model", "A", nov[4], "55.00", False), ("user", "C2", nov[4], "12.50")]
    ops += [("sale", t, m, c, d, g) for d in nov for t, m, c, g in (
        ("message_sale", "A", "C1", "101.01"), ("tip_sale", "A", "C2", "33.33"), ("message_sale", "B", "C1", "0.07"),
        ("tip_sale", "B", "C3", "250.55"))]
    ops += [("refund", 0, nov[3], False, "refund"), ("refund", 0, nov[5], True, "chargeback"),
            ("other", "M", nov[1], "80.00", "25.00"), ("expense", nov[3], "45.10")]
    agency = world()
    records: list = []
    for op in ops:
        apply(agency, records, op)
    unsplit_other_income(agency, nov[0], "19.99", None)
    seed_expense(agency, day=nov[4], amount="5.00")
    rates = {r.rate for r in sql("SELECT rate FROM financial_calculations.payout_lines WHERE agency_id = :a "
                                 "AND period = '2026-11' AND kind = 'commission'", {"a": agency.id})}
    assert {D("10.00"), D("12.50"), D("3.00"), D("5.00")} <= rates  # October's rates price the refunds
    assert_full_equals_per_record(agency)


def test_pricing_bounds_are_every_version_start(db):
    v = calc.UserSettings(date(2026, 11, 17), "commission")
    m = calc.ModelSettings(date(2026, 11, 3))
    assert calc.pricing_bounds({"u": [calc.UserSettings(date(2026, 10, 1), "commission"), v]}, {"m": [m]},
                               [m]) == [date(2026, 10, 1), date(2026, 11, 3), date(2026, 11, 17)]
    assert calc.pricing_bounds({}, {}) == []


def income_reads(recalculate) -> list[str]:
    """The statements reading income_service.income_records while `recalculate(uow)` runs."""
    from sqlalchemy import event

    from shared_lib.db import engine

    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(engine(), "before_cursor_execute", record)
    try:
        with unit_of_work("payouts") as uow:
            recalculate(uow)
    finally:
        event.remove(engine(), "before_cursor_execute", record)
    return [s for s in seen if "FROM income_service.income_records" in s]


def test_a_full_calculation_scans_the_month_once(db):
    """load_sales is the one read of the month's income: the bonus bands' net and the period's gross and net come
    from it (no load_chatting_net, no income scan in refresh_figures)."""
    agency = world()
    apply(agency, [], ("sale", "message_sale", "A", "C1", date(2026, 11, 3), "500.00"))
    unsplit_other_income(agency, date(2026, 11, 4), "10.00", None)
    sql("DELETE FROM financial_calculations.period_results WHERE agency_id = :a", {"a": agency.id})
    got = {}
    reads = income_reads(lambda uow: got.update(r=service.full_recalculate(uow=uow, agency_id=agency.id, period=NOV)))
    assert len(reads) == 2  # the summed sales, and other income with a split one row per record
    assert got["r"].figures["gross_income"] == D("510.00") and got["r"].figures["net_income"] == D("410.00")


def test_coalesced_marks_of_every_model_are_recalculated_fully(db):
    """A coalesced scope naming every model of the agency reads the month once, as a full calculation does (the
    scoped path would scan it twice more), and ends where a full recalculation does."""
    agency = world()
    apply(agency, [], ("sale", "message_sale", "A", "C1", date(2026, 11, 3), "500.00"))
    sale = seed_income(agency, day=date(2026, 11, 5), gross="200.00", model="B", chatter="C2")
    unsplit_other_income(agency, date(2026, 11, 6), "10.00", "B")
    with unit_of_work("payouts") as uow:
        queries.mark_pending(uow, agency.id, [(NOV, "model", agency.models["A"]), (NOV, "model", sale["model_id"]),
                                              (NOV, "user", agency.user("C2")), (NOV, "totals", None)])
    reads = income_reads(lambda uow: service.pending_recalculate(uow=uow, agency_id=agency.id, period=NOV))
    assert len(reads) == 2
    after = stored(agency.id, NOV)
    assert after["figures"][0][0] == D("710.00")  # the unsplit other income counted
    assert after == from_scratch(agency.id, NOV)


def test_the_reconciliation_finds_every_month_with_income_or_expenses_of_every_agency(db):
    """open_periods_with_data walks each agency's months through the date indexes: a month whose events were all
    lost (no stored result) is found, in every agency, income and expenses alike; a closed one is not."""
    first, second = world(), world()
    sql("""INSERT INTO income_service.income_records (agency_id, type, gross_amount, fee_percent, fee_amount,
               net_amount, sale_date, registered_by_user_id)
           SELECT :a, 'other_income', 10, 0, 0, 10, d, :o
           FROM unnest(CAST(:days AS date[])) d""",
        {"a": first.id, "o": first.owner_id, "days": ["2025-12-31", "2026-01-01", "2026-01-31", "2026-03-15"]})
    seed_expense(second, day=date(2026, 2, 28))
    seed_expense(second, day=date(2026, 3, 1))
    sql("INSERT INTO financial_calculations.periods (agency_id, period, status) VALUES (:a, '2026-03', 'closed')",
        {"a": second.id})
    with unit_of_work("payouts") as uow:
        found = set(queries.open_periods_with_data(uow))
    assert {p for a, p in found if a == first.id} == {"2025-12", "2026-01", "2026-03"}
    assert {p for a, p in found if a == second.id} == {"2026-02"}
