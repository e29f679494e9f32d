"""A platform import is one income.imported (issue #16): through the Pub/Sub fake, payouts and statistics each handle
it once and end current — the stored payouts equal a calculation from scratch (no drift), the aggregates equal a
rebuild — for created sales, matched self-reported sales, chargebacks (in a later period too) and, past
MAX_IMPORT_SLICES, for the whole days the event names instead; the scraper topic ends in the same state."""
from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

import functions.income.imports as imports
import functions.income.main  # noqa: F401  (declares the income endpoints and the scraper consumer)
import functions.payouts.main  # noqa: F401
import functions.stats.main  # noqa: F401
from functions.payouts.service import full_recalculate
from shared_lib.db import unit_of_work
from shared_lib.periods import Period
from tests.factories import (aggregates, deliver_raw, golden_agency, ok, outbox, rebuild, set_financial_settings,
                             set_model_settings, shift, sql)

TT = "timetracking_service"


def tx(tid: str, gross: str, at: str = "2026-11-03T15:00:00Z", type: str = "message", status: str = "cleared",
       **extra):
    return {"transaction_id": tid, "occurred_at": at, "type": type, "gross_amount": gross, "status": status, **extra}


@pytest.fixture
def g(client):
    """The golden agency: C1 10 % commission, on shift 2026-11-03 14:00–18:00 and 2026-11-04 14:00–18:00; M a
    5 % tick; model A 30 % share. C2 self-reported a 100.00 message on 2026-11-03."""
    g = golden_agency("ib", client=client)
    g.A = str(g.models["A"])
    set_financial_settings(g.person("C1"), date(2026, 11, 1), commission_rate="10.00")
    set_financial_settings(g.person("C2"), date(2026, 11, 1), commission_rate="10.00")
    set_financial_settings(g.person("M"), date(2026, 11, 1), compensation_type="fixed", manager_tick_rate="5.00")
    set_model_settings(g, g.models["A"], date(2026, 11, 1), model_share_percent="30.00")
    person = g.person("C1")
    for day in (3, 4):
        start, end = datetime(2026, 11, day, 14, tzinfo=UTC), datetime(2026, 11, day, 18, tzinfo=UTC)
        sql(f"INSERT INTO {TT}.time_entries (agency_id, user_id, shift_id, checked_in_at, checked_out_at, "
            "worked_minutes, overtime_minutes, source) VALUES (:a, :u, :s, :i, :o, 240, 0, 'http')",
            {"a": person.agency_id, "u": person.id, "s": shift(person, start, end), "i": start, "o": end})
    ok(client.post("/api/income/register/", json={
        "type": "message_sale", "gross_amount": "100.00", "sale_date": "2026-11-03", "model_id": g.A},
        headers=g.h("C2")), 201)
    return g


def drain(client):
    assert ok(client.post("/_emulator/drain?timeout=60"))["drained"] is True


def handled(consumer: str) -> int:
    return sql("SELECT count(*) AS n FROM eventing.inbox i JOIN eventing.outbox o ON o.event_id::text = i.event_id "
               "WHERE i.consumer = :c AND o.type = 'income.imported'", {"c": consumer})[0].n


def stored_figures(g, period: str) -> dict:
    rows = sql("SELECT gross_income, net_income, model_payouts FROM financial_calculations.period_results "
               "WHERE agency_id = :a AND period = :p", {"a": g.id, "p": period})
    return {k: str(v) for k, v in rows[0]._mapping.items()} if rows else {}


def assert_current(g, *periods: str) -> None:
    """Payouts: the stored result is what a calculation from scratch finds (no drift); statistics: a rebuild
    changes no aggregate."""
    for period in periods:
        stored = stored_figures(g, period)
        with unit_of_work("payouts") as uow:
            rec = full_recalculate(uow=uow, agency_id=g.id, period=Period.parse(period))
        assert rec.drift == {}, (period, rec.drift)
        assert stored == {k: str(rec.figures[k]) for k in stored}
    incremental = aggregates(g.id)
    rebuild(g)
    assert aggregates(g.id) == incremental


def test_one_import_is_one_event_each_consumer_handles_once_and_both_end_current(client, platform, g):
    drain(client)
    dead = len(platform.bus.dead_lettered)
    rows = [tx("T1", "100.00", at="2026-11-03T20:00:00Z"),             # matches C2's self-reported sale
            tx("T2", "50.00", type="subscription"),                  # C1 on shift: a platform sale
            tx("T3", "30.00", at="2026-11-04T15:00:00Z"),            # C1: commission and tick
            tx("T4", "20.00", at="2026-11-05T15:00:00Z", type="tip"),  # nobody on shift
            tx("T5", "10.00", at="2026-11-04T16:00:00Z", status="reversed")]  # sale and chargeback on 11-04
    r = ok(client.post("/api/income/imports/", json={"model_id": g.A, "transactions": rows}, headers=g.h("owner")))
    assert (r["new"], r["matched"], r["reversed"], r["unattributed"]) == (4, 1, 1, 1)
    (event,) = outbox("income.imported")
    c1, c2 = str(g.user("C1")), str(g.user("C2"))
    assert (event["data"]["created"], event["data"]["matched"]) == (5, 1)
    assert [(s["sale_date"], s["type"], s["chatter_id"], s["created"], s["matched"]) for s in event["data"]["slices"]] \
        == [("2026-11-03", "message_sale", c2, 0, 1), ("2026-11-03", "subscription_sale", c1, 1, 0),
            ("2026-11-04", "chargeback", c1, 1, 0), ("2026-11-04", "message_sale", c1, 2, 0),  # T3 and T5: one slice
            ("2026-11-05", "tip_sale", None, 1, 0)]
    drain(client)
    assert (handled("payouts_on_income_imported"), handled("stats_on_income_imported")) == (1, 1)
    assert len(platform.bus.dead_lettered) == dead
    # 100 (C2's, verified) + 50 + 30 + 20 + 10 − 10 = 200 gross at 20 %: 160 net; the model's 30 %: 48.00
    assert stored_figures(g, "2026-11") == {"gross_income": "200.00", "net_income": "160.00",
                                            "model_payouts": "48.00"}
    day4 = sql("SELECT sum(net) AS net FROM statistics_service.daily_model_stats WHERE agency_id = :a "
               "AND day = '2026-11-04'", {"a": g.id})[0].net
    assert str(day4) == "24.00"  # T3's 24.00; T5's sale and chargeback net to zero on its own day
    assert_current(g, "2026-11")


def test_a_later_chargeback_import_reaches_its_own_period(client, g):
    ok(client.post("/api/income/imports/", json={"model_id": g.A, "transactions": [tx("T3", "30.00",
                   at="2026-11-04T15:00:00Z")]}, headers=g.h("owner")))
    drain(client)
    ok(client.post("/api/income/imports/", json={"model_id": g.A, "transactions": [
        tx("R3", "-30.00", reverses="T3", at="2026-12-01T09:00:00Z")]}, headers=g.h("owner")))
    (cb,) = sql("SELECT sale_date FROM income_service.income_records WHERE type = 'chargeback'")
    drain(client)
    later = str(Period.of(cb.sale_date))
    assert stored_figures(g, later)["net_income"] == "-24.00"
    assert_current(g, "2026-11", later)


def test_past_max_import_slices_the_event_names_whole_days_and_both_still_end_current(client, g, monkeypatch):
    monkeypatch.setattr(imports, "MAX_IMPORT_SLICES", 1)
    ok(client.post("/api/income/imports/", json={"model_id": g.A, "transactions": [
        tx("T1", "100.00", at="2026-11-03T20:00:00Z"), tx("T2", "50.00", type="subscription"),
        tx("T3", "30.00", at="2026-11-04T15:00:00Z")]}, headers=g.h("owner")))
    (event,) = outbox("income.imported")
    assert (event["data"]["slices"], event["data"]["whole_days"], sorted(event["data"]["chatter_ids"])) == (
        [], ["2026-11-03", "2026-11-04"], sorted([str(g.user("C1")), str(g.user("C2"))]))
    drain(client)
    assert stored_figures(g, "2026-11")["gross_income"] == "180.00"
    assert_current(g, "2026-11")


def test_the_scraper_topic_ends_in_the_same_state_as_the_http_import_redeliveries_included(client, g):
    rows = [tx("T1", "100.00", at="2026-11-03T20:00:00Z"), tx("T2", "50.00", type="subscription"),
            tx("T3", "30.00", at="2026-11-04T15:00:00Z", status="reversed")]
    message = json.dumps({"agency_id": str(g.id), "model_id": g.A, "transactions": rows}).encode()
    deliver_raw("income_scraper_transactions", message, message_id="s-1")
    deliver_raw("income_scraper_transactions", message, message_id="s-1")  # redelivered
    deliver_raw("income_scraper_transactions", message, message_id="s-2")  # re-published: all duplicates
    assert len(outbox("income.imported")) == 1
    drain(client)
    scraped = (stored_figures(g, "2026-11"), aggregates(g.id))
    # C2's 100.00 (matched) + 50.00 + T3's 30.00 and its chargeback: 150.00 gross, 120.00 net, 30 %: 36.00
    assert scraped[0] == {"gross_income": "150.00", "net_income": "120.00", "model_payouts": "36.00"}
    assert_current(g, "2026-11")
    # the same rows again over HTTP, from the state before the scraper's import: the same figures and aggregates
    sql("DELETE FROM income_service.platform_transactions")
    sql("DELETE FROM income_service.income_records WHERE origin = 'import'")
    sql("UPDATE income_service.income_records SET verified = false")
    r = ok(client.post("/api/income/imports/", json={"model_id": g.A, "transactions": rows}, headers=g.h("owner")))
    assert (r["new"], r["matched"], r["reversed"]) == (2, 1, 1)
    drain(client)
    assert (stored_figures(g, "2026-11"), aggregates(g.id)) == scraped
