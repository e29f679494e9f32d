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
    Database,
    Served,
    burst,
    daily_stats,
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


def _assert_payouts_and_statistics_are_the_truth(served: Served, db: Database, seeded) -> dict[str, tuple[int, str]]:
    truth = income_truth(db)
    assert daily_stats(db) == truth  # every committed sale in its day's statistics, count and net
    committed = sum(n for n, _ in truth.values())
    net = sum((Decimal(v) for _, v in truth.values()), Decimal("0"))
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
    db = Database.create(bus)
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
        while len(acknowledged) < BURST // 2 and time.monotonic() < stop_at:
            time.sleep(0.005)
        served.kill()
        killed_at = time.monotonic()
        for t in clients:
            t.join(30)
        assert len(acknowledged) >= BURST // 2, served.output()
        committed = sum(n for n, _ in income_truth(db).values())
        # Every 201 was committed; at most one request per client was committed without its answer.
        assert len(acknowledged) <= committed <= len(acknowledged) + len(clients)
        behind = committed - sum(n for n, _ in daily_stats(db).values())
        assert behind > 0, "the kill must land while events are still in flight, or the drill proves nothing"

        served = Served.start(env, drop=drop)
        if bus == "pstest":
            # Messages the dead process had pulled come back when their 10 s ack deadline runs out, as on Pub/Sub.
            time.sleep(max(0.0, killed_at + 11 - time.monotonic()))
        relay = ok(requests.post(served.url("/_emulator/scheduler/outbox-relay")))
        assert relay["drained"] is True
        truth = _assert_payouts_and_statistics_are_the_truth(served, db, seeded)
        assert sum(n for n, _ in truth.values()) == committed
        assert db.query("SELECT count(*) FROM eventing.outbox WHERE published_at IS NULL") == [[0]]
        print(f"\n{bus}: {committed} committed before the kill, {behind} not yet in statistics at the kill")
    finally:
        served.stop()
        db.drop()
