"""Fan statistics read from the records (issue #16, docs/stats.md "Fans"): GET /api/stats/afv/'s paying fans (every
model and chatter of the month) and GET /api/stats/top-fans/ (one model's month), timed through the use cases at
SALES imported sales in a month, each with its platform transaction and one of FANS fan ids (bench_chain's agency:
950 chatters, 50 models). Prints median / p95 of ROUNDS calls each, beside the AFV from the aggregates alone.

    SALES=100000 FANS=20000 ROUNDS=20 .venv/bin/python bench/bench_fans.py
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_chain import database_of_its_own, seed  # noqa: E402

SALES = int(os.environ.get("SALES", "100000"))
FANS = int(os.environ.get("FANS", "20000"))
ROUNDS = int(os.environ.get("ROUNDS", "20"))


def timed(fn, rounds: int = ROUNDS) -> tuple[float, float, object]:
    ms, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = fn()
        ms.append((time.perf_counter() - start) * 1000)
    q = statistics.quantiles(ms, n=20)
    return statistics.median(ms), q[18], result


def main() -> None:
    os.environ.setdefault("BENCH_DB", "om_bench_fans")
    database_of_its_own()  # a database of its own (never DATABASE_URL's: bench_chain.database_of_its_own)
    from functions.stats import figures, queries
    from functions.stats.queries import Scope
    from shared_lib.db import unit_of_work

    t = time.perf_counter()
    with unit_of_work() as uow:
        agency = seed(uow, SALES)["agency"]
        uow.execute("UPDATE income_service.income_records SET origin = 'import', verified = true "
                    "WHERE agency_id = :a", {"a": agency})
        uow.execute(
            """INSERT INTO income_service.platform_transactions
                   (agency_id, model_id, transaction_id, occurred_at, type, gross_amount, status, fan_id,
                    fan_username, income_id)
               SELECT r.agency_id, r.model_id, r.id::text, r.sale_date + time '12:00', 
                      CASE r.type WHEN 'tip_sale' THEN 'tip' ELSE 'message' END, r.gross_amount, 'cleared',
                      'f' || mod(abs(hashtext(r.id::text)), :fans), 'fan' || mod(abs(hashtext(r.id::text)), :fans),
                      r.id
               FROM income_service.income_records r WHERE r.agency_id = :a""", {"a": agency, "fans": FANS})
        from functions.stats import service

        service.stats_rebuild(uow=uow, agency_id=agency)
    with unit_of_work() as uow:
        for table in ("income_service.income_records", "income_service.platform_transactions",
                      "statistics_service.daily_model_stats", "statistics_service.daily_chatter_stats"):
            uow.execute(f"ANALYZE {table}")
        model = uow.execute("SELECT id FROM user_service.models WHERE agency_id = :a ORDER BY name LIMIT 1",
                            {"a": agency}).scalar_one()
    seed_s = time.perf_counter() - t
    scope, first, last = Scope.agency(agency), date(2026, 11, 1), date(2026, 11, 30)
    rows = []
    with unit_of_work() as uow:
        rows.append(("AFV from the aggregates alone (models and chatters)",
                     *timed(lambda: figures.afv(uow, scope, first, last))[:2]))
        med, p95, fans = timed(lambda: queries.paying_fans(uow, scope, first, last))
        rows.append(("paying fans of every model and chatter (read from the records)", med, p95))
        med, p95, answer = timed(lambda: figures.afv_with_fans(uow, scope, first, last))
        rows.append(("GET /api/stats/afv/ use case (both)", med, p95))
        med, p95, top = timed(lambda: figures.top_fans(uow, scope, model, first, last, 10))
        rows.append(("GET /api/stats/top-fans/ use case, one model's month", med, p95))
    print(f"{SALES:,} imported sales in the month, {FANS:,} fan ids, {ROUNDS} calls each; seed {seed_s:.1f} s; "
          f"{len(answer.models)} models, {len(answer.chatters)} chatters, model 1: {answer.models[0].paying_fans} "
          f"paying fans; top fan {top.items[0].fan_id} {top.items[0].net}")
    print("| question (one agency, one month) | median ms | p95 ms |\n|---|---|---|")
    for name, med, p95 in rows:
        print(f"| {name} | {med:.1f} | {p95:.1f} |")


if __name__ == "__main__":
    main()
