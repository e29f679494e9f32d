"""Statistics SQL: recompute daily slices from the truth tables, and one set-based read per question."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Sequence

from shared_lib.db import UnitOfWork
from shared_lib.income_types import CHATTING_AND_REFUNDS_SQL, CHATTING_SQL, REFUNDS_SQL, SALES_AND_REFUNDS_SQL, SALES_SQL
from shared_lib.rbac import Caller, model_scope, user_scope
from shared_lib.sales_settings import counted

from .rules import Bucket, Slice


@dataclass(frozen=True)
class Scope:
    """Whose figures a read covers. whole_agency (the Owner, and dashboards): every income and the expenses;
    otherwise the chatting sales of the people `predicate` (on s.chatter_id) admits."""

    agency_id: uuid.UUID
    whole_agency: bool
    predicate: str = "TRUE"
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, caller: Caller) -> "Scope":
        predicate, params = user_scope(caller, "s.chatter_id")
        return cls(caller.agency_id, caller.is_owner, predicate, params)

    @classmethod
    def agency(cls, agency_id: uuid.UUID) -> "Scope":
        return cls(agency_id, True)

    def bind(self, **params: Any) -> dict[str, Any]:
        return {**self.params, "_agency": self.agency_id, **params}


# --- writes: recompute slices from the truth ------------------------------------------------------------------

# The records of r a chatter's figures add up: attributed (an imported sale nobody was on shift for, and its
# chargeback, has no chatter) chatting sales and the refunds of chatting sales — a refund or chargeback of a
# platform sale (attributed or not) is the model's and the agency's, never a chatter's, like the sale itself.
_CHATTER_RECORD = f"""r.chatter_id IS NOT NULL AND (r.type IN {CHATTING_SQL} OR (r.type IN {REFUNDS_SQL} AND EXISTS (
            SELECT 1 FROM income_service.income_records o WHERE o.id = r.refund_of AND o.type IN {CHATTING_SQL})))"""


def lock_agency(uow: UnitOfWork, agency_id: uuid.UUID) -> None:
    """Serialize every recompute and dashboard build of one agency until commit: a DELETE + INSERT of a slice
    never interleaves with another, and whoever takes the lock later reads everything committed before."""
    uow.execute("SELECT pg_advisory_xact_lock(hashtext('stats:' || :a))", {"a": str(agency_id)})


def _days(column: str, days: Sequence[date] | None) -> tuple[str, dict[str, Any]]:
    if days is not None:
        return f"{column} = ANY(CAST(:days AS date[]))", {"days": [d.isoformat() for d in days]}
    return (f"{column} BETWEEN coalesce(CAST(:date_from AS date), '-infinity'::date) "
            f"AND coalesce(CAST(:date_to AS date), 'infinity'::date)"), {}


def recompute_income(uow: UnitOfWork, agency_id: uuid.UUID, *, days: Sequence[date] | None = None,
                     date_from: date | None = None, date_to: date | None = None) -> tuple[int, int]:
    """Replace the model and chatter slices of `days` (or of the range) with the truth; rows written."""
    on_day, extra = _days("day", days)
    on_sale, _ = _days("r.sale_date", days)
    params = {"a": agency_id, "date_from": date_from, "date_to": date_to, **extra}
    counts = counted(uow, agency_id, "r")  # verification (issue #16): what counts, as payouts count it
    uow.execute(f"DELETE FROM statistics_service.daily_model_stats WHERE agency_id = :a AND {on_day}", params)
    uow.execute(f"DELETE FROM statistics_service.daily_chatter_stats WHERE agency_id = :a AND {on_day}", params)
    uow.execute(f"DELETE FROM statistics_service.daily_fan_stats WHERE agency_id = :a AND {on_day}", params)
    _insert_fans(uow, params, "", "income_service.income_records r", f"r.agency_id = :a AND {on_sale}", counts)
    models = uow.execute(
        f"""
        INSERT INTO statistics_service.daily_model_stats
            (agency_id, day, model_id, type, gross, fees, net, sales_count)
        SELECT r.agency_id, r.sale_date, r.model_id, r.type,
               sum(r.gross_amount), sum(r.fee_amount), sum(r.net_amount), count(*)
        FROM income_service.income_records r
        WHERE r.agency_id = :a AND {on_sale} AND {counts}
        GROUP BY r.agency_id, r.sale_date, r.model_id, r.type
        """, params).rowcount
    chatters = uow.execute(
        f"""
        INSERT INTO statistics_service.daily_chatter_stats
            (agency_id, day, chatter_id, model_id, type, gross, fees, net, sales_count)
        SELECT r.agency_id, r.sale_date, r.chatter_id, r.model_id, r.type,
               sum(r.gross_amount), sum(r.fee_amount), sum(r.net_amount), count(*)
        FROM income_service.income_records r
        WHERE r.agency_id = :a AND {on_sale} AND {_CHATTER_RECORD} AND {counts}
        GROUP BY r.agency_id, r.sale_date, r.chatter_id, r.model_id, r.type
        """, params).rowcount
    return models, chatters


def mark_pending(uow: UnitOfWork, agency_id: uuid.UUID, kind: str, slices: Sequence[Slice]) -> None:
    """Note the slices an event touched; whoever next holds the agency's lock recomputes them. One row per mark
    (sql/0196: no unique key, so a mark never waits for a round taking the same slice)."""
    if not slices:
        return
    uow.execute(
        """
        INSERT INTO statistics_service.pending_slices (agency_id, kind, day, model_id, type, chatter_id)
        SELECT DISTINCT CAST(:a AS uuid), :kind, p.day, p.model_id, p.type, p.chatter_id
        FROM unnest(CAST(:days AS date[]), CAST(:models AS uuid[]), CAST(:types AS text[]),
                    CAST(:chatters AS uuid[])) AS p(day, model_id, type, chatter_id)
        """, {"a": agency_id, "kind": kind, **_slice_arrays(slices)})


def take_pending(uow: UnitOfWork, agency_id: uuid.UUID, absorbed: Sequence[Slice] = ()
                 ) -> tuple[list[Slice], list[Slice]]:
    """Every slice pending for the agency, removed (call under the agency's lock), with the income slices the
    round `absorbed` unmarked: (income, expense)."""
    rows = uow.execute(
        "DELETE FROM statistics_service.pending_slices WHERE agency_id = :a "
        "RETURNING kind, day, model_id, type, chatter_id", {"a": agency_id}).all()
    income = {Slice(r.day, r.model_id, r.type, r.chatter_id) for r in rows if r.kind == "income"} | set(absorbed)
    expenses = {Slice(r.day) for r in rows if r.kind == "expense"}  # a slice marked twice is recomputed once
    return sorted(income, key=_slice_order), sorted(expenses, key=_slice_order)


def _slice_order(s: Slice) -> tuple:
    return (s.day, str(s.model_id or ""), s.type or "", str(s.chatter_id or ""))


def mark_dashboards(uow: UnitOfWork, agency_id: uuid.UUID, periods: Sequence[str]) -> None:
    """Note that these periods' dashboards must be built again (one row per mark: an INSERT never waits)."""
    if not periods:
        return
    uow.execute(
        "INSERT INTO statistics_service.pending_dashboards (agency_id, period) "
        "SELECT CAST(:a AS uuid), unnest(CAST(:p AS text[]))",
        {"a": agency_id, "p": sorted(set(periods))})


def take_dashboards(uow: UnitOfWork, agency_id: uuid.UUID, stale_seconds: float) -> list[str]:
    """The owed dashboards due now, removed (call under the agency's lock): every owed period without a slice
    still pending in it, and a period with slices pending once its oldest mark is `stale_seconds` old."""
    return sorted(set(uow.execute(
        """
        DELETE FROM statistics_service.pending_dashboards d
        WHERE d.agency_id = :a
          AND d.period IN (
              SELECT o.period FROM statistics_service.pending_dashboards o
              WHERE o.agency_id = :a
              GROUP BY o.period
              HAVING min(o.since) <= clock_timestamp() - make_interval(secs => :stale)
                  OR NOT EXISTS (SELECT 1 FROM statistics_service.pending_slices s
                                 WHERE s.agency_id = :a
                                   AND s.day BETWEEN to_date(o.period, 'YYYY-MM')
                                                 AND (to_date(o.period, 'YYYY-MM') + interval '1 month'
                                                      - interval '1 day')::date))
        RETURNING d.period
        """, {"a": agency_id, "stale": stale_seconds}).scalars()))


def agencies_with_pending(uow: UnitOfWork) -> list[uuid.UUID]:
    """Every agency with a slice or a dashboard still marked (the scheduled sweep's list)."""
    return list(uow.execute(
        "SELECT agency_id FROM statistics_service.pending_slices "
        "UNION SELECT agency_id FROM statistics_service.pending_dashboards ORDER BY 1").scalars())


def anything_pending(uow: UnitOfWork, agency_id: uuid.UUID) -> bool:
    """A slice or a dashboard still marked for the agency (the catch-up's look after it let go of the lock)."""
    return bool(uow.execute(
        "SELECT EXISTS (SELECT 1 FROM statistics_service.pending_slices WHERE agency_id = :a) "
        "OR EXISTS (SELECT 1 FROM statistics_service.pending_dashboards WHERE agency_id = :a)",
        {"a": agency_id}).scalar())


def _slice_arrays(slices: Sequence[Slice]) -> dict[str, list]:
    return {"days": [s.day.isoformat() for s in slices],
            "models": [None if s.model_id is None else str(s.model_id) for s in slices],
            "types": [s.type for s in slices],
            "chatters": [None if s.chatter_id is None else str(s.chatter_id) for s in slices]}


_SLICES = """unnest(CAST(:days AS date[]), CAST(:models AS uuid[]), CAST(:types AS text[]),
                    CAST(:chatters AS uuid[])) AS p(day, model_id, type, chatter_id)"""


def recompute_income_slices(uow: UnitOfWork, agency_id: uuid.UUID, slices: Sequence[Slice]) -> tuple[int, int]:
    """Replace exactly these model and chatter slices with the truth (set-based, any number at once). Each
    slice's records are found through income_records' (agency, model | chatter | type, sale_date) indexes, so
    the cost follows the slices, not the size of the day or the month. Rows written."""
    if not slices:
        return 0, 0
    params = {"a": agency_id, **_slice_arrays(slices)}
    counts = counted(uow, agency_id, "r")  # verification (issue #16): what counts, as payouts count it
    uow.execute(
        f"""
        DELETE FROM statistics_service.daily_model_stats s
        USING (SELECT DISTINCT p.day, p.model_id, p.type FROM {_SLICES}) g
        WHERE s.agency_id = :a AND s.day = g.day AND s.type = g.type AND s.model_id IS NOT DISTINCT FROM g.model_id
        """, params)
    uow.execute(
        f"""
        DELETE FROM statistics_service.daily_chatter_stats s
        USING (SELECT DISTINCT p.day, p.chatter_id, p.model_id, p.type FROM {_SLICES}
               WHERE p.chatter_id IS NOT NULL) g
        WHERE s.agency_id = :a AND s.day = g.day AND s.chatter_id = g.chatter_id AND s.model_id = g.model_id
          AND s.type = g.type
        """, params)
    recompute_fan_slices(uow, params, counts)
    # A slice with a model is found by model, one without (other income) by type: two index paths, one insert.
    models = uow.execute(
        f"""
        WITH g AS (SELECT DISTINCT p.day, p.model_id, p.type FROM {_SLICES})
        INSERT INTO statistics_service.daily_model_stats
            (agency_id, day, model_id, type, gross, fees, net, sales_count)
        SELECT CAST(:a AS uuid), g.day, g.model_id, g.type, sum(r.gross_amount), sum(r.fee_amount), sum(r.net_amount), count(*)
        FROM g JOIN income_service.income_records r
          ON r.agency_id = :a AND r.model_id = g.model_id AND r.sale_date = g.day AND r.type = g.type
         AND {counts}
        GROUP BY g.day, g.model_id, g.type
        UNION ALL
        SELECT CAST(:a AS uuid), g.day, NULL, g.type, sum(r.gross_amount), sum(r.fee_amount), sum(r.net_amount), count(*)
        FROM g JOIN income_service.income_records r
          ON r.agency_id = :a AND r.type = g.type AND r.sale_date = g.day AND r.model_id IS NULL
        WHERE g.model_id IS NULL
        GROUP BY g.day, g.type
        """, params).rowcount
    chatters = uow.execute(
        f"""
        WITH g AS (SELECT DISTINCT p.day, p.chatter_id, p.model_id, p.type FROM {_SLICES}
                   WHERE p.chatter_id IS NOT NULL AND p.type IN {CHATTING_AND_REFUNDS_SQL})
        INSERT INTO statistics_service.daily_chatter_stats
            (agency_id, day, chatter_id, model_id, type, gross, fees, net, sales_count)
        SELECT CAST(:a AS uuid), g.day, g.chatter_id, g.model_id, g.type,
               sum(r.gross_amount), sum(r.fee_amount), sum(r.net_amount), count(*)
        FROM g JOIN income_service.income_records r
          ON r.agency_id = :a AND r.chatter_id = g.chatter_id AND r.sale_date = g.day AND r.model_id = g.model_id
         AND r.type = g.type AND {_CHATTER_RECORD} AND {counts}
        GROUP BY g.day, g.chatter_id, g.model_id, g.type
        """, params).rowcount
    return models, chatters


# A record's fan (issue #16, docs/stats.md "Fans"): the fan_id of the platform transaction that produced or matched
# the sale (income_id), a refund's or chargeback's through the sale it gives back (refund_of); its chatter when it
# is in a chatter's figures (_CHATTER_RECORD, with the refunded sale o joined rather than looked up per row).
_FAN_CHATTER = (f"CASE WHEN r.chatter_id IS NOT NULL AND (r.type IN {CHATTING_SQL} "
                f"OR (r.type IN {REFUNDS_SQL} AND o.type IN {CHATTING_SQL})) THEN r.chatter_id END")


def _insert_fans(uow: UnitOfWork, params: dict[str, Any], with_: str, records: str, where: str,
                 counts: str) -> int:
    """daily_fan_stats from the truth: per (day, model, type, chatter-figures chatter, fan) the net (refunds
    negative), the sales counted and the username of the latest transaction that gave one. `records` names r
    (and whatever it joins), `where` picks them; only records with a model, of SALES_AND_REFUNDS and with a fan."""
    return uow.execute(
        f"""
        {with_}
        INSERT INTO statistics_service.daily_fan_stats
            (agency_id, day, model_id, type, chatter_id, fan_id, net_cents, sales_count, last_named_at, fan_username)
        SELECT CAST(:a AS uuid), r.sale_date, r.model_id, r.type, {_FAN_CHATTER}, t.fan_id,
               CAST(sum(r.net_amount) * 100 AS bigint),
               count(*) FILTER (WHERE r.type IN {SALES_SQL}),
               max(t.occurred_at) FILTER (WHERE t.fan_username IS NOT NULL),
               (array_agg(t.fan_username ORDER BY t.occurred_at DESC) FILTER (WHERE t.fan_username IS NOT NULL))[1]
        FROM {records}
        JOIN income_service.platform_transactions t ON t.income_id = coalesce(r.refund_of, r.id)
        LEFT JOIN income_service.income_records o ON o.id = r.refund_of
        WHERE {where} AND t.fan_id IS NOT NULL AND r.model_id IS NOT NULL AND r.type IN {SALES_AND_REFUNDS_SQL}
          AND {counts}
        GROUP BY r.sale_date, r.model_id, r.type, 5, t.fan_id
        """, params).rowcount


def recompute_fan_slices(uow: UnitOfWork, params: dict[str, Any], counts: str) -> int:
    """daily_fan_stats of the (day, model, type) slices of params' slice arrays (sales and refunds with a model),
    replaced with the truth; rows written (recompute_income_slices' share for fans)."""
    model_slices = f"""g AS (SELECT DISTINCT p.day, p.model_id, p.type FROM {_SLICES}
                   WHERE p.model_id IS NOT NULL AND p.type IN {SALES_AND_REFUNDS_SQL})"""
    uow.execute(
        f"""
        WITH {model_slices}
        DELETE FROM statistics_service.daily_fan_stats s USING g
        WHERE s.agency_id = :a AND s.model_id = g.model_id AND s.day = g.day AND s.type = g.type
        """, params)
    return _insert_fans(uow, params, f"WITH {model_slices}", "g JOIN income_service.income_records r "
                        "ON r.agency_id = :a AND r.model_id = g.model_id AND r.sale_date = g.day AND r.type = g.type",
                        "TRUE", counts)


def recompute_expenses(uow: UnitOfWork, agency_id: uuid.UUID, *, days: Sequence[date] | None = None,
                       date_from: date | None = None, date_to: date | None = None) -> int:
    on_day, extra = _days("day", days)
    on_expense, _ = _days("e.expense_date", days)
    params = {"a": agency_id, "date_from": date_from, "date_to": date_to, **extra}
    uow.execute(f"DELETE FROM statistics_service.daily_expense_stats WHERE agency_id = :a AND {on_day}", params)
    return uow.execute(
        f"""
        INSERT INTO statistics_service.daily_expense_stats (agency_id, day, amount, expense_count)
        SELECT e.agency_id, e.expense_date, sum(e.amount), count(*)
        FROM expense_service.expenses e
        WHERE e.agency_id = :a AND {on_expense}
        GROUP BY e.agency_id, e.expense_date
        """, params).rowcount


def agency_ids(uow: UnitOfWork) -> list[uuid.UUID]:
    return list(uow.execute("SELECT id FROM user_service.agencies ORDER BY id").scalars())


def agency_timezone(uow: UnitOfWork, agency_id: uuid.UUID) -> str | None:
    return uow.execute("SELECT timezone FROM user_service.agencies WHERE id = :a", {"a": agency_id}).scalar()


# --- reads: one query per question, from the pre-aggregates only -----------------------------------------------


# Counted apart: sales (chatting and platform sales: SALES; a chatter's aggregate holds chatting sales only) and
# refunds (refunds and chargebacks, their amount positive).
_COUNTS = f"""
    CAST(coalesce(sum(s.sales_count) FILTER (WHERE s.type IN {SALES_SQL}), 0) AS bigint) AS sales_count,
    CAST(coalesce(sum(s.sales_count) FILTER (WHERE s.type IN {REFUNDS_SQL}), 0) AS bigint) AS refunds_count,
    coalesce(-sum(s.gross) FILTER (WHERE s.type IN {REFUNDS_SQL}), 0) AS refunds_amount
"""


def summary(uow: UnitOfWork, scope: Scope, date_from: date, date_to: date):
    """Gross, fees and net with refunds on their date (they are negative); sales and refunds counted apart."""
    if scope.whole_agency:
        sql = f"""
            SELECT coalesce(sum(s.gross), 0) AS gross, coalesce(sum(s.fees), 0) AS fees,
                   coalesce(sum(s.net), 0) AS net, {_COUNTS},
                   (SELECT coalesce(sum(e.amount), 0) FROM statistics_service.daily_expense_stats e
                    WHERE e.agency_id = :_agency AND e.day BETWEEN :f AND :t) AS expenses
            FROM statistics_service.daily_model_stats s
            WHERE s.agency_id = :_agency AND s.day BETWEEN :f AND :t
        """
    else:
        sql = f"""
            SELECT coalesce(sum(s.gross), 0) AS gross, coalesce(sum(s.fees), 0) AS fees,
                   coalesce(sum(s.net), 0) AS net, {_COUNTS}, NULL AS expenses
            FROM statistics_service.daily_chatter_stats s
            WHERE s.agency_id = :_agency AND s.day BETWEEN :f AND :t AND {scope.predicate}
        """
    return uow.execute(sql, scope.bind(f=date_from, t=date_to)).one()


def top_earners(uow: UnitOfWork, scope: Scope, date_from: date, date_to: date, limit: int):
    """The best by net sales, refunds included on their date; only those whose net is > 0 are listed."""
    return uow.execute(
        f"""
        SELECT s.chatter_id AS user_id, u.display_name, sum(s.net) AS net_sales,
               CAST(coalesce(sum(s.sales_count) FILTER (WHERE s.type IN {CHATTING_SQL}), 0) AS bigint)
                   AS sales_count
        FROM statistics_service.daily_chatter_stats s
        JOIN user_service.users u ON u.id = s.chatter_id
        WHERE s.agency_id = :_agency AND s.day BETWEEN :f AND :t AND {scope.predicate}
        GROUP BY s.chatter_id, u.display_name
        HAVING sum(s.net) > 0
        ORDER BY net_sales DESC, lower(u.display_name) NULLS LAST, u.display_name, s.chatter_id
        LIMIT :limit
        """, scope.bind(f=date_from, t=date_to, limit=limit)).all()


_LATEST_SNAPSHOT = """
    SELECT c.subscriber_count FROM statistics_service.subscriber_count_snapshots c
    WHERE c.agency_id = :_agency AND c.model_id = {model} AND c.observed_on <= {day}
    ORDER BY c.observed_on DESC, c.observed_at DESC, c.id DESC
    LIMIT 1
"""


def _model_sales(scope: Scope) -> str:
    """SELECT s.model_id, sum(s.net) … WHERE … (the caller adds its day condition and GROUP BY): a model's sales for
    the whole agency from the model aggregate (SALES_AND_REFUNDS: unattributed and platform sales included, other
    income not), a scope's chatting sales from the chatter aggregate."""
    if scope.whole_agency:
        return f"""
            SELECT s.model_id, sum(s.net) AS net FROM statistics_service.daily_model_stats s
            WHERE s.agency_id = :_agency AND s.model_id IS NOT NULL AND s.type IN {SALES_AND_REFUNDS_SQL}"""
    return f"""
            SELECT s.model_id, sum(s.net) AS net FROM statistics_service.daily_chatter_stats s
            WHERE s.agency_id = :_agency AND {scope.predicate}"""


def model_afv(uow: UnitOfWork, scope: Scope, date_from: date, date_to: date):
    """Net per model with its subscriber count on date_to. The Owner: every sale of the model (chatting, platform,
    unattributed) and their refunds, and every active model (a silent one shows 0.00); others: the chatting sales
    of their scope, only the models it sold for."""
    return uow.execute(
        f"""
        WITH sales AS ({_model_sales(scope)}
            AND s.day BETWEEN :f AND :t
            GROUP BY s.model_id
        )
        SELECT m.id AS model_id, m.name, coalesce(sales.net, 0) AS net, snap.subscriber_count
        FROM user_service.models m
        LEFT JOIN sales ON sales.model_id = m.id
        LEFT JOIN LATERAL ({_LATEST_SNAPSHOT.format(model="m.id", day=":t")}) snap ON true
        WHERE m.agency_id = :_agency AND (sales.model_id IS NOT NULL OR (:all_models AND m.active))
        ORDER BY lower(m.name), m.name, m.id
        """, scope.bind(f=date_from, t=date_to, all_models=scope.whole_agency)).all()


def chatter_afv(uow: UnitOfWork, scope: Scope, date_from: date, date_to: date):
    """Per chatter: net and Σ subscribers (on date_to) of the distinct models they sold for in the range."""
    return uow.execute(
        f"""
        WITH sales AS (
            SELECT s.chatter_id, s.model_id, sum(s.net) AS net
            FROM statistics_service.daily_chatter_stats s
            WHERE s.agency_id = :_agency AND s.day BETWEEN :f AND :t AND {scope.predicate}
            GROUP BY s.chatter_id, s.model_id
        ), subscribers AS (
            SELECT d.model_id, snap.subscriber_count
            FROM (SELECT DISTINCT model_id FROM sales) d
            LEFT JOIN LATERAL ({_LATEST_SNAPSHOT.format(model="d.model_id", day=":t")}) snap ON true
        )
        SELECT sales.chatter_id AS user_id, u.display_name, sum(sales.net) AS net,
               CAST(sum(coalesce(subscribers.subscriber_count, 0)) AS bigint) AS subscriber_count
        FROM sales
        JOIN subscribers ON subscribers.model_id = sales.model_id
        JOIN user_service.users u ON u.id = sales.chatter_id
        GROUP BY sales.chatter_id, u.display_name
        ORDER BY lower(u.display_name) NULLS LAST, u.display_name, sales.chatter_id
        """, scope.bind(f=date_from, t=date_to)).all()


# --- fans (issue #16): from daily_fan_stats (a distinct count does not add up across days: per fan, then count) ---

def _fan_rows(scope: Scope) -> str:
    """daily_fan_stats s in [:f, :t]: the whole agency every row (every sale and refund of a model); a scope the
    rows of its chatter figures."""
    which = "TRUE" if scope.whole_agency else f"s.chatter_id IS NOT NULL AND {scope.predicate}"
    return f"""statistics_service.daily_fan_stats s
            WHERE s.agency_id = :_agency AND s.day BETWEEN :f AND :t AND {which}"""


_CENTS = "CAST({} / 100.0 AS numeric(16, 2))"  # a sum of net_cents as money again (exact: whole cents)


def tune_fans(uow: UnitOfWork) -> None:
    """For the rest of the (read) transaction: the per-fan sums hash in memory (the default 4 MB spilled them to
    disk at 100,000 rows) and without JIT (docs/stats.md "Fans", measured)."""
    uow.execute("SELECT set_config('work_mem', '64MB', true), set_config('jit', 'off', true)")


def paying_fans(uow: UnitOfWork, scope: Scope, date_from: date, date_to: date) -> tuple[dict, dict]:
    """({model_id: (paying_fans, net)}, {chatter_id: (paying_fans, net)}): fans whose net (refunds included) on
    the model — for a chatter, over the chatter's records on any model — is > 0, and the sum of their nets. Two
    plain aggregations per fan (a GROUPING SETS of both ran as one slower mixed aggregate)."""
    tune_fans(uow)
    rows = uow.execute(
        f"""
        SELECT 'model' AS kind, f.model_id AS id, count(*) AS paying_fans, {_CENTS.format("sum(f.cents)")} AS net
        FROM (SELECT s.model_id, sum(s.net_cents) AS cents FROM {_fan_rows(scope)}
              GROUP BY s.model_id, s.fan_id) f
        WHERE f.cents > 0 GROUP BY f.model_id
        UNION ALL
        SELECT 'chatter', f.chatter_id, count(*), {_CENTS.format("sum(f.cents)")}
        FROM (SELECT s.chatter_id, sum(s.net_cents) AS cents FROM {_fan_rows(scope)} AND s.chatter_id IS NOT NULL
              GROUP BY s.chatter_id, s.fan_id) f
        WHERE f.cents > 0 GROUP BY f.chatter_id
        """, scope.bind(f=date_from, t=date_to)).all()
    return ({r.id: r for r in rows if r.kind == "model"}, {r.id: r for r in rows if r.kind == "chatter"})


def top_fans(uow: UnitOfWork, scope: Scope, model_id: uuid.UUID, date_from: date, date_to: date, limit: int):
    """A model's paying fans by net (refunds included), ties by fan id; the fan's latest username."""
    return uow.execute(
        f"""
        SELECT s.fan_id, (array_agg(s.fan_username ORDER BY s.last_named_at DESC)
                          FILTER (WHERE s.fan_username IS NOT NULL))[1] AS fan_username,
               {_CENTS.format("sum(s.net_cents)")} AS net, CAST(sum(s.sales_count) AS bigint) AS sales_count
        FROM {_fan_rows(scope)} AND s.model_id = :model
        GROUP BY s.fan_id
        HAVING sum(s.net_cents) > 0
        ORDER BY sum(s.net_cents) DESC, s.fan_id
        LIMIT :limit
        """, scope.bind(f=date_from, t=date_to, model=model_id, limit=limit)).all()


def _buckets(buckets: Sequence[Bucket]) -> dict[str, Any]:
    return {"starts": [b.start.isoformat() for b in buckets], "ends": [b.end.isoformat() for b in buckets]}


_BUCKETS = "unnest(CAST(:starts AS date[]), CAST(:ends AS date[])) AS b(start_day, end_day)"


def income_trend(uow: UnitOfWork, scope: Scope, buckets: Sequence[Bucket]):
    """Net per bucket: all income for the whole agency, the scope's chatting sales otherwise."""
    table = "daily_model_stats" if scope.whole_agency else "daily_chatter_stats"
    predicate = "TRUE" if scope.whole_agency else scope.predicate
    return uow.execute(
        f"""
        SELECT b.start_day, b.end_day, coalesce(sum(s.net), 0) AS net
        FROM {_BUCKETS}
        LEFT JOIN statistics_service.{table} s
               ON s.agency_id = :_agency AND s.day BETWEEN b.start_day AND b.end_day AND {predicate}
        GROUP BY b.start_day, b.end_day
        ORDER BY b.start_day
        """, scope.bind(**_buckets(buckets))).all()


def afv_trend(uow: UnitOfWork, scope: Scope, buckets: Sequence[Bucket], model_id: uuid.UUID | None):
    """Per bucket: net of the models' sales (the whole agency: every sale and refund of a model; a scope: its
    chatting sales) and Σ subscribers at the bucket's end of the models sold for in it; with model_id, that one
    model in every bucket (sales or not)."""
    if scope.whole_agency:  # every sale of a model and its refunds, as model_afv
        table = "daily_model_stats"
        which = f"s.model_id IS NOT NULL AND s.type IN {SALES_AND_REFUNDS_SQL}"
    else:
        table, which = "daily_chatter_stats", scope.predicate
    if model_id is None:
        per_model = f"""
            SELECT b.start_day, b.end_day, s.model_id, sum(s.net) AS net
            FROM {_BUCKETS}
            JOIN statistics_service.{table} s
              ON s.agency_id = :_agency AND s.day BETWEEN b.start_day AND b.end_day AND {which}
            GROUP BY b.start_day, b.end_day, s.model_id
        """
    else:
        per_model = f"""
            SELECT b.start_day, b.end_day, CAST(:model AS uuid) AS model_id, coalesce(sum(s.net), 0) AS net
            FROM {_BUCKETS}
            LEFT JOIN statistics_service.{table} s
              ON s.agency_id = :_agency AND s.day BETWEEN b.start_day AND b.end_day AND {which}
             AND s.model_id = CAST(:model AS uuid)
            GROUP BY b.start_day, b.end_day
        """
    return uow.execute(
        f"""
        WITH per_model AS ({per_model}),
        per_bucket AS (
            SELECT p.start_day, sum(p.net) AS net,
                   CAST(sum(coalesce(snap.subscriber_count, 0)) AS bigint) AS subscribers
            FROM per_model p
            LEFT JOIN LATERAL ({_LATEST_SNAPSHOT.format(model="p.model_id", day="p.end_day")}) snap ON true
            GROUP BY p.start_day
        )
        SELECT b.start_day, b.end_day, coalesce(pb.net, 0) AS net, coalesce(pb.subscribers, 0) AS subscribers
        FROM {_BUCKETS}
        LEFT JOIN per_bucket pb ON pb.start_day = b.start_day
        ORDER BY b.start_day
        """, scope.bind(model=None if model_id is None else str(model_id), **_buckets(buckets))).all()


def period_profit(uow: UnitOfWork, agency_id: uuid.UUID, period: str):
    """The payouts service's stored result for the period (read-only), None before its first calculation."""
    return uow.execute(
        """
        SELECT r.gross_income, r.platform_fees, r.net_income, r.employee_payouts, r.model_payouts, r.expenses,
               r.agency_profit, r.calculated_at, coalesce(p.status, 'open') AS status
        FROM financial_calculations.period_results r
        LEFT JOIN financial_calculations.periods p ON p.agency_id = r.agency_id AND p.period = r.period
        WHERE r.agency_id = :a AND r.period = :p
        """, {"a": agency_id, "p": period}).one_or_none()


def next_dashboard_version(uow: UnitOfWork) -> int:
    return uow.execute("SELECT nextval('statistics_service.dashboard_version')").scalar_one()


def dashboard_digests(uow: UnitOfWork, agency_id: uuid.UUID, periods: Sequence[str]) -> dict[str, str]:
    """The digest of the figures last written to each of these periods' dashboards."""
    rows = uow.execute("SELECT period, digest FROM statistics_service.dashboard_digests "
                       "WHERE agency_id = :a AND period = ANY(:p)", {"a": agency_id, "p": list(periods)}).all()
    return {r.period: r.digest for r in rows}


def save_dashboard_digests(uow: UnitOfWork, agency_id: uuid.UUID, digests: dict[str, str], version: int) -> None:
    uow.execute(
        """
        INSERT INTO statistics_service.dashboard_digests (agency_id, period, digest, version)
        SELECT CAST(:a AS uuid), d.period, d.digest, CAST(:v AS bigint) FROM unnest(CAST(:periods AS text[]), CAST(:digests AS text[])) AS d(period, digest)
        ON CONFLICT (agency_id, period) DO UPDATE
           SET digest = EXCLUDED.digest, version = EXCLUDED.version, built_at = clock_timestamp()
        """, {"a": agency_id, "v": version, "periods": list(digests), "digests": list(digests.values())})


def forget_dashboard_digest(uow: UnitOfWork, agency_id: uuid.UUID, period: str, version: int) -> None:
    """A write that failed: the next refresh writes the period again (unless a newer build already took over)."""
    uow.execute("DELETE FROM statistics_service.dashboard_digests WHERE agency_id = :a AND period = :p "
                "AND version = :v", {"a": agency_id, "p": period, "v": version})


def chatter_readers(uow: UnitOfWork, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[str | None, str | None]]:
    """Each chatter's Firebase uid and their manager's, now (their dashboard documents carry both for
    firestore.rules)."""
    rows = uow.execute("SELECT u.id, u.firebase_uid, m.firebase_uid AS manager_uid FROM user_service.users u "
                       "LEFT JOIN user_service.users m ON m.id = u.manager_id WHERE u.id = ANY(CAST(:ids AS uuid[]))",
                       {"ids": [str(u) for u in user_ids]}).all()
    return {r.id: (r.firebase_uid, r.manager_uid) for r in rows}


def dashboard_chatter_digests(uow: UnitOfWork, agency_id: uuid.UUID,
                              periods: Sequence[str]) -> dict[tuple[str, str], str]:
    """{(period, user_id): digest} of the chatter documents last written for these periods."""
    rows = uow.execute("SELECT period, user_id, digest FROM statistics_service.dashboard_chatter_digests "
                       "WHERE agency_id = :a AND period = ANY(:p)", {"a": agency_id, "p": list(periods)}).all()
    return {(r.period, str(r.user_id)): r.digest for r in rows}


GONE = "gone"  # the digest of a chatter document to delete (kept until the delete succeeded)


def save_dashboard_chatter_digests(uow: UnitOfWork, agency_id: uuid.UUID, digests: dict[tuple[str, str], str],
                                   gone: Sequence[tuple[str, str]], version: int) -> None:
    """Record the chatter documents about to be written, and those about to be deleted (digest GONE, removed
    once the delete succeeded: a failed one is tried again by the next refresh)."""
    rows = {**digests, **{k: GONE for k in gone}}
    if not rows:
        return
    uow.execute(
        """
        INSERT INTO statistics_service.dashboard_chatter_digests (agency_id, period, user_id, digest, version)
        SELECT CAST(:a AS uuid), d.period, d.user_id, d.digest, CAST(:v AS bigint)
        FROM unnest(CAST(:periods AS text[]), CAST(:users AS uuid[]), CAST(:digests AS text[]))
             AS d(period, user_id, digest)
        ON CONFLICT (agency_id, period, user_id) DO UPDATE
           SET digest = EXCLUDED.digest, version = EXCLUDED.version, built_at = clock_timestamp()
        """, {"a": agency_id, "v": version, "periods": [p for p, _ in rows], "users": [u for _, u in rows],
              "digests": list(rows.values())})


def forget_dashboard_chatter_digests(uow: UnitOfWork, agency_id: uuid.UUID, keys: Sequence[tuple[str, str]],
                                     version: int) -> None:
    """Digest rows of this build's version to drop: chatter documents whose write failed (the next refresh
    writes them again, unless a newer build took over) and deletes that succeeded."""
    if not keys:
        return
    uow.execute(
        "DELETE FROM statistics_service.dashboard_chatter_digests d USING unnest(CAST(:periods AS text[]), "
        "CAST(:users AS uuid[])) AS g(period, user_id) WHERE d.agency_id = :a AND d.period = g.period "
        "AND d.user_id = g.user_id AND d.version = :v",
        {"a": agency_id, "v": version, "periods": [p for p, _ in keys], "users": [u for _, u in keys]})


# --- subscriber counts -----------------------------------------------------------------------------------------

SNAPSHOT_COLUMNS = ("id, agency_id, model_id, subscriber_count, observed_at, observed_on, source, recorded_by, "
                    "received_at")


def model_timezone(uow: UnitOfWork, agency_id: uuid.UUID, model_id: uuid.UUID) -> str | None:
    """The agency's time zone when the model belongs to it; None for an unknown model or another agency's."""
    return uow.execute(
        "SELECT a.timezone FROM user_service.models m JOIN user_service.agencies a ON a.id = m.agency_id "
        "WHERE m.id = :m AND m.agency_id = :a", {"a": agency_id, "m": model_id}).scalar()


def upsert_snapshot(uow: UnitOfWork, values: dict[str, Any]):
    """Store an observation; a resend of the same (model, instant, count) changes nothing and returns None."""
    return uow.execute(
        f"""
        INSERT INTO statistics_service.subscriber_count_snapshots
            (agency_id, model_id, subscriber_count, observed_at, observed_on, source, recorded_by)
        VALUES (:agency_id, :model_id, :subscriber_count, :observed_at, :observed_on, :source, :recorded_by)
        ON CONFLICT ON CONSTRAINT subscriber_count_snapshots_observation DO UPDATE
           SET subscriber_count = EXCLUDED.subscriber_count, source = EXCLUDED.source,
               recorded_by = EXCLUDED.recorded_by, updated_at = clock_timestamp()
         WHERE subscriber_count_snapshots.subscriber_count <> EXCLUDED.subscriber_count
        RETURNING {SNAPSHOT_COLUMNS}
        """, values).one_or_none()


def get_snapshot(uow: UnitOfWork, model_id: uuid.UUID, observed_at: datetime):
    return uow.execute(
        f"SELECT {SNAPSHOT_COLUMNS} FROM statistics_service.subscriber_count_snapshots "
        "WHERE model_id = :m AND observed_at = :at", {"m": model_id, "at": observed_at}).one()


def list_snapshots(uow: UnitOfWork, caller: Caller, *, model_id: uuid.UUID | None,
                   after: tuple[datetime, int] | None, limit: int):
    """Newest observation first, of the models the caller may see; keyset cursor (observed_at, id)."""
    scope, params = model_scope(caller, "snap.model_id")  # qualified: the scope's subquery has a model_id too
    return uow.execute(
        f"""
        SELECT {SNAPSHOT_COLUMNS} FROM statistics_service.subscriber_count_snapshots snap
        WHERE agency_id = :a AND (CAST(:m AS uuid) IS NULL OR model_id = CAST(:m AS uuid)) AND {scope}
          AND (CAST(:after_at AS timestamptz) IS NULL
               OR (observed_at, id) < (CAST(:after_at AS timestamptz), :after_id))
        ORDER BY observed_at DESC, id DESC
        LIMIT :limit
        """,
        {**params, "a": caller.agency_id, "m": None if model_id is None else str(model_id),
         "after_at": after[0] if after else None, "after_id": after[1] if after else 0, "limit": limit}).all()
