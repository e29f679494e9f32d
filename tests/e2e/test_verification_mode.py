"""The sales settings as payouts and statistics apply them (issue #16; docs/payouts.md "Platform sales"), through
HTTP and the event chain: commission_types decide which sale types earn commission and tick (a subscription sale
counts in net income and the model payout either way); verification `required` leaves an unverified self-reported
sale out of every figure until a platform import matches it."""
from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tests.factories import checked_in, golden_agency, ok, set_financial_settings, set_model_settings

NOV = "2026-11"


@pytest.fixture
def g(client):
    """The golden agency (fee 20.00 %): C1 earns 10 % commission, M a 5 % tick, model A a 30 % share."""
    g = golden_agency("vm", client=client)
    set_financial_settings(g.person("C1"), date(2026, 11, 1), commission_rate="10.00")
    set_financial_settings(g.person("M"), date(2026, 11, 1), compensation_type="fixed", manager_tick_rate="5.00")
    set_model_settings(g, g.models["A"], date(2026, 11, 1), model_share_percent="30.00")
    return g


def drained(client) -> None:
    assert ok(client.post("/_emulator/drain"))["drained"] is True


def on_shift(g, who: str = "C1") -> None:
    checked_in(g.person(who), datetime(2026, 11, 3, 14, tzinfo=UTC), datetime(2026, 11, 3, 18, tzinfo=UTC))


def imported(client, g, tid: str, gross: str, type: str = "message") -> dict:
    return ok(client.post("/api/income/imports/", headers=g.h(), json={"model_id": str(g.models["A"]), "transactions": [
        {"transaction_id": tid, "occurred_at": "2026-11-03T15:00:00Z", "type": type, "gross_amount": gross,
         "status": "cleared"}]}))


def settings(client, g, **values) -> None:
    ok(client.put("/api/sales-settings/", headers=g.h(), json={
        "commission_types": ["message_sale", "tip_sale"], "verification": "off", "chatter_edit_hours": 24,
        "effective_from": "2026-11-01", **values}))


def figures(client, g) -> tuple[dict, dict, dict, dict]:
    """(profit, {(user, kind): (basis, amount)}, {model: (base, amount)}, stats summary) of November as the Owner
    sees them, after every event was handled."""
    drained(client)
    profit = ok(client.get(f"/api/financials/profit/?period={NOV}", headers=g.h()))
    names = {str(v): k for k, v in g.users.items()}
    lines = {(names[p["user_id"]], l["kind"]): (l["basis"], l["amount"])
             for p in ok(client.get(f"/api/financials/payouts/?period={NOV}", headers=g.h()))["items"]
             for l in p["lines"] if l["kind"] in ("commission", "manager_tick")}
    models = {str(v): k for k, v in g.models.items()}
    payouts = {models[m["model_id"]]: (m["base"], m["amount"])
               for m in ok(client.get(f"/api/financials/model-payouts/?period={NOV}", headers=g.h()))["items"]
               if m["base"] != "0.00"}
    summary = ok(client.get("/api/stats/summary/?date_from=2026-11-01&date_to=2026-11-30", headers=g.h()))
    return profit, lines, payouts, summary


# --- commission types ------------------------------------------------------------------------------------------


def test_a_subscription_sale_earns_commission_only_once_the_agency_lists_it(client, g):
    on_shift(g)
    imported(client, g, "T1", "50.00", type="subscription")  # attributed to C1 by shift
    profit, lines, payouts, summary = figures(client, g)
    assert (profit["net_income"], payouts, lines) == ("40.00", {"A": ("40.00", "12.00")}, {})
    assert (summary["net_income"], summary["sales_count"]) == ("40.00", 1)
    settings(client, g, commission_types=["message_sale", "tip_sale", "subscription_sale"])
    profit, lines, payouts, summary = figures(client, g)  # sales.settings.updated recalculated November
    assert lines == {("C1", "commission"): ("40.00", "4.00"), ("M", "manager_tick"): ("40.00", "2.00")}
    assert (profit["net_income"], profit["employee_payouts"], payouts) == ("40.00", "6.00", {"A": ("40.00", "12.00")})


def test_commission_types_apply_by_the_sale_date_and_an_empty_list_pays_no_commission(client, g):
    for day, gross in (("2026-11-03", "100.00"), ("2026-11-20", "200.00")):
        ok(client.post("/api/income/register/", headers=g.h("C1"), json={
            "type": "message_sale", "gross_amount": gross, "sale_date": day, "model_id": str(g.models["A"])}), 201)
    settings(client, g, commission_types=[], effective_from="2026-11-15")
    profit, lines, _, _ = figures(client, g)
    assert lines == {("C1", "commission"): ("80.00", "8.00"), ("M", "manager_tick"): ("80.00", "4.00")}
    assert profit["net_income"] == "240.00"


# --- verification ----------------------------------------------------------------------------------------------


def test_with_verification_required_an_unverified_sale_counts_nowhere_until_an_import_matches_it(client, g):
    settings(client, g, verification="required")
    sale = ok(client.post("/api/income/register/", headers=g.h("C1"), json={
        "type": "message_sale", "gross_amount": "100.00", "sale_date": "2026-11-03",
        "model_id": str(g.models["A"])}), 201)
    ok(client.post(f"/api/income/records/{sale['id']}/refunds/", headers=g.h(), json={
        "kind": "refund", "amount": "25.00", "refund_date": "2026-11-04"}), 201)  # a refund of it counts nowhere either
    profit, lines, payouts, summary = figures(client, g)
    assert (profit["gross_income"], profit["net_income"], profit["model_payouts"], lines, payouts) == (
        "0.00", "0.00", "0.00", {}, {})
    assert (summary["net_income"], summary["sales_count"], summary["refunds_count"]) == ("0.00", 0, 0)

    assert imported(client, g, "T1", "100.00")["matched"] == 1  # the platform confirms it: it is verified
    profit, lines, payouts, summary = figures(client, g)
    assert (profit["gross_income"], profit["net_income"]) == ("75.00", "60.00")  # 100 − 25, fees 20 %
    assert lines == {("C1", "commission"): ("60.00", "6.00"), ("M", "manager_tick"): ("60.00", "3.00")}
    assert payouts == {"A": ("60.00", "18.00")}
    assert (summary["net_income"], summary["sales_count"], summary["refunds_count"]) == ("60.00", 1, 1)


def test_switching_verification_on_and_off_recalculates_payouts_and_statistics(client, g):
    ok(client.post("/api/income/register/", headers=g.h("C1"), json={
        "type": "tip_sale", "gross_amount": "50.00", "sale_date": "2026-11-05", "model_id": str(g.models["A"])}), 201)
    on_shift(g)
    imported(client, g, "T9", "30.00", type="post")  # a new imported record is verified: it always counts
    profit, lines, _, summary = figures(client, g)
    assert (profit["net_income"], summary["net_income"], lines[("C1", "commission")]) == (
        "64.00", "64.00", ("40.00", "4.00"))
    settings(client, g, verification="required")
    profit, lines, payouts, summary = figures(client, g)
    assert (profit["net_income"], summary["net_income"], summary["sales_count"], lines, payouts) == (
        "24.00", "24.00", 1, {}, {"A": ("24.00", "7.20")})
    settings(client, g, verification="off")  # the same date again: replaced, everything counts again
    profit, lines, _, summary = figures(client, g)
    assert (profit["net_income"], summary["net_income"], lines[("C1", "commission")]) == (
        "64.00", "64.00", ("40.00", "4.00"))
