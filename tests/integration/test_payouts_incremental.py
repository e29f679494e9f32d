"""Incremental payouts: each event recomputes only the groups it touched, writes only what changed, and ends equal
to a full recalculation from scratch, to the cent; the ledger keeps its history as postings of differences."""
from __future__ import annotations

import uuid
from collections import Counter
from datetime import date
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.payouts import service
from shared_lib.contracts import (ExpenseRecorded, IncomeDeleted, IncomeRegistered, IncomeUpdated,
                                  ModelSettingsUpdated, UserSettingsUpdated)
from shared_lib.db import unit_of_work
from shared_lib.periods import Period
from tests.factories import (_INCOME_COLUMNS, _row, delete_income, expense_event, golden_agency, income_event,
                             seed_expense, seed_income, set_financial_settings, set_model_settings, sql,
                             update_income)

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
)


def apply(agency, records: list, op: tuple) -> None:
    kind = op[0]
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
