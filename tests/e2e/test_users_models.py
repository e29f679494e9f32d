"""Models and assignments through HTTP on the local platform."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from shared_lib.db import engine
from tests.factories import assign, make_agency, make_model, make_user, team_agency


def _assigned(model_id) -> set[str]:
    with engine().connect() as c:
        return {str(u) for u in c.execute(text(
            "SELECT user_id FROM user_service.model_assignments WHERE model_id = :m"), {"m": model_id}).scalars()}


@pytest.fixture
def world(db):
    a, m, c1, c2, x, y = team_agency()
    return {"a": a, "o": a.owner, "m": m, "c1": c1, "c2": c2, "x": x, "y": y}


def test_owner_creates_a_model(client, world):
    r = client.post("/api/models/", json={"name": "  Luna  "}, headers=world["o"].headers)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["name"] == "Luna" and body["active"] is True and body["user_ids"] == []
    uuid.UUID(body["id"])


def test_model_create_is_idempotent_by_key(client, world):
    h = {**world["o"].headers, "Idempotency-Key": "model-luna"}
    first = client.post("/api/models/", json={"name": "Luna"}, headers=h)
    again = client.post("/api/models/", json={"name": "Luna"}, headers=h)
    assert first.status_code == again.status_code == 201
    assert first.get_json()["id"] == again.get_json()["id"]
    with engine().connect() as c:
        assert c.execute(text("SELECT count(*) FROM user_service.models WHERE name = 'Luna'")).scalar() == 1


@pytest.mark.parametrize("body, loc", [({"name": ""}, ["body", "name"]), ({}, ["body", "name"]),
                                       ({"name": "x" * 201}, ["body", "name"]),
                                       ({"name": "A", "share": 1}, ["body", "share"])])
def test_bad_model_bodies_are_400_and_write_nothing(client, world, body, loc):
    r = client.post("/api/models/", json=body, headers=world["o"].headers)
    assert r.status_code == 400 and loc in [e["loc"] for e in r.get_json()["errors"]]
    with engine().connect() as c:
        assert c.execute(text("SELECT count(*) FROM user_service.models")).scalar() == 2


def test_model_visibility_follows_assignments(client, world):
    def listed(who):
        r = client.get("/api/models/", headers=world[who].headers)
        assert r.status_code == 200
        return {m["id"]: set(m["user_ids"]) for m in r.get_json()["items"]}

    x, y, c1, c2 = str(world["x"]), str(world["y"]), str(world["c1"].id), str(world["c2"].id)
    assert listed("o") == {x: {c1}, y: {c2}}
    assert listed("m") == {x: {c1}}       # the team's models, the team's assignees only
    assert listed("c1") == {x: {c1}}
    assert listed("c2") == {y: {c2}}


def test_a_chatter_sees_only_themselves_among_a_shared_models_assignees(client, world):
    assign(world["a"], world["x"], world["c2"])
    r = client.get(f"/api/models/{world['x']}/", headers=world["c2"].headers)
    assert r.status_code == 200 and r.get_json()["user_ids"] == [str(world["c2"].id)]
    r = client.get(f"/api/models/{world['x']}/assignments/", headers=world["c2"].headers)
    assert r.get_json() == {"model_id": str(world["x"]), "user_ids": [str(world["c2"].id)]}


def test_model_list_pages_and_filters(client, world):
    h = world["o"].headers
    for i in range(3):
        make_model(world["a"], f"M{i}")
    r = client.get("/api/models/?limit=2", headers=h).get_json()
    assert len(r["items"]) == 2 and r["next_cursor"]
    rest = client.get(f"/api/models/?limit=10&cursor={r['next_cursor']}", headers=h).get_json()
    assert len(rest["items"]) == 3 and rest["next_cursor"] is None
    assert not {m["id"] for m in r["items"]} & {m["id"] for m in rest["items"]}
    only_c1 = client.get(f"/api/models/?user_id={world['c1'].id}", headers=h).get_json()["items"]
    assert [m["id"] for m in only_c1] == [str(world["x"])]
    client.patch(f"/api/models/{world['y']}/", json={"active": False}, headers=h)
    inactive = client.get("/api/models/?active=false", headers=h).get_json()["items"]
    assert [m["id"] for m in inactive] == [str(world["y"])]


def test_models_of_another_agency_or_scope_are_404(client, world):
    other = make_agency("Other")
    assert client.get(f"/api/models/{world['x']}/", headers=other.owner.headers).status_code == 404
    assert client.get(f"/api/models/{world['y']}/", headers=world["c1"].headers).status_code == 404
    assert client.get(f"/api/models/{world['y']}/", headers=world["m"].headers).status_code == 404
    assert client.get(f"/api/models/{uuid.uuid4()}/", headers=world["o"].headers).status_code == 404


def test_owner_renames_and_deactivates_a_model(client, world):
    r = client.patch(f"/api/models/{world['x']}/", json={"name": "X2", "active": False},
                     headers=world["o"].headers)
    assert r.status_code == 200
    assert (r.get_json()["name"], r.get_json()["active"]) == ("X2", False)


# --- assignments ---------------------------------------------------------------------------------------------------


def test_put_assignments_replaces_the_set(client, world):
    h = world["o"].headers
    want = [str(world["c2"].id), str(world["m"].id), str(world["c2"].id)]  # duplicates count once
    r = client.put(f"/api/models/{world['x']}/assignments/", json={"user_ids": want}, headers=h)
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"model_id": str(world["x"]), "user_ids": [str(world["c2"].id), str(world["m"].id)]}
    assert _assigned(world["x"]) == {str(world["c2"].id), str(world["m"].id)}
    r = client.put(f"/api/models/{world['x']}/assignments/", json={"user_ids": []}, headers=h)
    assert r.status_code == 200 and _assigned(world["x"]) == set()


def test_assigning_another_agencys_user_or_an_owner_is_400_naming_each_and_writes_nothing(client, world):
    other = make_agency("Other")
    foreign = make_user(other, role="chatter")
    body = {"user_ids": [str(world["c2"].id), str(foreign.id), str(world["o"].id), str(uuid.uuid4())]}
    r = client.put(f"/api/models/{world['x']}/assignments/", json=body, headers=world["o"].headers)
    assert r.status_code == 400
    errors = {tuple(e["loc"]): e["msg"] for e in r.get_json()["errors"]}
    assert errors == {("body", "user_ids", 1): "no such user in this agency",
                      ("body", "user_ids", 2): "only chatters and managers can be assigned (role is owner)",
                      ("body", "user_ids", 3): "no such user in this agency"}
    assert _assigned(world["x"]) == {str(world["c1"].id)}


def test_a_deactivated_user_can_stay_assigned_but_not_be_added(client, world):
    h = world["o"].headers
    client.delete(f"/api/users/{world['c1'].id}/", headers=h)
    client.delete(f"/api/users/{world['c2'].id}/", headers=h)
    # c1 is already on X: keeping them is fine. c2 is not: adding them is refused.
    keep = client.put(f"/api/models/{world['x']}/assignments/", json={"user_ids": [str(world["c1"].id)]}, headers=h)
    assert keep.status_code == 200
    add = client.put(f"/api/models/{world['x']}/assignments/",
                     json={"user_ids": [str(world["c1"].id), str(world["c2"].id)]}, headers=h)
    assert add.status_code == 400 and add.get_json()["errors"] == [
        {"loc": ["body", "user_ids", 1], "msg": "this user is deactivated"}]


def test_assignments_of_an_unknown_model_are_404(client, world):
    r = client.put(f"/api/models/{uuid.uuid4()}/assignments/", json={"user_ids": []}, headers=world["o"].headers)
    assert r.status_code == 404


def test_assignment_check_for_other_services(client, world):
    with engine().connect() as c:
        def q(sql, **p):
            return c.execute(text(sql), p).scalar()

        assert q("SELECT user_service.is_assigned(:m, :u)", m=world["x"], u=world["c1"].id) is True
        assert q("SELECT user_service.is_assigned(:m, :u)", m=world["x"], u=world["c2"].id) is False
        row = c.execute(text("SELECT role, manager_id, user_active, model_active FROM user_service.current_assignments "
                             "WHERE model_id = :m AND user_id = :u"), {"m": world["x"], "u": world["c1"].id}).one()
        assert tuple(row) == ("chatter", world["m"].id, True, True)
