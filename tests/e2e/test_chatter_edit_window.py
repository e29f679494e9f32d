"""A Chatter edits or deletes their own sale only while it is unverified and within the agency's chatter_edit_hours
of registering it (issue #16; docs/income.md "Editing"): 409 verified-not-editable / edit-window-passed. Owners and
Managers keep today's rules."""
from __future__ import annotations

from datetime import timedelta

import pytest

from shared_lib import clock
from tests.factories import golden_agency, ok, problem, sql


@pytest.fixture
def g(client):
    return golden_agency("ew", client=client)


def body(g, gross: str = "100.00") -> dict:
    return {"type": "message_sale", "gross_amount": gross, "sale_date": "2026-11-03", "model_id": str(g.models["A"])}


def registered(client, g) -> str:
    return ok(client.post("/api/income/register/", headers=g.h("C1"), json=body(g)), 201)["id"]


def url(income_id: str) -> str:
    return f"/api/income/records/{income_id}/"


def gross(income_id: str) -> str:
    return str(sql("SELECT gross_amount FROM income_service.income_records WHERE id = :i", i=income_id)[0].gross_amount)


def test_within_the_default_24_hours_a_chatter_edits_after_it_they_get_409_and_an_owner_still_edits(client, g):
    sale = registered(client, g)
    with clock.frozen(offset=timedelta(hours=23, minutes=59)):
        assert ok(client.put(url(sale), json=body(g, "110.00"), headers=g.h("C1")))["gross_amount"] == "110.00"
    with clock.frozen(offset=timedelta(hours=24, minutes=1)):
        assert problem(client.put(url(sale), json=body(g, "120.00"), headers=g.h("C1")), 409)["type"].endswith(
            "/edit-window-passed")
        assert problem(client.delete(url(sale), headers=g.h("C1")), 409)["type"].endswith("/edit-window-passed")
        assert gross(sale) == "110.00"
        assert ok(client.put(url(sale), json={**body(g, "130.00"), "chatter_id": str(g.user("C1"))},
                             headers=g.h("M")))["gross_amount"] == "130.00"
        assert client.delete(url(sale), headers=g.h()).status_code == 204


def test_the_window_is_the_agencys_setting_in_effect_today(client, g):
    sale = registered(client, g)
    ok(client.put("/api/sales-settings/", headers=g.h(), json={
        "commission_types": ["message_sale", "tip_sale"], "verification": "off", "chatter_edit_hours": 48,
        "effective_from": "2026-11-01"}))
    with clock.frozen(offset=timedelta(hours=47)):
        assert client.delete(url(sale), headers=g.h("C1")).status_code == 204
    other = registered(client, g)
    ok(client.put("/api/sales-settings/", headers=g.h(), json={
        "commission_types": ["message_sale", "tip_sale"], "verification": "off", "chatter_edit_hours": 0,
        "effective_from": "2026-11-01"}))
    with clock.frozen(offset=timedelta(minutes=1)):
        assert problem(client.put(url(other), json=body(g, "90.00"), headers=g.h("C1")), 409)["type"].endswith(
            "/edit-window-passed")


def test_a_sale_the_platform_verified_is_not_the_chatters_to_change(client, g):
    sale = registered(client, g)
    ok(client.post("/api/income/imports/", headers=g.h(), json={"model_id": str(g.models["A"]), "transactions": [
        {"transaction_id": "T1", "occurred_at": "2026-11-03T15:00:00Z", "type": "message", "gross_amount": "100.00",
         "status": "cleared"}]}))
    assert problem(client.put(url(sale), json=body(g, "90.00"), headers=g.h("C1")), 409)["type"].endswith(
        "/verified-not-editable")
    assert problem(client.delete(url(sale), headers=g.h("C1")), 409)["type"].endswith("/verified-not-editable")
    assert gross(sale) == "100.00"
    assert ok(client.put(url(sale), json={**body(g, "100.00"), "chatter_id": str(g.user("C1"))},
                         headers=g.h()))["verified"] is True
