"""One sale's chain (register → payouts → statistics → Firestore dashboard) and a 50,000-sale burst (issue #13).

Seeds one agency in SQL on a fresh migrated database (bench/common.py): 1,000 people (an owner, 50 managers,
950 chatters on commission, each manager's team 19 chatters), 50 models (a model share each), every chatter
assigned to 2 models, SALES sales in MONTH (one INSERT … SELECT generate_series); payouts and statistics are
computed once by their use cases. Then, on the local platform in this process (emulator/platform.py: its bus
and every handler), it registers SINGLE sales one at a time through POST /api/income/register/ (the WSGI app
in process) and measures, per sale, the time until the payouts' period result, the statistics aggregates and
the Firestore dashboard (when FIRESTORE_EMULATOR_HOST is set) include it; then a burst of BURST sales, made one
of two ways (BURST_MODE), timed until payouts and statistics are current (at most BURST_TIMEOUT seconds, then
it reports how far each got: the events handled):

* batch (default): BURST sales inserted as one batch with one income.registered each, written in the same
  transaction through the outbox helper (uow.emit_many, as the recurring generator writes them), published
  to the memory bus after commit; timed from that commit. Delivered by BURST_WORKERS buses (default 5).
* register: the burst as users make it. BURST POSTs to /api/income/register/ by CLIENTS (16) concurrent
  keep-alive clients in a process of their own, each sale by one of the 950 chatters (their own production
  RS256 ID token) for one of their two models, spread over the month as the seed's; served by the packaged
  income function under gunicorn (4 workers × 2 threads, as bench_register.py runs it: functions-framework,
  the production token check against a local certificate server). Its events go to a Pub/Sub fake of this
  run's own (the emulator's pstest on a free port — never the shared one, which a 50,000-message backlog would
  slow for everyone) and from there, as they are registered, to the platform's bus and handlers in this
  process (BURST_WORKERS buses on that fake: Pub/Sub pulls by several instances of a consumer). Reports the
  registration rate and latency, and the time from the LAST 201 until the payouts' period result, the
  statistics aggregates and the Firestore dashboard show every sale.
  Why so: three processes (clients, income, consumers) as in the cloud, so the consumers do not share a GIL
  with 16 clients or the HTTP server, and the event path is the production one (publish to Pub/Sub after
  commit, pull, CloudEvent, inbox). Limits: one 2-core machine runs the clients, gunicorn, the consumers,
  PostgreSQL and the Firestore emulator at once, so the registration rate is this machine's, not the cloud's
  (3 instances of the income function there); the consumers are pulled (the bus), not pushed by Pub/Sub to
  Cloud Run instances of concurrency 1 (bench/results/chain.md "the cloud" works that out from the figures);
  the two "instances" of a consumer are threads of one process here.

Quiet-machine rerun of the goal (one line; SALES=20000 BURST=5000 for a run of a few minutes):

    env -u DATABASE_URL BENCH_DB=om_bench_chain SALES=100000 SINGLE=20 BURST=50000 BURST_MODE=register BURST_TIMEOUT=300 OUT=bench/results/chain-register.md .venv/bin/python bench/bench_chain.py

    SALES=100000 .venv/bin/python bench/bench_chain.py          # batch burst; also SALES=1000000, SINGLE=20
    BURST=0 BUS_WORKERS=1 OUT=bench/results/chain-x.md …       # no burst; one delivery thread (as before #13)
    OUT=bench/results/chain.md (default) gets the table (-<SALES> in the name unless SALES=100000); JSON on stdout.

A benchmark, not a test: it drops and recreates its database (BENCH_DB, default om_bench_chain).
"""
from __future__ import annotations

import atexit
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

from common import ROOT, database

SALES = int(os.environ.get("SALES", "100000"))
SINGLE = int(os.environ.get("SINGLE", "20"))
BURST = int(os.environ.get("BURST", "50000"))
BURST_TIMEOUT = float(os.environ.get("BURST_TIMEOUT", "180"))
SALE_TIMEOUT = float(os.environ.get("SALE_TIMEOUT", "60"))
# Buses during the burst: Pub/Sub pushes to several instances of a consumer at once (terraform: the burst topics'
# consumers take 2 instances x 4 deliveries), the platform's bus has one batch in flight per subscription; extra
# buses on the same transport pull the same subscriptions concurrently. A delivery holds one pool connection at
# a time (the marks go in its own transaction, the catch-up after commit), the pool is at most 8 (DB_POOL_SIZE 5
# + DB_MAX_OVERFLOW 3) and the HTTP thread needs one: all buses together get at most POOL_THREADS (7) threads.
BURST_WORKERS = int(os.environ.get("BURST_WORKERS", "5"))
# batch: the burst as one transaction of BURST records and outbox rows; register: BURST POSTs by CLIENTS clients.
BURST_MODE = os.environ.get("BURST_MODE", "batch")
CLIENTS = int(os.environ.get("CLIENTS", "16"))
POOL_THREADS = int(os.environ.get("POOL_THREADS", "7"))  # delivery threads of all buses (see BURST_WORKERS)
ONLY_STATS = os.environ.get("ONLY_STATS") == "1"  # seed, rebuild and the per-event statistics costs only
OUT = Path(os.environ.get("OUT", str(ROOT / "bench" / "results" / "chain.md")))
MANAGERS, CHATTERS, MODELS = 50, 950, 50
MONTH = date(2026, 11, 1)
PERIOD = "2026-11"
DAYS = 30


def seed(uow, sales: int) -> dict:
    """The agency, its people, settings, models, assignments and `sales` chatting sales of the month."""
    agency = uow.execute("INSERT INTO user_service.agencies (name, timezone) VALUES ('Bench chain', 'UTC') "
                         "RETURNING id").scalar_one()
    owner = uow.execute("INSERT INTO user_service.users (agency_id, firebase_uid, email, display_name, role) "
                        "VALUES (:a, 'chain-owner', 'owner@bench.test', 'Owner', 'owner') RETURNING id",
                        {"a": agency}).scalar_one()
    uow.execute("UPDATE user_service.agencies SET owner_user_id = :o WHERE id = :a", {"a": agency, "o": owner})
    p = {"a": agency, "managers": MANAGERS, "chatters": CHATTERS, "models": MODELS, "month": MONTH,
         "days": DAYS, "sales": sales}
    uow.execute("""CREATE TEMP TABLE chain_manager ON COMMIT DROP AS
                   SELECT n, gen_random_uuid() AS id FROM generate_series(0, :managers - 1) n""", p)
    uow.execute("""CREATE TEMP TABLE chain_chatter ON COMMIT DROP AS
                   SELECT n, gen_random_uuid() AS id FROM generate_series(0, :chatters - 1) n""", p)
    uow.execute("""CREATE TEMP TABLE chain_model ON COMMIT DROP AS
                   SELECT n, gen_random_uuid() AS id FROM generate_series(0, :models - 1) n""", p)
    uow.execute("""INSERT INTO user_service.users (id, agency_id, firebase_uid, display_name, role)
                   SELECT id, :a, 'chain-m' || n, 'Manager ' || n, 'manager' FROM chain_manager""", p)
    uow.execute("""INSERT INTO user_service.users (id, agency_id, firebase_uid, display_name, role, manager_id)
                   SELECT c.id, :a, 'chain-c' || c.n, 'Chatter ' || c.n, 'chatter', m.id
                   FROM chain_chatter c JOIN chain_manager m ON m.n = mod(c.n, :managers)""", p)
    uow.execute("""INSERT INTO user_service.user_financial_settings
                       (agency_id, user_id, compensation_type, commission_rate, manager_tick_rate, effective_from)
                   SELECT CAST(:a AS uuid), id, 'commission', 10.00, 0, DATE '2026-01-01' FROM chain_chatter
                   UNION ALL
                   SELECT CAST(:a AS uuid), id, 'commission', 0, 2.00, DATE '2026-01-01' FROM chain_manager""", p)
    uow.execute("""INSERT INTO user_service.models (id, agency_id, name)
                   SELECT id, :a, 'Model ' || n FROM chain_model""", p)
    uow.execute("""INSERT INTO user_service.model_settings (agency_id, model_id, model_share_percent, effective_from)
                   SELECT :a, id, 50.00, DATE '2026-01-01' FROM chain_model""", p)
    uow.execute("""INSERT INTO user_service.model_assignments (agency_id, model_id, user_id)
                   SELECT :a, m.id, c.id FROM chain_chatter c
                   JOIN chain_model m ON m.n IN (mod(c.n, :models), mod(c.n + 1, :models))""", p)
    # The month's sales without their per-row foreign-key checks and the audit trigger's copy of each row
    # (session_replication_role = replica, this transaction only): the seed's rows are consistent by
    # construction and nothing in the chain reads their audit; at 1,000,000 sales those were most of the seed.
    # The burst below pays both, as a real registration does.
    uow.execute("SET LOCAL session_replication_role = replica")
    insert_sales(uow, agency, sales, first_n=0)
    uow.execute("SET LOCAL session_replication_role = DEFAULT")
    return {"agency": agency, "owner": owner}


def insert_sales(uow, agency, count: int, *, first_n: int, returning: str = ""):
    """`count` chatting sales: sale g by chatter g mod 950 for one of their two models, on day g mod 30, of
    10.00–59.99 with a 20 % fee; the chatter's manager as the tick snapshot."""
    uow.execute("""
        CREATE TEMP TABLE IF NOT EXISTS chain_pick AS
        SELECT row_number() OVER (ORDER BY u.firebase_uid) - 1 AS n, u.id, u.manager_id,
               (SELECT array_agg(ma.model_id ORDER BY ma.model_id) FROM user_service.model_assignments ma
                WHERE ma.user_id = u.id) AS models
        FROM user_service.users u WHERE u.agency_id = :a AND u.role = 'chatter'""", {"a": agency})
    return uow.execute(f"""
        INSERT INTO income_service.income_records
            (agency_id, type, gross_amount, fee_percent, fee_amount, net_amount, sale_date, model_id, chatter_id,
             manager_id, registered_by_user_id)
        SELECT CAST(:a AS uuid), x.type, x.gross, 20.00, round(x.gross * 0.20, 2), x.gross - round(x.gross * 0.20, 2),
               CAST(:month AS date) + CAST(mod(g, :days) AS integer),
               p.models[1 + CAST(mod(g / :chatters, 2) AS integer)], p.id, p.manager_id, p.id
        FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) g
        CROSS JOIN LATERAL (SELECT CASE WHEN mod(g, 3) = 0 THEN 'tip_sale' ELSE 'message_sale' END AS type,
                                   round(10 + mod(g * 7919, 5000) / 100.0, 2) AS gross) x
        JOIN chain_pick p ON p.n = mod(g, :chatters)
        {returning}
        """, {"a": agency, "month": MONTH, "days": DAYS, "first": first_n, "last": first_n + count - 1,
              "chatters": CHATTERS})


class Probe:
    """What the chain has made current: read on a connection of its own (the platform has the pool)."""

    def __init__(self, url: str, agency):
        import pg8000.native

        from sqlalchemy.engine import make_url

        u = make_url(url)
        self.conn = pg8000.native.Connection(u.username or "postgres", host=u.host or "127.0.0.1",
                                             port=u.port or 5432, database=u.database)
        self.agency = str(agency)
        self.firestore = None
        from shared_lib import firestore

        if firestore.enabled():
            self.doc = firestore.client().document(f"agencies/{agency}/dashboards/{PERIOD}")
            self.firestore = True

    def truth(self) -> Decimal:
        """The month's gross (what every part must show), and its chatters' net: the commission lines' basis."""
        gross, self.net = self.conn.run(
            "SELECT coalesce(sum(gross_amount), 0), coalesce(sum(net_amount) FILTER (WHERE chatter_id IS NOT NULL), 0) "
            "FROM income_service.income_records WHERE agency_id = :a AND sale_date >= :f AND sale_date < :t",
            a=self.agency, f=MONTH, t=date(2026, 12, 1))[0]
        return gross

    def payouts(self) -> Decimal | None:
        """The period's gross once every payout group is current too: no scope pending, and the commission lines'
        basis (each chatter's net per model, all on commission here) summing to the truth's chatting net — the
        gross alone is current after any round's totals, long before every group is."""
        rows = self.conn.run(
            """SELECT r.gross_income FROM financial_calculations.period_results r
               WHERE r.agency_id = :a AND r.period = :p
                 AND NOT EXISTS (SELECT 1 FROM financial_calculations.pending_scopes s
                                 WHERE s.agency_id = :a AND s.period = :p)
                 AND (SELECT coalesce(sum(l.basis), 0) FROM financial_calculations.payout_lines l
                      WHERE l.agency_id = :a AND l.period = :p AND l.kind = 'commission') = :net""",
            a=self.agency, p=PERIOD, net=self.net)
        return rows[0][0] if rows else None

    def stats(self) -> Decimal:
        return self.conn.run("SELECT coalesce(sum(gross), 0) FROM statistics_service.daily_model_stats "
                             "WHERE agency_id = :a AND day >= :f AND day < :t",
                             a=self.agency, f=MONTH, t=date(2026, 12, 1))[0][0]

    def dashboard(self) -> Decimal | None:
        if not self.firestore:
            return None
        snap = self.doc.get()
        return Decimal(snap.to_dict()["summary"]["gross_income"]) if snap.exists else None

    def dashboard_versions(self) -> int:
        return self.conn.run("SELECT last_value FROM statistics_service.dashboard_version")[0][0]

    def handled(self) -> dict[str, int]:
        return dict(self.conn.run("SELECT consumer, count(*) FROM eventing.inbox GROUP BY consumer"))


def wait_until(probe: Probe, expected: Decimal, started: float, timeout: float, parts: tuple[str, ...]) -> dict:
    """Seconds from `started` until each part shows `expected` (None: not within the timeout)."""
    got: dict[str, float | None] = {p: None for p in parts}
    while time.perf_counter() - started < timeout and any(v is None for v in got.values()):
        for part in parts:
            if got[part] is None and getattr(probe, part)() == expected:
                got[part] = time.perf_counter() - started
        time.sleep(0.002)
    return got


def percentiles(samples: list[float | None]) -> dict:
    done = sorted(s for s in samples if s is not None)
    if not done:
        return {"p50_ms": None, "p95_ms": None, "max_ms": None, "missed": len(samples)}
    return {"p50_ms": round(statistics.median(done) * 1000, 1),
            "p95_ms": round(done[min(len(done) - 1, int(len(done) * 0.95))] * 1000, 1),
            "max_ms": round(done[-1] * 1000, 1), "missed": len(samples) - len(done)}


def stats_per_event(agency, n: int = 20) -> dict:
    """What one income event costs in stats, use case by use case, each in a transaction rolled back: the whole
    day's recompute (the path before issue #13, still the rebuild's) against the event's own slices, and the
    month's dashboard build (done once per catch-up)."""
    from shared_lib.db import UnitOfWork, engine
    from shared_lib.periods import Period

    from functions.stats import dashboard, queries
    from functions.stats.rules import Slice

    with engine().connect() as conn:
        sales = UnitOfWork(conn).execute(
            "SELECT sale_date, model_id, type, chatter_id FROM income_service.income_records WHERE agency_id = :a "
            "ORDER BY id LIMIT :n", {"a": agency, "n": n}).all()
    timings: dict[str, list[float]] = {"whole_day_recompute": [], "slice_recompute": [], "dashboard_build": []}
    for r in sales:
        for name, fn in (
                ("whole_day_recompute", lambda uow: queries.recompute_income(uow, agency, days=[r.sale_date])),
                ("slice_recompute", lambda uow: queries.recompute_income_slices(
                    uow, agency, [Slice(r.sale_date, r.model_id, r.type, r.chatter_id)])),
                ("dashboard_build", lambda uow: dashboard.build(uow, agency, Period.parse(PERIOD)))):
            with engine().connect() as conn:
                trans = conn.begin()
                t = time.perf_counter()
                fn(UnitOfWork(conn))
                timings[name].append(time.perf_counter() - t)
                trans.rollback()
    return {k: percentiles(v) for k, v in timings.items()}


def private_pubsub() -> subprocess.Popen:
    """A Pub/Sub fake of this run's own (the emulator's pstest binary on a free port), never the shared one: a
    backlog of 50,000 messages there would slow every other user of it. Its address is PUBSUB_EMULATOR_HOST."""
    proc = subprocess.Popen([str(ROOT / ".local" / "bin" / "pstest")], stdout=subprocess.PIPE, text=True)
    atexit.register(proc.terminate)
    os.environ["PUBSUB_EMULATOR_HOST"] = proc.stdout.readline().strip()
    return proc


def database_of_its_own() -> str:
    """A fresh om_bench_chain on the local server (not common.py's om_bench, which other benches drop while
    this one runs), migrated by common.database(); BENCH_DATABASE_URL, when set, is used as it is. DATABASE_URL
    is not: .local/services.env points it at the shared test database, which a seed of 100,000 sales would fill."""
    if os.environ.get("BENCH_DATABASE_URL"):
        os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
    else:
        import pg8000.native

        name = os.environ.get("BENCH_DB", "om_bench_chain")
        admin = pg8000.native.Connection("postgres", host="127.0.0.1", database="postgres")
        admin.run(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.run(f"CREATE DATABASE {name}")
        admin.close()
        os.environ["DATABASE_URL"] = f"postgresql+pg8000://postgres@127.0.0.1:5432/{name}"
    return database()


def main() -> None:
    os.environ.pop("PUBSUB_EMULATOR_HOST", None)  # the memory bus: see the docstring
    fake = BURST and BURST_MODE == "register"
    os.environ.setdefault("DB_POOL_SIZE", "5")
    os.environ.setdefault("DB_MAX_OVERFLOW", "3")
    os.environ.setdefault("BUS_WORKERS", "3")  # concurrent subscriptions: 3 × 2 connections + the HTTP thread ≤ 8
    url = database_of_its_own()
    from emulator.platform import Platform
    from shared_lib import firestore
    from shared_lib.auth import mint_emulator_token
    from shared_lib.config import reset_settings
    from shared_lib.db import unit_of_work
    from shared_lib.periods import Period

    from functions.payouts import service as payouts
    from functions.stats import dashboard, service as stats

    out: dict = {"sales_in_month": SALES, "people": 1 + MANAGERS + CHATTERS, "models": MODELS,
                 "firestore": firestore.enabled(),
                 "bus": "this run's Pub/Sub fake" if fake else "memory"}
    t = time.perf_counter()
    with unit_of_work() as uow:
        ids = seed(uow, SALES)
    out["seed_s"] = round(time.perf_counter() - t, 1)
    agency = ids["agency"]
    with unit_of_work() as uow:
        for table in ("income_service.income_records", "user_service.users", "user_service.model_assignments"):
            uow.execute(f"ANALYZE {table}")
    t = time.perf_counter()
    with unit_of_work() as uow:
        stats.stats_rebuild(uow=uow, agency_id=agency)
        dashboard.refresh(uow, agency, [Period.parse(PERIOD)], force=True)
    out["stats_rebuild_s"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    if not ONLY_STATS:
        with unit_of_work() as uow:
            payouts.period_recalculate(uow=uow, agency_id=agency, period=Period.parse(PERIOD))
    out["payouts_initial_s"] = round(time.perf_counter() - t, 1)
    with unit_of_work() as uow:
        for table in ("daily_model_stats", "daily_chatter_stats"):
            uow.execute(f"ANALYZE statistics_service.{table}")
        chatters = [(r.id, r.model_id) for r in uow.execute(
            """SELECT u.id, min(CAST(ma.model_id AS text)) AS model_id FROM user_service.users u
               JOIN user_service.model_assignments ma ON ma.user_id = u.id
               WHERE u.agency_id = :a AND u.role = 'chatter' GROUP BY u.id ORDER BY u.id LIMIT :n""",
            {"a": agency, "n": max(SINGLE, 1)})]

    out["stats_per_event"] = stats_per_event(agency)
    if ONLY_STATS:
        print(json.dumps(out, indent=2, default=str))
        return

    if fake:  # only now: the seed's own events stay in the outbox for the platform's first drain
        private_pubsub()
        reset_settings()
    platform = Platform.start(migrate=False)
    client = platform.wsgi_app().test_client()
    headers = {"Authorization": "Bearer " + mint_emulator_token("chain-owner", "owner@bench.test", name="Owner")}
    probe = Probe(url, agency)
    parts = ("payouts", "stats") + (("dashboard",) if probe.firestore else ())
    time.sleep(0.5)
    platform.drain(60)

    # --- one sale at a time --------------------------------------------------------------------------------
    per_part: dict[str, list] = {p: [] for p in (*parts, "register")}
    expected = probe.truth()
    for i in range(SINGLE):
        chatter, model = chatters[i % len(chatters)]
        gross = Decimal("25.00") + i
        started = time.perf_counter()
        r = client.post("/api/income/register/", headers={**headers, "Idempotency-Key": uuid.uuid4().hex}, json={
            "type": "message_sale", "gross_amount": str(gross), "sale_date": f"2026-11-{1 + i % DAYS:02d}",
            "model_id": str(model), "chatter_id": str(chatter)})
        per_part["register"].append(time.perf_counter() - started)
        if r.status_code != 201:
            raise SystemExit(f"register answered {r.status_code}: {r.get_data(as_text=True)}")
        expected += gross
        probe.net += Decimal(r.get_json()["net_amount"])  # the commission basis it adds (no query in the clock)
        got = wait_until(probe, expected, started, SALE_TIMEOUT, parts)
        for p in parts:
            per_part[p].append(got[p])
        platform.drain(SALE_TIMEOUT)  # the next sale starts on a quiet bus
    out["single_sale"] = {p: percentiles(v) for p, v in per_part.items()}
    out["bus_workers"] = platform.bus.workers
    if BURST == 0:
        platform.stop()
        print(json.dumps(out, indent=2, default=str))
        write_table(out)
        return

    # --- the burst -------------------------------------------------------------------------------------------
    if BURST_MODE == "register":
        out["burst"] = burst_registered(platform, probe, agency)
    else:
        out["burst"] = burst_batch(platform, probe, agency)
    platform.stop()
    print(json.dumps(out, indent=2, default=str))
    write_table(out)


def extra_buses(platform) -> list:
    """Buses beside the platform's for the burst (a consumer's second instance), at most POOL_THREADS threads in all."""
    from emulator.bus import EventBus

    spare = max(POOL_THREADS - platform.bus.workers, 0)
    extra = min(BURST_WORKERS - 1, spare)
    return [EventBus(platform.bus.transport, platform.bus.project, workers=max(spare // extra, 1)).start()
            for _ in range(extra)] if extra > 0 else []


def burst_batch(platform, probe: Probe, agency) -> dict:
    """BURST sales in one transaction with their outbox rows (as the recurring generator writes them)."""
    from shared_lib.contracts import IncomeRegistered
    from shared_lib.db import unit_of_work

    from functions.income.queries import RECORD_COLUMNS
    from functions.income.service import event_data

    import threading

    workers = extra_buses(platform)
    versions = probe.dashboard_versions()
    before = probe.handled()
    meter = DeliveryMeter()
    waited: dict = {}
    t = time.perf_counter()
    with unit_of_work() as uow:
        rows = insert_sales(uow, agency, BURST, first_n=SALES + 7, returning=f"RETURNING {RECORD_COLUMNS.replace('r.', '')}").all()
        uow.emit_many("income.registered", [
            (r.agency_id, r.id, event_data(IncomeRegistered, r, reason="registered", old=None, new=r)) for r in rows])
        insert_s = time.perf_counter() - t
        publish, stamps = uow.publish_committed, []

        def committed_then_publish() -> None:
            """The clock starts at the commit, and the probe watches from then on while the bus is handed the
            50,000 events (an owner absorbs them from the outbox meanwhile)."""
            stamps.append(time.perf_counter())
            watcher.start()
            publish()

        watcher = threading.Thread(target=lambda: waited.update(
            wait_current(probe, stamps[0], ("payouts", "stats"), before, versions)))
        uow.publish_committed = committed_then_publish
    published = time.perf_counter()
    watcher.join()
    b = {"mode": "batch", "sales": BURST, "insert_and_outbox_s": round(insert_s, 1),
         "publish_s": round(published - stamps[0], 1), **waited}
    b["deliveries"] = meter.stop()
    b["workers"] = f"{1 + len(workers)} buses, {platform.bus.workers + sum(w.workers for w in workers)} threads"
    for w in workers:
        w.stop()
    return b


class DeliveryMeter:
    """Every delivery of the income.registered consumers during the burst: the time its entry point took (the
    CloudEvent, the inbox, the handler, the commit and any after-commit catch-up it ran as the owner) and the
    statements it sent (SQLAlchemy cursor executes on its thread; the pool's BEGIN ping and COMMIT are not
    counted). The deliveries that did not become the catch-up owner are the per-event cost of a burst."""

    NAMES = ("payouts_on_income_registered", "stats_on_income_registered")

    def __init__(self) -> None:
        import threading

        from sqlalchemy import event

        from shared_lib import registry
        from shared_lib.db import engine

        self.local = threading.local()
        self.samples: dict[str, list[tuple[float, int]]] = {n: [] for n in self.NAMES}
        self.originals = {n: registry.REGISTRY[n].entry_point for n in self.NAMES}
        event.listen(engine(), "before_cursor_execute", self._count)
        for n, fn in self.originals.items():
            registry.REGISTRY[n].entry_point = self._wrap(n, fn)

    def _count(self, *args) -> None:
        self.local.statements = getattr(self.local, "statements", 0) + 1

    def _wrap(self, name: str, fn):
        def timed(cloud_event):
            self.local.statements, t = 0, time.perf_counter()
            try:
                return fn(cloud_event)
            finally:
                self.samples[name].append((time.perf_counter() - t, self.local.statements))
        return timed

    def stop(self) -> dict:
        from sqlalchemy import event

        from shared_lib import registry
        from shared_lib.db import engine

        event.remove(engine(), "before_cursor_execute", self._count)
        for n, fn in self.originals.items():
            registry.REGISTRY[n].entry_point = fn
        out = {}
        for n, samples in self.samples.items():
            if not samples:
                continue
            times = sorted(t for t, _ in samples)
            stmts = sorted(c for _, c in samples)
            out[n] = {"deliveries": len(samples), **percentiles(times), "sum_s": round(sum(times), 1),
                      "longest_5_s": [round(t, 2) for t in times[-5:]],
                      "statements_p50": stmts[len(stmts) // 2], "statements_p95": stmts[int(len(stmts) * 0.95)],
                      "statements_max": stmts[-1]}
        return out


def wait_current(probe: Probe, started: float, parts: tuple[str, ...], before: dict, versions: int) -> dict:
    """From `started` (perf_counter): when each part shows the truth, what was handled, the dashboard writes."""
    expected = probe.truth()
    got = wait_until(probe, expected, started, BURST_TIMEOUT, parts)
    after = probe.handled()
    return {"current_after_s": {p: None if v is None else round(v, 1) for p, v in got.items()},
            "handled_in_wait": {k: after.get(k, 0) - before.get(k, 0) for k in after
                                if after.get(k, 0) - before.get(k, 0)},
            "waited_s": round(time.perf_counter() - started, 1),
            "dashboard_writes": probe.dashboard_versions() - versions, "load_after": load()}


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def burst_registered(platform, probe: Probe, agency) -> dict:
    """BURST sales POSTed to the packaged income function (gunicorn, as bench_register serves it, production
    RS256 token check) by CLIENTS concurrent connections, each sale by one of the agency's chatters for one of
    their two models; its events go through a Pub/Sub fake of this run's own to the platform's bus in this
    process. Registration rate, then the time from the last 201 until every part is current."""
    import tempfile

    from bench_register import Server, _key_and_cert, cert_server, id_token, package

    from shared_lib.config import settings

    chatters = probe.conn.run(
        """SELECT u.firebase_uid, array_agg(CAST(ma.model_id AS text) ORDER BY ma.model_id)
           FROM user_service.users u JOIN user_service.model_assignments ma ON ma.user_id = u.id
           WHERE u.agency_id = :a AND u.role = 'chatter' GROUP BY u.firebase_uid ORDER BY u.firebase_uid""",
        a=probe.agency)
    key, pem = _key_and_cert()
    certs_url, certs = cert_server(pem)
    tokens = {uid: id_token(key, uid) for uid, _ in chatters}
    requests = []
    for g in range(BURST):  # as insert_sales spreads them: chatter g mod n, their model by g / n, day g mod 30
        uid, models = chatters[g % len(chatters)]
        requests.append([tokens[uid], json.dumps({
            "type": "tip_sale" if g % 3 == 0 else "message_sale", "gross_amount": f"{10 + (g * 7919 % 5000) / 100:.2f}",
            "sale_date": (MONTH.replace(day=1 + g % DAYS)).isoformat(), "model_id": models[(g // len(chatters)) % 2]})])
    work = Path(tempfile.mkdtemp(prefix="om-bench-chain-"))
    source = package(ROOT, work / "pkg")
    s = settings()
    cloudsdk = work / "gcloud"
    cloudsdk.mkdir()
    server = Server("income", source, "income_register", {
        "DATABASE_URL": s.database_url, "GOOGLE_CLOUD_PROJECT": "demo-bench", "FIREBASE_CERT_URL": certs_url,
        "PUBSUB_EMULATOR_HOST": s.pubsub_emulator_host, "PUBSUB_PROJECT": s.pubsub_project_id,
        "CLOUDSDK_CONFIG": str(cloudsdk), "DB_SERVICE_ROLES": "true", "FIREBASE_AUTH_EMULATOR_HOST": None,
        "FIRESTORE_EMULATOR_HOST": None, "K_SERVICE": None, "GOOGLE_APPLICATION_CREDENTIALS": None,
        "LOG_LEVEL": "WARNING", "PYTHONPATH": None, "DB_POOL_SIZE": None, "DB_MAX_OVERFLOW": None,
        "BUS_WORKERS": None})
    jobs = work / "requests.json"
    jobs.write_text(json.dumps({"url": f"http://127.0.0.1:{server.port}/api/income/register/",
                                "clients": CLIENTS, "requests": requests}))
    workers = extra_buses(platform)
    versions = probe.dashboard_versions()
    before = probe.handled()
    load_before = load()
    meter = DeliveryMeter()
    try:
        # The clients in a process of their own (no GIL shared with the consumers here); they print when the
        # last 201 came (wall clock, one machine).
        done = subprocess.run([sys.executable, __file__, "--clients", str(jobs)], capture_output=True, text=True,
                              check=True)
        clients = json.loads(done.stdout)
        last = time.perf_counter() - (time.time() - clients["last_201"])
        b = {"mode": "register", "sales": BURST, "clients": CLIENTS, "load_before": load_before, **{
            k: clients[k] for k in ("created", "statuses", "register_s", "rate_per_s", "p50_ms", "p99_ms")}}
        b["handled_while_registering"] = {k: v - before.get(k, 0) for k, v in probe.handled().items()
                                          if v - before.get(k, 0)}
        b.update(wait_current(probe, last, ("payouts", "stats") + (("dashboard",) if probe.firestore else ()),
                              before, versions))
    finally:
        b_deliveries = meter.stop()
        server.stop()
        certs.close()
    b["deliveries"] = b_deliveries
    b["workers"] = f"{1 + len(workers)} buses, {platform.bus.workers + sum(w.workers for w in workers)} threads"
    for w in workers:
        w.stop()
    return b


def clients_main(jobs: Path) -> None:
    """The load generator (`bench_chain.py --clients FILE`): CLIENTS keep-alive HTTP connections, each taking the
    next request of the list; prints the 201 count, the statuses, the rate and when the last 201 came."""
    import http.client
    import threading
    from urllib.parse import urlsplit

    spec = json.loads(jobs.read_text())
    url = urlsplit(spec["url"])
    todo = iter(spec["requests"])
    lock = threading.Lock()
    statuses: dict[str, int] = {}
    latencies: list[float] = []
    last = [0.0]
    errors: list[str] = []

    def client() -> None:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
        while True:
            with lock:
                job = next(todo, None)
            if job is None:
                break
            token, body = job
            t = time.perf_counter()
            conn.request("POST", url.path, body=body, headers={
                "Authorization": f"Bearer {token}", "Content-Type": "application/json",
                "Idempotency-Key": uuid.uuid4().hex})
            r = conn.getresponse()
            text = r.read()
            now = time.time()
            with lock:
                latencies.append(time.perf_counter() - t)
                statuses[str(r.status)] = statuses.get(str(r.status), 0) + 1
                if r.status == 201:
                    last[0] = max(last[0], now)
                elif len(errors) < 5:
                    errors.append(text.decode(errors="replace")[:300])
        conn.close()

    started = time.time()
    threads = [threading.Thread(target=client) for _ in range(spec["clients"])]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    latencies.sort()
    took = last[0] - started
    print(json.dumps({"created": statuses.get("201", 0), "statuses": statuses, "errors": errors,
                      "last_201": last[0], "register_s": round(took, 1),
                      "rate_per_s": round(statuses.get("201", 0) / took, 1) if took > 0 else None,
                      "p50_ms": round(statistics.median(latencies) * 1000, 1),
                      "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1)}))
    if errors:
        print("\n".join(errors), file=sys.stderr)


def write_table(out: dict) -> None:
    def ms(v):
        return "—" if v is None else f"{v:,.0f}" if v >= 100 else f"{v:.1f}"

    lines = [f"# Chain benchmark ({out['sales_in_month']:,} sales in the month)", "",
             f"{out['people']:,} people, {out['models']} models, bus: {out['bus']}, Firestore: "
             f"{'emulator' if out['firestore'] else 'off'}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
             f"Seed {out['seed_s']} s, stats rebuild {out['stats_rebuild_s']} s, payouts first calculation "
             f"{out['payouts_initial_s']} s.", "",
             f"## One sale at a time ({SINGLE} sales, from the POST until each part shows it)", "",
             "| part | p50 ms | p95 ms | max ms | missed |", "|---|---|---|---|---|"]
    for part, v in out["single_sale"].items():
        lines.append(f"| {part} | {ms(v['p50_ms'])} | {ms(v['p95_ms'])} | {ms(v['max_ms'])} | {v['missed']} |")
    b = out.get("burst")
    lines += ["", "## Statistics per income event (use cases alone, 20 events, rolled back)", "",
              "| step | p50 ms | p95 ms |", "|---|---|---|"]
    for step, v in out["stats_per_event"].items():
        lines.append(f"| {step} | {ms(v['p50_ms'])} | {ms(v['p95_ms'])} |")
    lines += ["", f"Bus delivery threads (BUS_WORKERS): {out.get('bus_workers', 1)}."]
    if b is not None and b["mode"] == "batch":
        lines += ["", f"## Burst: {b['sales']:,} sales in one transaction with their outbox rows (not through the endpoint)", "",
                  f"insert + outbox {b['insert_and_outbox_s']} s; handing the events to the bus took {b['publish_s']} s after the commit. From the commit:", ""]
    elif b is not None:
        lines += ["", f"## Burst: {b['sales']:,} sales registered through POST /api/income/register/ by {b['clients']} "
                  "clients (packaged income function under gunicorn, this run's own Pub/Sub fake)", "",
                  f"201s {b['created']:,} of {b['sales']:,} ({b['statuses']}) in {b['register_s']} s: "
                  f"{b['rate_per_s']}/s, latency p50 {b['p50_ms']} ms, p99 {b['p99_ms']} ms; load {b['load_before']} "
                  f"before. Handled while registering: " + ", ".join(
                      f"{k} {v:,}" for k, v in sorted(b["handled_while_registering"].items())) + ". From the last 201:", ""]
    if b is not None:  # not with BURST=0
        lines += ["| part | current after s |", "|---|---|"]
        for part, v in b["current_after_s"].items():
            lines.append(f"| {part} | {'not within ' + str(b['waited_s']) + ' s' if v is None else v} |")
        lines += ["", f"Delivery: {b['workers']}. Events handled during the wait ({b['waited_s']} s): " +
                  ", ".join(f"{k} {v:,}" for k, v in sorted(b["handled_in_wait"].items())) +
                  f"; dashboard writes: {b['dashboard_writes']:,}; load after {b['load_after']}.", "",
                  "Each delivery of the income.registered consumers (entry point, catch-up included when it was the "
                  "owner; statements sent):", "",
                  "| consumer | deliveries | p50 ms | p95 ms | max ms | sum s | longest 5 s | statements p50 / p95 / max |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, d in b.get("deliveries", {}).items():
            lines.append(f"| {name} | {d['deliveries']:,} | {ms(d['p50_ms'])} | {ms(d['p95_ms'])} | {ms(d['max_ms'])} | "
                         f"{d['sum_s']} | {', '.join(map(str, d['longest_5_s']))} | {d['statements_p50']} / "
                         f"{d['statements_p95']} / {d['statements_max']} |")
        lines.append("")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    name = OUT if out["sales_in_month"] == 100000 else OUT.with_name(f"{OUT.stem}-{out['sales_in_month']}{OUT.suffix}")
    name.write_text("\n".join(lines))
    print(f"wrote {name}", file=sys.stderr)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--clients"]:
        clients_main(Path(sys.argv[2]))
    else:
        main()
