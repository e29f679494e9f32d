"""Incremental payouts: each event recomputes only the groups it touched, writes only what changed, and ends equal
to a full recalculation from scratch, to the cent; the ledger keeps its history as postings of differences."""
from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.payouts import service
from functions.payouts.adjustments import adjustment_record
from functions.payouts.schemas import AdjustmentRequest
from shared_lib.contracts import (EmployeeTimeEvent, ExpenseRecorded, IncomeDeleted, IncomeRegistered, IncomeUpdated,
                                  ModelSettingsUpdated, UserSettingsUpdated)
from shared_lib.db import unit_of_work
from shared_lib.periods import Period
from tests.factories import (_INCOME_COLUMNS, _row, delete_income, expense_event, golden_agency, income_event,
                             seed_expense, seed_income, set_financial_settings, set_model_settings, sql,
                             update_income)
from tests.integration.test_payouts_lines_v2 import refund

OCT, NOV = Period(2026, 10), Period(2026, 11)
CONTRACT_OF = {"registered": IncomeRegistered, "updated": IncomeUpdated, "deleted": IncomeDeleted}


@pytest.fixture(autouse=True)
def outbox_only():
    """Events stay in the outbox (read there); no bus: the payouts path is what is under test."""
    from shared_lib import events

    events.set_publisher(events.NullPublisher())
    yield
    events.set_publisher(None)


def deliver(data) -> None:
    """What a payouts event function does with its typed contract."""
    with unit_of_work("payouts") as uow:
        service.changed_periods_recalculate(uow=uow, data=data)


def income(kind: str, old: dict | None, new: dict | None) -> None:
    deliver(CONTRACT_OF[kind].model_validate(income_event(kind, old, new).data))


def user_settings(agency, name: str, day: date, **values) -> None:
    set_financial_settings(agency.person(name), day, **values)
    deliver(UserSettingsUpdated(version_id=uuid.uuid4(), effective_from=day, effective_to=None, replaced=False,
                                agency_id=agency.id, user_id=agency.user(name)))


def model_settings(agency, model: str, day: date, share: str, split: bool) -> None:
    set_model_settings(agency, agency.models[model], day, model_share_percent=share, split_chatting_costs=split)
    deliver(ModelSettingsUpdated(version_id=uuid.uuid4(), effective_from=day, effective_to=None, replaced=False,
                                 agency_id=agency.id, model_id=agency.models[model]))


def other_income(agency, name: str, day: date, gross: str, percent: str) -> dict:
    return _row(sql(
        f"""
        INSERT INTO income_service.income_records (agency_id, type, gross_amount, fee_percent, fee_amount, net_amount,
            sale_date, registered_by_user_id, assigned_to_user_id, split_percent)
        VALUES (:a, 'other_income', :g, 0, 0, :g, :d, :o, :u, :pct) RETURNING {_INCOME_COLUMNS}
        """, {"a": agency.id, "g": D(gross), "d": day, "o": agency.owner_id, "u": agency.user(name),
              "pct": D(percent)}))


def world():
    """The worked example's people and models with their November settings."""
    agency = golden_agency(prefix=f"inc-{uuid.uuid4().hex[:6]}")
    for name, values in (("M", {"manager_tick_rate": "5.00"}), ("C1", {"commission_rate": "10.00"}),
                         ("C2", {"compensation_type": "fixed_plus_commission", "commission_rate": "5.00",
                                 "fixed_salary": "1500.00"}),
                         ("C3", {"compensation_type": "fixed", "fixed_salary": "2000.00"})):
        set_financial_settings(agency.person(name), date(2026, 10, 1), **values)
    set_model_settings(agency, agency.models["A"], date(2026, 10, 1), model_share_percent="50.00",
                       split_chatting_costs=True)
    set_model_settings(agency, agency.models["B"], date(2026, 10, 1), model_share_percent="60.00",
                       split_chatting_costs=False)
    return agency


def stored(agency_id: uuid.UUID, period: Period) -> dict:
    """Everything a period's payouts store, in comparable form (the ledger as its sums per account and party)."""
    p = {"a": agency_id, "p": str(period)}
    return {
        "lines": Counter(tuple(r) for r in sql(
            "SELECT user_id, kind, model_id, basis, rate, amount, detail FROM financial_calculations.payout_lines "
            "WHERE agency_id = :a AND period = :p", p)),
        "model_payouts": sorted(tuple(r) for r in sql(
            "SELECT model_id, effective_from, base, model_share_percent, split_chatting_costs, amount "
            "FROM financial_calculations.model_payouts WHERE agency_id = :a AND period = :p", p)),
        "summaries": dict(sql("SELECT user_id, total FROM financial_calculations.calculated_payouts_summary "
                              "WHERE agency_id = :a AND period = :p", p)),
        "figures": [tuple(r) for r in sql(
            "SELECT gross_income, platform_fees, net_income, employee_payouts, model_payouts, expenses, "
            "agency_profit FROM financial_calculations.period_results WHERE agency_id = :a AND period = :p", p)],
        "ledger": ledger(agency_id, period),
    }


def ledger(agency_id: uuid.UUID, period: Period) -> dict:
    return {(r.account, r.party_id): r.total for r in sql(
        "SELECT t.account, t.party_id, sum(t.amount) AS total FROM financial_calculations.transaction_ledger t "
        "JOIN financial_calculations.ledger_postings lp ON lp.id = t.posting_id "
        "WHERE lp.agency_id = :a AND lp.period = :p GROUP BY 1, 2 HAVING sum(t.amount) <> 0",
        {"a": agency_id, "p": str(period)})}


def from_scratch(agency_id: uuid.UUID, period: Period) -> dict:
    """The period's result computed again with nothing stored (its ledger history goes with it)."""
    sql("DELETE FROM financial_calculations.period_results WHERE agency_id = :a AND period = :p",
        {"a": agency_id, "p": str(period)})
    with unit_of_work("payouts") as uow:
        service.period_recalculate(uow=uow, agency_id=agency_id, period=period)
    return stored(agency_id, period)


DAYS = st.sampled_from([date(2026, 10, 20), date(2026, 11, 1), date(2026, 11, 3), date(2026, 11, 17),
                        date(2026, 11, 30)])
GROSS = st.decimals(min_value=D("0.01"), max_value=D("999.99"), places=2).map(str)
CHATTER = st.sampled_from(["C1", "C2", "C3"])
MODEL = st.sampled_from(["A", "B"])
OPS = st.one_of(
    st.tuples(st.just("sale"), st.sampled_from(["message_sale", "tip_sale"]), MODEL, CHATTER, DAYS, GROSS),
    st.tuples(st.just("edit"), st.integers(0, 50), st.one_of(st.none(), MODEL), st.one_of(st.none(), CHATTER),
              st.one_of(st.none(), DAYS), st.one_of(st.none(), GROSS)),
    st.tuples(st.just("delete"), st.integers(0, 50)),
    st.tuples(st.just("other"), st.sampled_from(["M", "C3"]), DAYS, GROSS, st.sampled_from(["10.00", "25.00"])),
    st.tuples(st.just("expense"), DAYS, GROSS),
    st.tuples(st.just("user"), st.sampled_from(["C1", "C2", "M"]), DAYS, st.sampled_from(["3.00", "12.50"])),
    st.tuples(st.just("model"), MODEL, DAYS, st.sampled_from(["40.00", "55.00"]), st.booleans()),
    # the second release's inputs: refunds, adjustments, bonus bands, hourly pay and worked minutes
    st.tuples(st.just("refund"), st.integers(0, 50), DAYS, st.booleans(), st.sampled_from(["refund", "chargeback"])),
    st.tuples(st.just("adjust"), st.sampled_from(["M", "C1", "C3"]), DAYS,
              st.sampled_from(["-25.00", "50.00", "0.01"])),
    st.tuples(st.just("bands"), CHATTER, DAYS, st.sampled_from([(), (("100.00", "10.00"), ("500.00", "55.00"))])),
    st.tuples(st.just("hourly"), st.sampled_from(["C2", "C3"]), DAYS, st.sampled_from(["6.00", "9.50"])),
    st.tuples(st.just("work"), st.sampled_from(["C2", "C3"]), DAYS, st.integers(0, 23), st.integers(1, 600)),
)
BANDS_OF: dict = {}  # the bands each (agency, person) was last given, kept by later settings versions


def refundable(records: list, i: int) -> dict | None:
    """A chatting sale no refund names yet (one refund each keeps the sum ≤ its gross)."""
    sales = [r for r in records if r["type"] in ("message_sale", "tip_sale")
             and not any(x.get("refund_of") == r["id"] for x in records)]
    return sales[i % len(sales)] if sales else None


def has_refunds(records: list, row: dict) -> bool:
    """A refund, or a sale that has one: neither is edited (409 has-refunds) and the sale isn't deleted."""
    return row["type"] in ("refund", "chargeback") or any(x.get("refund_of") == row["id"] for x in records)


def pay(agency, name: str, compensation_type: str | None = None, hourly_rate: str = "0.00", *, day: date) -> None:
    """A settings version of `name` from `day` keeping their first-release pay (and bands), with hourly pay."""
    base = {"M": {"manager_tick_rate": "5.00"}, "C1": {"commission_rate": "10.00"},
            "C2": {"compensation_type": "fixed_plus_commission", "commission_rate": "5.00", "fixed_salary": "1500.00"},
            "C3": {"compensation_type": "fixed", "fixed_salary": "2000.00"}}[name]
    if compensation_type is not None:
        base = {"compensation_type": compensation_type, "commission_rate": "5.00", "hourly_rate": hourly_rate}
    user_settings(agency, name, day, **base, bonus_bands=BANDS_OF.get((agency.id, name), ()))


def worked(agency, name: str, day: date, hour: int, minutes: int) -> None:
    """A shift of `name` starting at `hour` with a closed entry of `minutes`, and its checked_out time event."""
    person, start = agency.person(name), datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
    (shift,) = sql("INSERT INTO timetracking_service.shifts (agency_id, user_id, starts_at, ends_at) "
                   "VALUES (:a, :u, :s, :e) RETURNING id", {"a": agency.id, "u": person.id, "s": start,
                                                            "e": start + timedelta(hours=10)})
    (entry,) = sql("INSERT INTO timetracking_service.time_entries (agency_id, user_id, shift_id, checked_in_at, "
                   "checked_out_at, overtime_minutes, worked_minutes, source) VALUES (:a, :u, :s, :i, :o, 0, :m, "
                   "'http') RETURNING id", {"a": agency.id, "u": person.id, "s": shift.id, "i": start,
                                            "o": start + timedelta(minutes=minutes), "m": minutes})
    deliver(EmployeeTimeEvent(agency_id=agency.id, user_id=person.id, kind="checked_out", shift_id=shift.id,
                              entry_id=entry.id, minutes=minutes, local_date=day, period=str(Period.of(day))))


def apply(agency, records: list, op: tuple) -> None:
    kind = op[0]
    if kind in ("edit", "delete") and records and has_refunds(records, records[op[1] % len(records)]):
        return
    if kind == "sale":
        _, type_, model, chatter, day, gross = op
        row = seed_income(agency, day=day, gross=gross, type=type_, model=model, chatter=chatter)
        records.append(row)
        income("registered", None, row)
    elif kind == "edit" and records:
        _, i, model, chatter, day, gross = op
        if records[i % len(records)]["type"] == "other_income":
            model = chatter = None  # other income has neither
        old, new = update_income(records[i % len(records)]["id"], day=day, gross=gross,
                                 model_id=agency.models[model] if model else None,
                                 chatter_id=agency.user(chatter) if chatter else None)
        records[i % len(records)] = new
        income("updated", old, new)
    elif kind == "delete" and records:
        old = delete_income(records.pop(op[1] % len(records))["id"])
        income("deleted", old, None)
    elif kind == "other":
        _, name, day, gross, percent = op
        row = other_income(agency, name, day, gross, percent)
        records.append(row)
        income("registered", None, row)
    elif kind == "expense":
        deliver(ExpenseRecorded.model_validate(expense_event("recorded", None, seed_expense(
            agency, day=op[1], amount=op[2])).data))
    elif kind == "user":
        _, name, day, rate = op
        values = {"manager_tick_rate": rate} if name == "M" else {"commission_rate": rate}
        if name == "C2":
            values |= {"compensation_type": "fixed_plus_commission", "fixed_salary": "1500.00"}
        user_settings(agency, name, day, **values)
    elif kind == "model":
        _, model, day, share, split = op
        model_settings(agency, model, day, share, split)
    elif kind == "refund":
        _, i, day, full, type_ = op
        sale = refundable(records, i)
        if sale is not None:
            amount = sale["gross_amount"] if full else max(D("0.01"), (sale["gross_amount"] / 2).quantize(D("0.01")))
            row = refund(sale, max(day, sale["sale_date"]), str(amount), kind=type_)
            records.append(row)
            income("registered", None, row)
    elif kind == "adjust":
        _, name, day, amount = op
        with unit_of_work("payouts") as uow:
            adjustment_record(uow=uow, caller=agency.owner.caller(), body=AdjustmentRequest(
                user_id=agency.user(name), period=str(Period.of(day)), amount=amount, reason=f"op {amount}"))
    elif kind == "bands":
        _, name, day, bands = op
        BANDS_OF[(agency.id, name)] = bands
        pay(agency, name, day=day)
    elif kind == "hourly":
        _, name, day, rate = op
        pay(agency, name, "hourly_plus_commission", rate, day=day)
    elif kind == "work":
        _, name, day, hour, minutes = op
        worked(agency, name, day, hour, minutes)


def test_any_history_applied_event_by_event_ends_equal_to_a_full_recalculation(db):
    @settings(max_examples=6, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(st.lists(OPS, min_size=3, max_size=9))
    def check(ops):
        agency = world()
        records: list = []
        for op in ops:
            apply(agency, records, op)
        for period in (OCT, NOV):
            incremental = stored(agency.id, period)
            if incremental["figures"]:  # a period no event named was never calculated
                assert incremental == from_scratch(agency.id, period)

    check()


def test_a_second_release_history_applied_event_by_event_ends_equal_to_a_full_recalculation(db):
    """Every new input at least once, in an order that makes each one move a line the others made: bands
    reached then lost by a refund, hourly pay across two versions, refunds priced at an older rate."""
    nov = [date(2026, 11, d) for d in (1, 3, 17, 30)]
    ops = [("sale", "message_sale", "A", "C1", nov[1], "700.00"), ("sale", "tip_sale", "B", "C3", nov[1], "300.00"),
           ("work", "C2", nov[1], 9, 480), ("hourly", "C2", nov[0], "6.00"), ("work", "C2", nov[2], 9, 45),
           ("user", "C1", nov[2], "12.50"), ("refund", 0, nov[3], False, "chargeback"),
           ("adjust", "C3", nov[2], "-25.00"), ("hourly", "C2", nov[2], "9.50"), ("adjust", "M", nov[1], "50.00"),
           ("sale", "tip_sale", "B", "C1", nov[3], "100.00"), ("refund", 1, nov[3], True, "refund"),
           ("edit", 1, "A", "C1", nov[2], "80.00"), ("bands", "C1", nov[3], (("100.00", "10.00"),
                                                                               ("500.00", "55.00"))),
           ("sale", "message_sale", "A", "C2", nov[2], "90.00"), ("delete", 6)]
    agency = world()
    records: list = []
    for op in ops:
        apply(agency, records, op)
    kinds = {k for _, k, *_ in stored(agency.id, NOV)["lines"]}
    assert {"bonus", "hourly", "adjustment", "commission", "manager_tick"} <= kinds
    assert stored(agency.id, NOV) == from_scratch(agency.id, NOV)


def test_one_sale_rewrites_only_its_model_and_posts_only_the_moved_legs(db):
    agency = world()
    for model, chatter in (("A", "C1"), ("B", "C1"), ("B", "C3")):
        income("registered", None, seed_income(agency, day=date(2026, 11, 3), gross="1000.00", model=model,
                                               chatter=chatter))
    ids_before = dict(sql("SELECT id, model_id FROM financial_calculations.payout_lines WHERE agency_id = :a",
                          {"a": agency.id}))
    postings_before = sql("SELECT count(*) FROM financial_calculations.ledger_postings WHERE agency_id = :a",
                          {"a": agency.id})[0][0]

    income("registered", None, seed_income(agency, day=date(2026, 11, 4), gross="500.00", model="A", chatter="C1"))

    ids_after = dict(sql("SELECT id, model_id FROM financial_calculations.payout_lines WHERE agency_id = :a",
                         {"a": agency.id}))
    b_lines = {i for i, m in ids_before.items() if m == agency.models["B"]}
    assert b_lines <= set(ids_after)  # model B's lines were not touched
    assert {i for i, m in ids_before.items() if m == agency.models["A"]}.isdisjoint(ids_after)  # A's rewritten
    (posting,) = sql("SELECT id FROM financial_calculations.ledger_postings WHERE agency_id = :a "
                     "ORDER BY posted_at DESC LIMIT 1", {"a": agency.id})
    legs = {(r.account, r.party_id): r.amount for r in sql(
        "SELECT account, party_id, amount FROM financial_calculations.transaction_ledger WHERE posting_id = :p",
        {"p": posting.id})}
    # 500 gross → 400 net: C1 +40 commission, M +20 tick, A's share 50 % of (400 − 40) = 180, profit the rest.
    assert legs == {("revenue:net_income", None): D("-400.00"), ("payable:employee", agency.user("C1")): D("40.00"),
                    ("payable:employee", agency.user("M")): D("20.00"),
                    ("payable:model", agency.models["A"]): D("180.00"),
                    ("equity:agency_profit", None): D("160.00")}
    assert sql("SELECT count(*) FROM financial_calculations.ledger_postings WHERE agency_id = :a",
               {"a": agency.id})[0][0] == postings_before + 1
    event = sql("SELECT payload->'data'->'user_ids' FROM eventing.outbox WHERE type = 'financial_calculation.completed' "
                "ORDER BY id DESC LIMIT 1")[0][0]
    assert sorted(event) == sorted([str(agency.user("C1")), str(agency.user("M"))])


def test_the_ledger_keeps_the_history_and_sums_to_the_current_figures(db):
    agency = world()
    sale = seed_income(agency, day=date(2026, 11, 3), gross="1000.00", model="B", chatter="C1")
    income("registered", None, sale)
    old, new = update_income(sale["id"], gross="1500.00")
    income("updated", old, new)
    old, new = update_income(sale["id"], gross="1200.00")
    income("updated", old, new)

    revenue = [r.amount for r in sql(
        "SELECT t.amount FROM financial_calculations.transaction_ledger t "
        "JOIN financial_calculations.ledger_postings lp ON lp.id = t.posting_id "
        "WHERE lp.agency_id = :a AND t.account = 'revenue:net_income' ORDER BY lp.posted_at", {"a": agency.id})]
    # C3's fixed salary posts first (no revenue leg), then the sale 800 net, +400 when it grew, −240 when it shrank.
    assert revenue == [D("-800.00"), D("-400.00"), D("240.00")]
    now = stored(agency.id, NOV)
    (gross, fees, net, employees, models, expenses, profit), = now["figures"]
    assert now["ledger"][("revenue:net_income", None)] == -net == D("-960.00")
    assert now["ledger"][("equity:agency_profit", None)] == profit
    assert {p: a for (acc, p), a in now["ledger"].items() if acc == "payable:employee"} == now["summaries"]
    # Nothing moved, nothing posted.
    count = sql("SELECT count(*) FROM financial_calculations.ledger_postings WHERE agency_id = :a", {"a": agency.id})
    income("updated", new, new)
    assert sql("SELECT count(*) FROM financial_calculations.ledger_postings WHERE agency_id = :a",
               {"a": agency.id}) == count


def test_an_unbalanced_difference_is_still_refused(db):
    agency = world()
    income("registered", None, seed_income(agency, day=date(2026, 11, 3), gross="100.00", model="A", chatter="C1"))
    with pytest.raises(Exception, match="does not balance"):
        sql("WITH p AS (INSERT INTO financial_calculations.ledger_postings (agency_id, period, description) "
            "VALUES (:a, '2026-11', 'by hand') RETURNING id) "
            "INSERT INTO financial_calculations.transaction_ledger (posting_id, account, amount) "
            "SELECT id, 'revenue:net_income', -1 FROM p", {"a": agency.id})


def test_a_user_settings_change_reaches_their_lines_in_every_model(db):
    agency = world()
    for model in ("A", "B"):
        income("registered", None, seed_income(agency, day=date(2026, 11, 3), gross="1000.00", model=model,
                                               chatter="C1"))
    user_settings(agency, "C1", date(2026, 11, 1), commission_rate="20.00")
    commissions = sorted(r.amount for r in sql(
        "SELECT amount FROM financial_calculations.payout_lines WHERE agency_id = :a AND user_id = :u "
        "AND kind = 'commission'", {"a": agency.id, "u": agency.user("C1")}))
    assert commissions == [D("160.00"), D("160.00")]
    assert stored(agency.id, NOV) == from_scratch(agency.id, NOV)
