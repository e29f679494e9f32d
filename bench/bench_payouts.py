"""Payouts latency: full calculation, one more sale's incremental update, one coalesced recalculation (prints JSON).

One agency of 1,000 people (50 managers, 950 chatters on commission, each chatter selling for 2 of 50 models)
and SALES sales in November 2026, loaded with INSERT … SELECT generate_series. Then times (a) the full
calculation (POST calculate's path; the first one writes everything, a second one finds nothing to change),
(b) the incremental update for one more sale (its income.registered handled as the event function does:
mark, lock, recompute the model's scope, write the difference; median/p95 of CALLS), (c) one coalesced
recalculation after MARKS sales' events marked their scopes, (d) the nightly reconciliation (service.reconcile:
every open period with data, here the one), (e) a burst (BURST sales, 2,000 unless told; 0 skips it): each
sale's income.registered delivered through the real payouts_on_income_registered function (CloudEvent, inbox,
handler, after-commit catch-up) by WORKERS concurrent deliveries — per delivery its statements and time (the
turned-away ones apart from the owners'), the catch-up rounds, the time until nothing is pending, and that a
full recalculation afterwards finds no drift. The first full calculation is split into its phases (SQL statements
by kind, the Python calculation, the earnings documents written after commit — to the Firestore emulator when
FIRESTORE_EMULATOR_HOST is set, skipped otherwise). The JSON goes to stdout and to
bench/results/payouts-SALES.json (OUT= to change). SALES=1000000 for the big run. It runs in a database of
its own, BENCH_DB (om_bench_payouts unless told; bench_chain.database_of_its_own, never DATABASE_URL, which
.local/services.env points at the shared test database), dropped at the end unless KEEP_DB=1.
"""
from __future__ import annotations

import json
import os
import statistics
import threading
import time
import uuid
from collections import defaultdict
from contextlib import contextmanager
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

from common import ROOT, summary, timed

os.environ.setdefault("BENCH_DB", "om_bench_payouts")
os.environ.setdefault("DB_POOL_SIZE", "5")
os.environ.setdefault("DB_MAX_OVERFLOW", "3")
from bench_chain import database_of_its_own  # noqa: E402
from bench_fans import drop_database  # noqa: E402

SALES = int(os.environ.get("SALES", "100000"))
BURST = int(os.environ.get("BURST", "2000"))
WORKERS = int(os.environ.get("WORKERS", "6"))  # concurrent deliveries (one connection each at a time; pool 8)
CALLS, MARKS = 20, 1000
MANAGERS, CHATTERS, MODELS = 50, 950, 50
NOV = "2026-11"


def load(uow) -> uuid.UUID:
    """The agency, its people, models, settings and sales, set-based."""
    uow.execute("""TRUNCATE financial_calculations.period_results, financial_calculations.pending_scopes,
                   income_service.income_records, user_service.user_financial_settings,
                   user_service.model_settings, user_service.models, user_service.users,
                   user_service.agencies CASCADE""")
    agency = uow.execute("INSERT INTO user_service.agencies (name, timezone) VALUES ('Bench payouts', 'UTC') "
                         "RETURNING id").scalar_one()
    p = {"a": agency}
    uow.execute("INSERT INTO user_service.users (agency_id, firebase_uid, display_name, role) "
                "VALUES (:a, 'bench-owner', 'Owner', 'owner')", p)
    uow.execute("""INSERT INTO user_service.users (agency_id, firebase_uid, display_name, role)
                   SELECT :a, 'bench-m' || m, 'Manager ' || m, 'manager' FROM generate_series(0, :n - 1) m""",
                {**p, "n": MANAGERS})
    uow.execute("""INSERT INTO user_service.users (agency_id, firebase_uid, display_name, role, manager_id)
                   SELECT :a, 'bench-c' || c, 'Chatter ' || c, 'chatter',
                          (SELECT id FROM user_service.users WHERE firebase_uid = 'bench-m' || mod(c, :managers))
                   FROM generate_series(0, :n - 1) c""", {**p, "n": CHATTERS, "managers": MANAGERS})
    uow.execute("""INSERT INTO user_service.models (agency_id, name)
                   SELECT :a, 'Model ' || m FROM generate_series(0, :n - 1) m""", {**p, "n": MODELS})
    uow.execute("""INSERT INTO user_service.user_financial_settings (agency_id, user_id, compensation_type,
                       commission_rate, fixed_salary, manager_tick_rate, effective_from)
                   SELECT :a, id, CASE WHEN role = 'manager' THEN 'fixed_plus_commission' ELSE 'commission' END,
                          CASE WHEN role = 'chatter' THEN 10 ELSE 0 END,
                          CASE WHEN role = 'manager' THEN 2000 ELSE 0 END,
                          CASE WHEN role = 'manager' THEN 5 ELSE 0 END, DATE '2026-11-01'
                   FROM user_service.users WHERE agency_id = :a AND role <> 'owner'""", p)
    uow.execute("""INSERT INTO user_service.model_settings (agency_id, model_id, model_share_percent,
                       split_chatting_costs, effective_from)
                   SELECT :a, id, 50, (row_number() OVER (ORDER BY id)) %% 2 = 0, DATE '2026-11-01'
                   FROM user_service.models WHERE agency_id = :a""", p)
    # Sale g: chatter mod(g, 950), one of that chatter's two models, a day of November, 10.00–499.99 gross.
    uow.execute("""
        CREATE TEMP TABLE bench_chatter ON COMMIT DROP AS
        SELECT (row_number() OVER (ORDER BY firebase_uid)) - 1 AS n, id, manager_id
        FROM user_service.users WHERE agency_id = :a AND role = 'chatter'""", p)
    uow.execute("""
        CREATE TEMP TABLE bench_model ON COMMIT DROP AS
        SELECT (row_number() OVER (ORDER BY id)) - 1 AS n, id FROM user_service.models WHERE agency_id = :a""", p)
    uow.execute("""
        INSERT INTO income_service.income_records (agency_id, type, gross_amount, fee_percent, fee_amount,
            net_amount, sale_date, model_id, chatter_id, manager_id, registered_by_user_id)
        SELECT :a, CASE WHEN g %% 3 = 0 THEN 'tip_sale' ELSE 'message_sale' END, s.gross, 20,
               round(s.gross * 0.2, 2), s.gross - round(s.gross * 0.2, 2),
               DATE '2026-11-01' + (g %% 30)::int, m.id, c.id, c.manager_id,
               (SELECT id FROM user_service.users WHERE firebase_uid = 'bench-owner')
        FROM generate_series(0::bigint, :sales - 1) g
        CROSS JOIN LATERAL (SELECT (10 + (g * 7919) %% 49000 / 100.0)::numeric(14,2) AS gross) s
        JOIN bench_chatter c ON c.n = g %% :chatters
        JOIN bench_model m ON m.n = (c.n * 2 + (g / :chatters) %% 2) %% :models""",
                {**p, "sales": SALES, "chatters": CHATTERS, "models": MODELS})
    uow.execute("ANALYZE income_service.income_records")
    return agency


@contextmanager
def phases():
    """Where a run's time goes, in ms: each SQL statement kind (its first words) and the Python calculation
    (calc.calculate) and earnings write (after commit), filled in when the block ends."""
    from sqlalchemy import event

    from functions.payouts import earnings, service
    from shared_lib.db import engine

    spent: dict[str, float] = defaultdict(float)
    started: dict[int, float] = {}

    def before(conn, cursor, statement, *args):
        started[id(conn)] = time.perf_counter()

    def after(conn, cursor, statement, *args):
        words = " ".join(statement.split()[:6])
        spent["sql: " + words] += time.perf_counter() - started.pop(id(conn))

    def timing(module, name):
        fn = getattr(module, name)

        def timed_fn(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent["python: " + name] += time.perf_counter() - t
        return fn, timed_fn

    wrapped = [(m, n, *timing(m, n)) for m, n in ((service, "calculate"), (earnings, "_write"))]
    for module, name, _, timed_fn in wrapped:
        setattr(module, name, timed_fn)
    event.listen(engine(), "before_cursor_execute", before)
    event.listen(engine(), "after_cursor_execute", after)
    out: dict[str, float] = {}
    try:
        yield out
    finally:
        event.remove(engine(), "before_cursor_execute", before)
        event.remove(engine(), "after_cursor_execute", after)
        for module, name, fn, _ in wrapped:
            setattr(module, name, fn)
        top = sorted(spent.items(), key=lambda kv: -kv[1])
        out.update({k: round(v * 1000, 1) for k, v in top[:10]})
        out["other sql"] = round(sum(v for _, v in top[10:]) * 1000, 1)


def one_sale(agency: uuid.UUID, i: int):
    """A new sale stored as income stores it, and its income.registered contract."""
    return new_sales(agency, 1, offset=i * 37)[0]


def new_sales(agency: uuid.UUID, n: int, *, offset: int = 0) -> list:
    """n new sales (50.00 on the 15th, each for the model and chatter of a stored one from `offset` on), in one
    statement, and their income.registered contracts."""
    from shared_lib.contracts import IncomeRegistered, IncomeSnapshot
    from shared_lib.db import unit_of_work

    with unit_of_work() as uow:
        rows = uow.execute("""
            INSERT INTO income_service.income_records (agency_id, type, gross_amount, fee_percent, fee_amount,
                net_amount, sale_date, model_id, chatter_id, manager_id, registered_by_user_id)
            SELECT :a, 'message_sale', 50, 20, 10, 40, DATE '2026-11-15', l.model_id, l.chatter_id, l.manager_id,
                   l.registered_by_user_id
            FROM (SELECT * FROM income_service.income_records WHERE agency_id = :a
                  ORDER BY id LIMIT :n OFFSET :i) l
            RETURNING id, type, sale_date, model_id, chatter_id, manager_id, gross_amount, fee_amount, net_amount
            """, {"a": agency, "n": n, "i": offset % max(1, SALES - n)}).all()
    out = []
    for r in rows:
        snap = IncomeSnapshot(type=r.type, sale_date=r.sale_date, model_id=r.model_id, chatter_id=r.chatter_id,
                              manager_id=r.manager_id, assigned_to_user_id=None, gross_amount=r.gross_amount,
                              fee_amount=r.fee_amount, net_amount=r.net_amount)
        out.append(IncomeRegistered(income_id=r.id, agency_id=agency, schedule_id=None, reason="registered",
                                    sale_date=r.sale_date, old_sale_date=None, model_id=r.model_id,
                                    chatter_id=r.chatter_id, old=None, new=snap))
    return out


def burst(agency: uuid.UUID, period) -> dict:
    """BURST sales, then their income.registered events delivered concurrently through the real function."""
    import queue

    from sqlalchemy import event

    import functions.payouts.main  # noqa: F401  (declares the functions)
    from emulator.bus import Message, Subscription, cloud_event_for
    from functions.payouts import queries, service
    from shared_lib import registry
    from shared_lib.db import engine, unit_of_work
    from shared_lib.events import Event

    entry = registry.REGISTRY["payouts_on_income_registered"].entry_point
    todo: queue.Queue = queue.Queue()
    for i, data in enumerate(new_sales(agency, BURST)):
        ev = Event(event_id=uuid.uuid4(), type="income.registered", occurred_at=datetime.now(timezone.utc),
                   agency_id=agency, subject=str(data.income_id), data=data.model_dump(mode="json"))
        msg = Message(ack_id=str(i), message_id=str(ev.event_id), data=ev.payload(), attributes=ev.attributes(),
                      publish_time=datetime.now(timezone.utc))
        todo.put(cloud_event_for("bench", Subscription(name="bench", topic=ev.type, function="bench"), msg))

    local = threading.local()
    rounds: list[float] = []
    real_round = service._catch_up_round

    def counted_round(uow, agency_id, p):
        t = time.perf_counter()
        took = real_round(uow, agency_id, p)
        if took:
            rounds.append(time.perf_counter() - t)
            local.owned = True
        return took

    def count(conn, cursor, statement, *args):
        if getattr(local, "counting", False):
            local.statements += 1

    deliveries: list[tuple[bool, int, float]] = []  # (owned a round, statements, seconds)
    lock = threading.Lock()

    def work() -> None:
        while True:
            try:
                ce = todo.get_nowait()
            except queue.Empty:
                return
            local.counting, local.statements, local.owned = True, 0, False
            t = time.perf_counter()
            entry(ce)
            spent = time.perf_counter() - t
            local.counting = False
            with lock:
                deliveries.append((local.owned, local.statements, spent))

    service._catch_up_round = counted_round
    event.listen(engine(), "before_cursor_execute", count)
    started = time.perf_counter()
    threads = [threading.Thread(target=work) for _ in range(WORKERS)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        event.remove(engine(), "before_cursor_execute", count)
        service._catch_up_round = real_round
    current_s = time.perf_counter() - started
    with unit_of_work("payouts") as uow:
        left = queries.has_pending(uow, agency, period)
    away = [d for d in deliveries if not d[0]]
    owners = [d for d in deliveries if d[0]]
    return {
        "events": BURST, "workers": WORKERS, "rounds": len(rounds), "round": summary(rounds) if rounds else None,
        "turned_away": {"n": len(away), "statements_median": statistics.median(d[1] for d in away) if away else None, "statements_max": max((d[1] for d in away), default=None),
                        "time": summary([d[2] for d in away]) if away else None},
        "owners": {"n": len(owners), "time": summary([d[2] for d in owners]) if owners else None},
        "all_current_after_s": round(current_s, 2), "events_per_s": round(BURST / current_s, 1),
        "pending_left": left,
    }


def main() -> None:
    database_of_its_own()
    from functions.payouts import queries, service
    from shared_lib.db import unit_of_work
    from shared_lib.periods import Period

    period = Period.parse(NOV)
    t = time.perf_counter()
    with unit_of_work() as uow:
        agency = load(uow)
    seed_s = time.perf_counter() - t

    def full():
        with unit_of_work("payouts") as uow:
            service.full_recalculate(uow=uow, agency_id=agency, period=period)

    with phases() as first_phases:
        first_full = timed(full, 1)
    steady_full = timed(full, 3)

    incremental = []
    for i in range(CALLS):
        data = one_sale(agency, i)
        t = time.perf_counter()
        with unit_of_work("payouts") as uow:
            service.changed_periods_recalculate(uow=uow, data=data)
        incremental.append(time.perf_counter() - t)

    events = [one_sale(agency, CALLS + i) for i in range(MARKS)]
    t = time.perf_counter()
    for data in events:  # each handler's first transaction
        with unit_of_work("payouts") as uow:
            queries.mark_pending(uow, agency, service.scopes_for_event(data, "UTC"))
    marking_s = time.perf_counter() - t
    t = time.perf_counter()
    with unit_of_work("payouts") as uow:
        recalculation = service.pending_recalculate(uow=uow, agency_id=agency, period=period)
    coalesced_s = time.perf_counter() - t

    bursted = burst(agency, period) if BURST else None

    # The incremental path ends where a full recalculation would: a last full one finds nothing to change.
    with unit_of_work("payouts") as uow:
        check = service.full_recalculate(uow=uow, agency_id=agency, period=period)
    reconciled = timed(lambda: service.reconcile(as_of=date(2026, 12, 1)), 3)

    from shared_lib import firestore

    out = json.dumps({
        "sales": SALES, "people": MANAGERS + CHATTERS, "models": MODELS, "seed_s": round(seed_s, 1),
        "firestore": firestore.enabled(),
        "full_first": summary(first_full), "full_first_phases_ms": first_phases, "full_steady": summary(steady_full),
        "reconcile": summary(reconciled),
        "incremental_one_sale": summary(incremental),
        "coalesced": {"marks": MARKS, "marking_total_ms": round(marking_s * 1000, 1),
                      "recalculation_ms": round(coalesced_s * 1000, 1),
                      "models_in_scope": len({e.model_id for e in events}),
                      "changed_users": len(recalculation.changed_users)},
        "burst": bursted,
        "load_average": os.getloadavg(),
        "final_full_found_drift": check.drift,
        "employee_payouts": str(check.figures["employee_payouts"]),
        "net_income": str(check.figures["net_income"]),
    }, indent=2, default=str)
    print(out)
    path = Path(os.environ.get("OUT", str(ROOT / "bench" / "results" / f"payouts-{SALES}.json")))
    path.write_text(out + "\n")
    if os.environ.get("KEEP_DB") != "1":
        drop_database(os.environ["BENCH_DB"])
    assert check.drift == {}, "the incremental path drifted from a full recalculation"
    assert isinstance(check.figures["net_income"], Decimal)


if __name__ == "__main__":
    main()
