"""Property: with events late, shuffled, duplicated and coalesced (one handler taking others' pending slices),
every answer equals a direct aggregation over the truth."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.stats import queries, rules, service
from functions.stats.schemas import AfvTrendQuery, RangeQuery, TopEarnersQuery, TrendQuery
from shared_lib.contracts import CONTRACTS
from shared_lib.db import unit_of_work
from shared_lib.income_types import CHATTING
from tests.factories import (
    aggregates,
    delete_expense,
    delete_income,
    deliver,
    expense_event,
    income_event,
    make_agency,
    make_model,
    make_user,
    rebuild,
    seed_expense,
    seed_income,
    sql,
    update_expense,
    update_income,
    use_case,
)

FIRST = date(2026, 10, 26)   # a Monday; the window crosses a month end and three ISO weeks
DAYS = 17
CHATTERS = ("C1", "C2", "C3", "C4")   # M's team: C1, C2; C3, C4 no manager
MODELS = ("A", "B", "C")
RANGES = [(FIRST, FIRST + timedelta(days=DAYS - 1)), (date(2026, 11, 1), date(2026, 11, 30)),
          (date(2026, 10, 28), date(2026, 11, 4))]

# Each property test's hypothesis settings (the fixture's world is reset by every example).
EXAMPLES = settings(max_examples=30, deadline=None, derandomize=False,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
amounts = st.integers(1, 40).map(lambda n: Decimal(n * 250) / 100)   # 2.50 … 100.00: ties happen
days = st.integers(0, DAYS - 1).map(lambda n: FIRST + timedelta(days=n))

ops = st.one_of(
    st.tuples(st.just("sale"), st.sampled_from(["message_sale", "tip_sale"]), amounts, days,
              st.sampled_from(MODELS), st.sampled_from(CHATTERS)),
    st.tuples(st.just("other"), amounts, days, st.sampled_from(MODELS + (None,))),
    # Imported (issue #16): a platform sale or a message/tip, attributed by shift or to nobody (None).
    st.tuples(st.just("import"), st.sampled_from(["message_sale", "tip_sale", "subscription_sale", "post_sale"]),
              amounts, days, st.sampled_from(MODELS), st.sampled_from(CHATTERS + (None,))),
    # A chargeback of a sale (in full, on its own day; the sale's model and chatter).
    st.tuples(st.just("chargeback"), st.integers(0, 50), days),
    st.tuples(st.just("edit"), st.integers(0, 50), days, amounts, st.sampled_from(CHATTERS)),
    st.tuples(st.just("remove"), st.integers(0, 50)),
    st.tuples(st.just("expense"), amounts, days),
    st.tuples(st.just("edit_expense"), st.integers(0, 50), days, amounts),
    st.tuples(st.just("remove_expense"), st.integers(0, 50)),
    st.tuples(st.just("count"), st.sampled_from(MODELS), st.integers(0, 500), days),
)


@dataclass
class World:
    g: object
    other: object


@pytest.fixture
def world(db):
    g = make_agency(prefix="p")
    make_user(g, "manager", name="M")
    for name in CHATTERS:
        make_user(g, "chatter", name=name, manager="M" if name in ("C1", "C2") else None)
    for name in MODELS:
        make_model(g, name, *CHATTERS)
    other = make_agency(prefix="q")
    make_user(other, "chatter", name="X")
    make_model(other, "Z", "X")
    return World(g, other)


def _reset(world: World) -> None:
    sql("""TRUNCATE income_service.income_records, expense_service.expenses, statistics_service.daily_model_stats,
           statistics_service.daily_chatter_stats, statistics_service.daily_expense_stats,
           statistics_service.daily_fan_stats, income_service.platform_transactions,
           statistics_service.subscriber_count_snapshots, statistics_service.pending_slices,
           statistics_service.dashboard_digests, eventing.inbox, eventing.outbox CASCADE""")
    # Another agency's sale on every day of the window: it must never show up.
    for d in range(DAYS):
        deliver(income_event("registered", None, seed_income(world.other, day=FIRST + timedelta(days=d),
                                                             gross="999.00", model="Z", chatter="X")))


def mark_only(ev) -> None:
    """What a handler's first transaction does (mark the event's slices pending), without its catch-up."""
    change = CONTRACTS[ev.type].model_validate(ev.data)
    income = ev.type.startswith("income.")
    slices = rules.income_slices(change) if income else rules.expense_slices(change)
    with unit_of_work() as uow:
        queries.mark_pending(uow, change.agency_id, "income" if income else "expense", slices)


def catch_up(g) -> None:
    with unit_of_work() as uow:
        service.stats_catch_up(uow=uow, agency_id=g.id)


def _imported(g, type: str, gross: Decimal, day: date, model: str, chatter: str | None) -> dict:
    """An imported record as the income service stores it (origin 'import'; without a chatter: unattributed)."""
    row = seed_income(g, day=day, gross=gross, type=type, model=model, chatter=chatter or CHATTERS[0])
    sql("UPDATE income_service.income_records SET origin = 'import', registered_by_user_id = NULL, "
        "chatter_id = CASE WHEN :unattributed THEN NULL ELSE chatter_id END, "
        "manager_id = CASE WHEN :unattributed THEN NULL ELSE manager_id END WHERE id = :i",
        {"i": row["id"], "unattributed": chatter is None})
    return _reread(row)


def _reread(row: dict) -> dict:
    (again,) = sql(f"SELECT {', '.join(row)} FROM income_service.income_records WHERE id = :i", {"i": row["id"]})
    return dict(again._mapping)


def _charge_back(sale_id: uuid.UUID, day: date) -> dict | None:
    """A chargeback in full of a sale without one (None for other income, a refund or a sale charged back)."""
    (row,) = sql(
        """
        INSERT INTO income_service.income_records
            (agency_id, type, gross_amount, fee_percent, fee_amount, net_amount, sale_date, model_id, chatter_id,
             manager_id, registered_by_user_id, refund_of, origin)
        SELECT s.agency_id, 'chargeback', -s.gross_amount, s.fee_percent, -s.fee_amount, -s.net_amount, :day,
               s.model_id, s.chatter_id, s.manager_id, NULL, s.id, 'import'
        FROM income_service.income_records s
        WHERE s.id = :i AND s.type NOT IN ('other_income', 'refund', 'chargeback')
          AND NOT EXISTS (SELECT 1 FROM income_service.income_records x WHERE x.refund_of = s.id)
        RETURNING id
        """, {"i": sale_id, "day": day}) or (None,)
    if row is None:
        return None
    return _reread({"id": row.id, **{k: None for k in seed_columns()}})


def seed_columns() -> list[str]:
    from tests.factories import _INCOME_COLUMNS

    return [c.strip() for c in _INCOME_COLUMNS.split(",") if c.strip() != "id"]


def _apply(g, op, incomes: list, expenses: list):
    """Change the truth as the income/expense services would; returns the event it publishes (or None).
    `incomes` are the sales and other income (edited, removed, charged back); a sale charged back leaves it
    (its chargeback holds it), and chargebacks are never edited or removed here."""
    kind = op[0]
    if kind == "import":
        _, t, gross, day, model, chatter = op
        row = _imported(g, t, gross, day, model, chatter)
        incomes.append(row["id"])
        return income_event("registered", None, row)
    if kind == "chargeback" and incomes:
        _, i, day = op
        sale_id = incomes[i % len(incomes)]
        row = _charge_back(sale_id, day)
        if row is None:
            return None
        incomes.remove(sale_id)
        return income_event("registered", None, row)
    if kind == "sale":
        _, t, gross, day, model, chatter = op
        row = seed_income(g, day=day, gross=gross, type=t, model=model, chatter=chatter)
        incomes.append(row["id"])
        return income_event("registered", None, row)
    if kind == "other":
        _, gross, day, model = op
        row = seed_income(g, day=day, gross=gross, type="other_income", model=model)
        incomes.append(row["id"])
        return income_event("registered", None, row)
    if kind == "edit" and incomes:
        _, i, day, gross, chatter = op
        income_id = incomes[i % len(incomes)]
        is_sale = sql("SELECT type <> 'other_income' FROM income_service.income_records WHERE id = :i",
                      {"i": income_id})[0][0]
        old, new = update_income(income_id, day=day, gross=gross, chatter_id=g.users[chatter] if is_sale else None)
        return income_event("updated", old, new)
    if kind == "remove" and incomes:
        return income_event("deleted", delete_income(incomes.pop(op[1] % len(incomes))), None)
    if kind == "expense":
        row = seed_expense(g, day=op[2], amount=op[1])
        expenses.append(row["id"])
        return expense_event("recorded", None, row)
    if kind == "edit_expense" and expenses:
        old, new = update_expense(expenses[op[1] % len(expenses)], day=op[2], amount=op[3])
        return expense_event("updated", old, new)
    if kind == "remove_expense" and expenses:
        return expense_event("deleted", delete_expense(expenses.pop(op[1] % len(expenses))), None)
    if kind == "count":
        _, model, count, day = op
        sql("""INSERT INTO statistics_service.subscriber_count_snapshots
                   (agency_id, model_id, subscriber_count, observed_at, observed_on, source)
               VALUES (:a, :m, :c, :at, :on, 'scraper')
               ON CONFLICT ON CONSTRAINT subscriber_count_snapshots_observation
               DO UPDATE SET subscriber_count = EXCLUDED.subscriber_count""",
            {"a": g.id, "m": g.models[model], "c": count, "on": day,
             "at": datetime.combine(day, time(12), tzinfo=timezone.utc)})
    return None


# --- the direct aggregation over the truth tables ------------------------------------------------------------------


def _cents(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


class Truth:
    def __init__(self, g, who: str):
        self.g = g
        self.rows = [dict(r._mapping) for r in sql(
            "SELECT r.type, r.gross_amount, r.fee_amount, r.net_amount, r.sale_date, r.model_id, r.chatter_id, "
            "s.type AS sale_type FROM income_service.income_records r "
            "LEFT JOIN income_service.income_records s ON s.id = r.refund_of WHERE r.agency_id = :a", {"a": g.id})]
        self.expenses = sql("SELECT amount, expense_date FROM expense_service.expenses WHERE agency_id = :a",
                            {"a": g.id})
        self.snapshots = sql("SELECT model_id, subscriber_count, observed_on, observed_at "
                             "FROM statistics_service.subscriber_count_snapshots WHERE agency_id = :a", {"a": g.id})
        self.owner = who == "owner"
        people = {g.user(who)}
        if who == "M":
            people |= {g.users["C1"], g.users["C2"]}
        self.people = people
        self.names = {v: k for k, v in g.users.items()}
        self.model_names = {v: k for k, v in g.models.items()}

    def sales(self, start, end):
        """The Owner: every sale and chargeback; others: their chatter figures."""
        if not self.owner:
            return self.chatter_sales(start, end)
        return [r for r in self.rows if start <= r["sale_date"] <= end and r["type"] != "other_income"]

    def chatter_sales(self, start, end):
        """What a chatter's figures add up: attributed chatting sales and the chargebacks of chatting sales
        (platform sales and their chargebacks are the model's, even attributed), of the people in scope."""
        return [r for r in self.rows if start <= r["sale_date"] <= end and r["chatter_id"] is not None
                and (r["type"] in CHATTING or r["sale_type"] in CHATTING)
                and (self.owner or r["chatter_id"] in self.people)]

    def income(self, start, end):
        if not self.owner:
            return self.sales(start, end)
        return [r for r in self.rows if start <= r["sale_date"] <= end]

    def subscribers(self, model_id, on):
        seen = [s for s in self.snapshots if s.model_id == model_id and s.observed_on <= on]
        return max(seen, key=lambda s: (s.observed_on, s.observed_at)).subscriber_count if seen else None

    def summary(self, start, end):
        rows = self.income(start, end)
        return (sum((r["gross_amount"] for r in rows), Decimal("0.00")), sum((r["fee_amount"] for r in rows),
                Decimal("0.00")), sum((r["net_amount"] for r in rows), Decimal("0.00")),
                sum(Decimal(e.amount) for e in self.expenses if start <= e.expense_date <= end) if self.owner
                else None,
                len([r for r in rows if r["type"] not in ("other_income", "chargeback")]))

    def top(self, start, end):
        net, count = {}, {}
        for r in self.chatter_sales(start, end):
            net[r["chatter_id"]] = net.get(r["chatter_id"], Decimal(0)) + r["net_amount"]
            count[r["chatter_id"]] = count.get(r["chatter_id"], 0) + (r["type"] in CHATTING)
        order = sorted((u for u in net if net[u] > 0), key=lambda u: (-net[u], self.names[u].lower(), self.names[u], str(u)))
        return [(u, net[u], count[u]) for u in order[:5]]

    def afv_models(self, start, end):
        net = {}
        for r in self.sales(start, end):
            net[r["model_id"]] = net.get(r["model_id"], Decimal(0)) + r["net_amount"]
        models = set(net) | (set(self.g.models.values()) if self.owner else set())
        out = []
        for m in sorted(models, key=lambda m: (self.model_names[m].lower(), self.model_names[m], str(m))):
            subs = self.subscribers(m, end)
            n = net.get(m, Decimal("0.00"))
            out.append((m, n, subs, _cents(n / subs) if subs else None))
        return out

    def afv_chatters(self, start, end):
        net, models = {}, {}
        for r in self.chatter_sales(start, end):
            net[r["chatter_id"]] = net.get(r["chatter_id"], Decimal(0)) + r["net_amount"]
            models.setdefault(r["chatter_id"], set()).add(r["model_id"])
        out = []
        for u in sorted(net, key=lambda u: (self.names[u].lower(), self.names[u], str(u))):
            subs = sum(self.subscribers(m, end) or 0 for m in models[u])
            out.append((u, net[u], subs, _cents(net[u] / subs) if subs else None))
        return out

    def afv_bucket(self, start, end, model_id=None):
        rows = [r for r in self.sales(start, end) if model_id is None or r["model_id"] == model_id]
        models = {model_id} if model_id else {r["model_id"] for r in rows}
        subs = sum(self.subscribers(m, end) or 0 for m in models)
        net = sum((r["net_amount"] for r in rows), Decimal(0))
        return _cents(net / subs) if subs else None


def _pct(value, previous):
    if value is None or previous is None or previous == 0:
        return None
    return int(((value - previous) * 100 / previous).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _check(g, who: str) -> None:
    truth = Truth(g, who)
    for start, end in RANGES:
        q = {"date_from": start.isoformat(), "date_to": end.isoformat()}
        s = use_case(service.stats_summary, g, who, q=RangeQuery(**q))
        assert (s.gross_income, s.platform_fees, s.net_income, s.expenses, s.sales_count) == truth.summary(start, end)
        top = use_case(service.stats_top_earners, g, who, q=TopEarnersQuery(**q))
        assert [(i.user_id, i.net_sales, i.sales_count) for i in top.items] == truth.top(start, end)
        afv = use_case(service.stats_afv, g, who, q=RangeQuery(**q))
        assert [(m.model_id, m.net, m.subscriber_count, m.afv) for m in afv.models] == truth.afv_models(start, end)
        assert [(c.user_id, c.net, c.subscriber_count, c.afv) for c in afv.chatters] == \
            truth.afv_chatters(start, end)
        for granularity in ("daily", "weekly", "monthly"):
            trend = use_case(service.stats_income_trend, g, who, q=TrendQuery(**q, granularity=granularity))
            expected, previous = [], None
            for b in trend.buckets:
                value = sum((r["net_amount"] for r in truth.income(b.start, b.end)), Decimal("0.00"))
                expected.append((value, _pct(value, previous)))
                previous = value
            assert [(b.value, b.change_pct) for b in trend.buckets] == expected
            assert trend.buckets[0].start == start and trend.buckets[-1].end == end
        for model_id in (None, g.models["A"]):
            trend = use_case(service.stats_afv_trend, g, who,
                             q=AfvTrendQuery(**q, granularity="weekly", model_id=model_id))
            expected, previous = [], None
            for b in trend.buckets:
                value = truth.afv_bucket(b.start, b.end, model_id)
                expected.append((value, _pct(value, previous)))
                previous = value
            assert [(b.value, b.change_pct) for b in trend.buckets] == expected


def deliver_late(data, changes, deliver_one, deliver_now=None) -> list:
    """Pub/Sub delivers late and in any order: after each change of the truth (`changes` yields its event, or None),
    some of what is pending, shuffled (through `deliver_now`, default `deliver_one`); what is left at the end, in
    any order. Everything delivered, in order."""
    deliver_now = deliver_now or deliver_one
    pending, delivered = [], []
    for change in changes:
        if change is not None:
            pending.append(change)
        for ready in data.draw(st.lists(st.sampled_from(pending), unique_by=id)) if pending else []:
            deliver_now(ready)
            pending.remove(ready)
            delivered.append(ready)
    for ready in data.draw(st.permutations(pending)):
        deliver_one(ready)
        delivered.append(ready)
    return delivered


def test_every_answer_equals_a_direct_aggregation_over_the_truth(world):
    @EXAMPLES
    @given(st.lists(ops, min_size=1, max_size=14), st.data())
    def run(operations, data):
        _reset(world)
        g = world.g
        incomes: list[uuid.UUID] = []
        expenses: list[uuid.UUID] = []

        def now(ev):
            # Coalescing: an event's marks may be taken by another handler (here, later, all at once).
            mark_only(ev) if data.draw(st.booleans()) else deliver(ev)

        delivered = deliver_late(data, (_apply(g, op, incomes, expenses) for op in operations), deliver, now)
        catch_up(g)
        # At least once: some events arrive again (new Pub/Sub messages, same event ids).
        if delivered:
            for ev in data.draw(st.lists(st.sampled_from(delivered), max_size=4)):
                deliver(ev)
        for who in ("owner", "M", "C1"):
            _check(g, who)
        incrementally = aggregates(g.id)
        rebuild(g)
        assert aggregates(g.id) == incrementally

    run()
