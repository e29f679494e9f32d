"""Property (issue #16, docs/stats.md "Fans"): with fans on imported and matched sales, refunds and chargebacks,
edits, deletes and username changes, events late, shuffled and duplicated, the AFV answer's paying fans (every
model and chatter, for the Owner, a Manager and a Chatter) and every model's top fans equal a direct computation
over the truth (income records joined to their platform transactions), and a rebuild leaves daily_fan_stats as
the events left it."""
from __future__ import annotations

import itertools
import uuid
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from functions.stats import rules, service
from functions.stats.schemas import RangeQuery, TopFansQuery
from shared_lib.db import unit_of_work
from shared_lib.income_types import CHATTING, SALES
from tests.factories import delete_income, deliver, income_event, rebuild, seed_income, sql, update_income, use_case
from tests.integration.test_stats_property import (  # noqa: F401  (world: the fixture)
    CHATTERS,
    EXAMPLES,
    FIRST,
    MODELS,
    RANGES,
    World,
    _charge_back,
    _cents,
    _imported,
    _reset,
    amounts,
    days,
    deliver_late,
    world,
)

FANS = ("f1", "f2", "f3", "f4")
names = st.sampled_from(("ann", "bob", None))

ops = st.one_of(
    # Imported: a platform sale or a message/tip, attributed by shift or to nobody; a fan (or none) and a username.
    st.tuples(st.just("import"), st.sampled_from(["message_sale", "tip_sale", "subscription_sale", "post_sale"]),
              amounts, days, st.sampled_from(MODELS), st.sampled_from(CHATTERS + (None,)),
              st.sampled_from(FANS + (None,)), names),
    st.tuples(st.just("sale"), st.sampled_from(["message_sale", "tip_sale"]), amounts, days,
              st.sampled_from(MODELS), st.sampled_from(CHATTERS)),
    # A platform transaction matches a self-reported sale (it takes the transaction's fan; its refunds too).
    st.tuples(st.just("match"), st.integers(0, 50), st.sampled_from(FANS), names),
    st.tuples(st.just("chargeback"), st.integers(0, 50), days),
    st.tuples(st.just("edit"), st.integers(0, 50), days, amounts, st.sampled_from(CHATTERS)),
    st.tuples(st.just("remove"), st.integers(0, 50)),
)

_clock = itertools.count()


def _transaction(g, row: dict, fan: str | None, username: str | None) -> None:
    """The platform transaction that produced or matched `row` (a distinct instant each: 'latest' is exact)."""
    at = datetime.combine(FIRST, time(0), tzinfo=timezone.utc) + timedelta(minutes=next(_clock))
    sql("""INSERT INTO income_service.platform_transactions
               (agency_id, model_id, transaction_id, occurred_at, type, gross_amount, status, fan_id, fan_username,
                income_id)
           VALUES (:a, :m, :t, :at, 'message', :gross, 'cleared', :fan, :name, :i)""",
        {"a": g.id, "m": row["model_id"], "t": str(uuid.uuid4()), "at": at, "gross": row["gross_amount"],
         "fan": fan, "name": username, "i": row["id"]})


def _matched(g, sale_id: uuid.UUID) -> list[rules.Slice]:
    """The slices a match names (income.imported): the sale's and its refunds'."""
    rows = sql("SELECT sale_date, model_id, type, chatter_id FROM income_service.income_records "
               "WHERE id = :i OR refund_of = :i", {"i": sale_id})
    return [rules.Slice(r.sale_date, r.model_id, r.type, r.chatter_id) for r in rows]


def _apply(g, op, incomes: list, self_reported: list):
    """Change the truth as the income service would; the event (or the slices of a match) to deliver."""
    kind = op[0]
    if kind == "import":
        _, t, gross, day, model, chatter, fan, username = op
        row = _imported(g, t, gross, day, model, chatter)
        _transaction(g, row, fan, username)
        incomes.append(row["id"])
        return income_event("registered", None, row)
    if kind == "sale":
        _, t, gross, day, model, chatter = op
        row = seed_income(g, day=day, gross=gross, type=t, model=model, chatter=chatter)
        incomes.append(row["id"])
        self_reported.append(row["id"])
        return income_event("registered", None, row)
    if kind == "match" and self_reported:
        _, i, fan, username = op
        sale_id = self_reported.pop(i % len(self_reported))
        (row,) = sql("UPDATE income_service.income_records SET verified = true WHERE id = :i "
                     "RETURNING id, model_id, gross_amount", {"i": sale_id})
        _transaction(g, dict(row._mapping), fan, username)
        return _matched(g, sale_id)
    if kind == "chargeback" and incomes:
        _, i, day = op
        sale_id = incomes[i % len(incomes)]
        row = _charge_back(sale_id, day)
        if row is None:
            return None
        incomes.remove(sale_id)
        if sale_id in self_reported:
            self_reported.remove(sale_id)
        return income_event("registered", None, row)
    if kind == "edit" and incomes:
        _, i, day, gross, chatter = op
        old, new = update_income(incomes[i % len(incomes)], day=day, gross=gross, chatter_id=g.users[chatter])
        return income_event("updated", old, new)
    if kind == "remove" and incomes:
        income_id = incomes.pop(op[1] % len(incomes))
        if income_id in self_reported:
            self_reported.remove(income_id)
        return income_event("deleted", delete_income(income_id), None)
    return None


def _deliver(g, change) -> None:
    if isinstance(change, list):
        with unit_of_work() as uow:
            service.stats_slices_changed(uow=uow, agency_id=g.id, kind="income", slices=change)
    else:
        deliver(change)


class FanTruth:
    """Every record of a model with a fan (its own transaction's, a refund's its sale's), straight from the truth."""

    def __init__(self, g, who: str):
        self.rows = [dict(r._mapping) for r in sql(
            """SELECT r.type, r.net_amount, r.sale_date, r.model_id, r.chatter_id, s.type AS sale_type, t.fan_id,
                      t.fan_username, t.occurred_at
               FROM income_service.income_records r
               LEFT JOIN income_service.income_records s ON s.id = r.refund_of
               JOIN income_service.platform_transactions t ON t.income_id = coalesce(r.refund_of, r.id)
               WHERE r.agency_id = :a AND r.model_id IS NOT NULL AND r.type <> 'other_income'
                 AND t.fan_id IS NOT NULL""", {"a": g.id})]
        self.owner = who == "owner"
        self.people = {g.user(who)} | ({g.users["C1"], g.users["C2"]} if who == "M" else set())

    @staticmethod
    def chatter(r) -> uuid.UUID | None:
        """The chatter whose figures hold the record (attributed chatting sales and their refunds)."""
        chatting = r["type"] in CHATTING or r["sale_type"] in CHATTING
        return r["chatter_id"] if r["chatter_id"] is not None and chatting else None

    def of(self, start, end):
        return [r for r in self.rows if start <= r["sale_date"] <= end
                and (self.owner or self.chatter(r) in self.people)]

    def paying(self, start, end, key) -> dict:
        net: dict = {}
        for r in self.of(start, end):
            if key(r) is not None:
                net[(key(r), r["fan_id"])] = net.get((key(r), r["fan_id"]), Decimal(0)) + r["net_amount"]
        out: dict = {}
        for (k, _), n in net.items():
            if n > 0:
                count, total = out.get(k, (0, Decimal(0)))
                out[k] = (count + 1, total + n)
        return {k: (c, t, _cents(t / c)) for k, (c, t) in out.items()}

    def top(self, model_id, start, end, limit=10):
        fans: dict = {}
        for r in self.of(start, end):
            if r["model_id"] == model_id:
                f = fans.setdefault(r["fan_id"], {"net": Decimal(0), "sales": 0, "named": []})
                f["net"] += r["net_amount"]
                f["sales"] += r["type"] in SALES
                if r["fan_username"] is not None:
                    f["named"].append((r["occurred_at"], r["fan_username"]))
        order = sorted((k for k in fans if fans[k]["net"] > 0), key=lambda k: (-fans[k]["net"], k))[:limit]
        return [(k, max(fans[k]["named"])[1] if fans[k]["named"] else None, fans[k]["net"], fans[k]["sales"])
                for k in order]


def _fans(item) -> tuple:
    return item.paying_fans, item.paying_fans_net, item.earnings_per_paying_fan


def _check(g, who: str) -> None:
    truth = FanTruth(g, who)
    none = (0, Decimal(0), None)
    for start, end in RANGES:
        q = {"date_from": start.isoformat(), "date_to": end.isoformat()}
        afv = use_case(service.stats_afv, g, who, q=RangeQuery(**q))
        models = truth.paying(start, end, lambda r: r["model_id"])
        chatters = truth.paying(start, end, FanTruth.chatter)
        assert {m.model_id: _fans(m) for m in afv.models} == {m.model_id: models.get(m.model_id, none)
                                                              for m in afv.models}
        assert {c.user_id: _fans(c) for c in afv.chatters} == {c.user_id: chatters.get(c.user_id, none)
                                                               for c in afv.chatters}
        # Every paying fan's model and chatter is listed (a fan's net > 0 means the model or chatter sold).
        assert set(models) <= {m.model_id for m in afv.models}
        assert set(chatters) <= {c.user_id for c in afv.chatters}
        if who == "owner":
            for model in MODELS:
                top = use_case(service.stats_top_fans, g, who, q=TopFansQuery(**q, model_id=g.models[model]))
                assert [(i.fan_id, i.fan_username, i.net, i.sales_count) for i in top.items] == \
                    truth.top(g.models[model], start, end)


def _fan_rows(g) -> list[tuple]:
    return [tuple(r) for r in sql(
        "SELECT day, model_id, type, chatter_id, fan_id, net_cents, sales_count, last_named_at, fan_username "
        "FROM statistics_service.daily_fan_stats WHERE agency_id = :a ORDER BY 1, 2, 3, 4, 5", {"a": g.id})]


def test_fan_figures_equal_a_direct_computation_over_the_truth(world: World):
    @EXAMPLES
    @given(st.lists(ops, min_size=1, max_size=14), st.data())
    def run(operations, data):
        _reset(world)
        g = world.g
        incomes: list[uuid.UUID] = []
        self_reported: list[uuid.UUID] = []
        delivered = deliver_late(data, (_apply(g, op, incomes, self_reported) for op in operations),
                                 lambda change: _deliver(g, change))
        if delivered:  # at least once
            for change in data.draw(st.lists(st.sampled_from(delivered), max_size=3)):
                _deliver(g, change)
        for who in ("owner", "M", "C1"):
            _check(g, who)
        incrementally = _fan_rows(g)
        rebuild(g)
        assert _fan_rows(g) == incrementally

    run()


def test_a_match_gives_the_sale_and_its_refund_the_transactions_fan(world: World):
    """A known history: C1's self-reported 100.00 (net 80.00) refunded 30.00 (net −24.00) is nobody's until a
    transaction of f1 matches it; then f1 pays 56.00 on model A, for C1 too."""
    g = world.g
    _reset(world)
    day = date(2026, 11, 3)
    sale = seed_income(g, day=day, gross="100.00", model="A", chatter="C1")
    deliver(income_event("registered", None, sale))
    (refund,) = sql("""INSERT INTO income_service.income_records
                           (agency_id, type, gross_amount, fee_percent, fee_amount, net_amount, sale_date, model_id,
                            chatter_id, manager_id, registered_by_user_id, refund_of, origin)
                       SELECT agency_id, 'refund', -30.00, fee_percent, -6.00, -24.00, :d, model_id, chatter_id,
                              manager_id, registered_by_user_id, id, 'self' FROM income_service.income_records WHERE id = :i RETURNING id""",
                    {"i": sale["id"], "d": day + timedelta(days=2)})
    _deliver(g, [rules.Slice(day + timedelta(days=2), g.models["A"], "refund", g.users["C1"])])
    q = RangeQuery(date_from="2026-11-01", date_to="2026-11-30")
    afv = use_case(service.stats_afv, g, "owner", q=q)
    assert [_fans(m) for m in afv.models if m.model_id == g.models["A"]] == [(0, Decimal(0), None)]
    _apply(g, ("match", 0, "f1", "ann"), [sale["id"]], [sale["id"]])
    _deliver(g, _matched(g, sale["id"]))
    afv = use_case(service.stats_afv, g, "owner", q=q)
    assert [_fans(m) for m in afv.models if m.model_id == g.models["A"]] == [(1, Decimal("56.00"), Decimal("56.00"))]
    assert [_fans(c) for c in afv.chatters if c.user_id == g.users["C1"]] == [(1, Decimal("56.00"),
                                                                               Decimal("56.00"))]
    top = use_case(service.stats_top_fans, g, "owner", q=TopFansQuery(date_from="2026-11-01", date_to="2026-11-30",
                                                                      model_id=g.models["A"]))
    assert [(i.fan_id, i.fan_username, i.net, i.sales_count) for i in top.items] == [("f1", "ann", Decimal("56.00"),
                                                                                      1)]
    assert refund.id
