"""Statistics latency: pre-aggregated answers vs a direct SUM over 2,000,000 income records (prints JSON)."""

# Loads 2,000,000 income records for 20 agencies over one year (one INSERT … SELECT generate_series), builds the
# daily aggregates with the rebuild function, then times summary, top earners and the income trend (median and
# p95 over CALLS calls each, for a month and for the whole year) both ways and checks both give the same answer.
# ROWS=… loads another number of rows. It empties the bench database's user, income, expense and statistics
# tables first (bench/common.py's database(): never the development or test database).
from __future__ import annotations

import json
import os
import time
from datetime import date, timedelta

from common import database, summary, timed

ROWS = int(os.environ.get("ROWS", "2000000"))
AGENCIES, CHATTERS, MODELS = 20, 20, 10
LAST_DAY = date(2026, 10, 31)
FIRST_DAY = LAST_DAY - timedelta(days=364)
CALLS = 30


def load(uow) -> None:
    """Agencies, people, models and the income/expense truth, set-based (no Python loop over rows)."""
    uow.execute("""TRUNCATE statistics_service.daily_model_stats, statistics_service.daily_chatter_stats,
                   statistics_service.daily_expense_stats, statistics_service.subscriber_count_snapshots,
                   income_service.income_records, expense_service.expenses,
                   user_service.model_assignments, user_service.models, user_service.users,
                   user_service.agencies CASCADE""")
    uow.execute("""
        CREATE TEMP TABLE bench_agency ON COMMIT DROP AS
        SELECT n, gen_random_uuid() AS id FROM generate_series(0, :agencies - 1) n""", {"agencies": AGENCIES})
    uow.execute("""INSERT INTO user_service.agencies (id, name, timezone)
                   SELECT id, 'Bench agency ' || n, 'UTC' FROM bench_agency""")
    uow.execute("""
        CREATE TEMP TABLE bench_user ON COMMIT DROP AS
        SELECT a.n AS agency_n, a.id AS agency_id, c AS chatter_n, gen_random_uuid() AS id
        FROM bench_agency a CROSS JOIN generate_series(0, :chatters - 1) c""", {"chatters": CHATTERS})
    # Two managers per agency, each with half the chatters as a team.
    uow.execute("""
        INSERT INTO user_service.users (id, agency_id, firebase_uid, display_name, role)
        SELECT gen_random_uuid(), a.id, 'bench-' || a.n || '-m' || m, 'Manager ' || m, 'manager'
        FROM bench_agency a CROSS JOIN generate_series(0, 1) m""")
    uow.execute("""
        INSERT INTO user_service.users (id, agency_id, firebase_uid, display_name, role, manager_id)
        SELECT u.id, u.agency_id, 'bench-' || u.agency_n || '-c' || u.chatter_n, 'Chatter ' || u.chatter_n,
               'chatter', (SELECT id FROM user_service.users WHERE agency_id = u.agency_id AND role = 'manager'
                           AND firebase_uid = 'bench-' || u.agency_n || '-m' || mod(u.chatter_n, 2))
        FROM bench_user u""")
    uow.execute("""
        CREATE TEMP TABLE bench_model ON COMMIT DROP AS
        SELECT a.n AS agency_n, a.id AS agency_id, m AS model_n, gen_random_uuid() AS id
        FROM bench_agency a CROSS JOIN generate_series(0, :models - 1) m""", {"models": MODELS})
    uow.execute("""INSERT INTO user_service.models (id, agency_id, name)
                   SELECT id, agency_id, 'Model ' || model_n FROM bench_model""")
    # Row g: agency mod(g, 20), chatter and model from g, one in ten other income, a day of the year, 1.00–500.99.
    uow.execute("""
        INSERT INTO income_service.income_records
            (agency_id, type, gross_amount, fee_percent, fee_amount, net_amount, sale_date, model_id, chatter_id,
             registered_by_user_id)
        SELECT a.id, x.type, x.gross,
               CASE WHEN x.type = 'other_income' THEN 0 ELSE 20.00 END,
               CASE WHEN x.type = 'other_income' THEN 0 ELSE round(x.gross * 0.20, 2) END,
               x.gross - CASE WHEN x.type = 'other_income' THEN 0 ELSE round(x.gross * 0.20, 2) END,
               CAST(:first AS date) + CAST(mod(g / :agencies, 365) AS integer),
               m.id, CASE WHEN x.type = 'other_income' THEN NULL ELSE u.id END, u.id
        FROM generate_series(CAST(0 AS bigint), :rows - 1) g
        CROSS JOIN LATERAL (SELECT CASE WHEN mod(g, 10) = 9 THEN 'other_income'
                                        WHEN mod(g, 10) < 6 THEN 'message_sale' ELSE 'tip_sale' END AS type,
                                   round(1 + mod(g * 7919, 50000) / 100.0, 2) AS gross) x
        JOIN bench_agency a ON a.n = CAST(mod(g, :agencies) AS integer)
        JOIN bench_user u ON u.agency_n = a.n AND u.chatter_n = CAST(mod(g / :agencies, :chatters) AS integer)
        JOIN bench_model m ON m.agency_n = a.n AND m.model_n = CAST(mod(g / (:agencies * 7), :models) AS integer)
        """, {"rows": ROWS, "agencies": AGENCIES, "chatters": CHATTERS, "models": MODELS, "first": FIRST_DAY})
    uow.execute("""
        INSERT INTO expense_service.expenses (agency_id, amount, expense_date, source, created_by)
        SELECT a.id, 10 + mod(d, 90), CAST(:first AS date) + d, 'bench', a.id
        FROM bench_agency a CROSS JOIN generate_series(0, 364) d""", {"first": FIRST_DAY})
    uow.execute("""
        INSERT INTO statistics_service.subscriber_count_snapshots
            (agency_id, model_id, subscriber_count, observed_at, observed_on, source)
        SELECT m.agency_id, m.id, 1000 + 37 * m.model_n + 11 * k, CAST(:first AS timestamptz) + k * interval '30 days',
               CAST(:first AS date) + k * 30, 'scraper'
        FROM bench_model m CROSS JOIN generate_series(0, 12) k""", {"first": FIRST_DAY})


DIRECT_SUMMARY = """
    SELECT sum(r.gross_amount), sum(r.fee_amount), sum(r.net_amount),
           count(*) FILTER (WHERE r.type IN ('message_sale', 'tip_sale')),
           (SELECT coalesce(sum(e.amount), 0) FROM expense_service.expenses e
            WHERE e.agency_id = :a AND e.expense_date BETWEEN :f AND :t)
    FROM income_service.income_records r WHERE r.agency_id = :a AND r.sale_date BETWEEN :f AND :t"""
DIRECT_TOP = """
    SELECT r.chatter_id, sum(r.net_amount) AS net, count(*) FROM income_service.income_records r
    JOIN user_service.users u ON u.id = r.chatter_id
    WHERE r.agency_id = :a AND r.sale_date BETWEEN :f AND :t AND r.type IN ('message_sale', 'tip_sale')
    GROUP BY r.chatter_id, u.display_name ORDER BY net DESC, lower(u.display_name), u.display_name, r.chatter_id
    LIMIT 5"""
DIRECT_TREND = """
    WITH per_day AS (
        SELECT r.sale_date, sum(r.net_amount) AS net FROM income_service.income_records r
        WHERE r.agency_id = :a AND r.sale_date BETWEEN :f AND :t GROUP BY r.sale_date)
    SELECT b.s, coalesce(sum(p.net), 0)
    FROM unnest(CAST(:starts AS date[]), CAST(:ends AS date[])) AS b(s, e)
    LEFT JOIN per_day p ON p.sale_date BETWEEN b.s AND b.e
    GROUP BY b.s ORDER BY b.s"""


def main() -> None:
    database()
    from shared_lib.db import unit_of_work
    from shared_lib.rbac import Caller, Role

    from functions.stats import rules, service
    from functions.stats.rebuild import rebuild
    from functions.stats.schemas import RangeQuery, TopEarnersQuery, TrendQuery

    out: dict = {"rows": ROWS, "agencies": AGENCIES, "days": 365, "calls": CALLS}
    t = time.perf_counter()
    with unit_of_work() as uow:
        load(uow)
    out["load_seconds"] = round(time.perf_counter() - t, 1)
    with unit_of_work() as uow:
        uow.execute("ANALYZE income_service.income_records")
        uow.execute("ANALYZE expense_service.expenses")
    t = time.perf_counter()
    rebuild()
    out["rebuild_seconds"] = round(time.perf_counter() - t, 1)
    with unit_of_work() as uow:
        for table in ("daily_model_stats", "daily_chatter_stats", "daily_expense_stats"):
            uow.execute(f"ANALYZE statistics_service.{table}")
        out["aggregate_rows"] = {table: uow.execute(f"SELECT count(*) FROM statistics_service.{table}").scalar()
                                 for table in ("daily_model_stats", "daily_chatter_stats", "daily_expense_stats")}
        picked = uow.execute("""SELECT a.id AS agency_id, u.id FROM user_service.agencies a
                               JOIN user_service.users u ON u.agency_id = a.id AND u.role = 'manager'
                               ORDER BY a.name, u.firebase_uid LIMIT 1""").one()
    # The first agency, asked as its Owner (the whole agency is in scope).
    caller = Caller(user_id=picked.id, agency_id=picked.agency_id, role=Role.owner, firebase_uid="bench",
                    display_name="Bench", email=None)

    def run(fn, **kw):
        with unit_of_work() as uow:
            return fn(uow=uow, caller=caller, **kw)

    def direct(sql, **params):
        with unit_of_work() as uow:
            return uow.execute(sql, {"a": caller.agency_id, **params}).all()

    results = {}
    for label, first in (("month", LAST_DAY.replace(day=1)), ("year", FIRST_DAY)):
        rng = {"f": first, "t": LAST_DAY}
        q = {"date_from": first.isoformat(), "date_to": LAST_DAY.isoformat()}
        granularity = "daily" if label == "month" else "monthly"
        buckets = rules.buckets(first, LAST_DAY, granularity)
        starts = {"starts": [b.start.isoformat() for b in buckets], "ends": [b.end.isoformat() for b in buckets]}
        questions = {
            "summary": (lambda: run(service.stats_summary, q=RangeQuery(**q)),
                        lambda: direct(DIRECT_SUMMARY, **rng)),
            "top_earners": (lambda: run(service.stats_top_earners, q=TopEarnersQuery(**q)),
                            lambda: direct(DIRECT_TOP, **rng)),
            f"trend_income_{granularity}": (
                lambda: run(service.stats_income_trend, q=TrendQuery(**q, granularity=granularity)),
                lambda: direct(DIRECT_TREND, **rng, **starts)),
        }
        for name, (pre, raw) in questions.items():
            same = _same(name, pre(), raw())
            pre_t, raw_t = summary(timed(pre, CALLS)), summary(timed(raw, CALLS))
            results[f"{name}_{label}"] = {
                "pre_aggregated": pre_t, "direct_sum": raw_t, "same_answer": same,
                "speedup_median": round(raw_t["median_ms"] / pre_t["median_ms"], 1)}
    out["questions"] = results
    print(json.dumps(out, indent=2))


def _same(name: str, pre, raw) -> bool:
    """Both ways give the same figures (the bench checks what it times)."""
    if name == "summary":
        g, f, n, c, e = raw[0]
        return (pre.gross_income, pre.platform_fees, pre.net_income, pre.sales_count, pre.expenses) == (g, f, n, c, e)
    if name == "top_earners":
        return [(i.user_id, i.net_sales, i.sales_count) for i in pre.items] == [tuple(r) for r in raw]
    return [(b.start, b.value) for b in pre.buckets] == [tuple(r) for r in raw]


if __name__ == "__main__":
    main()
