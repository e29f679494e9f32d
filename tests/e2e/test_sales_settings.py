"""GET/PUT /api/sales-settings/ and /api/models/{id}/senders/ (issue #16; docs/users.md "Sales settings"):
defaults, versions by date, validation naming the field, closed periods, the event; the sender mapping's rules."""
from __future__ import annotations

from datetime import date

import pytest

from tests.factories import (close_period, error_locs, golden_agency, make_agency, make_model, ok, outbox, problem,
                             sql)

URL = "/api/sales-settings/"
DEFAULT_RULES = {t: "shift" for t in ("message", "tip", "subscription", "post", "stream", "referral")}
SETTINGS = {"commission_types": ["tip_sale", "message_sale", "subscription_sale"],
            "attribution_rules": {"subscription": "none", "message": "sender"},
            "verification": "required", "chatter_edit_hours": 48}


@pytest.fixture
def g(client):
    return golden_agency("ss", client=client)


def put(client, g, effective_from: str = "2026-11-01", **over):
    return client.put(URL, json={**SETTINGS, **over, "effective_from": effective_from}, headers=g.h())


def test_before_any_version_the_defaults_apply(client, g):
    body = ok(client.get(URL + "?on=2026-11-05", headers=g.h()))
    assert {k: body[k] for k in ("id", "commission_types", "attribution_rules", "verification",
                                 "chatter_edit_hours", "effective_from", "effective_to", "history")} == {
        "id": None, "commission_types": ["message_sale", "tip_sale"], "attribution_rules": DEFAULT_RULES,
        "verification": "off", "chatter_edit_hours": 24, "effective_from": None, "effective_to": None,
        "history": []}


def test_a_version_applies_from_its_date_with_missing_types_by_shift_and_emits_the_event(client, g):
    saved = ok(put(client, g, "2026-11-10"))
    rules = {**DEFAULT_RULES, "subscription": "none", "message": "sender"}
    assert {k: saved[k] for k in ("commission_types", "attribution_rules", "verification", "chatter_edit_hours",
                                  "effective_from", "effective_to")} == {
        "commission_types": ["message_sale", "subscription_sale", "tip_sale"], "attribution_rules": rules,
        "verification": "required", "chatter_edit_hours": 48, "effective_from": "2026-11-10", "effective_to": None}
    assert ok(client.get(URL + "?on=2026-11-09", headers=g.h()))["verification"] == "off"
    on = ok(client.get(URL + "?on=2026-11-10", headers=g.h()))
    assert (on["id"], on["verification"], on["attribution_rules"], on["history"][0]["id"]) == (
        saved["id"], "required", rules, saved["id"])
    (event,) = outbox("sales.settings.updated")
    assert (event["data"]["version_id"], event["data"]["effective_from"], event["data"]["replaced"]) == (
        saved["id"], "2026-11-10", False)
    ok(put(client, g, "2026-11-01", verification="off"))  # an earlier version ends the day before the later one
    history = ok(client.get(URL, headers=g.h()))["history"]
    assert [(v["effective_from"], v["effective_to"], v["verification"]) for v in history] == [
        ("2026-11-10", None, "required"), ("2026-11-01", "2026-11-09", "off")]


def test_saving_the_same_date_replaces_the_version(client, g):
    first = ok(put(client, g))
    again = ok(put(client, g, chatter_edit_hours=0, commission_types=[]))
    assert (again["id"], again["chatter_edit_hours"], again["commission_types"]) == (first["id"], 0, [])
    assert [e["data"]["replaced"] for e in outbox("sales.settings.updated")] == [False, True]
    (change,) = sql("SELECT old_values FROM user_service.settings_changes WHERE kind = 'sales' "
                    "AND old_values IS NOT NULL")
    assert change.old_values["chatter_edit_hours"] == 48


@pytest.mark.parametrize("over, loc", [
    ({"commission_types": ["message_sale", "other_income"]}, ["body", "commission_types", 1]),
    ({"commission_types": ["tip_sale", "tip_sale"]}, ["body", "commission_types"]),
    ({"attribution_rules": {"message": "fan"}}, ["body", "attribution_rules", "message"]),
    ({"attribution_rules": {"gift": "shift"}}, ["body", "attribution_rules", "gift"]),
    ({"verification": "sometimes"}, ["body", "verification"]),
    ({"chatter_edit_hours": 721}, ["body", "chatter_edit_hours"]),
    ({"chatter_edit_hours": -1}, ["body", "chatter_edit_hours"]),
])
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(client, g, over, loc):
    assert loc in error_locs(put(client, g, **over), 400)
    assert sql("SELECT count(*) AS n FROM user_service.sales_settings")[0].n == 0
    assert outbox("sales.settings.updated") == []


def test_a_version_reaching_a_closed_period_is_refused(client, g):
    close_period(g, "2026-11")
    assert problem(put(client, g, "2026-11-20"), 409)["type"].endswith("/period-closed")
    assert problem(put(client, g, "2026-10-01"), 409)["type"].endswith("/period-closed")  # reaches November
    assert ok(put(client, g, "2026-12-01"))["effective_from"] == "2026-12-01"


def test_each_agency_sees_its_own(client, g):
    ok(put(client, g))
    other = make_agency(prefix="ss2", client=client)
    assert ok(client.get(URL + "?on=2026-11-05", headers=other.owner.headers))["verification"] == "off"


# --- sender names ----------------------------------------------------------------------------------------------


def senders_url(g, model="A"):
    return f"/api/models/{g.models[model]}/senders/"


def test_the_sender_mapping_is_replaced_whole_and_names_are_trimmed_and_unique_ignoring_case(client, g):
    c1, c2 = str(g.user("C1")), str(g.user("C2"))
    body = ok(client.put(senders_url(g), json={"senders": [{"sender": "  Anna ", "chatter_id": c1},
                                                           {"sender": "bob", "chatter_id": c2}]}, headers=g.h()))
    assert body == {"model_id": str(g.models["A"]), "senders": [{"sender": "Anna", "chatter_id": c1},
                                                                {"sender": "bob", "chatter_id": c2}]}
    # "ANNA" is Anna renamed and moved to C2; bob is gone
    body = ok(client.put(senders_url(g), json={"senders": [{"sender": "ANNA", "chatter_id": c2}]}, headers=g.h()))
    assert body["senders"] == [{"sender": "ANNA", "chatter_id": c2}]
    assert ok(client.get(senders_url(g), headers=g.h())) == body
    assert ok(client.get(senders_url(g, "B"), headers=g.h()))["senders"] == []
    entries = sql("SELECT action FROM audit.entries WHERE entity = 'model_sender' AND agency_id = :a ORDER BY id",
                  {"a": g.id})
    assert [e.action for e in entries] == ["create", "create", "delete", "update"]


def test_a_repeated_name_or_a_chatter_not_assigned_to_the_model_is_a_400_naming_it(client, g):
    c1, c3 = str(g.user("C1")), str(g.user("C3"))
    r = client.put(senders_url(g), headers=g.h(), json={"senders": [
        {"sender": "Anna", "chatter_id": c1}, {"sender": " anna", "chatter_id": c1},
        {"sender": "Cleo", "chatter_id": c3}, {"sender": "Mgr", "chatter_id": str(g.user("M"))}]})
    assert error_locs(r, 400) == [["body", "senders", 1, "sender"], ["body", "senders", 2, "chatter_id"],
                                  ["body", "senders", 3, "chatter_id"]]
    assert sql("SELECT count(*) AS n FROM user_service.model_senders")[0].n == 0
    assert ["body", "senders", 0, "sender"] in error_locs(
        client.put(senders_url(g), headers=g.h(), json={"senders": [{"sender": "  ", "chatter_id": c1}]}), 400)


def test_another_agencys_model_is_404(client, g):
    other = make_agency(prefix="ss3", client=client)
    theirs = make_model(other, "Z")
    assert client.get(f"/api/models/{theirs}/senders/", headers=g.h()).status_code == 404
    assert client.put(f"/api/models/{theirs}/senders/", json={"senders": []}, headers=g.h()).status_code == 404


def test_the_sql_read_function_answers_the_http_version(client, g):
    saved = ok(put(client, g, "2026-11-10"))
    for day, want in ((date(2026, 11, 9), (None, "off")), (date(2026, 11, 10), (saved["id"], "required"))):
        (row,) = sql("SELECT version_id, verification FROM user_service.sales_settings_on(:a, :d)", a=g.id, d=day)
        assert ((str(row.version_id) if row.version_id else None), row.verification) == want
    (days,) = sql("SELECT CAST(user_service.verification_required_days(:a) AS text) AS d", a=g.id)
    assert days.d == "{[2026-11-10,)}"
