"""A 50,000-row platform import (issue #16) through HTTP and the event chain until payouts and statistics are current,
then the same 50,000 again (all duplicates).

Seeds one agency in SQL on a fresh migrated database (bench_chain.seed: 1,000 people — an owner, 50 managers, 950
chatters on commission — 50 models with a 50 % share, every chatter assigned to 2 models, SALES self-reported sales
in November 2026); the imported model's chatters get one 8-hour time entry each in rotation, three a day, so every
transaction has someone on shift. Payouts and statistics are computed once by their use cases. Then, on the
in-process local platform (emulator/platform.py: the WSGI app and the memory bus, BUS_WORKERS delivery threads —
never the shared Pub/Sub fake), it POSTs ROWS transactions for that one model to /api/income/imports/ as JSON
(the import's 24 MiB body limit): MATCHED of them match the model's self-reported sales, REVERSED are first seen
reversed (a sale and its chargeback on its date), the rest new message / tip / subscription / post sales over the
month. It measures the POST, then the time from its answer until the payouts' period result and the statistics
aggregates equal the truth (one income.imported each consumer handles once), then the re-import's POST.

    .venv/bin/python bench/bench_import.py        # SALES=20000 ROWS=50000 MATCHED=5000 REVERSED=500 TIMEOUT=300
    OUT=bench/results/import.md (default) gets the table; JSON on stdout.

A benchmark, not a test: it drops and recreates the om_bench_import database.
"""
from __future__ import annotations

import json
import os
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from common import ROOT

os.environ.setdefault("BENCH_DB", "om_bench_import")
from bench_chain import DAYS, MONTH, PERIOD, Probe, database_of_its_own, seed, wait_until  # noqa: E402

SALES = int(os.environ.get("SALES", "20000"))
ROWS = int(os.environ.get("ROWS", "50000"))
MATCHED = int(os.environ.get("MATCHED", "5000"))
REVERSED = int(os.environ.get("REVERSED", "500"))
TIMEOUT = float(os.environ.get("TIMEOUT", "300"))
OUT = Path(os.environ.get("OUT", str(ROOT / "bench" / "results" / "import.md")))
TYPES = ("message", "message", "tip", "subscription", "post")


def shifts(uow, agency, model) -> int:
    """Three 8-hour time entries a day in November for the model's chatters in turn: always one on shift."""
    return uow.execute("""
        WITH c AS (SELECT row_number() OVER (ORDER BY ma.user_id) - 1 AS k, ma.user_id, count(*) OVER () AS n
                   FROM user_service.model_assignments ma WHERE ma.model_id = :m),
        slot AS (SELECT s, c.user_id,
                        CAST(:month AS timestamp) AT TIME ZONE 'UTC' + make_interval(hours => 8 * s) AS at
                 FROM generate_series(0, 3 * :days - 1) s JOIN c ON c.k = mod(s, c.n)),
        sh AS (INSERT INTO timetracking_service.shifts (agency_id, user_id, starts_at, ends_at, status)
               SELECT :a, user_id, at, at + interval '8 hours', 'attended' FROM slot RETURNING id, user_id, starts_at)
        INSERT INTO timetracking_service.time_entries (agency_id, user_id, shift_id, checked_in_at, checked_out_at,
                                                       worked_minutes, overtime_minutes, source)
        SELECT :a, user_id, id, starts_at, starts_at + interval '8 hours', 480, 0, 'http' FROM sh
        """, {"a": agency, "m": model, "month": MONTH, "days": DAYS}).rowcount


def transactions(uow, model) -> list[dict]:
    """ROWS rows for the model: MATCHED matching its self-reported sales (same type, gross and date), REVERSED
    first seen reversed, the rest new sales spread over the month."""
    sales = uow.execute("""SELECT type, gross_amount, sale_date FROM income_service.income_records
                           WHERE model_id = :m AND origin = 'self' ORDER BY created_at, id LIMIT :n""",
                        {"m": model, "n": MATCHED}).all()
    rows = [{"transaction_id": f"m-{i}", "type": s.type.removesuffix("_sale"), "gross_amount": str(s.gross_amount),
             "occurred_at": datetime.combine(s.sale_date, datetime.min.time(), UTC).replace(hour=12).isoformat(),
             "status": "cleared", "fan_id": f"fan-{i % 3000}"} for i, s in enumerate(sales)]
    start = datetime.combine(MONTH, datetime.min.time(), UTC)
    for n in range(ROWS - len(rows)):
        at = start + timedelta(days=n % DAYS, seconds=(n * 97) % 86400)
        rows.append({"transaction_id": f"t-{n}", "type": TYPES[n % len(TYPES)],
                     "gross_amount": f"{5 + (n * 37) % 4500 / 100:.2f}", "occurred_at": at.isoformat(),
                     "status": "reversed" if n < REVERSED else "cleared", "fan_id": f"fan-{n % 3000}",
                     "fan_username": f"fan_{n % 3000}"})
    return rows


def main() -> None:
    os.environ.pop("PUBSUB_EMULATOR_HOST", None)  # the memory bus: never a backlog on the shared fake
    os.environ.setdefault("DB_POOL_SIZE", "5")
    os.environ.setdefault("DB_MAX_OVERFLOW", "3")
    url = database_of_its_own()
    from emulator.platform import Platform
    from shared_lib.auth import mint_emulator_token
    from shared_lib.db import unit_of_work
    from shared_lib.periods import Period

    from functions.payouts import service as payouts
    from functions.stats import dashboard, service as stats

    out: dict = {"sales_in_month": SALES, "rows": ROWS, "people": 1001, "models": 50, "bus": "memory",
                 "bus_workers": int(os.environ.get("BUS_WORKERS", "2")), "via": "HTTP POST /api/income/imports/ (JSON)"}
    t = time.perf_counter()
    with unit_of_work() as uow:
        agency = seed(uow, SALES)["agency"]
        model = uow.execute("SELECT id FROM user_service.models WHERE agency_id = :a ORDER BY name LIMIT 1",
                            {"a": agency}).scalar_one()
        out["time_entries"] = shifts(uow, agency, model)
        rows = transactions(uow, model)
    out["matched_candidates"] = sum(1 for r in rows if r["transaction_id"].startswith("m-"))
    with unit_of_work() as uow:
        for table in ("income_service.income_records", "user_service.users", "user_service.model_assignments",
                      "timetracking_service.time_entries"):
            uow.execute(f"ANALYZE {table}")
        stats.stats_rebuild(uow=uow, agency_id=agency)
        dashboard.refresh(uow, agency, [Period.parse(PERIOD)], force=True)
    with unit_of_work() as uow:
        payouts.period_recalculate(uow=uow, agency_id=agency, period=Period.parse(PERIOD))
    out["setup_s"] = round(time.perf_counter() - t, 1)

    platform = Platform.start(migrate=False)
    client = platform.wsgi_app().test_client()
    headers = {"Authorization": "Bearer " + mint_emulator_token("chain-owner", "owner@bench.test", name="Owner")}
    probe = Probe(url, agency)
    platform.drain(60)
    body = json.dumps({"model_id": str(model), "transactions": rows})
    out["body_mib"] = round(len(body) / 2 ** 20, 1)
    before = probe.handled()

    t = time.perf_counter()
    r = client.post("/api/income/imports/", data=body, headers={**headers, "Content-Type": "application/json"})
    answered = time.perf_counter()
    if r.status_code != 200:
        raise SystemExit(f"import answered {r.status_code}: {r.get_data(as_text=True)[:2000]}")
    result = r.get_json()
    out["import"] = {"post_s": round(answered - t, 1),
                     "result": {k: v for k, v in result.items() if k not in ("conflicts", "fee_mismatches")}}
    got = wait_until(probe, probe.truth(), answered, TIMEOUT, ("payouts", "stats"))
    out["import"]["current_after_s"] = {p: None if v is None else round(v, 1) for p, v in got.items()}
    done = [v for v in got.values() if v is not None]
    out["import"]["total_s"] = round(answered - t + max(done), 1) if len(done) == len(got) else None
    platform.drain(TIMEOUT)
    after = probe.handled()
    out["import"]["handled"] = {k: after.get(k, 0) - before.get(k, 0) for k in after
                                if after.get(k, 0) - before.get(k, 0)}
    out["import"]["events"] = probe.conn.run("SELECT type, count(*), max(length(payload::text)) FROM eventing.outbox "
                                             "WHERE type LIKE 'income.%' GROUP BY type")

    events = probe.conn.run("SELECT count(*) FROM eventing.outbox")[0][0]
    t = time.perf_counter()
    r = client.post("/api/income/imports/", data=body, headers={**headers, "Content-Type": "application/json"})
    again = r.get_json()
    out["reimport"] = {"post_s": round(time.perf_counter() - t, 1), "duplicate": again.get("duplicate"),
                       "new": again.get("new"), "events_written": probe.conn.run(
                           "SELECT count(*) FROM eventing.outbox")[0][0] - events}
    platform.stop()
    print(json.dumps(out, indent=2, default=str))
    write_table(out)


def write_table(out: dict) -> None:
    i, again = out["import"], out["reimport"]
    res = i["result"]
    lines = [f"# Import benchmark ({out['rows']:,} transactions for one model)", "",
             f"{out['people']:,} people, {out['models']} models, {out['sales_in_month']:,} self-reported sales in "
             f"the month, {out['time_entries']} time entries; via {out['via']}, body {out['body_mib']} MiB; bus: "
             f"{out['bus']} ({out['bus_workers']} delivery threads); {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}."
             f" Setup {out['setup_s']} s. The machine's 2 cores are shared with other work: figures are noisy.", "",
             f"Import: new {res['new']:,}, matched {res['matched']:,}, reversed {res['reversed']:,}, unattributed "
             f"{res['unattributed']:,}.", "",
             "| step | s |", "|---|---|",
             f"| POST (classify, match, attribute, write, one event) | {i['post_s']} |"]
    for part, v in i["current_after_s"].items():
        lines.append(f"| {part} current, after the answer | {'not within ' + str(TIMEOUT) if v is None else v} |")
    lines += [f"| **total, POST to both current** | **{i['total_s']}** |",
              f"| re-import of the same rows (all {again['duplicate']:,} duplicates, {again['events_written']} "
              f"events) | {again['post_s']} |", "",
              "Events handled: " + ", ".join(f"{k} {v}" for k, v in sorted(i["handled"].items())) +
              "; income events written: " + ", ".join(f"{t} {n} (largest payload {b:,} bytes)"
                                                      for t, n, b in i["events"]) + ".", ""]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines))
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
