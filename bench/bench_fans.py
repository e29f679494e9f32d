"""Fan statistics (issue #16, docs/stats.md "Fans"): GET /api/stats/afv/ (paying fans of every model and chatter of
the month) and GET /api/stats/top-fans/ (one model's month) through the use cases' figures, before (BEFORE_REV's
queries.py: read from income_records joined to platform_transactions) and now (daily_fan_stats), in one run:

  (a) a self-reported agency: SALES chatting sales of the month, no platform transaction;
  (b) the same sales imported (origin 'import'), each with its platform transaction and one of FANS fan ids
      (bench_chain's agency: 950 chatters, 50 models), aggregates rebuilt.

Checks both answers equal; prints median / p95 of ROUNDS calls each. A database of its own (BENCH_DB), dropped.

    SALES=100000 FANS=20000 ROUNDS=10 .venv/bin/python bench/bench_fans.py
"""
from __future__ import annotations

import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_chain import database_of_its_own, seed  # noqa: E402

SALES = int(os.environ.get("SALES", "100000"))
FANS = int(os.environ.get("FANS", "20000"))
ROUNDS = int(os.environ.get("ROUNDS", "10"))
BEFORE_REV = os.environ.get("BEFORE_REV", "cdb2ee3")  # the last commit reading fans from the records


def timed(fn, rounds: int = ROUNDS) -> tuple[float, float, object]:
    ms, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = fn()
        ms.append((time.perf_counter() - start) * 1000)
    return statistics.median(ms), sorted(ms)[max(0, round(0.95 * len(ms)) - 1)], result


def queries_before():
    """functions/stats/queries.py as of BEFORE_REV, imported as a module of the package (its relative imports)."""
    source = subprocess.run(["git", "show", f"{BEFORE_REV}:functions/stats/queries.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "queries_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("functions.stats.queries_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def drop_database(name: str) -> None:
    import pg8000.native

    from shared_lib import db

    db.dispose_engine()
    admin = pg8000.native.Connection("postgres", host="127.0.0.1", database="postgres")
    admin.run(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


def main() -> None:
    os.environ.setdefault("BENCH_DB", "om_bench_fans")
    database_of_its_own()
    from functions.stats import figures, queries, service
    from functions.stats.queries import Scope
    from functions.stats.rules import Slice
    from functions.stats.schemas import Afv
    from shared_lib.db import unit_of_work

    before = queries_before()
    rows, notes = [], []

    def analyze():
        with unit_of_work() as uow:
            for table in ("income_service.income_records", "income_service.platform_transactions",
                          "statistics_service.daily_model_stats", "statistics_service.daily_chatter_stats",
                          "statistics_service.daily_fan_stats"):
                uow.execute(f"ANALYZE {table}")

    def afv_before(uow, scope, first, last):
        base = figures.afv(uow, scope, first, last)
        by_model, by_chatter = before.paying_fans(uow, scope, first, last)
        return Afv(date_from=first, date_to=last,
                   models=[figures.ModelFanAfv(**m.model_dump(), **figures._fans(by_model.get(m.model_id)))
                           for m in base.models],
                   chatters=[figures.ChatterFanAfv(**c.model_dump(), **figures._fans(by_chatter.get(c.user_id)))
                             for c in base.chatters])

    def measure(case: str, agency, model):
        scope, first, last = Scope.agency(agency), date(2026, 11, 1), date(2026, 11, 30)
        with unit_of_work() as uow:
            med, p95, _ = timed(lambda: figures.afv(uow, scope, first, last))
            rows.append((case, "AFV from the aggregates alone (4ed8b7f's answer)", med, p95))
            med, p95, old = timed(lambda: afv_before(uow, scope, first, last))
            rows.append((case, f"GET /api/stats/afv/ before ({BEFORE_REV}: fans from the records)", med, p95))
            med, p95, new = timed(lambda: figures.afv_with_fans(uow, scope, first, last))
            rows.append((case, "GET /api/stats/afv/ now (daily_fan_stats)", med, p95))
            assert old == new, "the AFV answers differ"
            med, p95, old_top = timed(lambda: figures.TopFans(model_id=model, date_from=first, date_to=last, items=[
                figures.TopFan(fan_id=r.fan_id, fan_username=r.fan_username, net=r.net, sales_count=r.sales_count)
                for r in before.top_fans(uow, scope, model, first, last, 10)]))
            rows.append((case, "GET /api/stats/top-fans/ before, one model's month", med, p95))
            med, p95, top = timed(lambda: figures.top_fans(uow, scope, model, first, last, 10))
            rows.append((case, "GET /api/stats/top-fans/ now", med, p95))
            assert old_top == top, "the top fans differ"
            # One income event's catch-up (its model and chatter slice), and the fan rows' share of it.
            sales = uow.execute("SELECT sale_date, model_id, type, chatter_id FROM income_service.income_records "
                                "WHERE agency_id = :a ORDER BY random() LIMIT :n", {"a": agency, "n": ROUNDS}).all()
            slices = iter([Slice(r.sale_date, r.model_id, r.type, r.chatter_id) for r in sales] * 2)
            med, p95, _ = timed(lambda: queries.recompute_income_slices(uow, agency, [next(slices)]))
            rows.append((case, "one event's slice recompute (model + chatter slice, fans included)", med, p95))
            med, p95, _ = timed(lambda: queries.recompute_fan_slices(
                uow, {"a": agency, **queries._slice_arrays([next(slices)])}, "TRUE"))
            rows.append((case, "  of which the fan rows (recompute_fan_slices)", med, p95))
            notes.append(f"{case}: {len(new.models)} models, {len(new.chatters)} chatters, model 1 "
                         f"{new.models[0].paying_fans} paying fans, top fan "
                         f"{top.items[0].fan_id if top.items else None}")

    t = time.perf_counter()
    with unit_of_work() as uow:
        agency = seed(uow, SALES)["agency"]
        service.stats_rebuild(uow=uow, agency_id=agency)
    analyze()
    with unit_of_work() as uow:
        model = uow.execute("SELECT id FROM user_service.models WHERE agency_id = :a ORDER BY name LIMIT 1",
                            {"a": agency}).scalar_one()
    notes.append(f"seed (a) {time.perf_counter() - t:.1f} s")
    measure("(a) self-reported", agency, model)

    t = time.perf_counter()
    with unit_of_work() as uow:
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
    notes.append(f"import (b) {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    with unit_of_work() as uow:
        service.stats_rebuild(uow=uow, agency_id=agency)
        fan_rows = uow.execute("SELECT count(*) FROM statistics_service.daily_fan_stats").scalar_one()
    notes.append(f"rebuild (b) with daily_fan_stats {time.perf_counter() - t:.1f} s, {fan_rows:,} fan rows")
    analyze()
    measure("(b) imported", agency, model)
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    print(f"{SALES:,} sales in the month, {FANS:,} fan ids, {ROUNDS} calls each; load average {' '.join(load)}")
    print("; ".join(notes))
    print("| agency | question (one month) | median ms | p95 ms |\n|---|---|---|---|")
    for case, name, med, p95 in rows:
        print(f"| {case} | {name} | {med:.1f} | {p95:.1f} |")
    if not os.environ.get("BENCH_KEEP"):
        drop_database(os.environ["BENCH_DB"])


if __name__ == "__main__":
    main()
