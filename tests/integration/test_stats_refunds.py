"""Statistics with refunds and chargebacks (issue #15): BUSINESS_RULES.md worked example 2's figures for October
2026, built with the factories, the refunds made through POST /api/income/records/{id}/refunds/ with the clock
frozen in November; every answer (summary, top earners, AFV, trends, a Manager's scope, the Firestore dashboard)
counts the refunds on their own date, sales_count counts sales only."""
from __future__ import annotations

from datetime import UTC, date, datetime

from functions.stats import service
from functions.stats.schemas import RangeQuery, TopEarnersQuery, TrendQuery
from shared_lib import clock, firestore
from tests.factories import (
    add_snapshot,
    aggregates,
    close_period,
    make_agency,
    make_model,
    make_user,
    ok,
    rebuild,
    set_platform_fee,
    use_case,
)

OCT = RangeQuery(date_from="2026-10-01", date_to="2026-10-31")
SEP = RangeQuery(date_from="2026-09-01", date_to="2026-09-30")


def worked_example_2(client):
    """Agency (fee 20.00 % from 2026-09-01), Manager N (team D1, D2), chatters D1, D2, D3 (no manager), model P;
    September's sales then September closed; October's sales, D1's September sale charged back in full on 10-05,
    D3's September tip refunded in full on 10-06, and the 1000.00 expense of 10-01."""
    a = make_agency(prefix="we2", client=client)
    make_user(a, "manager", name="N")
    for name, manager in (("D1", "N"), ("D2", "N"), ("D3", None)):
        make_user(a, "chatter", name=name, manager=manager)
    make_model(a, "P", "D1", "D2", "D3")
    set_platform_fee(a, date(2026, 9, 1), "20.00")
    P = str(a.models["P"])

    def sale(who: str, type: str, gross: str, day: str) -> dict:
        return ok(client.post("/api/income/register/", json={
            "type": type, "gross_amount": gross, "sale_date": day, "model_id": P,
            "chatter_id": str(a.user(who))}, headers=a.h()), 201)

    with clock.frozen(datetime(2026, 11, 5, 12, tzinfo=UTC)):
        d1_sep = sale("D1", "message_sale", "500.00", "2026-09-20")
        d3_sep = sale("D3", "tip_sale", "300.00", "2026-09-25")
        close_period(a, "2026-09")
        sale("D1", "message_sale", "8000.00", "2026-10-03")
        sale("D1", "tip_sale", "1000.00", "2026-10-10")
        sale("D2", "message_sale", "2000.00", "2026-10-12")
        for original, kind, day in ((d1_sep, "chargeback", "2026-10-05"), (d3_sep, "refund", "2026-10-06")):
            ok(client.post(f"/api/income/records/{original['id']}/refunds/", json={
                "kind": kind, "amount": original["gross_amount"], "refund_date": day}, headers=a.h()), 201)
        ok(client.post("/api/expenses/", json={"amount": "1000.00", "expense_date": "2026-10-01",
                                               "source": "software"}, headers=a.h()), 201)
    add_snapshot(a, "P", 1000, date(2026, 10, 1))
    assert ok(client.post("/_emulator/drain?timeout=30"))["drained"] is True
    return a


def test_worked_example_2_statistics_for_october(client):
    a = worked_example_2(client)
    s = ok(client.get("/api/stats/summary/?date_from=2026-10-01&date_to=2026-10-31", headers=a.h()))
    assert s == {"date_from": "2026-10-01", "date_to": "2026-10-31", "gross_income": "10200.00",
                 "platform_fees": "2040.00", "net_income": "8160.00", "expenses": "1000.00", "sales_count": 3,
                 "refunds_count": 2, "refunds_amount": "800.00"}
    top = ok(client.get("/api/stats/top-earners/?date_from=2026-10-01&date_to=2026-10-31", headers=a.h()))
    assert [(i["display_name"], i["net_sales"], i["sales_count"]) for i in top["items"]] == [
        ("D1", "6800.00", 2), ("D2", "1600.00", 1)]  # D3's net is −240.00: not listed

    afv = use_case(service.stats_afv, a, q=OCT)
    assert [(str(m.net), m.subscriber_count, str(m.afv)) for m in afv.models] == [("8160.00", 1000, "8.16")]
    assert {c.display_name: str(c.net) for c in afv.chatters} == {"D1": "6800.00", "D2": "1600.00",
                                                                  "D3": "-240.00"}
    trend = use_case(service.stats_income_trend, a,
                     q=TrendQuery(date_from="2026-10-01", date_to="2026-10-07", granularity="daily"))
    assert [str(b.value) for b in trend.buckets] == ["0.00", "0.00", "6400.00", "0.00", "-400.00", "-240.00",
                                                     "0.00"]

    # September keeps its sales: the refunds landed in October and never rewrite a closed period
    sep = use_case(service.stats_summary, a, q=SEP)
    assert (str(sep.gross_income), str(sep.net_income), sep.sales_count, sep.refunds_count,
            str(sep.refunds_amount)) == ("800.00", "640.00", 2, 0, "0.00")

    # Manager N: the chatting figures of their team, D1's chargeback included
    n = use_case(service.stats_summary, a, "N", q=OCT)
    assert (str(n.gross_income), str(n.platform_fees), str(n.net_income), n.expenses, n.sales_count,
            n.refunds_count, str(n.refunds_amount)) == ("10500.00", "2100.00", "8400.00", None, 3, 1, "500.00")
    # D3 sees their own: a negative month, no sales, one refund, and no top earner
    d3 = use_case(service.stats_summary, a, "D3", q=OCT)
    assert (str(d3.net_income), d3.sales_count, d3.refunds_count) == ("-240.00", 0, 1)
    assert use_case(service.stats_top_earners, a, "D3", q=TopEarnersQuery(**OCT.model_dump())).items == []

    # the Owner's live dashboard of October shows the same figures
    doc = firestore.client().document(f"agencies/{a.id}/dashboards/2026-10").get().to_dict()
    assert doc["summary"] == {k: s[k] for k in ("gross_income", "platform_fees", "net_income", "expenses",
                                                "sales_count", "refunds_count", "refunds_amount")}
    assert [(t["display_name"], t["net_sales"]) for t in doc["top_earners"]] == [("D1", "6800.00"),
                                                                                ("D2", "1600.00")]

    # the events kept the aggregates exactly what a rebuild from the truth gives
    kept = aggregates(a.id)
    rebuild(a)
    assert aggregates(a.id) == kept
