"""Daily aggregates follow the truth through events (any order, duplicates, edits, deletes); answers scoped by role."""
from __future__ import annotations

import uuid
from datetime import date

import pytest

from functions.stats import service
from functions.stats.schemas import AfvTrendQuery, RangeQuery, TopEarnersQuery, TrendQuery
from shared_lib.errors import NotFound
from tests.factories import (
    add_snapshot,
    aggregates,
    delete_expense,
    delete_income,
    deliver,
    deliver_raw,
    event,
    expense_event,
    golden_agency,
    income_event,
    make_agency,
    make_model,
    make_user,
    rebuild,
    scalar,
    seed_expense,
    seed_income,
    update_expense,
    update_income,
    use_case,
)

NOV = RangeQuery(date_from="2026-11-01", date_to="2026-11-30")
GOLDEN_SALES = [("C1", "A", "message_sale", "5000.00", 3), ("C1", "A", "tip_sale", "2500.00", 4),
                ("C1", "B", "message_sale", "10000.00", 5), ("C2", "A", "tip_sale", "1255.50", 6),
                ("C3", "B", "message_sale", "3000.00", 9)]


def worked_example(prefix: str = "g"):
    """BUSINESS_RULES.md's worked example in the truth tables, with the events it published (not delivered yet)."""
    g = golden_agency(prefix)
    events = [income_event("registered", None, seed_income(g, day=date(2026, 11, d), gross=gross, type=t,
                                                            model=model, chatter=chatter))
              for chatter, model, t, gross, d in GOLDEN_SALES]
    events.append(income_event("registered", None,
                               seed_income(g, day=date(2026, 11, 15), gross="400.00", type="other_income")))
    events += [expense_event("recorded", None, seed_expense(g, day=date(2026, 11, 1), amount="1200.00")),
               expense_event("recorded", None, seed_expense(g, day=date(2026, 11, 10), amount="300.00", source="ads"))]
    add_snapshot(g, "A", 1000, date(2026, 11, 1))
    add_snapshot(g, "B", 2000, date(2026, 11, 1))
    return g, events


def names(g, items, key="user_id"):
    by_id = {v: k for k, v in {**g.users, **g.models}.items()}
    return [by_id[getattr(i, key)] for i in items]


def test_worked_example_statistics_to_the_cent(db):
    g, events = worked_example()
    for ev in events:
        deliver(ev)
    s = use_case(service.stats_summary, g, q=NOV)
    assert [str(s.gross_income), str(s.platform_fees), str(s.net_income), str(s.expenses), s.sales_count] == \
        ["22155.50", "4351.10", "17804.40", "1500.00", 5]
    top = use_case(service.stats_top_earners, g, q=TopEarnersQuery(**NOV.model_dump()))
    assert [(n, str(i.net_sales), i.sales_count) for n, i in zip(names(g, top.items), top.items)] == \
        [("C1", "14000.00", 3), ("C3", "2400.00", 1), ("C2", "1004.40", 1)]
    afv = use_case(service.stats_afv, g, q=NOV)
    assert [(m.name, str(m.net), m.subscriber_count, str(m.afv)) for m in afv.models] == \
        [("A", "7004.40", 1000, "7.00"), ("B", "10400.00", 2000, "5.20")]
    assert [(n, str(c.net), c.subscriber_count, str(c.afv)) for n, c in zip(names(g, afv.chatters), afv.chatters)] == \
        [("C1", "14000.00", 3000, "4.67"), ("C2", "1004.40", 1000, "1.00"), ("C3", "2400.00", 2000, "1.20")]


def test_events_in_any_order_and_twice_leave_the_same_rows_as_a_rebuild(db):
    g, events = worked_example()
    for ev in reversed(events):
        deliver(ev)
    for ev in events:
        deliver(ev)  # the same event again: the inbox lets each function handle it once
    incrementally = aggregates(g.id)
    assert scalar("SELECT count(*) FROM eventing.inbox WHERE consumer LIKE 'stats_on_%'") == len(events)
    result = rebuild(g)
    assert (result.model_rows, result.chatter_rows, result.expense_rows) == (6, 5, 2)
    assert aggregates(g.id) == incrementally


def test_redelivery_of_a_handled_event_with_new_truth_changes_nothing_until_its_own_event(db):
    """The inbox makes a redelivered event a no-op; the change is picked up by the event that announces it."""
    g, events = worked_example()
    for ev in events:
        deliver(ev)
    sale = seed_income(g, day=date(2026, 11, 3), gross="100.00", model="A", chatter="C1")
    deliver(events[0])  # a duplicate of an old event for the same day: skipped by the inbox
    assert str(use_case(service.stats_summary, g, q=NOV).net_income) == "17804.40"
    deliver(income_event("registered", None, sale))
    assert str(use_case(service.stats_summary, g, q=NOV).net_income) == "17884.40"


def test_an_update_moving_a_sale_to_another_month_recomputes_both_days(db):
    g, events = worked_example()
    for ev in events:
        deliver(ev)
    sale_id = uuid.UUID(events[2].data["income_id"])  # C1 / B 10000.00 on 2026-11-05
    old, new = update_income(sale_id, day=date(2026, 10, 31), gross="5000.00")
    deliver(income_event("updated", old, new))
    assert str(use_case(service.stats_summary, g, q=NOV).net_income) == "9804.40"
    oct_ = use_case(service.stats_summary, g, q=RangeQuery(date_from="2026-10-01", date_to="2026-10-31"))
    assert (str(oct_.gross_income), str(oct_.net_income), oct_.sales_count) == ("5000.00", "4000.00", 1)
    incrementally = aggregates(g.id)
    rebuild(g)
    assert aggregates(g.id) == incrementally


def test_a_deleted_sale_leaves_no_slice_behind(db):
    g = make_agency(prefix="d")
    make_user(g, "chatter", name="C")
    make_model(g, "A", "C")
    sale = seed_income(g, day=date(2026, 11, 2), gross="50.00", model="A", chatter="C")
    registered = income_event("registered", None, sale)
    deleted = income_event("deleted", delete_income(sale["id"]), None)
    deliver(deleted)     # the deletion arrives first…
    deliver(registered)  # …then the registration: both recompute from the truth, where the sale is gone
    assert aggregates(g.id) == {"daily_model_stats": [], "daily_chatter_stats": [], "daily_expense_stats": []}


def test_expense_updates_and_deletes_follow_the_truth(db):
    g = make_agency(prefix="e")
    a = seed_expense(g, day=date(2026, 11, 2), amount="100.00")
    b = seed_expense(g, day=date(2026, 11, 2), amount="50.00")
    deliver(expense_event("recorded", None, a))
    deliver(expense_event("recorded", None, b))
    old, new = update_expense(a["id"], day=date(2026, 11, 3), amount="70.00")
    deliver(expense_event("updated", old, new))
    deliver(expense_event("deleted", delete_expense(b["id"]), None))
    assert aggregates(g.id)["daily_expense_stats"] == [(str(g.id), "2026-11-03", "70.00", "1")]
    assert str(use_case(service.stats_summary, g, q=NOV).expenses) == "70.00"


def test_an_event_naming_no_date_is_dead_lettered_and_changes_nothing(db):
    g = make_agency(prefix="n")
    seed_expense(g, day=date(2026, 11, 2), amount="100.00")
    deliver(event("expense.recorded", g.id, {"expense_id": str(uuid.uuid4()), "old": None, "new": None}))
    deliver_raw("stats_on_income_registered", b"{not json")
    assert aggregates(g.id)["daily_expense_stats"] == []
    assert scalar("SELECT count(*) FROM eventing.inbox") == 0


def test_another_agencys_figures_never_mix_in(db):
    g, events = worked_example("g")
    other, other_events = worked_example("o")
    for ev in events + other_events:
        deliver(ev)
    assert str(use_case(service.stats_summary, g, q=NOV).net_income) == "17804.40"
    assert str(use_case(service.stats_summary, other, q=NOV).net_income) == "17804.40"
    top = use_case(service.stats_top_earners, g, q=TopEarnersQuery(**NOV.model_dump()))
    assert set(i.user_id for i in top.items) <= set(g.users.values())
    with pytest.raises(NotFound):
        use_case(service.stats_afv_trend, g, q=AfvTrendQuery(**NOV.model_dump(), model_id=other.models["A"]))


# --- role scoping --------------------------------------------------------------------------------------------------


def test_a_manager_sees_their_team_and_a_chatter_only_themselves(db):
    g, events = worked_example()
    for ev in events:
        deliver(ev)
    m = use_case(service.stats_summary, g, "M", q=NOV)
    # C1 and C2 only: no C3, no other income, no expenses.
    assert (str(m.gross_income), str(m.platform_fees), str(m.net_income), m.expenses, m.sales_count) == \
        ("18755.50", "3751.10", "15004.40", None, 4)
    top = use_case(service.stats_top_earners, g, "M", q=TopEarnersQuery(**NOV.model_dump()))
    assert names(g, top.items) == ["C1", "C2"]
    c2 = use_case(service.stats_afv, g, "C2", q=NOV)
    assert [(x.name, str(x.net), str(x.afv)) for x in c2.models] == [("A", "1004.40", "1.00")]
    assert names(g, c2.chatters) == ["C2"]
    c3_trend = use_case(service.stats_income_trend, g, "C3", q=TrendQuery(**NOV.model_dump(), granularity="monthly"))
    assert [(str(b.value), b.change_pct) for b in c3_trend.buckets] == [("2400.00", None)]
    m_afv_trend = use_case(service.stats_afv_trend, g, "M",
                           q=AfvTrendQuery(**NOV.model_dump(), granularity="monthly"))
    assert [str(b.value) for b in m_afv_trend.buckets] == ["5.00"]  # 15004.40 / (1000 + 2000)


def test_top_earners_ties_are_ordered_by_name_and_limited(db):
    g = make_agency(prefix="t")
    for name in ("zoe", "Adam", "mia", "Ben"):
        make_user(g, "chatter", name=name)
    make_model(g, "A", "zoe", "Adam", "mia", "Ben")
    for name, gross in (("zoe", "100.00"), ("Adam", "100.00"), ("mia", "300.00"), ("Ben", "100.00")):
        seed_income(g, day=date(2026, 11, 2), gross=gross, model="A", chatter=name)
    rebuild(g)
    top = use_case(service.stats_top_earners, g, q=TopEarnersQuery(**NOV.model_dump(), limit=3))
    assert names(g, top.items) == ["mia", "Adam", "Ben"]
    assert [str(i.net_sales) for i in top.items] == ["240.00", "80.00", "80.00"]


# --- AFV -------------------------------------------------------------------------------------------------------------


def test_afv_uses_the_latest_snapshot_on_or_before_the_range_end(db):
    g, events = worked_example()
    for ev in events:
        deliver(ev)
    add_snapshot(g, "A", 800, date(2026, 11, 20))
    add_snapshot(g, "A", 5, date(2026, 12, 1))   # after the range: ignored
    afv = use_case(service.stats_afv, g, q=NOV)
    assert [(m.name, m.subscriber_count, str(m.afv)) for m in afv.models] == [("A", 800, "8.76"), ("B", 2000, "5.20")]
    early = use_case(service.stats_afv, g, q=RangeQuery(date_from="2026-11-01", date_to="2026-11-19"))
    assert early.models[0].subscriber_count == 1000


def test_afv_is_null_without_a_snapshot_and_a_model_without_one_adds_zero(db):
    g = make_agency(prefix="s")
    make_user(g, "chatter", name="C")
    make_model(g, "A", "C")
    make_model(g, "B", "C")
    make_model(g, "Quiet")
    seed_income(g, day=date(2026, 11, 2), gross="100.00", model="A", chatter="C")
    seed_income(g, day=date(2026, 11, 2), gross="50.00", model="B", chatter="C")
    add_snapshot(g, "B", 40, date(2026, 11, 1))
    add_snapshot(g, "Quiet", 10, date(2026, 11, 1))
    rebuild(g)
    afv = use_case(service.stats_afv, g, q=NOV)
    # The Owner sees every active model, a silent one with 0.00.
    assert [(m.name, str(m.net), m.subscriber_count, None if m.afv is None else str(m.afv)) for m in afv.models] == \
        [("A", "80.00", None, None), ("B", "40.00", 40, "1.00"), ("Quiet", "0.00", 10, "0.00")]
    assert [(str(c.net), c.subscriber_count, str(c.afv)) for c in afv.chatters] == [("120.00", 40, "3.00")]
    add_snapshot(g, "B", 0, date(2026, 11, 3))
    afv = use_case(service.stats_afv, g, q=NOV)
    assert [(c.subscriber_count, c.afv) for c in afv.chatters] == [(0, None)]
    assert afv.models[1].afv is None


# --- trends --------------------------------------------------------------------------------------------------------


def _trend_agency():
    g = make_agency(prefix="w")
    make_user(g, "chatter", name="C")
    make_model(g, "A", "C")
    for day, gross in ((date(2026, 11, 8), "100.00"),    # Sunday: the week of Monday 11-02
                       (date(2026, 11, 9), "200.00"),    # Monday: the next week
                       (date(2026, 11, 30), "50.00"),    # last day of November
                       (date(2026, 12, 1), "25.00")):    # first day of December
        seed_income(g, day=day, gross=gross, model="A", chatter="C")
    rebuild(g)
    return g


def test_weekly_trend_splits_on_iso_mondays_and_a_zero_week_gives_null_change(db):
    g = _trend_agency()
    t = use_case(service.stats_income_trend, g,
                 q=TrendQuery(date_from="2026-11-02", date_to="2026-12-06", granularity="weekly"))
    assert [(str(b.start), str(b.end), str(b.value), b.change_pct) for b in t.buckets] == [
        ("2026-11-02", "2026-11-08", "80.00", None),
        ("2026-11-09", "2026-11-15", "160.00", 100),
        ("2026-11-16", "2026-11-22", "0.00", -100),
        ("2026-11-23", "2026-11-29", "0.00", None),     # previous is 0 → null
        ("2026-11-30", "2026-12-06", "60.00", None),    # the week spans the month boundary; previous 0 → null
    ]


def test_monthly_trend_splits_on_month_boundaries(db):
    g = _trend_agency()
    t = use_case(service.stats_income_trend, g,
                 q=TrendQuery(date_from="2026-10-15", date_to="2026-12-31", granularity="monthly"))
    assert [(str(b.start), str(b.end), str(b.value), b.change_pct) for b in t.buckets] == [
        ("2026-10-15", "2026-10-31", "0.00", None),
        ("2026-11-01", "2026-11-30", "280.00", None),
        ("2026-12-01", "2026-12-31", "20.00", -93),
    ]


def test_afv_trend_divides_by_subscribers_at_each_bucket_end(db):
    g = _trend_agency()
    add_snapshot(g, "A", 100, date(2026, 11, 1))
    add_snapshot(g, "A", 40, date(2026, 11, 30))
    t = use_case(service.stats_afv_trend, g,
                 q=AfvTrendQuery(date_from="2026-11-01", date_to="2026-12-31", granularity="monthly",
                                 model_id=g.models["A"]))
    # November: 280.00 / 40 (the snapshot of 11-30); December: 20.00 / 40.
    assert [(str(b.value), b.change_pct) for b in t.buckets] == [("7.00", None), ("0.50", -93)]
    daily = use_case(service.stats_afv_trend, g,
                     q=AfvTrendQuery(date_from="2026-11-07", date_to="2026-11-09", granularity="daily"))
    # No sale on 11-07: no model sold for, no subscribers → null; then 80.00 / 100 and 160.00 / 100.
    assert [(None if b.value is None else str(b.value), b.change_pct) for b in daily.buckets] == \
        [(None, None), ("0.80", None), ("1.60", 100)]
