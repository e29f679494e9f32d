"""The payouts service against real tables: the worked example stored, the ledger balanced, recalculation stable."""
from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal as D

import pytest
from sqlalchemy import text

from functions.payouts import service
from shared_lib.contracts import IncomeSnapshot, IncomeUpdated, UserSettingsUpdated
from shared_lib.db import engine, unit_of_work
from shared_lib.money import percent_of
from shared_lib.periods import Period

NOV = Period(2026, 11)


def _sql(statement, params=None):
    with engine().begin() as c:
        r = c.execute(text(statement), params or {})
        return r.all() if r.returns_rows else None


def seed_golden() -> dict[str, uuid.UUID]:
    """The worked example of BUSINESS_RULES.md written straight into the owning services' tables."""
    ids = {k: uuid.uuid4() for k in ("agency", "owner", "M", "C1", "C2", "C3", "A", "B")}
    a = ids["agency"]
    _sql("INSERT INTO user_service.agencies (id, name) VALUES (:a, 'Golden')", {"a": a})
    for name, role, manager in (("owner", "owner", None), ("M", "manager", None), ("C1", "chatter", "M"),
                                ("C2", "chatter", "M"), ("C3", "chatter", None)):
        _sql("INSERT INTO user_service.users (id, agency_id, firebase_uid, display_name, role, manager_id) "
             "VALUES (:id, :a, :uid, :n, :r, :m)",
             {"id": ids[name], "a": a, "uid": f"g-{name}-{a}", "n": name, "r": role,
              "m": ids[manager] if manager else None})
    for name in ("A", "B"):
        _sql("INSERT INTO user_service.models (id, agency_id, name) VALUES (:id, :a, :n)",
             {"id": ids[name], "a": a, "n": name})
    for user, ctype, rate, fixed, tick in (("M", "commission", 0, 0, 5), ("C1", "commission", 10, 0, 0),
                                           ("C2", "fixed_plus_commission", 5, 1500, 0), ("C3", "fixed", 0, 2000, 0)):
        _sql("INSERT INTO user_service.user_financial_settings (agency_id, user_id, compensation_type, "
             "commission_rate, fixed_salary, manager_tick_rate, effective_from) VALUES (:a, :u, :t, :r, :f, :k, :d)",
             {"a": a, "u": ids[user], "t": ctype, "r": rate, "f": fixed, "k": tick, "d": date(2026, 11, 1)})
    for model, share, split in (("A", 50, True), ("B", 60, False)):
        _sql("INSERT INTO user_service.model_settings (agency_id, model_id, model_share_percent, "
             "split_chatting_costs, effective_from) VALUES (:a, :m, :s, :x, :d)",
             {"a": a, "m": ids[model], "s": share, "x": split, "d": date(2026, 11, 1)})
    for type_, gross, model, chatter in (("message_sale", "5000.00", "A", "C1"), ("tip_sale", "2500.00", "A", "C1"),
                                         ("message_sale", "10000.00", "B", "C1"), ("tip_sale", "1255.50", "A", "C2"),
                                         ("message_sale", "3000.00", "B", "C3")):
        fee = percent_of(D(gross), D("20.00"))
        manager = ids["M"] if chatter in ("C1", "C2") else None
        _sql("INSERT INTO income_service.income_records (agency_id, type, gross_amount, fee_percent, fee_amount, "
             "net_amount, sale_date, model_id, chatter_id, manager_id, registered_by_user_id) "
             "VALUES (:a, :t, :g, 20, :f, :n, :d, :m, :c, :mg, :o)",
             {"a": a, "t": type_, "g": D(gross), "f": fee, "n": D(gross) - fee, "d": date(2026, 11, 3),
              "m": ids[model], "c": ids[chatter], "mg": manager, "o": ids["owner"]})
    _sql("INSERT INTO income_service.income_records (agency_id, type, gross_amount, fee_percent, fee_amount, "
         "net_amount, sale_date, registered_by_user_id, assigned_to_user_id, split_percent) "
         "VALUES (:a, 'other_income', 400, 0, 0, 400, :d, :o, :m, 25)",
         {"a": a, "d": date(2026, 11, 15), "o": ids["owner"], "m": ids["M"]})
    for amount, day, source in (("1200.00", 1, "software"), ("300.00", 9, "ads")):
        _sql("INSERT INTO expense_service.expenses (agency_id, amount, expense_date, source, created_by) "
             "VALUES (:a, :x, :d, :s, :o)", {"a": a, "x": D(amount), "d": date(2026, 11, day), "s": source,
                                              "o": ids["owner"]})
    return ids


def test_golden_period_is_stored_with_a_balanced_ledger(db):
    ids = seed_golden()
    with unit_of_work() as uow:
        result = service.period_recalculate(uow=uow, agency_id=ids["agency"], period=NOV)
    assert result.agency_profit == D("1086.87")
    (row,) = _sql("SELECT net_income, employee_payouts, model_payouts, expenses, agency_profit "
                  "FROM financial_calculations.period_results WHERE agency_id = :a", {"a": ids["agency"]})
    assert tuple(row) == (D("17804.40"), D("5800.44"), D("9417.09"), D("1500.00"), D("1086.87"))
    totals = dict(_sql("SELECT user_id, total FROM financial_calculations.calculated_payouts_summary "
                       "WHERE agency_id = :a", {"a": ids["agency"]}))
    assert totals == {ids["C1"]: D("1400.00"), ids["C2"]: D("1550.22"), ids["C3"]: D("2000.00"),
                      ids["M"]: D("850.22")}
    legs = _sql("SELECT l.account, sum(l.amount) FROM financial_calculations.transaction_ledger l "
                "JOIN financial_calculations.ledger_postings p ON p.id = l.posting_id WHERE p.agency_id = :a "
                "GROUP BY l.account ORDER BY 1", {"a": ids["agency"]})
    assert dict(legs) == {"equity:agency_profit": D("1086.87"), "expense:operating": D("1500.00"),
                          "payable:employee": D("5800.44"), "payable:model": D("9417.09"),
                          "revenue:net_income": D("-17804.40")}
    events = _sql("SELECT payload->'data' FROM eventing.outbox WHERE type = 'financial_calculation.completed'")
    assert events[0][0]["period"] == "2026-11" and len(events[0][0]["user_ids"]) == 4


def test_recalculating_twice_changes_nothing_and_reports_no_changed_users(db):
    ids = seed_golden()
    with unit_of_work() as uow:
        service.period_recalculate(uow=uow, agency_id=ids["agency"], period=NOV)
    first = _sql("SELECT user_id, kind, model_id, basis, rate, amount FROM financial_calculations.payout_lines "
                 "ORDER BY 1, 2, 3, 4")
    with unit_of_work() as uow:
        service.period_recalculate(uow=uow, agency_id=ids["agency"], period=NOV)
    assert _sql("SELECT user_id, kind, model_id, basis, rate, amount FROM financial_calculations.payout_lines "
                "ORDER BY 1, 2, 3, 4") == first
    assert _sql("SELECT count(*) FROM financial_calculations.ledger_postings")[0][0] == 1
    last = _sql("SELECT payload->'data'->'user_ids' FROM eventing.outbox "
                "WHERE type = 'financial_calculation.completed' ORDER BY id DESC LIMIT 1")[0][0]
    assert last == []


def test_an_unbalanced_posting_is_refused_by_the_database(db):
    ids = seed_golden()
    with unit_of_work() as uow:
        service.period_recalculate(uow=uow, agency_id=ids["agency"], period=NOV)
    with pytest.raises(Exception, match="does not balance"):
        with engine().begin() as c:
            posting = c.execute(text("SELECT id FROM financial_calculations.ledger_postings")).scalar()
            c.execute(text("INSERT INTO financial_calculations.transaction_ledger (posting_id, account, amount) "
                           "VALUES (:p, 'expense:operating', 0.01)"), {"p": posting})


def _stored(agency_id: uuid.UUID) -> dict:
    """NOV's stored result in comparable form: figures, summaries, lines, model payouts."""
    p = {"a": agency_id, "p": str(NOV)}
    return {
        "figures": [tuple(r) for r in _sql(
            "SELECT gross_income, platform_fees, net_income, employee_payouts, model_payouts, expenses, "
            "agency_profit FROM financial_calculations.period_results WHERE agency_id = :a AND period = :p", p)],
        "summaries": dict(_sql("SELECT user_id, total FROM financial_calculations.calculated_payouts_summary "
                               "WHERE agency_id = :a AND period = :p", p)),
        "lines": sorted((tuple(r) for r in _sql(
            "SELECT user_id, kind, model_id, basis, rate, amount FROM financial_calculations.payout_lines "
            "WHERE agency_id = :a AND period = :p", p)), key=repr),
        "model_payouts": sorted((tuple(r) for r in _sql(
            "SELECT model_id, effective_from, base, model_share_percent, split_chatting_costs, amount "
            "FROM financial_calculations.model_payouts WHERE agency_id = :a AND period = :p", p)), key=repr),
    }


def test_concurrent_recalculations_serialize_and_the_last_sees_everything(db):
    """Two recalculations and a late expense at once: no deadlock, no duplicate key; the result is the truth's.

    The ledger keeps its history (docs/payouts.md): a recalculation that finds the stored result moved posts the
    difference. So how many postings there are depends on when the expense committed: one (every recalculation saw
    it) or two (the first posting is the golden period without it, the next one the expense alone). What does not
    depend on the interleaving is asserted: every posting balances, none is posted twice (the recalculations
    serialize on the period's lock), the postings sum to the final stored result per account and party, and that
    result equals a recalculation from scratch."""
    import threading

    ids = seed_golden()
    barrier = threading.Barrier(3)
    errors = []

    def recalc():
        try:
            barrier.wait()
            with unit_of_work() as uow:
                service.period_recalculate(uow=uow, agency_id=ids["agency"], period=NOV)
        except Exception as exc:  # a deadlock or a duplicate key would land here
            errors.append(exc)

    def add_expense():
        barrier.wait()
        _sql("INSERT INTO expense_service.expenses (agency_id, amount, expense_date, source, created_by) "
             "VALUES (:a, 86.87, :d, 'late bill', :o)", {"a": ids["agency"], "d": date(2026, 11, 20),
                                                         "o": ids["owner"]})

    threads = [threading.Thread(target=recalc), threading.Thread(target=recalc), threading.Thread(target=add_expense)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with unit_of_work() as uow:  # what an event for the new expense triggers afterwards
        service.period_recalculate(uow=uow, agency_id=ids["agency"], period=NOV)
    (row,) = _sql("SELECT net_income, employee_payouts, model_payouts, expenses, agency_profit "
                  "FROM financial_calculations.period_results")
    assert tuple(row) == (D("17804.40"), D("5800.44"), D("9417.09"), D("1586.87"), D("1000.00"))

    # The postings, in the order posted (the recalculations serialize, so the legs' identities are in that order).
    postings = [(legs, balance) for _, legs, balance in _sql(
        "SELECT posting_id, array_agg(ARRAY[account, amount::text] ORDER BY account, party_id), sum(amount) "
        "FROM financial_calculations.transaction_ledger GROUP BY posting_id ORDER BY min(id)")]
    assert [balance for _, balance in postings] == [D("0.00")] * len(postings)  # each one balanced
    unpartied = [{account: D(amount) for account, amount in legs if not account.startswith("payable:")}
                 for legs, _ in postings]
    with_bill = {"equity:agency_profit": D("1000.00"), "expense:operating": D("1586.87"),
                 "revenue:net_income": D("-17804.40")}
    golden = {"equity:agency_profit": D("1086.87"), "expense:operating": D("1500.00"),
              "revenue:net_income": D("-17804.40")}
    bill_alone = {"equity:agency_profit": D("-86.87"), "expense:operating": D("86.87")}
    assert unpartied in ([with_bill], [golden, bill_alone]), unpartied
    if len(postings) == 2:  # the expense moves no payout: the second posting has no payable leg at all
        assert sorted(postings[1][0]) == [["equity:agency_profit", "-86.87"], ["expense:operating", "86.87"]]
    assert _sql("SELECT count(*) FROM financial_calculations.ledger_postings")[0][0] == len(postings)

    # Summed, the postings are the stored result, per account and party.
    ledger = {(r.account, r.party_id): r.total for r in _sql(
        "SELECT account, party_id, sum(amount) AS total FROM financial_calculations.transaction_ledger "
        "GROUP BY 1, 2 HAVING sum(amount) <> 0")}
    now = _stored(ids["agency"])
    models = {}
    for model_id, *_, amount in now["model_payouts"]:
        models[model_id] = models.get(model_id, D("0")) + amount
    assert {p: a for (acc, p), a in ledger.items() if acc == "payable:employee"} == now["summaries"] == {
        ids["C1"]: D("1400.00"), ids["C2"]: D("1550.22"), ids["C3"]: D("2000.00"), ids["M"]: D("850.22")}
    assert {p: a for (acc, p), a in ledger.items() if acc == "payable:model"} == models
    assert {acc: a for (acc, p), a in ledger.items() if not acc.startswith("payable:")} == with_bill

    with unit_of_work() as uow:  # once it has seen everything, a recalculation finds nothing to post
        service.period_recalculate(uow=uow, agency_id=ids["agency"], period=NOV)
    assert _sql("SELECT count(*) FROM financial_calculations.ledger_postings")[0][0] == len(postings)
    assert _stored(ids["agency"]) == now
    # and the stored result is what a calculation from scratch gives (nothing stored: its ledger history goes too)
    _sql("DELETE FROM financial_calculations.period_results WHERE agency_id = :a", {"a": ids["agency"]})
    with unit_of_work() as uow:
        service.period_recalculate(uow=uow, agency_id=ids["agency"], period=NOV)
    assert _stored(ids["agency"]) == now


def test_closed_period_is_never_recalculated(db):
    ids = seed_golden()
    _sql("INSERT INTO financial_calculations.periods (agency_id, period, status, closed_at) "
         "VALUES (:a, '2026-11', 'closed', now())", {"a": ids["agency"]})
    with unit_of_work() as uow:
        assert service.period_recalculate(uow=uow, agency_id=ids["agency"], period=NOV) is None
    assert _sql("SELECT count(*) FROM financial_calculations.period_results")[0][0] == 0


def test_settings_event_touches_every_period_from_its_effective_date():
    settings_changed = UserSettingsUpdated(version_id=uuid.uuid4(), effective_from=date(2026, 9, 15), effective_to=None,
                                           replaced=False, agency_id=uuid.uuid4(), user_id=uuid.uuid4())
    periods = service.periods_for_event(settings_changed, "UTC")
    assert [str(p) for p in periods][:3] == ["2026-09", "2026-10", "2026-11"]
    snap = dict(type="message_sale", model_id=None, chatter_id=None, manager_id=None, assigned_to_user_id=None,
                gross_amount=D("1.00"), fee_amount=D("0.00"), net_amount=D("1.00"))
    sale_moved = IncomeUpdated(income_id=uuid.uuid4(), agency_id=uuid.uuid4(), schedule_id=None, reason="edited",
                               sale_date=date(2026, 11, 1), old_sale_date=date(2026, 10, 31), model_id=None,
                               chatter_id=None, old=IncomeSnapshot(sale_date=date(2026, 10, 31), **snap),
                               new=IncomeSnapshot(sale_date=date(2026, 11, 1), **snap))
    moved = service.periods_for_event(sale_moved, "UTC")
    assert [str(p) for p in moved] == ["2026-10", "2026-11"]
