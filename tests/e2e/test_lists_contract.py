"""The list and request contract every endpoint shares, through HTTP on the local platform: keyset pages on payouts
and model payouts (by name), one rule for unknown query parameters, an empty body where nothing is required."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from shared_lib.db import engine
from tests.factories import (assign, bearer, counts, make_agency, make_model, make_user, set_financial_settings,
                             set_model_settings, shift)

NOV = date(2026, 11, 1)


def _ok(r, status: int = 200):
    assert r.status_code == status, r.get_data(as_text=True)
    return r.get_json()


def _problem(r, status: int) -> dict:
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.mimetype == "application/problem+json"
    return r.get_json()


def _count(table: str) -> int:
    with engine().connect() as c:
        return c.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def _walk(client, path: str, headers, limit: int) -> list[list[dict]]:
    """Every page of a list, following next_cursor until it is null."""
    pages, cursor = [], None
    while True:
        sep = "&" if "?" in path else "?"
        page = _ok(client.get(f"{path}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else ""), headers=headers))
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
        assert len(page["items"]) == limit  # a full page promises more


@pytest.fixture
def salaried(client):
    """Five salaried chatters with names in mixed case, the period calculated."""
    agency = make_agency("Velvet")
    people = {}
    for name, salary in (("Zoe", "1000.00"), ("alice", "1100.00"), ("Bob", "1200.00"), ("carol", "1300.00"),
                         ("Dave", "1400.00")):
        people[name] = make_user(agency, role="chatter", display_name=name)
        set_financial_settings(people[name], NOV, compensation_type="fixed", fixed_salary=salary)
    _ok(client.post("/api/financials/calculate/", json={"period": "2026-11"}, headers=agency.owner.headers))
    return agency, people


def test_payouts_walk_two_pages_by_name_with_no_gap_or_duplicate(client, salaried):
    agency, people = salaried
    pages = _walk(client, "/api/financials/payouts/?period=2026-11", agency.owner.headers, limit=2)
    assert [[p["display_name"] for p in page] for page in pages] == [["alice", "Bob"], ["carol", "Dave"], ["Zoe"]]
    items = [p for page in pages for p in page]
    assert [p["user_id"] for p in items] == [str(people[n].id) for n in ("alice", "Bob", "carol", "Dave", "Zoe")]
    assert items[0] == {
        "user_id": str(people["alice"].id), "display_name": "alice", "period": "2026-11", "total": "1100.00",
        "status": "open", "lines": [{"kind": "fixed_salary", "model_id": None, "basis": "1100.00", "rate": None,
                                     "amount": "1100.00", "detail": "30/30 days"}],
        "payment_status": "unpaid", "paid_at": None, "method": None, "reference": None}
    assert [p["total"] for p in items] == ["1100.00", "1200.00", "1300.00", "1400.00", "1000.00"]
    # One page of everything says the same, with no cursor.
    whole = _ok(client.get("/api/financials/payouts/?period=2026-11", headers=agency.owner.headers))
    assert whole["items"] == items and whole["next_cursor"] is None


def test_payout_pages_keep_the_role_scope(client, salaried):
    agency, people = salaried
    assert _walk(client, "/api/financials/payouts/?period=2026-11", people["Bob"].headers, limit=1) == [[
        {"user_id": str(people["Bob"].id), "display_name": "Bob", "period": "2026-11", "total": "1200.00",
         "status": "open", "lines": [{"kind": "fixed_salary", "model_id": None, "basis": "1200.00", "rate": None,
                                      "amount": "1200.00", "detail": "30/30 days"}],
         "payment_status": "unpaid", "paid_at": None, "method": None, "reference": None}]]
    other = make_agency("Other")
    page = _ok(client.get("/api/financials/payouts/?period=2026-11&limit=500", headers=other.owner.headers))
    assert page == {"items": [], "next_cursor": None}
    # Naming another agency's person is 404 (never their figures), on every page size.
    for query in ("", "&limit=1"):
        r = client.get(f"/api/financials/payouts/?period=2026-11&user_id={people['Bob'].id}{query}",
                       headers=other.owner.headers)
        assert _problem(r, 404)["status"] == 404
    one = _ok(client.get(f"/api/financials/payouts/?period=2026-11&user_id={people['Bob'].id}&limit=1",
                         headers=agency.owner.headers))
    assert [p["display_name"] for p in one["items"]] == ["Bob"] and one["next_cursor"] is None


def test_payout_limits_and_cursors_are_validated(client, salaried):
    agency, _ = salaried
    h = agency.owner.headers
    for query, loc in (("limit=0", "limit"), ("limit=501", "limit"), ("limit=ten", "limit"),
                       ("cursor=not-a-cursor", "cursor")):
        body = _problem(client.get(f"/api/financials/payouts/?period=2026-11&{query}", headers=h), 400)
        assert [e["loc"] for e in body["errors"]] == [["query", loc]]
    # A cursor of the model-payout list is not one of this list's.
    model_cursor_page = _ok(client.get("/api/financials/payouts/?period=2026-11&limit=1", headers=h))
    body = _problem(client.get(f"/api/financials/model-payouts/?period=2026-11&cursor="
                               f"{model_cursor_page['next_cursor']}", headers=h), 400)
    assert [e["loc"] for e in body["errors"]] == [["query", "cursor"]]


def test_model_payouts_walk_pages_by_model_name(client):
    agency = make_agency("Velvet")
    owner = agency.owner.headers
    chatter = make_user(agency, role="chatter", display_name="Cleo")
    models = {}
    for name, share, gross in (("mia", "50.00", "1000.00"), ("Luna", "40.00", "500.00"), ("ava", "10.00", "200.00")):
        models[name] = make_model(agency, name)
        assign(agency, models[name], chatter)
        set_model_settings(agency, models[name], NOV, model_share_percent=share)
        _ok(client.post("/api/income/register/", headers=owner, json={
            "type": "message_sale", "gross_amount": gross, "sale_date": "2026-11-10",
            "model_id": str(models[name]), "chatter_id": str(chatter.id)}), 201)
    _ok(client.post("/_emulator/drain"))
    _ok(client.post("/api/financials/calculate/", json={"period": "2026-11"}, headers=owner))
    pages = _walk(client, "/api/financials/model-payouts/?period=2026-11", owner, limit=2)
    assert [[(m["name"], m["model_id"]) for m in page] for page in pages] == [
        [("ava", str(models["ava"])), ("Luna", str(models["Luna"]))], [("mia", str(models["mia"]))]]
    # Net is gross less the default 20.00 % fee; the share applies to it.
    assert pages[0][0] == {"model_id": str(models["ava"]), "name": "ava", "effective_from": "2026-11-01",
                           "base": "160.00", "model_share_percent": "10.00", "split_chatting_costs": False,
                           "amount": "16.00", "payment_status": "unpaid", "paid_at": None, "method": None, "reference": None}
    assert [(m["base"], m["amount"]) for page in pages for m in page] == [
        ("160.00", "16.00"), ("400.00", "160.00"), ("800.00", "400.00")]
    # Another agency's Owner sees none of them; a Manager may not list model payouts at all.
    other = make_agency("Other")
    assert _ok(client.get("/api/financials/model-payouts/?period=2026-11", headers=other.owner.headers)) == {
        "items": [], "next_cursor": None}
    manager = make_user(agency, role="manager")
    _problem(client.get("/api/financials/model-payouts/?period=2026-11", headers=manager.headers), 403)


# --- one rule for unknown query parameters ---------------------------------------------------------------------


def test_unknown_query_parameters_answer_400_on_every_endpoint(client):
    agency = make_agency("Velvet")
    h = agency.owner.headers
    user = make_user(agency, role="chatter")
    paths = ["/api/me/", "/api/agency/", "/api/users/", f"/api/users/{user.id}/", "/api/models/",
             "/api/platform-settings/", "/api/financials/payouts/?period=2026-11",
             "/api/financials/model-payouts/?period=2026-11", "/api/financials/profit/?period=2026-11",
             "/api/income/records/", "/api/expenses/", "/api/stats/summary/", "/api/timetracking/shifts/",
             "/api/timetracking/settings/", "/api/health/"]
    for path in paths:
        sep = "&" if "?" in path else "?"
        r = client.get(f"{path}{sep}bogus=1&_=1700000000", headers=h)
        body = _problem(r, 400)
        assert [e["loc"] for e in body["errors"]] == [["query", "bogus"], ["query", "_"]], path
        assert all(e["msg"] == "unknown query parameter" for e in body["errors"])
        # The declared parameters alone are fine.
        assert client.get(path, headers=h).status_code == 200, path


def test_an_unknown_parameter_on_a_write_writes_nothing(client):
    agency = make_agency("Velvet")
    h = agency.owner.headers
    before = _count("user_service.models")
    body = _problem(client.post("/api/models/?dry_run=true", json={"name": "Mia"}, headers=h), 400)
    assert [e["loc"] for e in body["errors"]] == [["query", "dry_run"]]
    assert _count("user_service.models") == before
    assert _count("eventing.outbox") == 0
    _problem(client.patch("/api/agency/?force=1", json={"name": "Renamed"}, headers=h), 400)
    assert client.get("/api/agency/", headers=h).get_json()["name"] == "Velvet"


def test_dates_in_query_strings_are_iso_text_only(client):
    agency = make_agency("Velvet")
    h = agency.owner.headers
    body = _problem(client.get("/api/platform-settings/?on=1699920000", headers=h), 400)
    assert [e["loc"] for e in body["errors"]] == [["query", "on"]]
    assert _ok(client.get("/api/platform-settings/?on=2026-11-14", headers=h))["on"] == "2026-11-14"


# --- an empty body where every field is optional -----------------------------------------------------------------


def test_check_in_and_out_with_an_empty_body(client):
    owner = make_agency().owner
    chatter = make_user(owner)
    now = datetime.now(UTC)
    shift(chatter, now - timedelta(minutes=3), now + timedelta(hours=6))
    # No bytes and no Content-Type, as fetch(url, {method: "POST"}) sends it.
    r = client.post("/api/timetracking/check-in/", headers=bearer(chatter.uid))
    entry = _ok(r, 201)
    assert (entry["user_id"], entry["late_minutes"], entry["checked_out_at"], entry["source"]) == (
        str(chatter.id), 0, None, "http")
    # No bytes with a JSON Content-Type.
    r = client.post("/api/timetracking/check-out/", data=b"", content_type="application/json",
                    headers=bearer(chatter.uid))
    out = _ok(r, 200)
    assert out["id"] == entry["id"] and out["checked_out_at"] is not None and out["worked_minutes"] == 0


def test_a_non_empty_body_still_has_to_be_json(client):
    owner = make_agency().owner
    chatter = make_user(owner)
    now = datetime.now(UTC)
    shift(chatter, now - timedelta(minutes=3), now + timedelta(hours=6))
    before = counts()
    _problem(client.post("/api/timetracking/check-in/", data="now", content_type="text/plain",
                         headers=bearer(chatter.uid)), 415)
    body = _problem(client.post("/api/timetracking/check-in/", data="{", content_type="application/json",
                                headers=bearer(chatter.uid)), 400)
    assert body["errors"] == [{"loc": ["body"], "msg": "invalid JSON"}]
    assert counts() == before
    # Where fields are required, an empty body is still refused as before.
    _problem(client.post("/api/models/", headers=bearer(owner.uid)), 415)
    assert _count("user_service.models") == 0


def test_a_crafted_cursor_is_a_400_and_the_next_request_is_served(client, salaried):
    import base64
    import json

    agency, people = salaried
    h = agency.owner.headers

    def raw(*values) -> str:
        return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")

    for path, cursor in (("/api/users/", raw("0001-01-01T00:00:00+14:00", str(people["Bob"].id))),
                         ("/api/financials/payouts/?period=2026-11", raw("a\u0000", str(people["Bob"].id)))):
        sep = "&" if "?" in path else "?"
        body = _problem(client.get(f"{path}{sep}cursor={cursor}", headers=h), 400)
        assert [e["loc"] for e in body["errors"]] == [["query", "cursor"]]
    page = _ok(client.get("/api/financials/payouts/?period=2026-11&limit=1", headers=h))
    assert [p["display_name"] for p in page["items"]] == ["alice"]


def test_time_tracking_dates_are_iso_text_only(client):
    owner = make_agency().owner
    h = bearer(owner.uid)
    for path, loc in (("/api/timetracking/shifts/?date_from=1699920000", "date_from"),
                      ("/api/timetracking/entries/?date_to=1699920000", "date_to"),
                      (f"/api/timetracking/summary/{owner.id}/?date_from=1699920000", "date_from")):
        assert [e["loc"] for e in _problem(client.get(path, headers=h), 400)["errors"]] == [["query", loc]], path
    before = counts()
    body = _problem(client.put("/api/timetracking/settings/", headers=h, json={
        "grace_minutes": 5, "late_event_threshold_minutes": 15, "max_shift_hours": 12, "fee_per_late_minute": "0.00",
        "fee_per_missed_shift": "0.00", "effective_from": 1699920000}), 400)
    assert [e["loc"] for e in body["errors"]] == [["body", "effective_from"]]
    assert counts() == before
    assert _ok(client.get("/api/timetracking/shifts/?date_from=2026-11-01&date_to=2026-11-30", headers=h)) == {
        "items": [], "next_cursor": None}


def test_a_parameter_given_twice_is_400_not_silently_the_first(client):
    agency = make_agency("Velvet")
    chatter = make_user(agency, role="chatter")
    r = client.get("/api/users/?role=owner&role=chatter&limit=5", headers=agency.owner.headers)
    assert _problem(r, 400)["errors"] == [{"loc": ["query", "role"], "msg": "given more than once"}]
    page = _ok(client.get("/api/users/?role=chatter", headers=agency.owner.headers))
    assert [u["id"] for u in page["items"]] == [str(chatter.id)]
