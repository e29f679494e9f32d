"""Users and teams through HTTP on the local platform: list scoping and paging, get, patch, deactivate, team rules."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from shared_lib.db import engine
from tests.factories import make_agency, make_model, make_user


def _scalar(sql: str, **params):
    with engine().connect() as c:
        return c.execute(text(sql), params).scalar()


def _row(user_id):
    with engine().connect() as c:
        return c.execute(text("SELECT role, manager_id, active, display_name, updated_at FROM user_service.users "
                              "WHERE id = :id"), {"id": user_id}).one()


def _problem(r, status: int, *locs: list) -> dict:
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.mimetype == "application/problem+json"
    body = r.get_json()
    for loc in locs:
        assert loc in [e["loc"] for e in body.get("errors", [])], body
    return body


@pytest.fixture
def team(db):
    """Agency A: owner O, manager M with chatter C1 in the team, chatter C2 without a team, manager M2."""
    a = make_agency()
    m = make_user(a, role="manager", display_name="Mia Manager")
    m2 = make_user(a, role="manager", display_name="Max Manager")
    c1 = make_user(a, role="chatter", manager=m, display_name="Cleo")
    c2 = make_user(a, role="chatter", display_name="Cara")
    return {"a": a, "o": a.owner, "m": m, "m2": m2, "c1": c1, "c2": c2}


def _ids(r) -> set:
    assert r.status_code == 200, r.get_data(as_text=True)
    return {u["id"] for u in r.get_json()["items"]}


# --- list and get ------------------------------------------------------------------------------------------------


def test_owner_lists_every_user_of_the_agency_only(client, team):
    other = make_agency("Other")
    make_user(other, role="chatter")
    got = _ids(client.get("/api/users/", headers=team["o"].headers))
    assert got == {str(team[k].id) for k in ("o", "m", "m2", "c1", "c2")}


def test_manager_lists_self_and_own_team(client, team):
    assert _ids(client.get("/api/users/", headers=team["m"].headers)) == {str(team["m"].id), str(team["c1"].id)}


def test_chatter_lists_only_self(client, team):
    assert _ids(client.get("/api/users/", headers=team["c2"].headers)) == {str(team["c2"].id)}


def test_user_list_pages_newest_first_with_a_cursor(client, team):
    h = team["o"].headers
    seen, cursor, pages = [], None, 0
    while True:
        r = client.get("/api/users/", query_string={"limit": 2, **({"cursor": cursor} if cursor else {})}, headers=h)
        body = r.get_json()
        assert r.status_code == 200 and len(body["items"]) <= 2
        seen += [u["id"] for u in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 5 == len(set(seen))
    with engine().connect() as c:
        expected = [str(i) for i in c.execute(text(
            "SELECT id FROM user_service.users WHERE agency_id = :a ORDER BY created_at DESC, id DESC"),
            {"a": team["a"].id}).scalars()]
    assert seen == expected


def test_user_list_filters_by_role_active_and_manager(client, team):
    h = team["o"].headers
    assert _ids(client.get("/api/users/?role=manager", headers=h)) == {str(team["m"].id), str(team["m2"].id)}
    assert _ids(client.get(f"/api/users/?manager_id={team['m'].id}", headers=h)) == {str(team["c1"].id)}
    client.delete(f"/api/users/{team['c2'].id}/", headers=h)
    assert _ids(client.get("/api/users/?active=false", headers=h)) == {str(team["c2"].id)}


def test_user_list_bad_cursor_and_limit_are_400_naming_the_field(client, team):
    h = team["o"].headers
    _problem(client.get("/api/users/?cursor=garbage", headers=h), 400, ["query", "cursor"])
    _problem(client.get("/api/users/?limit=501", headers=h), 400, ["query", "limit"])
    _problem(client.get("/api/users/?role=boss", headers=h), 400, ["query", "role"])


def test_get_user_shows_the_contract_fields(client, team):
    r = client.get(f"/api/users/{team['c1'].id}", headers=team["m"].headers)
    assert r.status_code == 200
    body = r.get_json()
    assert {k: body[k] for k in ("id", "firebase_uid", "email", "display_name", "role", "manager_id", "active")} == {
        "id": str(team["c1"].id), "firebase_uid": team["c1"].uid, "email": team["c1"].email,
        "display_name": "Cleo", "role": "chatter", "manager_id": str(team["m"].id), "active": True}


def test_users_outside_the_callers_scope_answer_404(client, team):
    assert client.get(f"/api/users/{team['c2'].id}/", headers=team["m"].headers).status_code == 404
    assert client.get(f"/api/users/{team['c1'].id}/", headers=team["c2"].headers).status_code == 404
    other = make_agency("Other")
    assert client.get(f"/api/users/{team['c1'].id}/", headers=other.owner.headers).status_code == 404
    assert client.get("/api/users/not-a-uuid/", headers=team["o"].headers).status_code == 404


# --- patch, teams --------------------------------------------------------------------------------------------------


def test_owner_moves_a_chatter_into_another_team(client, team):
    r = client.patch(f"/api/users/{team['c1'].id}/", json={"manager_id": str(team["m2"].id)},
                     headers=team["o"].headers)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["manager_id"] == str(team["m2"].id)
    assert _ids(client.get("/api/users/", headers=team["m2"].headers)) == {str(team["m2"].id), str(team["c1"].id)}
    assert _ids(client.get("/api/users/", headers=team["m"].headers)) == {str(team["m"].id)}


def test_manager_id_null_takes_a_user_out_of_their_team(client, team):
    r = client.patch(f"/api/users/{team['c1'].id}/", json={"manager_id": None}, headers=team["o"].headers)
    assert r.status_code == 200 and r.get_json()["manager_id"] is None


def test_patch_display_name_and_role(client, team):
    r = client.patch(f"/api/users/{team['c2'].id}/", json={"display_name": "Cara Lead", "role": "manager"},
                     headers=team["o"].headers)
    assert r.status_code == 200
    assert (r.get_json()["display_name"], r.get_json()["role"]) == ("Cara Lead", "manager")


def test_a_patch_that_changes_nothing_writes_nothing(client, team):
    before = _row(team["c1"].id)
    r = client.patch(f"/api/users/{team['c1'].id}/", json={"display_name": "Cleo", "role": "chatter"},
                     headers=team["o"].headers)
    assert r.status_code == 200
    assert _row(team["c1"].id).updated_at == before.updated_at


@pytest.mark.parametrize("who, field, msg_part", [
    ("c2", "manager_id", "must be a manager"),       # only a manager can have a team
    ("o", "manager_id", "must be a manager"),
])
def test_only_a_manager_can_have_a_team(client, team, who, field, msg_part):
    r = client.patch(f"/api/users/{team['c1'].id}/", json={"manager_id": str(team[who].id)},
                     headers=team["o"].headers)
    body = _problem(r, 400, ["body", field])
    assert msg_part in body["errors"][0]["msg"]
    assert _row(team["c1"].id).manager_id == team["m"].id


def test_unknown_manager_and_another_agencys_manager_are_400_and_write_nothing(client, team):
    import uuid

    other = make_agency("Other")
    foreign_manager = make_user(other, role="manager")
    for manager_id in (uuid.uuid4(), foreign_manager.id):
        r = client.patch(f"/api/users/{team['c2'].id}/", json={"manager_id": str(manager_id)},
                         headers=team["o"].headers)
        assert _problem(r, 400, ["body", "manager_id"])["errors"][0]["msg"] == "no such user in this agency"
        assert _row(team["c2"].id).manager_id is None


def test_team_loops_are_refused(client, team):
    h = team["o"].headers
    # M2 joins M's team; then M cannot join M2's team (M → M2 → M), nor their own.
    assert client.patch(f"/api/users/{team['m2'].id}/", json={"manager_id": str(team["m"].id)},
                        headers=h).status_code == 200
    r = client.patch(f"/api/users/{team['m'].id}/", json={"manager_id": str(team["m2"].id)}, headers=h)
    assert "loop" in _problem(r, 400, ["body", "manager_id"])["errors"][0]["msg"]
    r = client.patch(f"/api/users/{team['m'].id}/", json={"manager_id": str(team["m"].id)}, headers=h)
    assert "loop" in _problem(r, 400, ["body", "manager_id"])["errors"][0]["msg"]
    assert _row(team["m"].id).manager_id is None


def test_a_manager_with_a_team_cannot_stop_being_a_manager(client, team):
    h = team["o"].headers
    r = client.patch(f"/api/users/{team['m'].id}/", json={"role": "chatter"}, headers=h)
    assert _problem(r, 409, ["body", "role"])["type"].endswith("/team-not-empty")
    r = client.delete(f"/api/users/{team['m'].id}/", headers=h)
    assert _problem(r, 409)["type"].endswith("/team-not-empty")
    assert _row(team["m"].id).role == "manager" and _row(team["m"].id).active
    # Once the team is empty, both work.
    assert client.patch(f"/api/users/{team['c1'].id}/", json={"manager_id": None}, headers=h).status_code == 200
    assert client.patch(f"/api/users/{team['m'].id}/", json={"role": "chatter"}, headers=h).status_code == 200


def test_an_owner_cannot_be_in_a_team(client, team):
    r = client.patch(f"/api/users/{team['c1'].id}/", json={"role": "owner"}, headers=team["o"].headers)
    _problem(r, 400, ["body", "role"])
    r = client.patch(f"/api/users/{team['c1'].id}/", json={"role": "owner", "manager_id": None},
                     headers=team["o"].headers)
    assert r.status_code == 200 and r.get_json()["role"] == "owner"


def test_unknown_role_is_400(client, team):
    r = client.patch(f"/api/users/{team['c1'].id}/", json={"role": "admin"}, headers=team["o"].headers)
    _problem(r, 400, ["body", "role"])
    assert _row(team["c1"].id).role == "chatter"


def test_null_for_a_required_field_is_400(client, team):
    r = client.patch(f"/api/users/{team['c1'].id}/", json={"role": None, "display_name": None},
                     headers=team["o"].headers)
    _problem(r, 400, ["body", "role"], ["body", "display_name"])


def test_the_last_active_owner_cannot_leave(client, team):
    h = team["o"].headers
    r = client.patch(f"/api/users/{team['o'].id}/", json={"role": "manager"}, headers=h)
    assert _problem(r, 409)["type"].endswith("/last-owner")
    assert _problem(client.delete(f"/api/users/{team['o'].id}/", headers=h), 409)["type"].endswith("/last-owner")
    # With a second owner, the first may step down.
    assert client.patch(f"/api/users/{team['c2'].id}/", json={"role": "owner"}, headers=h).status_code == 200
    assert client.patch(f"/api/users/{team['o'].id}/", json={"role": "manager"}, headers=h).status_code == 200


# --- deactivate ----------------------------------------------------------------------------------------------------


def test_deactivated_users_token_gets_401_and_their_history_stays(client, team):
    x = make_model(team["a"], "X")
    client.put(f"/api/models/{x}/assignments/", json={"user_ids": [str(team["c2"].id)]},
               headers=team["o"].headers)
    assert client.get("/api/me/", headers=team["c2"].headers).status_code == 200
    r = client.delete(f"/api/users/{team['c2'].id}/", headers=team["o"].headers)
    assert r.status_code == 200 and r.get_json()["active"] is False
    assert client.get("/api/me/", headers=team["c2"].headers).status_code == 401
    assert client.get("/api/users/", headers=team["c2"].headers).status_code == 401
    assert client.get(f"/api/models/{x}/", headers=team["c2"].headers).status_code == 401
    # The row and the assignment are still there; the owner still sees them.
    assert client.get(f"/api/users/{team['c2'].id}/", headers=team["o"].headers).get_json()["active"] is False
    assert _scalar("SELECT count(*) FROM user_service.model_assignments WHERE user_id = :u", u=team["c2"].id) == 1


def test_a_deactivated_user_can_be_reactivated(client, team):
    h = team["o"].headers
    client.delete(f"/api/users/{team['c2'].id}/", headers=h)
    r = client.patch(f"/api/users/{team['c2'].id}/", json={"active": True}, headers=h)
    assert r.status_code == 200 and r.get_json()["active"] is True
    assert client.get("/api/me/", headers=team["c2"].headers).status_code == 200


def test_a_deactivated_manager_cannot_get_new_team_members(client, team):
    h = team["o"].headers
    assert client.delete(f"/api/users/{team['m2'].id}/", headers=h).status_code == 200
    r = client.patch(f"/api/users/{team['c2'].id}/", json={"manager_id": str(team["m2"].id)}, headers=h)
    assert "deactivated" in _problem(r, 400, ["body", "manager_id"])["errors"][0]["msg"]


def test_me_shows_the_member(client, team):
    r = client.get("/api/me/", headers=team["c1"].headers)
    assert r.get_json() == {"user_id": str(team["c1"].id), "agency_id": str(team["a"].id), "role": "chatter",
                            "display_name": "Cleo", "email": team["c1"].email,
                            "agency": {"id": str(team["a"].id), "name": "Velvet Agency", "currency": "USD",
                                       "timezone": "UTC"}}
