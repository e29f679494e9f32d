"""Fan statistics (issue #16, docs/stats.md "Fans"): paying fans and average earnings per paying fan per model and
per chatter on GET /api/stats/afv/, and GET /api/stats/top-fans/, for a small known history built through the
income HTTP API (a matched self-reported sale, imported sales with and without a chatter, a fan whose username
changed, a chargeback that nets a fan to 0, a refund of a matched sale, a self-reported sale without a fan)."""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from shared_lib import clock
from tests.factories import add_snapshot, golden_agency, make_agency, problem
from tests.integration.test_stats_platform_sales import drain, ok, on_shift, tx

NOV = "date_from=2026-11-01&date_to=2026-11-30"


@pytest.fixture
def g(client):
    """The golden agency (fee 20.00 %), November 2026. Model A: C1's message sale 200.00 (net 160.00) matched by
    the platform (fan f1), later refunded 50.00 (net −40.00); a 50.00 subscription of f1 while C1 was on shift
    (net 40.00, C1's but a platform sale); f2's unattributed message 100.00 (80.00) and tip 25.00 (20.00) under a
    new username; f3's subscription 30.00 (24.00) charged back; C2's own tip 50.00 (40.00) without a fan.
    Model B: f1's unattributed message 125.00 (100.00), f5's tip 12.51 (net 10.01)."""
    g = golden_agency("fan", client=client)
    g.A, g.B = str(g.models["A"]), str(g.models["B"])
    on_shift(g, "C1", datetime(2026, 11, 3, 14, tzinfo=UTC), datetime(2026, 11, 3, 18, tzinfo=UTC))
    with clock.frozen(datetime(2026, 11, 12, 12, tzinfo=UTC)):  # a chargeback is dated the day it is imported
        own = ok(client.post("/api/income/register/", json={
            "type": "message_sale", "gross_amount": "200.00", "sale_date": "2026-11-03", "model_id": g.A},
            headers=g.h("C1")), 201)
        ok(client.post("/api/income/register/", json={
            "type": "tip_sale", "gross_amount": "50.00", "sale_date": "2026-11-05", "model_id": g.A},
            headers=g.h("C2")), 201)
        r = ok(client.post("/api/income/imports/", json={"model_id": g.A, "transactions": [
            tx("M0", "200.00", "2026-11-03T10:00:00Z", fan_id="f1", fan_username="alice"),
            tx("S1", "50.00", "2026-11-03T15:00:00Z", type="subscription", fan_id="f1", fan_username="alice"),
            tx("M1", "100.00", "2026-11-03T22:00:00Z", fan_id="f2", fan_username="bob"),
            tx("S2", "30.00", "2026-11-04T10:00:00Z", type="subscription", fan_id="f3", fan_username="carol"),
            tx("T1", "25.00", "2026-11-06T10:00:00Z", type="tip", fan_id="f2", fan_username="bob2")]},
            headers=g.h("owner")))
        assert (r["new"], r["matched"], r["unattributed"]) == (4, 1, 3), r
        r = ok(client.post("/api/income/imports/", json={"model_id": g.A, "transactions": [
            tx("S2", "30.00", "2026-11-04T10:00:00Z", type="subscription", status="reversed", fan_id="f3",
               fan_username="carol")]}, headers=g.h("owner")))
        assert r["reversed"] == 1, r
        ok(client.post(f"/api/income/records/{own['id']}/refunds/", json={
            "kind": "refund", "amount": "50.00", "refund_date": "2026-11-12"}, headers=g.h("owner")), 201)
        ok(client.post("/api/income/imports/", json={"model_id": g.B, "transactions": [
            tx("B1", "125.00", "2026-11-07T22:00:00Z", fan_id="f1", fan_username="alice"),
            tx("B2", "12.51", "2026-11-08T22:00:00Z", type="tip", fan_id="f5")]}, headers=g.h("owner")))
    add_snapshot(g, "A", 10, date(2026, 11, 1))
    drain(client)
    return g


def fans_of(rows, key):
    return {r[key]: (r["net"], r["paying_fans"], r["paying_fans_net"], r["earnings_per_paying_fan"]) for r in rows}


def test_owner_sees_paying_fans_per_model_and_per_chatter(client, g):
    afv = ok(client.get(f"/api/stats/afv/?{NOV}", headers=g.h("owner")))
    # A: f1 160 + 40 − 40 = 160.00, f2 80 + 20 = 100.00, f3 24 − 24 = 0 (not paying); C2's tip has no fan.
    # B: f1 100.00, f5 10.01 → 110.01 / 2 = 55.005, half-up 55.01.
    assert fans_of(afv["models"], "name") == {"A": ("300.00", 2, "260.00", "130.00"),
                                              "B": ("110.01", 2, "110.01", "55.01")}
    assert [m["afv"] for m in afv["models"]] == ["30.00", None]  # the seed's AFV beside it, unchanged
    # C1's figures are their chatting sales: the matched sale and its refund (f1, 120.00), not the subscription.
    assert fans_of(afv["chatters"], "display_name") == {"C1": ("120.00", 1, "120.00", "120.00"),
                                                        "C2": ("40.00", 0, "0.00", None)}


def test_manager_and_chatter_see_their_scope(client, g):
    team = ok(client.get(f"/api/stats/afv/?{NOV}", headers=g.h("M")))
    assert fans_of(team["models"], "name") == {"A": ("160.00", 1, "120.00", "120.00")}
    mine = ok(client.get(f"/api/stats/afv/?{NOV}", headers=g.h("C1")))
    assert fans_of(mine["chatters"], "display_name") == {"C1": ("120.00", 1, "120.00", "120.00")}
    outside = ok(client.get(f"/api/stats/afv/?{NOV}", headers=g.h("C3")))
    assert outside["chatters"] == [] and outside["models"] == []


def test_top_fans_by_net_with_the_latest_username(client, g):
    top = ok(client.get(f"/api/stats/top-fans/?model_id={g.A}&{NOV}", headers=g.h("owner")))
    assert top == {"model_id": g.A, "date_from": "2026-11-01", "date_to": "2026-11-30", "items": [
        {"fan_id": "f1", "fan_username": "alice", "net": "160.00", "sales_count": 2},
        {"fan_id": "f2", "fan_username": "bob2", "net": "100.00", "sales_count": 2}]}
    one = ok(client.get(f"/api/stats/top-fans/?model_id={g.A}&{NOV}&limit=1", headers=g.h("owner")))
    assert [i["fan_id"] for i in one["items"]] == ["f1"]
    # The range: before the refund (11-12) f1 has 200.00 of sales; f3's chargeback is outside it, so f3 pays.
    early = ok(client.get(f"/api/stats/top-fans/?model_id={g.A}&date_from=2026-11-01&date_to=2026-11-11",
                          headers=g.h("owner")))
    assert [(i["fan_id"], i["net"]) for i in early["items"]] == [("f1", "200.00"), ("f2", "100.00"),
                                                                 ("f3", "24.00")]
    b = ok(client.get(f"/api/stats/top-fans/?model_id={g.B}&{NOV}", headers=g.h("owner")))
    assert [(i["fan_id"], i["fan_username"], i["net"], i["sales_count"]) for i in b["items"]] == [
        ("f1", "alice", "100.00", 1), ("f5", None, "10.01", 1)]


def test_top_fans_visibility(client, g):
    # The Manager of C1 and C2 sees the whole model's fans of the models their team works.
    team = ok(client.get(f"/api/stats/top-fans/?model_id={g.A}&{NOV}", headers=g.h("M")))
    assert [i["fan_id"] for i in team["items"]] == ["f1", "f2"]
    assert problem(client.get(f"/api/stats/top-fans/?model_id={g.A}&{NOV}", headers=g.h("C1")), 403)
    other = make_agency(prefix="fan-other", client=client)
    p = problem(client.get(f"/api/stats/top-fans/?model_id={g.A}&{NOV}", headers=other.h()), 404)
    assert "model_id" in str(p)
    missing = problem(client.get(f"/api/stats/top-fans/?{NOV}", headers=g.h("owner")), 400)
    assert "model_id" in str(missing)
    bad = problem(client.get(f"/api/stats/top-fans/?model_id={g.A}&limit=0", headers=g.h("owner")), 400)
    assert "limit" in str(bad)
