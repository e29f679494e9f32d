"""Time tracking through HTTP on the local platform, as the frontend calls it."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from shared_lib.db import engine
from tests import factories as f
from tests.factories import bearer

API = "/api/timetracking"


@pytest.fixture
def team(client):
    """An Owner created through POST /api/agencies/ (Berlin), a Manager and a Chatter of their team."""
    r = client.post("/api/agencies/", json={"name": "Night Owls", "timezone": "Europe/Berlin"},
                    headers=bearer("tt-owner", name="Olga"))
    assert r.status_code == 201, r.get_json()
    a = r.get_json()
    owner = f.Person(uuid.UUID(a["owner_user_id"]), uuid.UUID(a["id"]), "tt-owner", "owner",
                     timezone="Europe/Berlin")
    manager = f.make_user(owner, "manager", uid="tt-manager")
    chatter = f.make_user(owner, "chatter", manager=manager, uid="tt-chatter")
    return owner, manager, chatter


def h(person) -> dict[str, str]:
    return bearer(person.uid)


def refused(client, method, path, person, status, slug=None, **kw):
    before = f.counts()
    r = getattr(client, method)(path, headers=h(person), **kw)
    assert r.status_code == status, r.get_json()
    assert r.content_type == "application/problem+json"
    if slug:
        assert r.get_json()["type"].endswith("/" + slug)
    assert f.counts() == before
    return r.get_json()


def test_owner_plans_shifts_and_everyone_lists_what_they_may_see(client, team):
    owner, manager, chatter = team
    r = client.post(f"{API}/shifts/", headers=h(owner), json={
        "user_id": str(chatter.id), "starts_at": "2026-11-20T22:00:00+01:00", "ends_at": "2026-11-21T06:00:00+01:00"})
    assert r.status_code == 201, r.get_json()
    shift = r.get_json()
    assert {k: shift[k] for k in ("user_id", "starts_at", "ends_at", "local_date", "status", "missed_at",
                                  "entry_id", "created_by")} == {
        "user_id": str(chatter.id), "starts_at": "2026-11-20T21:00:00Z", "ends_at": "2026-11-21T05:00:00Z",
        "local_date": "2026-11-20", "status": "planned", "missed_at": None, "entry_id": None,
        "created_by": str(owner.id)}
    for person in (owner, manager, chatter):
        page = client.get(f"{API}/shifts/", headers=h(person)).get_json()
        assert [s["id"] for s in page["items"]] == [shift["id"]] and page["next_cursor"] is None
    outsider = f.make_user(owner, uid="tt-outsider")
    assert client.get(f"{API}/shifts/", headers=h(outsider)).get_json()["items"] == []
    assert client.get(f"{API}/shifts?user_id={chatter.id}", headers=h(owner)).status_code == 200
    refused(client, "get", f"{API}/shifts/?user_id={chatter.id}", outsider, 404)
    refused(client, "get", f"{API}/shifts/?limit=501", owner, 400)
    refused(client, "get", f"{API}/shifts/?userid={chatter.id}", owner, 400)


def test_bad_shifts_are_refused_and_write_nothing(client, team):
    owner, _, chatter = team
    body = {"user_id": str(chatter.id), "starts_at": "2026-11-20T09:00:00Z", "ends_at": "2026-11-20T17:00:00Z"}
    refused(client, "post", f"{API}/shifts/", chatter, 403, "forbidden", json=body)
    err = refused(client, "post", f"{API}/shifts/", owner, 400, "validation",
                  json={**body, "ends_at": "2026-11-20T08:00:00Z"})
    assert err["errors"] == [{"loc": ["body", "ends_at"], "msg": "must be after starts_at"}]
    err = refused(client, "post", f"{API}/shifts/", owner, 400, "validation",
                  json={**body, "starts_at": "2026-11-20T09:00:00"})
    assert err["errors"][0]["loc"] == ["body", "starts_at"]  # a time without a zone is a guess
    refused(client, "post", f"{API}/shifts/", owner, 400, "validation", json={**body, "note": "x"})
    refused(client, "post", f"{API}/shifts/", owner, 404, "not-found", json={**body, "user_id": str(uuid.uuid4())})
    assert client.post(f"{API}/shifts/", headers=h(owner), json=body).status_code == 201
    refused(client, "post", f"{API}/shifts/", owner, 409, "shift-overlap",
            json={**body, "starts_at": "2026-11-20T16:00:00Z", "ends_at": "2026-11-20T20:00:00Z"})


def test_a_chatter_checks_in_and_out_at_server_time(client, team):
    owner, _, chatter = team
    now = datetime.now(UTC)
    f.shift(chatter, now - timedelta(minutes=20, seconds=5), now + timedelta(hours=6))
    r = client.post(f"{API}/check-in/", headers=h(chatter), json={})
    assert r.status_code == 201, r.get_json()
    entry = r.get_json()
    assert (entry["user_id"], entry["late_minutes"], entry["checked_out_at"], entry["source"]) == (
        str(chatter.id), 20, None, "http")
    refused(client, "post", f"{API}/check-in/", chatter, 409, "open-check-in", json={})
    r = client.post(f"{API}/check-out/", headers=h(chatter), json={})
    assert r.status_code == 200
    assert r.get_json()["id"] == entry["id"] and r.get_json()["worked_minutes"] == 0
    refused(client, "post", f"{API}/check-out/", chatter, 409, "no-open-check-in", json={})
    assert f.kinds() == ["late", "checked_out"]


def test_a_chatter_cannot_check_in_someone_else_or_backdate(client, team):
    owner, _, chatter = team
    colleague = f.make_user(owner, uid="tt-colleague")
    now = datetime.now(UTC)
    f.shift(colleague, now - timedelta(hours=1), now + timedelta(hours=1))
    refused(client, "post", f"{API}/check-in/", chatter, 403, "forbidden", json={"user_id": str(colleague.id)})
    refused(client, "post", f"{API}/check-in/", chatter, 403, "forbidden",
            json={"at": (now - timedelta(hours=1)).isoformat()})
    refused(client, "post", f"{API}/check-in/", chatter, 409, "no-shift", json={})
    refused(client, "post", f"{API}/check-out/", chatter, 409, "no-open-check-in", json={})


def test_check_in_with_an_idempotency_key_is_recorded_once(client, team):
    owner, _, chatter = team
    now = datetime.now(UTC)
    f.shift(chatter, now - timedelta(minutes=1), now + timedelta(hours=6))
    headers = {**h(chatter), "Idempotency-Key": "tap-1"}
    first = client.post(f"{API}/check-in/", headers=headers, json={})
    again = client.post(f"{API}/check-in/", headers=headers, json={})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true" and again.get_json() == first.get_json()
    assert f.counts()["timetracking_service.time_entries"] == 1


def test_the_owner_records_the_worked_example_and_reads_the_summary(client, team):
    owner, manager, chatter = team
    f.shift(chatter, datetime(2026, 11, 20, 8, 0, tzinfo=UTC), datetime(2026, 11, 20, 16, 0, tzinfo=UTC))
    r = client.post(f"{API}/check-in/", headers=h(owner),
                    json={"user_id": str(chatter.id), "at": "2026-11-20T09:12:00+01:00"})
    assert r.status_code == 201 and r.get_json()["late_minutes"] == 12
    r = client.post(f"{API}/check-out/", headers=h(manager),
                    json={"user_id": str(chatter.id), "at": "2026-11-20T17:30:00+01:00"})
    assert r.status_code == 200
    assert {k: r.get_json()[k] for k in ("late_minutes", "overtime_minutes", "worked_minutes")} == {
        "late_minutes": 12, "overtime_minutes": 30, "worked_minutes": 498}
    expected = {"user_id": str(chatter.id), "date_from": "2026-11-01", "date_to": "2026-11-30", "worked_minutes": 498,
                "late_count": 1, "late_minutes": 12, "overtime_minutes": 30, "missed_shifts": 0,
                "missed_check_outs": 0}
    for person in (owner, manager, chatter):
        r = client.get(f"{API}/summary/{chatter.id}/?date_from=2026-11-01&date_to=2026-11-30", headers=h(person))
        assert r.status_code == 200 and r.get_json() == expected
    r = client.get(f"{API}/summary/{chatter.id}/?date_from=2026-11-01", headers=h(owner))
    assert r.get_json()["date_to"] == "2026-11-30"
    outsider = f.make_user(owner, uid="tt-outsider2")
    refused(client, "get", f"{API}/summary/{chatter.id}/", outsider, 404, "not-found")
    refused(client, "get", f"{API}/summary/not-a-uuid/", owner, 404)
    refused(client, "get", f"{API}/summary/{chatter.id}/?date_from=2026-11-30&date_to=2026-11-01", owner, 400)
    stranger = f.make_agency(owner_uid="tt-stranger").owner
    refused(client, "get", f"{API}/summary/{chatter.id}/", stranger, 404, "not-found")


def test_corrections_through_patch_and_the_entries_list(client, team):
    owner, manager, chatter = team
    f.shift(chatter, datetime(2026, 11, 20, 8, 0, tzinfo=UTC), datetime(2026, 11, 20, 16, 0, tzinfo=UTC))
    entry = client.post(f"{API}/check-in/", headers=h(owner),
                        json={"user_id": str(chatter.id), "at": "2026-11-20T08:30:00Z"}).get_json()
    r = client.patch(f"{API}/entries/{entry['id']}/", headers=h(manager),
                     json={"checked_in_at": "2026-11-20T08:02:00Z", "checked_out_at": "2026-11-20T16:10:00Z"})
    assert r.status_code == 200, r.get_json()
    assert {k: r.get_json()[k] for k in ("late_minutes", "overtime_minutes", "worked_minutes", "corrected_by")} == {
        "late_minutes": 0, "overtime_minutes": 10, "worked_minutes": 488, "corrected_by": str(manager.id)}
    refused(client, "patch", f"{API}/entries/{entry['id']}/", chatter, 403, "forbidden",
            json={"checked_in_at": "2026-11-20T08:00:00Z"})
    refused(client, "patch", f"{API}/entries/{uuid.uuid4()}/", owner, 404, "not-found",
            json={"checked_in_at": "2026-11-20T08:00:00Z"})
    page = client.get(f"{API}/entries/?date_from=2026-11-20&date_to=2026-11-20", headers=h(chatter)).get_json()
    assert [e["id"] for e in page["items"]] == [entry["id"]]
    assert client.get(f"{API}/entries/?date_from=2026-11-21", headers=h(owner)).get_json()["items"] == []


def test_settings_are_the_owners(client, team):
    owner, manager, _ = team
    r = client.get(f"{API}/settings/", headers=h(owner))
    assert r.status_code == 200 and r.get_json()["current"]["grace_minutes"] == 5
    body = {"grace_minutes": 3, "late_event_threshold_minutes": 20, "max_shift_hours": 14,
            "fee_per_late_minute": "0.25", "fee_per_missed_shift": "40.00", "effective_from": "2026-11-01"}
    r = client.put(f"{API}/settings/", headers=h(owner), json=body)
    assert r.status_code == 200 and r.get_json() == body
    assert client.get(f"{API}/settings/", headers=h(owner)).get_json() == {"current": body, "history": [body]}
    refused(client, "get", f"{API}/settings/", manager, 403, "forbidden")
    refused(client, "put", f"{API}/settings/", manager, 403, "forbidden", json=body)
    err = refused(client, "put", f"{API}/settings/", owner, 400, "validation",
                  json={**body, "fee_per_late_minute": "0.255", "fee_per_missed_shift": "-1.00"})
    assert [e["loc"] for e in err["errors"]] == [["body", "fee_per_late_minute"], ["body", "fee_per_missed_shift"]]
    with engine().begin() as c:
        c.execute(text("INSERT INTO financial_calculations.periods (agency_id, period, status) "
                       "VALUES (:a, '2026-10', 'closed')"), {"a": owner.agency_id})
    refused(client, "put", f"{API}/settings/", owner, 409, "period-closed",
            json={**body, "effective_from": "2026-10-15"})


def test_the_scheduled_sweep_marks_a_missed_shift(client, team, platform):
    owner, _, chatter = team
    f.shift(chatter, datetime(2026, 11, 19, 8, tzinfo=UTC), datetime(2026, 11, 19, 16, tzinfo=UTC))
    r = client.post("/_emulator/scheduler/timetracking-sweep?as_of=2026-11-19")
    assert r.status_code == 200 and r.get_json()["drained"] is True and r.get_json()["subscribers"] == 1
    summary = client.get(f"{API}/summary/{chatter.id}/?date_from=2026-11-19&date_to=2026-11-19",
                         headers=h(owner)).get_json()
    assert (summary["missed_shifts"], summary["worked_minutes"]) == (1, 0)
    assert f.kinds() == ["missed_shift"]
    client.post("/_emulator/scheduler/timetracking-sweep?as_of=2026-11-19")
    assert f.kinds() == ["missed_shift"]
