"""POST /api/income/register/ through HTTP: who may register what for whom, the fee in effect, bad input."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from shared_lib.periods import local_today
from tests.factories import (
    assert_nothing_written,
    assign,
    close_period,
    error_locs,
    golden_agency,
    income_count,
    make_agency,
    make_model,
    make_user,
    outbox,
    problem,
    set_manager,
    set_platform_fee,
)

URL = "/api/income/register/"


@pytest.fixture
def g(client):
    return golden_agency(client=client)


def sale(g, model="A", **extra):
    return {"type": "message_sale", "gross_amount": "100.00", "sale_date": "2026-11-05",
            "model_id": str(g.models[model]), **extra}


# --- who registers what --------------------------------------------------------------------------------------


def test_a_chatter_registers_for_an_assigned_model_credited_to_themselves(client, g):
    r = client.post(URL, json=sale(g, customer_username="fan_42", notes="PPV bundle"), headers=g.h("C2"))
    assert r.status_code == 201, r.get_json()
    rec = r.get_json()
    assert (rec["chatter_id"], rec["manager_id"], rec["registered_by_user_id"]) == \
        (str(g.users["C2"]), str(g.users["M"]), str(g.users["C2"]))
    assert (rec["customer_username"], rec["notes"], rec["schedule_id"]) == ("fan_42", "PPV bundle", None)
    (event,) = outbox("income.")
    assert event["type"] == "income.registered" and event["subject"] == rec["id"]
    assert event["data"]["reason"] == "registered" and event["data"]["old"] is None
    assert event["data"]["new"]["chatter_id"] == str(g.users["C2"])
    assert event["data"]["new"]["sale_date"] == "2026-11-05"


def test_a_chatter_may_name_themselves_as_chatter(client, g):
    r = client.post(URL, json=sale(g, chatter_id=str(g.users["C1"])), headers=g.h("C1"))
    assert r.status_code == 201 and r.get_json()["chatter_id"] == str(g.users["C1"])


def test_chatter_cannot_credit_another_chatter(client, g):
    r = client.post(URL, json=sale(g, chatter_id=str(g.users["C2"])), headers=g.h("C1"))
    assert error_locs(r, 403) == [["body", "chatter_id"]]
    assert_nothing_written()


def test_chatter_cannot_register_for_a_model_not_assigned_to_them(client, g):
    r = client.post(URL, json=sale(g, "B"), headers=g.h("C2"))
    assert error_locs(r, 403) == [["body", "model_id"]]
    assert_nothing_written()


def test_chatter_cannot_register_other_income(client, g):
    r = client.post(URL, json={"type": "other_income", "gross_amount": "50.00", "sale_date": "2026-11-05"},
                    headers=g.h("C1"))
    assert error_locs(r, 403) == [["body", "type"]]
    assert_nothing_written()


def test_owner_must_name_the_chatter_of_a_chatting_sale(client, g):
    r = client.post(URL, json=sale(g), headers=g.h())
    assert error_locs(r, 400) == [["body", "chatter_id"]]
    assert_nothing_written()


def test_owner_credits_only_a_chatter_assigned_to_the_model(client, g):
    r = client.post(URL, json=sale(g, "A", chatter_id=str(g.users["C3"])), headers=g.h())
    body = problem(r, 400)
    assert body["errors"] == [{"loc": ["body", "chatter_id"], "msg": "this chatter is not assigned to the model"}]
    assert_nothing_written()


def test_owner_credits_only_chatters(client, g):
    r = client.post(URL, json=sale(g, chatter_id=str(g.users["M"])), headers=g.h())
    assert error_locs(r, 400) == [["body", "chatter_id"]]
    assert_nothing_written()


def test_a_deactivated_chatter_cannot_be_credited(client, g):
    make_user(g, "chatter", name="C4", active=False)
    assign(g, "A", "C4")
    r = client.post(URL, json=sale(g, chatter_id=str(g.users["C4"])), headers=g.h())
    assert problem(r, 400)["errors"] == [{"loc": ["body", "chatter_id"], "msg": "this chatter is deactivated"}]
    assert_nothing_written()


def test_a_manager_credits_chatters_of_their_team_only(client, g):
    ok = client.post(URL, json=sale(g, "A", chatter_id=str(g.users["C2"])), headers=g.h("M"))
    assert ok.status_code == 201 and ok.get_json()["manager_id"] == str(g.users["M"])
    r = client.post(URL, json=sale(g, "B", chatter_id=str(g.users["C3"])), headers=g.h("M"))
    assert error_locs(r, 403) == [["body", "chatter_id"]]
    assert income_count() == 1 and len(outbox("income.")) == 1


def test_owner_and_manager_register_other_income_without_a_fee(client, g):
    for who in ("owner", "M"):
        r = client.post(URL, headers=g.h(who), json={
            "type": "other_income", "gross_amount": "400.00", "sale_date": "2026-11-05", "source": "Brand deal",
            "model_id": str(g.models["B"]), "split_fixed_amount": "100.00",
            "assigned_to_user_id": str(g.users["C1"])})
        assert r.status_code == 201, r.get_json()
        rec = r.get_json()
        assert (rec["fee_percent"], rec["fee_amount"], rec["net_amount"]) == ("0.00", "0.00", "400.00")
        assert (rec["chatter_id"], rec["manager_id"], rec["source"], rec["split_fixed_amount"]) == \
            (None, None, "Brand deal", "100.00")
    assert income_count() == 2


def test_a_manager_splits_other_income_only_to_themselves_or_their_team(client, g):
    r = client.post(URL, headers=g.h("M"), json={
        "type": "other_income", "gross_amount": "400.00", "sale_date": "2026-11-05",
        "split_percent": "10.00", "assigned_to_user_id": str(g.users["C3"])})
    assert error_locs(r, 403) == [["body", "assigned_to_user_id"]]
    assert_nothing_written()


# --- the fee and the manager snapshot ----------------------------------------------------------------------------


def test_fee_percent_in_effect_on_the_sale_date(client, g):
    set_platform_fee(g, date(2026, 11, 10), "25.00")
    before = client.post(URL, json=sale(g, gross_amount="1000.00", sale_date="2026-11-09"), headers=g.h("C1"))
    after = client.post(URL, json=sale(g, gross_amount="1000.00", sale_date="2026-11-10"), headers=g.h("C1"))
    assert [(x.get_json()["fee_percent"], x.get_json()["fee_amount"], x.get_json()["net_amount"])
            for x in (before, after)] == [("20.00", "200.00", "800.00"), ("25.00", "250.00", "750.00")]


def test_the_default_fee_is_20_percent_and_rounds_half_up(client):
    a = make_agency(prefix="plain", client=client)
    make_user(a, "chatter", name="C")
    make_model(a, "X", "C")
    r = client.post(URL, headers=a.h("C"), json={"type": "tip_sale", "gross_amount": "0.10",
                                                  "sale_date": "2026-11-05", "model_id": str(a.models["X"])})
    # 0.10 × 20 % = 0.02 exactly; at 25 % 0.025 must round up, not to even:
    assert (r.get_json()["fee_amount"], r.get_json()["net_amount"]) == ("0.02", "0.08")
    set_platform_fee(a, date(2026, 1, 1), "25.00")
    r = client.post(URL, headers=a.h("C"), json={"type": "tip_sale", "gross_amount": "0.10",
                                                  "sale_date": "2026-11-05", "model_id": str(a.models["X"])})
    assert (r.get_json()["fee_percent"], r.get_json()["fee_amount"], r.get_json()["net_amount"]) == \
        ("25.00", "0.03", "0.07")


def test_the_managers_snapshot_does_not_follow_later_team_moves(client, g):
    first = client.post(URL, json=sale(g), headers=g.h("C1")).get_json()
    set_manager(g, "C1", None)
    second = client.post(URL, json=sale(g), headers=g.h("C1")).get_json()
    assert (first["manager_id"], second["manager_id"]) == (str(g.users["M"]), None)
    again = client.get(f"/api/income/records/{first['id']}/", headers=g.h()).get_json()
    assert again["manager_id"] == str(g.users["M"])


# --- dates, periods, idempotency -----------------------------------------------------------------------------------


def test_future_sale_dates_are_refused_in_the_agencys_time_zone(client):
    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):  # UTC+14 and UTC−11
        a = make_agency(prefix=zone.split("/")[1].lower(), client=client, timezone=zone)
        make_user(a, "chatter", name="C")
        make_model(a, "X", "C")
        today = local_today(zone)
        body = {"type": "message_sale", "gross_amount": "10.00", "model_id": str(a.models["X"])}
        ok = client.post(URL, json={**body, "sale_date": today.isoformat()}, headers=a.h("C"))
        assert ok.status_code == 201, ok.get_json()
        r = client.post(URL, json={**body, "sale_date": (today + timedelta(days=1)).isoformat()}, headers=a.h("C"))
        assert problem(r, 400)["errors"] == [{"loc": ["body", "sale_date"], "msg": "must not be in the future"}]
    assert income_count() == 2 and len(outbox("income.")) == 2


def test_a_sale_dated_in_a_closed_period_is_409_period_closed(client, g):
    close_period(g, "2026-10")
    r = client.post(URL, json=sale(g, sale_date="2026-10-31"), headers=g.h("C1"))
    assert problem(r, 409)["type"].endswith("/period-closed")
    assert_nothing_written()


def test_the_same_idempotency_key_registers_once(client, g):
    headers = {**g.h("C1"), "Idempotency-Key": "tick-1"}
    first = client.post(URL, json=sale(g), headers=headers)
    second = client.post(URL, json=sale(g), headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.get_json() == first.get_json() and second.headers["Idempotent-Replayed"] == "true"
    reused = client.post(URL, json=sale(g, gross_amount="200.00"), headers=headers)
    assert reused.status_code == 422
    assert income_count() == 1 and len(outbox("income.")) == 1


# --- bad input: 400/404 with the field named, nothing written -----------------------------------------------------


@pytest.mark.parametrize("change, loc", [
    ({"gross_amount": "0.00"}, "gross_amount"),
    ({"gross_amount": "-5.00"}, "gross_amount"),
    ({"gross_amount": "1000000.01"}, "gross_amount"),
    ({"gross_amount": "10.005"}, "gross_amount"),
    ({"gross_amount": 10.5}, None),  # a JSON number with a fraction is read as its text: accepted below
    ({"sale_date": "1999-12-31"}, "sale_date"),
    ({"sale_date": "2026-02-30"}, "sale_date"),
    ({"sale_date": 1699920000}, "sale_date"),
    ({"type": "subscription"}, "type"),
    ({"model_id": None}, "model_id"),
    ({"model_id": "not-a-uuid"}, "model_id"),
    ({"customer_username": "x" * 101}, "customer_username"),
    ({"split_percent": "10.00"}, "split_percent"),
    ({"unexpected": 1}, "unexpected"),
])
def test_bad_sale_fields_are_400_naming_the_field(client, g, change, loc):
    r = client.post(URL, json={**sale(g), **change}, headers=g.h("C1"))
    if loc is None:
        assert r.status_code == 201 and r.get_json()["gross_amount"] == "10.50"
        return
    assert error_locs(r, 400) == [["body", loc]]
    assert_nothing_written()


def test_every_invalid_field_is_listed(client, g):
    r = client.post(URL, headers=g.h(), json={"type": "other_income", "gross_amount": "0", "sale_date": "x",
                                              "chatter_id": str(g.users["C1"]), "split_percent": "101.00",
                                              "split_fixed_amount": "1.00"})
    assert error_locs(r, 400) == [["body", "gross_amount"], ["body", "sale_date"], ["body", "chatter_id"],
                                  ["body", "split_percent"]]
    assert_nothing_written()


@pytest.mark.parametrize("split, loc, msg", [
    ({"split_percent": "25.00", "split_fixed_amount": "10.00", "assigned_to_user_id": "M"}, "split_fixed_amount",
     "give split_percent or split_fixed_amount, not both"),
    ({"split_percent": "100.01", "assigned_to_user_id": "M"}, "split_percent", "must be between 0.00 and 100.00"),
    ({"split_percent": "0.00", "assigned_to_user_id": "M"}, "split_percent", "must be greater than 0.00"),
    ({"split_fixed_amount": "400.01", "assigned_to_user_id": "M"}, "split_fixed_amount",
     "must not exceed gross_amount"),
    ({"split_percent": "25.00"}, "assigned_to_user_id", "required with split_percent or split_fixed_amount"),
    ({"assigned_to_user_id": "M"}, "assigned_to_user_id", "give split_percent or split_fixed_amount for this user"),
])
def test_bad_other_income_splits_are_400(client, g, split, loc, msg):
    if "assigned_to_user_id" in split:
        split = {**split, "assigned_to_user_id": str(g.users[split["assigned_to_user_id"]])}
    r = client.post(URL, headers=g.h(), json={"type": "other_income", "gross_amount": "400.00",
                                              "sale_date": "2026-11-05", **split})
    assert problem(r, 400)["errors"] == [{"loc": ["body", loc], "msg": msg}]
    assert_nothing_written()


def test_unknown_or_foreign_ids_are_404_naming_the_field(client, g):
    other = make_agency(prefix="other", client=client)
    make_user(other, "chatter", name="X")
    make_model(other, "Z", "X")
    cases = [
        (g.h("C1"), sale(g, model_id="00000000-0000-4000-8000-000000000000"), "model_id"),
        (g.h("C1"), sale(g, model_id=str(other.models["Z"])), "model_id"),
        (g.h(), sale(g, chatter_id=str(other.users["X"])), "chatter_id"),
        (g.h(), {"type": "other_income", "gross_amount": "5.00", "sale_date": "2026-11-05",
                 "model_id": str(other.models["Z"])}, "model_id"),
        (g.h(), {"type": "other_income", "gross_amount": "5.00", "sale_date": "2026-11-05",
                 "split_percent": "5.00", "assigned_to_user_id": str(other.users["X"])}, "assigned_to_user_id"),
    ]
    for headers, body, loc in cases:
        r = client.post(URL, json=body, headers=headers)
        assert error_locs(r, 404) == [["body", loc]], body
    assert_nothing_written()


def test_a_signed_in_user_without_an_agency_is_403_and_no_token_is_401(client, g):
    from tests.factories import bearer

    assert problem(client.post(URL, json=sale(g), headers=bearer("stranger")), 403)["type"].endswith("/no-agency")
    problem(client.post(URL, json=sale(g)), 401)
    assert_nothing_written()
