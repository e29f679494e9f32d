"""The agency for the frontend, through HTTP on the local platform: /api/me/ with the agency, GET PATCH /api/agency/."""
from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import text

from shared_lib.db import engine
from tests.factories import bearer, close_period, make_agency, make_model, make_user, set_platform_fee


def _agency_row(agency_id) -> dict:
    with engine().connect() as c:
        return dict(c.execute(text("SELECT name, currency, timezone FROM user_service.agencies WHERE id = :a"),
                              {"a": agency_id}).one()._mapping)


def _problem(r, status: int) -> dict:
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.mimetype == "application/problem+json"
    return r.get_json()


def test_me_carries_the_agency_the_frontend_formats_with(client):
    owner = bearer("owner-me", name="Olga")
    created = client.post("/api/agencies/", json={"name": "Night Owls", "currency": "EUR",
                                                  "timezone": "Europe/Berlin"}, headers=owner)
    assert created.status_code == 201, created.get_json()
    a = created.get_json()
    me = client.get("/api/me/", headers=owner)
    assert me.status_code == 200
    assert me.get_json() == {
        "user_id": a["owner_user_id"], "agency_id": a["id"], "role": "owner", "display_name": "Olga",
        "email": "owner-me@example.com",
        "agency": {"id": a["id"], "name": "Night Owls", "currency": "EUR", "timezone": "Europe/Berlin"}}


def test_me_without_an_agency_has_a_null_agency(client):
    r = client.get("/api/me/", headers=bearer("newcomer", name="Nina"))
    assert r.status_code == 200
    assert r.get_json() == {"user_id": None, "agency_id": None, "role": None, "display_name": "Nina",
                            "email": "newcomer@example.com", "agency": None}


def test_owner_reads_the_agency_with_the_settings_in_effect_today(client):
    agency = make_agency("Velvet", currency="GBP", timezone="Europe/London")
    set_platform_fee(agency, date(2020, 1, 1), "18.50")
    with engine().begin() as c:
        c.execute(text("INSERT INTO timetracking_service.settings (agency_id, effective_from, grace_minutes, "
                       "late_event_threshold_minutes, max_shift_hours, fee_per_late_minute, fee_per_missed_shift) "
                       "VALUES (:a, '2020-01-01', 7, 20, 10, 0.50, 25.00)"), {"a": agency.id})
    r = client.get("/api/agency/", headers=agency.owner.headers)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body.pop("created_at")
    on = body["settings"].pop("on")
    assert date.fromisoformat(on) >= date(2026, 1, 1)
    assert body == {
        "id": str(agency.id), "name": "Velvet", "currency": "GBP", "timezone": "Europe/London",
        "owner_user_id": str(agency.owner.id),
        "settings": {"onlyfans_fee_percent": "18.50", "grace_minutes": 7, "late_event_threshold_minutes": 20,
                     "max_shift_hours": 10, "fee_per_late_minute": "0.50", "fee_per_missed_shift": "25.00"}}


def test_members_read_the_agency_without_the_owner_only_settings(client):
    agency = make_agency("Velvet")
    chatter = make_user(agency, role="chatter")
    manager = make_user(agency, role="manager")
    for person in (chatter, manager):
        r = client.get("/api/agency/", headers=person.headers)
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        assert (body["id"], body["name"], body["currency"], body["timezone"], body["settings"]) == (
            str(agency.id), "Velvet", "USD", "UTC", None)


def test_defaults_before_any_settings_version(client):
    agency = make_agency("Fresh")
    settings = client.get("/api/agency/", headers=agency.owner.headers).get_json()["settings"]
    settings.pop("on")
    assert settings == {"onlyfans_fee_percent": "20.00", "grace_minutes": 5, "late_event_threshold_minutes": 15,
                        "max_shift_hours": 12, "fee_per_late_minute": "0.00", "fee_per_missed_shift": "0.00"}


def test_owner_changes_name_currency_and_time_zone_while_nothing_is_recorded(client):
    agency = make_agency("Velvet")
    r = client.patch("/api/agency/", json={"name": "Velvet Rope", "currency": "EUR", "timezone": "Asia/Tokyo"},
                     headers=agency.owner.headers)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["name"], body["currency"], body["timezone"]) == ("Velvet Rope", "EUR", "Asia/Tokyo")
    assert _agency_row(agency.id) == {"name": "Velvet Rope", "currency": "EUR", "timezone": "Asia/Tokyo"}
    me = client.get("/api/me/", headers=agency.owner.headers).get_json()
    assert me["agency"] == {"id": str(agency.id), "name": "Velvet Rope", "currency": "EUR", "timezone": "Asia/Tokyo"}


def test_only_the_owner_changes_the_agency(client):
    agency = make_agency("Velvet")
    for role in ("manager", "chatter"):
        person = make_user(agency, role=role)
        _problem(client.patch("/api/agency/", json={"name": "Mine now"}, headers=person.headers), 403)
    _problem(client.patch("/api/agency/", json={"name": "Mine now"}), 401)
    assert _agency_row(agency.id) == {"name": "Velvet", "currency": "USD", "timezone": "UTC"}


def test_bad_values_answer_400_naming_each_field_and_change_nothing(client):
    agency = make_agency("Velvet")
    owner = agency.owner.headers
    r = client.patch("/api/agency/", json={"name": "", "currency": "JPY", "timezone": "Mars/Olympus",
                                           "owner_user_id": str(uuid.uuid4())}, headers=owner)
    body = _problem(r, 400)
    assert sorted(tuple(e["loc"]) for e in body["errors"]) == [
        ("body", "currency"), ("body", "name"), ("body", "owner_user_id"), ("body", "timezone")]
    for value in ("usd", "XAU", "EURO", 978):
        errors = _problem(client.patch("/api/agency/", json={"currency": value}, headers=owner), 400)["errors"]
        assert [e["loc"] for e in errors] == [["body", "currency"]]
    for field in ("name", "currency", "timezone"):
        errors = _problem(client.patch("/api/agency/", json={field: None}, headers=owner), 400)["errors"]
        assert [e["loc"] for e in errors] == [["body", field]]
    # Settings are versioned at their own endpoints; they are not a field of the agency.
    errors = _problem(client.patch("/api/agency/", json={"settings": {"grace_minutes": 9}}, headers=owner),
                      400)["errors"]
    assert [e["loc"] for e in errors] == [["body", "settings"]]
    assert _agency_row(agency.id) == {"name": "Velvet", "currency": "USD", "timezone": "UTC"}


def test_currency_and_time_zone_are_fixed_once_money_is_recorded(client):
    agency = make_agency("Velvet", timezone="Europe/Berlin")
    owner = agency.owner.headers
    model = make_model(agency, "Mia")
    sale = client.post("/api/income/register/", headers=owner, json={
        "type": "other_income", "gross_amount": "100.00", "sale_date": "2026-01-15", "source": "brand deal",
        "model_id": str(model)})
    assert sale.status_code == 201, sale.get_json()
    for change, fields in (({"timezone": "America/New_York"}, ["timezone"]), ({"currency": "EUR"}, ["currency"]),
                           ({"currency": "EUR", "timezone": "UTC", "name": "X"}, ["currency", "timezone"])):
        body = _problem(client.patch("/api/agency/", json=change, headers=owner), 409)
        assert body["type"].endswith("/agency-has-records")
        assert "income records" in body["detail"]
        assert [e["loc"] for e in body["errors"]] == [["body", f] for f in fields]
    assert _agency_row(agency.id) == {"name": "Velvet", "currency": "USD", "timezone": "Europe/Berlin"}
    # The name is a label: it may change any time; sending the current zone and currency again is no change.
    r = client.patch("/api/agency/", json={"name": "Velvet Rope", "timezone": "Europe/Berlin", "currency": "USD"},
                     headers=owner)
    assert r.status_code == 200, r.get_json()
    assert _agency_row(agency.id) == {"name": "Velvet Rope", "currency": "USD", "timezone": "Europe/Berlin"}


def test_a_closed_period_alone_also_fixes_the_time_zone(client):
    agency = make_agency("Velvet")
    close_period(agency, "2026-01")
    body = _problem(client.patch("/api/agency/", json={"timezone": "Asia/Tokyo"}, headers=agency.owner.headers),
                    409)
    assert "closed periods" in body["detail"]
    assert _agency_row(agency.id)["timezone"] == "UTC"


def test_another_agency_cannot_be_addressed(client):
    ours, theirs = make_agency("Ours"), make_agency("Theirs")
    # "The agency" is always the caller's own: there is no id to name, and an attempt to add one is refused.
    r = client.get(f"/api/agency/?agency_id={theirs.id}", headers=ours.owner.headers)
    assert [e["loc"] for e in _problem(r, 400)["errors"]] == [["query", "agency_id"]]
    r = client.patch(f"/api/agency/?agency_id={theirs.id}", json={"name": "Taken"}, headers=ours.owner.headers)
    _problem(r, 400)
    assert client.patch("/api/agency/", json={"name": "Ours 2"}, headers=ours.owner.headers).status_code == 200
    assert client.get("/api/agency/", headers=theirs.owner.headers).get_json()["name"] == "Theirs"
    assert _agency_row(theirs.id) == {"name": "Theirs", "currency": "USD", "timezone": "UTC"}
    assert _agency_row(ours.id)["name"] == "Ours 2"


def test_a_token_without_an_agency_gets_403_no_agency(client):
    body = _problem(client.get("/api/agency/", headers=bearer("stranger")), 403)
    assert body["type"].endswith("/no-agency")
