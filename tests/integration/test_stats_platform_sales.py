"""Statistics with imported platform sales and unattributed sales (issue #16): POST /api/income/imports/ makes an
unattributed message sale and subscription sales; they count in the Owner's summary (sales_count included), the
model AFV, the income trend and the dashboard figures, never in a chatter's top earners or AFV (a platform sale
attributed by shift included); their chargebacks net them out on their own date. The event chain dead-letters
nothing, and a rebuild from scratch gives the same aggregates."""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

import functions.income.main  # noqa: F401  (declares the income endpoints)
import functions.stats.main  # noqa: F401  (declares the statistics consumers)
from functions.stats import dashboard, service
from functions.stats.schemas import RangeQuery, TopEarnersQuery, TrendQuery
from shared_lib import clock
from shared_lib.db import unit_of_work
from shared_lib.periods import Period
from tests.factories import add_snapshot, aggregates, golden_agency, ok, rebuild, shift, sql, use_case

NOV = RangeQuery(date_from="2026-11-01", date_to="2026-11-30")
TT = "timetracking_service"


def tx(tid: str, gross: str, at: str, type: str = "message", status: str = "cleared", **extra):
    return {"transaction_id": tid, "occurred_at": at, "type": type, "gross_amount": gross, "status": status, **extra}


def drain(client):
    assert ok(client.post("/_emulator/drain?timeout=30"))["drained"] is True


def on_shift(g, who: str, checked_in: datetime, checked_out: datetime) -> None:
    person = g.people[who]
    shift_id = shift(person, checked_in, checked_out)
    minutes = int((checked_out - checked_in).total_seconds() // 60)
    sql(f"INSERT INTO {TT}.time_entries (agency_id, user_id, shift_id, checked_in_at, checked_out_at, "
        "worked_minutes, overtime_minutes, source) VALUES (:a, :u, :s, :i, :o, :w, 0, 'http')",
        {"a": person.agency_id, "u": person.id, "s": shift_id, "i": checked_in, "o": checked_out, "w": minutes})


@pytest.fixture
def g(client):
    """The golden agency (fee 20.00 % from 2026-11-01). On 2026-11-03: C1's own message sale of 200.00; imported
    for model A a 50.00 subscription while C1 was on shift (attributed to C1), a 100.00 message and a 30.00
    subscription nobody was on shift for (unattributed). Model A has 10 subscribers."""
    g = golden_agency("ps", client=client)
    g.A = str(g.models["A"])
    on_shift(g, "C1", datetime(2026, 11, 3, 14, tzinfo=UTC), datetime(2026, 11, 3, 18, tzinfo=UTC))
    ok(client.post("/api/income/register/", json={
        "type": "message_sale", "gross_amount": "200.00", "sale_date": "2026-11-03", "model_id": g.A},
        headers=g.h("C1")), 201)
    r = ok(client.post("/api/income/imports/", json={"model_id": g.A, "transactions": [
        tx("S1", "50.00", "2026-11-03T15:00:00Z", type="subscription"),
        tx("M1", "100.00", "2026-11-03T22:00:00Z"),
        tx("S2", "30.00", "2026-11-03T22:30:00Z", type="subscription")]}, headers=g.h("owner")))
    assert (r["new"], r["unattributed"]) == (3, 2)
    add_snapshot(g, "A", 10, date(2026, 11, 1))
    drain(client)
    return g


def dead_letters(platform) -> int:
    return len(platform.bus.dead_lettered)


def figures_of(g):
    s = use_case(service.stats_summary, g, q=NOV)
    top = use_case(service.stats_top_earners, g, q=TopEarnersQuery(**NOV.model_dump()))
    afv = use_case(service.stats_afv, g, q=NOV)
    trend = use_case(service.stats_income_trend, g, q=TrendQuery(**NOV.model_dump(), granularity="monthly"))
    return s, top, afv, trend


def test_platform_and_unattributed_sales_count_for_the_agency_and_the_model_not_for_chatters(client, platform, g):
    dead = dead_letters(platform)
    s, top, afv, trend = figures_of(g)
    # 200 + 50 + 100 + 30 = 380 gross at 20 %: 76 fees, 304 net; four sales (platform sales are sales).
    assert (str(s.gross_income), str(s.platform_fees), str(s.net_income), s.sales_count, s.refunds_count) == (
        "380.00", "76.00", "304.00", 4, 0)
    assert [(i.display_name, str(i.net_sales), i.sales_count) for i in top.items] == [("C1", "160.00", 1)]
    a = {str(m.model_id): m for m in afv.models}[g.A]
    assert (str(a.net), a.subscriber_count, str(a.afv)) == ("304.00", 10, "30.40")
    assert {c.display_name: str(c.net) for c in afv.chatters} == {"C1": "160.00"}
    assert [str(b.value) for b in trend.buckets] == ["304.00"]
    # A Manager's scope is their team's chatting sales: C1's own sale only.
    m = use_case(service.stats_summary, g, "M", q=NOV)
    assert (str(m.net_income), m.sales_count) == ("160.00", 1)
    with unit_of_work() as uow:
        doc, people = dashboard.build(uow, g.id, Period.parse("2026-11"))
    assert (doc["summary"]["net_income"], doc["summary"]["sales_count"]) == ("304.00", 4)
    assert [(c["display_name"], c["net"]) for c in people.values()] == [("C1", "160.00")]  # chatter documents
    assert [(m["net"]) for m in doc["afv"]["models"] if m["model_id"] == g.A] == ["304.00"]
    assert [(t["display_name"], t["net_sales"]) for t in doc["top_earners"]] == [("C1", "160.00")]
    assert dead_letters(platform) == dead

    incremental = aggregates(g.id)
    rebuild(g)
    assert aggregates(g.id) == incremental


def test_chargebacks_of_platform_and_unattributed_sales_net_them_out(client, platform, g):
    dead = dead_letters(platform)
    with clock.frozen(datetime(2026, 11, 5, 12, tzinfo=UTC)):  # a chargeback is dated the day it is imported
        r = ok(client.post("/api/income/imports/", json={"model_id": g.A, "transactions": [
            tx("S1r", "-50.00", "2026-11-05T10:00:00Z", type="subscription", reverses="S1"),
            tx("M1r", "-100.00", "2026-11-05T10:00:00Z", reverses="M1"),
            tx("S2r", "-30.00", "2026-11-05T10:00:00Z", type="subscription", reverses="S2")]},
            headers=g.h("owner")))
    assert r["reversed"] == 3, r
    drain(client)
    assert dead_letters(platform) == dead
    s, top, afv, trend = figures_of(g)
    assert (str(s.gross_income), str(s.platform_fees), str(s.net_income), s.sales_count, s.refunds_count,
            str(s.refunds_amount)) == ("200.00", "40.00", "160.00", 4, 3, "180.00")
    # C1's figures: their chatting sale only — the chargeback of the subscription attributed to them is not theirs.
    assert [(i.display_name, str(i.net_sales)) for i in top.items] == [("C1", "160.00")]
    assert {c.display_name: str(c.net) for c in afv.chatters} == {"C1": "160.00"}
    assert [str(m.net) for m in afv.models if str(m.model_id) == g.A] == ["160.00"]
    assert [str(b.value) for b in trend.buckets] == ["160.00"]
    daily = use_case(service.stats_income_trend, g, q=TrendQuery(date_from="2026-11-03", date_to="2026-11-05",
                                                                 granularity="daily"))
    assert [str(b.value) for b in daily.buckets] == ["304.00", "0.00", "-144.00"]

    incremental = aggregates(g.id)
    rebuild(g)
    assert aggregates(g.id) == incremental
