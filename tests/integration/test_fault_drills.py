"""Fault drills: real processes killed with SIGKILL, a real PostgreSQL restarted, real poisoned connections, the
Pub/Sub fake. Each drill asserts what a user would check afterwards: every committed sale is in payouts and
statistics, nothing answered 2xx that was not committed, no other agency saw a 500."""
from __future__ import annotations

import os
import threading
import time
import uuid
from decimal import ROUND_HALF_UP, Decimal

import pytest
import requests

from tests.fault_drills import (
    MONEY_FIELDS,
    PERIODS,
    Served,
    burst,
    daily_stats,
    drill_database,
    drop_pubsub_project,
    in_flight,
    income_truth,
    ok,
    seed_agency,
)

BURST = 100


def _bus_env(bus: str) -> tuple[dict[str, str], tuple[str, ...]]:
    if bus == "memory":
        return {}, ("PUBSUB_EMULATOR_HOST", "PUBSUB_PROJECT")
    assert os.environ.get("PUBSUB_EMULATOR_HOST"), "the pstest drill needs the Pub/Sub fake (. .local/services.env)"
    # A project of its own on the shared fake: its topics and subscriptions outlive the killed process, as
    # Pub/Sub's do, and no other test process takes its messages.
    return {"PUBSUB_PROJECT": f"demo-om-drill-{uuid.uuid4().hex[:8]}"}, ()


def _assert_payouts_and_statistics_are_the_truth(served: Served, db, seeded) -> dict[str, tuple[int, str]]:
    truth = income_truth(db)
    assert daily_stats(db) == truth  # every committed sale in its day's statistics, count and net
    burst_days = {d: v for d, v in truth.items() if d.startswith(PERIODS)}
    committed = sum(n for n, _ in burst_days.values())
    net = sum((Decimal(v) for _, v in burst_days.values()), Decimal("0"))
    summary = ok(requests.get(served.url("/api/stats/summary/?date_from=2026-10-01&date_to=2026-11-30"),
                              headers=seeded.owner))
    assert (summary["sales_count"], Decimal(summary["net_income"])) == (committed, net)
    for period in PERIODS:
        month_net = sum((Decimal(v) for d, (_, v) in truth.items() if d.startswith(period)), Decimal("0"))
        stored = ok(requests.get(served.url(f"/api/financials/profit/?period={period}"), headers=seeded.owner))
        payouts = ok(requests.get(served.url(f"/api/financials/payouts/?period={period}"), headers=seeded.owner))
        fresh = ok(requests.post(served.url("/api/financials/calculate/"), json={"period": period},
                                 headers=seeded.owner))
        # What the events left equals a full recalculation from the truth, to the cent.
        assert {k: stored[k] for k in MONEY_FIELDS} == {k: fresh[k] for k in MONEY_FIELDS}
        assert ok(requests.get(served.url(f"/api/financials/payouts/?period={period}"),
                               headers=seeded.owner)) == payouts
        assert Decimal(stored["net_income"]) == month_net
        commission = (month_net * Decimal("0.10")).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        assert Decimal(stored["employee_payouts"]) == commission
    return truth


@pytest.mark.parametrize("bus", ["memory", "pstest"])
def test_kill_9_mid_burst_then_restart_every_committed_sale_reaches_payouts_and_statistics(bus):
    env, drop = _bus_env(bus)
    db = drill_database(bus)
    env["DATABASE_URL"] = db.url
    served = Served.start(env, drop=drop)
    try:
        seeded = seed_agency(served, f"k9{bus[:3]}{uuid.uuid4().hex[:6]}")
        assert ok(requests.post(served.url("/_emulator/drain")))["drained"] is True
        acknowledged: list[int] = []
        stop_at = time.monotonic() + 120
        clients = [threading.Thread(target=burst, args=(served, seeded, BURST, acknowledged),
                                    kwargs={"stop_at": stop_at, "start": k, "step": 2}) for k in range(2)]
        for t in clients:
            t.start()
        while (len(acknowledged) < BURST // 2 or not in_flight(db)) and time.monotonic() < stop_at:
            time.sleep(0.005)
        served.kill()
        killed_at = time.monotonic()
        for t in clients:
            t.join(30)
        assert len(acknowledged) >= BURST // 2, served.output()
        committed = sum(n for n, _ in income_truth(db).values())
        # Every 201 was committed; at most one request per client was committed without its answer.
        assert len(acknowledged) <= committed <= len(acknowledged) + len(clients)
        behind = in_flight(db)
        assert behind > 0, "the kill must land while events are still in flight, or the drill proves nothing"

        killed, served = served, Served.start(env, drop=drop)
        killed.log.unlink(missing_ok=True)
        if bus == "pstest":
            # Messages the dead process had pulled come back when their 10 s ack deadline runs out, as on Pub/Sub.
            time.sleep(max(0.0, killed_at + 11 - time.monotonic()))
        relay = ok(requests.post(served.url("/_emulator/scheduler/outbox-relay")))
        assert relay["drained"] is True
        truth = _assert_payouts_and_statistics_are_the_truth(served, db, seeded)
        assert sum(n for n, _ in truth.values()) == committed
        assert db.query("SELECT count(*) FROM eventing.outbox WHERE published_at IS NULL") == [[0]]
        print(f"\n{bus}: {committed} committed before the kill, {behind} not yet handled everywhere at the kill")
    finally:
        served.stop()
        db.drop()
        if "PUBSUB_PROJECT" in env:
            drop_pubsub_project(env["PUBSUB_PROJECT"])


# --- a handler failing N times, then succeeding ---------------------------------------------------------------------

FLAKY = "test.flaky"


@pytest.fixture
def flaky_service(platform, db, registry_sandbox):
    """A test-only subscriber on test.flaky whose effect is additive (one row per run that commits); the test
    seam `fail_first` makes its first N deliveries raise *after* writing, inside the handler's transaction."""
    from sqlalchemy import text

    from shared_lib.db import engine
    from shared_lib.registry import Service

    with engine().begin() as c:
        c.execute(text("CREATE TABLE IF NOT EXISTS eventing.test_flaky_effects "
                       "(id serial PRIMARY KEY, event_id uuid NOT NULL, attempt int NOT NULL)"))
        c.execute(text("TRUNCATE eventing.test_flaky_effects"))
    state = {"fail_first": 0, "calls": 0}
    svc = Service("testflaky")
    svc.publishes(FLAKY)

    @svc.on_event(FLAKY, name="flaky_effect")
    def flaky_effect(uow, event):
        state["calls"] += 1
        uow.execute("INSERT INTO eventing.test_flaky_effects (event_id, attempt) VALUES (:e, :n)",
                    {"e": str(event.event_id), "n": state["calls"]})
        if state["calls"] <= state["fail_first"]:
            raise RuntimeError(f"injected failure {state['calls']} of {state['fail_first']}")

    platform.bus.setup()
    yield state
    registry_sandbox.restore()  # first, so the bus is set up again without this subscriber
    platform.bus.setup()


def test_a_handler_failing_n_times_then_succeeding_has_exactly_one_effect(platform, flaky_service):
    from sqlalchemy import text

    from emulator.bus import Subscription
    from shared_lib import registry
    from shared_lib.db import engine, unit_of_work

    assert os.environ.get("PUBSUB_EMULATOR_HOST"), "this drill runs through the Pub/Sub fake"
    max_attempts = platform.bus.max_attempts
    failures = max_attempts - 1  # the most a delivery may fail and still not be dead-lettered
    flaky_service["fail_first"] = failures
    dead_letters = registry.dead_letter_topic(FLAKY)
    inspector = Subscription(name=f"inspect-{uuid.uuid4().hex[:8]}", topic=dead_letters, function="-")
    platform.bus.transport.ensure([dead_letters], [inspector])
    dead_before = len(platform.bus.dead_lettered)
    with unit_of_work() as uow:
        event = uow.emit(FLAKY, agency_id=None, subject="s", data={})
    assert platform.drain(60)
    assert flaky_service["calls"] == failures + 1  # every failed delivery came back, then one succeeded
    with engine().connect() as c:
        effects = c.execute(text("SELECT event_id, attempt FROM eventing.test_flaky_effects")).all()
        inbox = c.execute(text("SELECT count(*) FROM eventing.inbox WHERE consumer = 'flaky_effect' "
                               "AND event_id = :e"), {"e": str(event.event_id)}).scalar()
        published = c.execute(text("SELECT published_at IS NOT NULL FROM eventing.outbox WHERE event_id = :e"),
                              {"e": event.event_id}).scalar()
    # The failed attempts' writes rolled back with their inbox claims: one row, the last attempt's, one claim.
    assert [(str(e), n) for e, n in effects] == [(str(event.event_id), failures + 1)]
    assert inbox == 1 and published is True
    assert len(platform.bus.dead_lettered) == dead_before
    assert platform.bus.transport.pull(inspector, 10) == []

    # A redelivery of the same event afterwards (Pub/Sub is at-least-once) changes nothing.
    with engine().connect() as c:
        payload = c.execute(text("SELECT payload::text FROM eventing.outbox WHERE event_id = :e"),
                            {"e": event.event_id}).scalar()
    platform.bus.publish_raw(FLAKY, payload.encode(), {"event_id": str(event.event_id)})
    assert platform.drain(30)
    with engine().connect() as c:
        assert c.execute(text("SELECT count(*) FROM eventing.test_flaky_effects")).scalar() == 1
    assert flaky_service["calls"] == failures + 1  # the inbox skipped it before the handler ran


# --- a poisoned connection never serves another request -------------------------------------------------------------


@pytest.fixture
def one_connection_pool(platform, db, monkeypatch):
    """Cuts the instance's pool to a single connection when called, so a poisoned one would serve the very next
    request. Called once the setup's events are handled: since the incremental payouts (15b8002) a payouts event
    handler holds two connections at once (its scopes are marked in a transaction of its own, committed at once),
    which a deployed function has (one request per instance, a pool of 2 + 2) but a pool of one never has; the
    drilled requests are reads of the income function, which need one."""
    from shared_lib.config import reset_settings
    from shared_lib.db import dispose_engine

    def cut() -> None:
        assert platform.bus.drain(60), "the setup's events must be handled before the pool is cut"
        monkeypatch.setenv("DB_POOL_SIZE", "1")
        monkeypatch.setenv("DB_MAX_OVERFLOW", "0")
        reset_settings()
        dispose_engine()

    platform.bus.drain(30)
    yield cut
    platform.bus.drain(30)
    monkeypatch.undo()
    reset_settings()
    dispose_engine()


def _terminate_when_sleeping(database: str, deadline: float) -> int:
    """pg_terminate_backend, from an admin connection, of the backend running the poisoned request's pg_sleep."""
    from tests.fault_drills import admin_sql

    while time.monotonic() < deadline:
        rows = admin_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                         "AND query LIKE 'SELECT pg_sleep%' AND pid <> pg_backend_pid()", database)
        if rows:
            return len(rows)
        time.sleep(0.01)
    return 0


@pytest.mark.parametrize("poison", ["unencodable-parameter", "backend-terminated"])
def test_a_poisoned_connection_never_serves_another_agencys_request(client, one_connection_pool, database_url,
                                                                     monkeypatch, poison):
    from datetime import datetime, timedelta, timezone

    from functions.income import queries
    from tests.factories import make_agency, make_model, make_user, set_platform_fee

    a, b = make_agency(prefix="pa"), make_agency(prefix="pb")
    for agency in (a, b):
        make_user(agency, "chatter", name="C")
        make_model(agency, "M", "C")
        set_platform_fee(agency, datetime(2026, 1, 1).date(), "20.00")
    b_ids = []
    for i in range(3):
        r = client.post("/api/income/register/", json={
            "type": "tip_sale", "gross_amount": f"{100 + i}.00", "sale_date": f"2026-11-0{i + 1}",
            "model_id": str(b.models["M"]), "chatter_id": str(b.users["C"])}, headers=b.h())
        assert r.status_code == 201, r.get_data(as_text=True)
        b_ids.append(r.get_json()["id"])
    expected = list(reversed(b_ids))  # newest sale first
    one_connection_pool()

    list_records = queries.list_records

    def poisoned(uow, caller, **kw):
        # The test seam: agency A's listing makes the driver fail in the middle of a statement.
        if caller.agency_id == a.id:
            if poison == "unencodable-parameter":  # pg8000 raises OverflowError encoding it, mid-protocol
                uow.execute("SELECT CAST(:t AS timestamptz)",
                            {"t": datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14)))})
            else:  # the server kills the backend while the statement runs
                uow.execute("SELECT pg_sleep(5)")
        return list_records(uow, caller, **kw)

    monkeypatch.setattr(queries, "list_records", poisoned)
    database = database_url.rsplit("/", 1)[1]
    poisoned_statuses, b_statuses = [], []
    for _ in range(10):
        if poison == "backend-terminated":
            killer = threading.Thread(target=lambda: _terminate_when_sleeping(database, time.monotonic() + 10))
            killer.start()
            poisoned_statuses.append(client.get("/api/income/records/", headers=a.h()).status_code)
            killer.join()
        else:
            poisoned_statuses.append(client.get("/api/income/records/", headers=a.h()).status_code)
        for _ in range(20):
            r = client.get("/api/income/records/", headers=b.h())
            b_statuses.append(r.status_code)
            if r.status_code == 200:
                assert [item["id"] for item in r.get_json()["items"]] == expected
    assert all(not 200 <= s < 300 for s in poisoned_statuses), poisoned_statuses  # no 2xx for a failed request
    assert b_statuses == [200] * 200  # zero 500s for the other agency, on a pool of one connection


# --- PostgreSQL restarted under a running platform ------------------------------------------------------------------


def test_a_test_process_with_busy_grpc_threads_forks_children_that_survive():
    """The restart drill's pg_ctl once died with SIGSEGV: a fork() of a pytest worker whose gRPC threads were busy
    ran gRPC's atfork handlers in the child. With them on, 19 of 300 such children died; tests/conftest.py turns
    them off before gRPC loads, so none may die here (100 forks, each ~6 % likely to die with them on)."""
    from google.cloud import pubsub_v1

    assert os.environ.get("PUBSUB_EMULATOR_HOST"), "this drill runs through the Pub/Sub fake"
    project = f"demo-om-fork-{uuid.uuid4().hex[:8]}"
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    topic = publisher.create_topic(request={"name": f"projects/{project}/topics/busy"}).name
    subscription = subscriber.create_subscription(request={
        "name": f"projects/{project}/subscriptions/busy", "topic": topic, "ack_deadline_seconds": 10}).name
    stop = threading.Event()

    def publish() -> None:
        while not stop.is_set():
            publisher.publish(topic, b"x").result()

    busy = threading.Thread(target=publish)
    busy.start()
    pulling = subscriber.subscribe(subscription, callback=lambda m: m.ack())
    try:
        time.sleep(1)  # the streaming pull and the publishes keep gRPC's threads in calls
        deaths = []  # a child killed by a signal, exiting non-zero, or hung in a handler (with them on, some do)
        for _ in range(100):
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            deadline = time.monotonic() + 10
            while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
                time.sleep(0.001)
            if done[0] == 0:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                deaths.append("hung")
            elif not os.WIFEXITED(done[1]) or os.WEXITSTATUS(done[1]) != 0:
                deaths.append(os.WTERMSIG(done[1]) if os.WIFSIGNALED(done[1]) else os.WEXITSTATUS(done[1]))
        assert deaths == []
    finally:
        stop.set()
        busy.join(30)
        pulling.cancel()
        drop_pubsub_project(project)


@pytest.mark.parametrize("bus", ["memory", "pstest"])
def test_postgres_restarted_mid_run_answers_503_then_recovers_and_loses_nothing(bus):
    from tests.fault_drills import OwnPostgres, sale

    env, drop = _bus_env(bus)
    pg = OwnPostgres.start()
    env["DATABASE_URL"] = pg.url
    served = Served.start(env, drop=drop)
    try:
        seeded = seed_agency(served, f"pg{uuid.uuid4().hex[:6]}")
        assert ok(requests.post(served.url("/_emulator/drain")))["drained"] is True
        # 1. A fast burst of October/November sales; the server stops while their events are still being handled.
        acknowledged_before: list[int] = []
        answers: list[requests.Response] = []
        stop_at = time.monotonic() + 60
        clients = [threading.Thread(target=burst, args=(served, seeded, BURST, acknowledged_before),
                                    kwargs={"stop_at": stop_at, "start": k, "step": 2, "answers": answers})
                   for k in range(2)]
        for t in clients:
            t.start()
        while len(acknowledged_before) < 30 and time.monotonic() < stop_at:
            time.sleep(0.005)
        pg.stop()  # the burst goes on into the outage (answered 503)
        stopped_at = time.monotonic()
        for t in clients:
            t.join(60)
        # 2. Requests while the database is gone, then 3. after it is back, without restarting the platform:
        # December sales, so that only the events of step 1 can bring October and November up to date.
        burst_answers, answers = answers, []
        s = requests.Session()
        restarted_at = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            body = {**sale(seeded, 0), "sale_date": "2026-12-01", "gross_amount": f"{len(answers) + 1}.00"}
            answers.append(s.post(served.url("/api/income/register/"), json=body, headers=seeded.owner, timeout=30))
            if restarted_at is None and time.monotonic() > stopped_at + 2.0:  # ~2 s of outage, then restart
                health_down = requests.get(served.url("/api/health/"), timeout=10)
                pg.start_again()
                restarted_at = len(answers)
            if restarted_at is not None and sum(r.status_code == 201 for r in answers[restarted_at:]) >= 20:
                break
            time.sleep(0.02)

        burst_statuses = [r.status_code for r in burst_answers]
        assert set(burst_statuses) <= {201, 503}, burst_statuses  # no 500 when the server goes away mid-burst
        statuses = [r.status_code for r in answers]
        assert set(statuses) <= {201, 503}, statuses  # no 500, no 2xx for a request that was not committed
        unavailable = [r for r in burst_answers + answers if r.status_code == 503]
        assert len(unavailable) >= 5, "the outage must be hit by requests, or the drill proves nothing"
        for r in unavailable:
            assert r.headers["Content-Type"].startswith("application/problem+json")
            assert r.json()["status"] == 503 and int(r.headers["Retry-After"]) > 0
        assert health_down.status_code == 503
        # Recovery without a restart: the pool reconnected; once a request succeeds, every later one does.
        first_ok = statuses.index(201)
        assert statuses[first_ok:] == [201] * (len(statuses) - first_ok)
        assert ok(requests.get(served.url("/api/health/")))["database"] == "ok"
        acknowledged = {r.json()["id"] for r in answers if r.status_code == 201}
        december = {str(row[0]) for row in pg.query(
            "SELECT id FROM income_service.income_records WHERE sale_date = '2026-12-01'")}
        # Nothing committed lost; at most one request was committed without its 201 (a connection lost after
        # COMMIT answers 503), and none during the outage.
        assert acknowledged <= december and len(december - acknowledged) <= 1
        (before,), = pg.query("SELECT count(*) FROM income_service.income_records WHERE sale_date < '2026-12-01'")
        assert len(acknowledged_before) <= before <= len(acknowledged_before) + len(clients)

        # Events of step 1 that were in flight when the server stopped went out after it came back.
        assert ok(requests.post(served.url("/_emulator/scheduler/outbox-relay")))["drained"] is True
        _assert_payouts_and_statistics_are_the_truth(served, pg, seeded)
        assert pg.query("SELECT count(*) FROM eventing.outbox WHERE published_at IS NULL") == [[0]]
        log = served.output(tail=None)
        failed_in_outage = log.count("failed while the database is unreachable")
        assert failed_in_outage > 0, "events must be in flight during the outage, or the drill proves nothing"
        assert "giving up" not in log  # nothing dead-lettered for an outage
        print(f"\noutage: {len(unavailable)} answered 503, {failed_in_outage} handler attempts failed meanwhile, "
              f"{len(acknowledged)} committed after")
    finally:
        served.stop()
        pg.drop()
        if "PUBSUB_PROJECT" in env:
            drop_pubsub_project(env["PUBSUB_PROJECT"])
