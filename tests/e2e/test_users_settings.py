"""Effective-dated settings through HTTP: versions, history, the version on a date, closed periods, events."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from shared_lib.db import engine
from tests.factories import close_period, make_agency, make_model, make_user

PAY = {"compensation_type": "fixed_plus_commission", "commission_rate": "5.00", "fixed_salary": "1500.00",
       "manager_tick_rate": "0.00"}


def _q(sql: str, **params):
    with engine().connect() as c:
        return c.execute(text(sql), params).all()


def _events(type_: str) -> list[dict]:
    return [r.payload for r in _q("SELECT payload FROM eventing.outbox WHERE type = :t ORDER BY id", t=type_)]


@pytest.fixture
def shop(db):
    a = make_agency()
    m = make_user(a, role="manager")
    c = make_user(a, role="chatter", manager=m)
    c2 = make_user(a, role="chatter")
    x = make_model(a, "X")
    return {"a": a, "o": a.owner, "m": m, "c": c, "c2": c2, "x": x, "h": a.owner.headers}


def _put_pay(client, shop, effective_from: str, **over):
    return client.put(f"/api/users/{shop['c'].id}/financial-settings/",
                      json={**PAY, **over, "effective_from": effective_from}, headers=shop["h"])


# --- user financial settings ---------------------------------------------------------------------------------------


def test_put_financial_settings_returns_the_new_version(client, shop):
    r = _put_pay(client, shop, "2026-11-01")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert {k: body[k] for k in (*PAY, "effective_from", "effective_to", "user_id")} == {
        **PAY, "effective_from": "2026-11-01", "effective_to": None, "user_id": str(shop["c"].id)}


def test_version_on_a_date_across_boundaries(client, shop):
    assert _put_pay(client, shop, "2026-11-01").status_code == 200
    assert _put_pay(client, shop, "2026-12-15", commission_rate="7.50").status_code == 200
    url = f"/api/users/{shop['c'].id}/financial-settings/"

    def rate_on(day):
        body = client.get(f"{url}?on={day}", headers=shop["h"]).get_json()
        assert body["on"] == day
        return body["current"] and body["current"]["commission_rate"]

    assert rate_on("2026-10-31") is None          # the day before the first version: no settings, no pay
    assert rate_on("2026-11-01") == "5.00"         # the day of
    assert rate_on("2026-12-14") == "5.00"         # the day before the next
    assert rate_on("2026-12-15") == "7.50"         # the day of the next
    assert rate_on("2030-01-01") == "7.50"         # long after
    history = client.get(url, headers=shop["h"]).get_json()["history"]
    assert [(v["effective_from"], v["effective_to"], v["commission_rate"]) for v in history] == [
        ("2026-12-15", None, "7.50"), ("2026-11-01", "2026-12-14", "5.00")]


def test_http_and_sql_answer_the_same_version(client, shop):
    _put_pay(client, shop, "2026-11-01")
    _put_pay(client, shop, "2026-11-20", commission_rate="9.00")
    for day in ("2026-10-31", "2026-11-01", "2026-11-19", "2026-11-20"):
        http = client.get(f"/api/users/{shop['c'].id}/financial-settings/?on={day}", headers=shop["h"]).get_json()
        sql = _q("SELECT version_id FROM user_service.user_financial_settings_on(:u, CAST(:d AS date))",
                 u=shop["c"].id, d=day)
        assert (http["current"]["id"] if http["current"] else None) == (str(sql[0].version_id) if sql else None)


def test_saving_the_same_effective_from_replaces_that_version_and_keeps_the_old_values(client, shop):
    first = _put_pay(client, shop, "2026-11-01").get_json()
    second = _put_pay(client, shop, "2026-11-01", commission_rate="6.00").get_json()
    assert second["id"] == first["id"] and second["commission_rate"] == "6.00"
    history = client.get(f"/api/users/{shop['c'].id}/financial-settings/", headers=shop["h"]).get_json()["history"]
    assert len(history) == 1
    changes = _q("SELECT old_values, new_values FROM user_service.settings_changes WHERE subject_id = :u ORDER BY id",
                 u=shop["c"].id)
    assert changes[0].old_values is None and changes[0].new_values["commission_rate"] == "5.00"
    assert changes[1].old_values["commission_rate"] == "5.00" and changes[1].new_values["commission_rate"] == "6.00"
    assert [e["data"]["replaced"] for e in _events("user.settings.updated")] == [False, True]


def test_user_settings_event_says_what_changed(client, shop):
    _put_pay(client, shop, "2026-12-01")
    version = _put_pay(client, shop, "2026-11-10").get_json()
    events = _events("user.settings.updated")
    assert len(events) == 2
    last = events[-1]
    assert last["agency_id"] == str(shop["a"].id) and last["subject"] == str(shop["c"].id)
    assert last["data"] == {"version_id": version["id"], "user_id": str(shop["c"].id),
                            "agency_id": str(shop["a"].id), "effective_from": "2026-11-10",
                            "effective_to": "2026-11-30", "replaced": False}
    # Published right after commit (the platform's bus), not left for the relay. Only this event type: the
    # consumers' own events (payouts recalculating) may still be between their commit and their publish.
    assert _q("SELECT count(*) FROM eventing.outbox WHERE published_at IS NULL "
              "AND type = 'user.settings.updated'")[0][0] == 0


@pytest.mark.parametrize("over, loc", [
    ({"commission_rate": "-1.00"}, "commission_rate"),
    ({"commission_rate": "100.01"}, "commission_rate"),
    ({"commission_rate": "10.125"}, "commission_rate"),
    ({"manager_tick_rate": "101"}, "manager_tick_rate"),
    ({"fixed_salary": "-0.01"}, "fixed_salary"),
    ({"fixed_salary": "12.345"}, "fixed_salary"),
    ({"compensation_type": "piecework"}, "compensation_type"),
    ({"effective_from": "2026-13-01"}, "effective_from"),
    ({"effective_from": "1999-12-31"}, "effective_from"),
    ({"compensation_type": "commission"}, "fixed_salary"),        # commission-only pays no fixed salary
    ({"compensation_type": "fixed", "fixed_salary": "0.00"}, "commission_rate"),
])
def test_bad_financial_settings_are_400_naming_the_field_and_write_nothing(client, shop, over, loc):
    body = {**PAY, "effective_from": "2026-11-01", **over}
    r = client.put(f"/api/users/{shop['c'].id}/financial-settings/", json=body, headers=shop["h"])
    assert r.status_code == 400, r.get_json()
    assert ["body", loc] in [e["loc"] for e in r.get_json()["errors"]]
    assert _q("SELECT count(*) FROM user_service.user_financial_settings")[0][0] == 0
    assert _events("user.settings.updated") == []


def test_every_invalid_field_is_listed(client, shop):
    body = {"compensation_type": "x", "commission_rate": "-1", "fixed_salary": "1.001", "manager_tick_rate": "200"}
    r = client.put(f"/api/users/{shop['c'].id}/financial-settings/", json=body, headers=shop["h"])
    assert r.status_code == 400
    assert {e["loc"][1] for e in r.get_json()["errors"]} == {
        "compensation_type", "commission_rate", "fixed_salary", "manager_tick_rate", "effective_from"}


def test_settings_for_an_unknown_user_are_404(client, shop):
    import uuid

    r = client.put(f"/api/users/{uuid.uuid4()}/financial-settings/", json={**PAY, "effective_from": "2026-11-01"},
                   headers=shop["h"])
    assert r.status_code == 404


def test_a_user_reads_their_own_financial_settings_but_not_a_team_members(client, shop):
    _put_pay(client, shop, "2026-11-01")
    own = client.get(f"/api/users/{shop['c'].id}/financial-settings/", headers=shop["c"].headers)
    assert own.status_code == 200 and own.get_json()["history"][0]["commission_rate"] == "5.00"
    assert client.get(f"/api/users/{shop['c'].id}/financial-settings/",
                      headers=shop["m"].headers).status_code == 403
    assert client.get(f"/api/users/{shop['c'].id}/financial-settings/",
                      headers=shop["c2"].headers).status_code == 404


# --- closed periods ------------------------------------------------------------------------------------------------


def test_a_version_taking_effect_in_a_closed_period_is_409_and_writes_nothing(client, shop):
    close_period(shop["a"], "2026-10")
    r = _put_pay(client, shop, "2026-10-15")
    assert r.status_code == 409 and r.get_json()["type"].endswith("/period-closed")
    assert _q("SELECT count(*) FROM user_service.user_financial_settings")[0][0] == 0
    assert _q("SELECT count(*) FROM user_service.settings_changes")[0][0] == 0
    assert _events("user.settings.updated") == []
    assert _put_pay(client, shop, "2026-11-01").status_code == 200   # the first day after the closed period


def test_a_back_dated_version_reaching_into_a_closed_period_is_409(client, shop):
    assert _put_pay(client, shop, "2026-11-01").status_code == 200
    close_period(shop["a"], "2026-10")
    # From 2026-09-01 it would apply through 2026-10-31, the closed month.
    assert _put_pay(client, shop, "2026-09-01").status_code == 409
    # Taking effect inside it is refused as well.
    assert _put_pay(client, shop, "2026-10-01").status_code == 409
    assert len(client.get(f"/api/users/{shop['c'].id}/financial-settings/",
                          headers=shop["h"]).get_json()["history"]) == 1


def test_a_back_dated_version_that_ends_before_the_closed_period_is_accepted(client, shop):
    assert _put_pay(client, shop, "2026-10-01").status_code == 200
    close_period(shop["a"], "2026-11")
    # 2026-09-xx applies only until 2026-09-30 (the October version follows): November is untouched.
    r = _put_pay(client, shop, "2026-09-15")
    assert r.status_code == 200 and r.get_json()["effective_to"] == "2026-09-30"


def test_closed_periods_guard_model_and_platform_settings_too(client, shop):
    close_period(shop["a"], "2026-10")
    r = client.put(f"/api/models/{shop['x']}/settings/", json={"model_share_percent": "50.00",
                   "split_chatting_costs": True, "effective_from": "2026-10-01"}, headers=shop["h"])
    assert r.status_code == 409 and r.get_json()["type"].endswith("/period-closed")
    r = client.put("/api/platform-settings/", json={"onlyfans_fee_percent": "18.00", "effective_from": "2026-10-31"},
                   headers=shop["h"])
    assert r.status_code == 409
    assert _events("model.settings.updated") == [] and _events("platform.settings.updated") == []


def test_another_agencys_closed_period_does_not_matter(client, shop):
    other = make_agency("Other")
    close_period(other, "2026-10")
    assert _put_pay(client, shop, "2026-10-15").status_code == 200


# --- model settings ------------------------------------------------------------------------------------------------


def test_model_settings_default_then_versions(client, shop):
    url = f"/api/models/{shop['x']}/settings/"
    body = client.get(f"{url}?on=2026-11-01", headers=shop["h"]).get_json()
    assert body["current"] == {"id": None, "model_id": str(shop["x"]), "model_share_percent": "0.00",
                               "split_chatting_costs": False, "effective_from": None, "effective_to": None,
                               "created_at": None, "updated_at": None}
    assert body["history"] == []
    r = client.put(url, json={"model_share_percent": "50.00", "split_chatting_costs": True,
                              "effective_from": "2026-11-01"}, headers=shop["h"])
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["model_share_percent"], r.get_json()["split_chatting_costs"]) == ("50.00", True)

    def on(day):
        return client.get(f"{url}?on={day}", headers=shop["h"]).get_json()["current"]

    assert (on("2026-10-31")["model_share_percent"], on("2026-10-31")["effective_to"]) == ("0.00", "2026-10-31")
    assert on("2026-11-01")["model_share_percent"] == "50.00"
    assert on("2027-06-01")["split_chatting_costs"] is True
    [event] = _events("model.settings.updated")
    assert event["subject"] == str(shop["x"])
    assert event["data"]["model_id"] == str(shop["x"]) and event["data"]["effective_from"] == "2026-11-01"
    assert event["data"]["agency_id"] == str(shop["a"].id)


@pytest.mark.parametrize("body, loc", [
    ({"model_share_percent": "100.50", "split_chatting_costs": False, "effective_from": "2026-11-01"},
     "model_share_percent"),
    ({"model_share_percent": "-5", "split_chatting_costs": False, "effective_from": "2026-11-01"},
     "model_share_percent"),
    ({"model_share_percent": "50.001", "split_chatting_costs": False, "effective_from": "2026-11-01"},
     "model_share_percent"),
    ({"model_share_percent": "50.00", "split_chatting_costs": "maybe", "effective_from": "2026-11-01"},
     "split_chatting_costs"),
    ({"model_share_percent": "50.00", "effective_from": "2026-11-01"}, "split_chatting_costs"),
])
def test_bad_model_settings_are_400_and_write_nothing(client, shop, body, loc):
    r = client.put(f"/api/models/{shop['x']}/settings/", json=body, headers=shop["h"])
    assert r.status_code == 400 and ["body", loc] in [e["loc"] for e in r.get_json()["errors"]]
    assert _q("SELECT count(*) FROM user_service.model_settings")[0][0] == 0


# --- platform settings ---------------------------------------------------------------------------------------------


def test_platform_fee_defaults_to_20_then_follows_versions(client, shop):
    body = client.get("/api/platform-settings/?on=2026-11-01", headers=shop["h"]).get_json()
    assert (body["onlyfans_fee_percent"], body["effective_from"], body["id"], body["history"]) == (
        "20.00", None, None, [])
    r = client.put("/api/platform-settings/", json={"onlyfans_fee_percent": "18.50", "effective_from": "2026-11-15"},
                   headers=shop["h"])
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["onlyfans_fee_percent"], r.get_json()["effective_from"]) == ("18.50", "2026-11-15")
    for day, fee in (("2026-11-14", "20.00"), ("2026-11-15", "18.50"), ("2026-11-16", "18.50")):
        got = client.get(f"/api/platform-settings/?on={day}", headers=shop["h"]).get_json()
        assert got["onlyfans_fee_percent"] == fee
        sql = _q("SELECT user_service.fee_percent_on(:a, CAST(:d AS date))", a=shop["a"].id, d=day)[0][0]
        assert f"{sql:.2f}" == fee
    [event] = _events("platform.settings.updated")
    assert event["subject"] == str(shop["a"].id)
    assert event["data"]["agency_id"] == str(shop["a"].id) and event["data"]["effective_from"] == "2026-11-15"


def test_platform_settings_are_per_agency(client, shop):
    client.put("/api/platform-settings/", json={"onlyfans_fee_percent": "10.00", "effective_from": "2026-01-01"},
               headers=shop["h"])
    other = make_agency("Other")
    body = client.get("/api/platform-settings/?on=2026-11-01", headers=other.owner.headers).get_json()
    assert body["onlyfans_fee_percent"] == "20.00" and body["history"] == []


def test_bad_platform_settings_are_400(client, shop):
    r = client.put("/api/platform-settings/", json={"onlyfans_fee_percent": "20.001", "effective_from": "x"},
                   headers=shop["h"])
    assert r.status_code == 400
    assert {tuple(e["loc"]) for e in r.get_json()["errors"]} == {("body", "onlyfans_fee_percent"),
                                                                  ("body", "effective_from")}
    assert client.get("/api/platform-settings/?on=bad", headers=shop["h"]).status_code == 400
