"""Who may do what (BUSINESS_RULES.md): every users-service endpoint for each role, for another agency (404),
without a token and with a deactivated account (401). Refusals change nothing."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from shared_lib.db import engine
from tests.factories import make_agency, make_model, make_user, team_agency

PAY = {"compensation_type": "commission", "commission_rate": "10.00", "fixed_salary": "0.00",
       "manager_tick_rate": "0.00", "effective_from": "2026-11-01"}
SHARE = {"model_share_percent": "50.00", "split_chatting_costs": False, "effective_from": "2026-11-01"}
FEE = {"onlyfans_fee_percent": "20.00", "effective_from": "2026-11-01"}

# (method, path, body) → status for owner / manager (C1's) / chatter C1 / the owner of another agency.
# {c1} {c2} {x}: chatter in the manager's team, chatter outside it, a model assigned to C1.
MATRIX = [
    ("GET", "/api/users/", None, 200, 200, 200, 200),
    ("GET", "/api/users/{c1}/", None, 200, 200, 200, 404),
    ("PATCH", "/api/users/{c1}/", {"display_name": "New"}, 200, 403, 403, 404),
    ("DELETE", "/api/users/{c2}/", None, 200, 403, 403, 404),
    ("POST", "/api/users/", {"email": "n@example.com", "display_name": "N", "role": "chatter"},
     None, 403, 403, None),  # the owner's 201 needs Firebase Auth: test_users_firebase.py
    ("GET", "/api/users/{c1}/financial-settings/", None, 200, 403, 200, 404),
    ("PUT", "/api/users/{c1}/financial-settings/", PAY, 200, 403, 403, 404),
    ("GET", "/api/models/", None, 200, 200, 200, 200),
    ("POST", "/api/models/", {"name": "New"}, 201, 403, 403, 201),
    ("GET", "/api/models/{x}/", None, 200, 200, 200, 404),
    ("PATCH", "/api/models/{x}/", {"name": "Renamed"}, 200, 403, 403, 404),
    ("GET", "/api/models/{x}/assignments/", None, 200, 200, 200, 404),
    ("PUT", "/api/models/{x}/assignments/", {"user_ids": []}, 200, 403, 403, 404),
    ("GET", "/api/models/{x}/settings/", None, 200, 403, 403, 404),
    ("PUT", "/api/models/{x}/settings/", SHARE, 200, 403, 403, 404),
    ("GET", "/api/platform-settings/", None, 200, 403, 403, 200),
    ("PUT", "/api/platform-settings/", FEE, 200, 403, 403, 200),
]
CALLERS = ("owner", "manager", "chatter", "other")


@pytest.fixture
def world(db):
    a, m, c1, c2, x, y = team_agency()
    b = make_agency("Other agency")
    make_user(b, role="chatter")
    make_model(b, "B's model")
    return {"a": a, "owner": a.owner, "manager": m, "chatter": c1, "c2": c2, "x": x, "y": y, "other": b.owner, "b": b}


def _path(template: str, w) -> str:
    return template.format(c1=w["chatter"].id, c2=w["c2"].id, x=w["x"], y=w["y"])


def _fingerprint(agency_id) -> tuple:
    """Everything the users service holds for an agency, plus its events."""
    with engine().connect() as c:
        def q(sql):
            return c.execute(text(sql), {"a": agency_id}).scalar()

        return (
            q("SELECT md5(string_agg(concat_ws('|', id, email, display_name, role, manager_id, active, updated_at), ','"
              " ORDER BY id)) FROM user_service.users WHERE agency_id = :a"),
            q("SELECT md5(string_agg(concat_ws('|', id, name, active, updated_at), ',' ORDER BY id)) "
              "FROM user_service.models WHERE agency_id = :a"),
            q("SELECT count(*) FROM user_service.models WHERE agency_id = :a"),
            q("SELECT md5(string_agg(concat_ws('|', model_id, user_id), ',' ORDER BY model_id, user_id)) "
              "FROM user_service.model_assignments WHERE agency_id = :a"),
            q("SELECT count(*) FROM user_service.user_financial_settings WHERE agency_id = :a"),
            q("SELECT count(*) FROM user_service.model_settings WHERE agency_id = :a"),
            q("SELECT count(*) FROM user_service.platform_settings WHERE agency_id = :a"),
            q("SELECT count(*) FROM eventing.outbox WHERE agency_id = :a"),
        )


def _send(client, method, path, body, headers):
    return client.open(path, method=method, json=body, headers=headers)


CASES = [(caller, method, template, body, status)
         for method, template, body, *expected in MATRIX
         for caller, status in zip(CALLERS, expected) if status is not None]


@pytest.mark.parametrize("caller, method, template, body, status", CASES,
                         ids=[f"{c}: {m} {p} -> {s}" for c, m, p, _, s in CASES])
def test_rbac_matrix(client, world, caller, method, template, body, status):
    before = _fingerprint(world["a"].id)
    r = _send(client, method, _path(template, world), body, world[caller].headers)
    assert r.status_code == status, r.get_data(as_text=True)
    if status >= 400:
        assert r.mimetype == "application/problem+json"
    if status >= 400 or caller == "other":
        assert _fingerprint(world["a"].id) == before, "a refused or foreign request changed agency A"


@pytest.mark.parametrize("who, template", [
    ("c2", "/api/users/{c1}/"), ("c2", "/api/users/{c1}/financial-settings/"), ("c2", "/api/models/{x}/"),
    ("c2", "/api/models/{x}/assignments/"), ("manager", "/api/users/{c2}/"), ("manager", "/api/models/{y}/"),
    ("manager", "/api/users/{c2}/financial-settings/"), ("manager", "/api/models/{y}/assignments/"),
])
def test_same_agency_resources_outside_the_callers_scope_are_404(client, world, who, template):
    assert client.get(_path(template, world), headers=world[who].headers).status_code == 404


def test_another_agencys_lists_show_nothing_of_this_agency(client, world):
    users = client.get("/api/users/", headers=world["other"].headers).get_json()["items"]
    models = client.get("/api/models/", headers=world["other"].headers).get_json()["items"]
    assert {u["id"] for u in users}.isdisjoint({str(world[k].id) for k in ("owner", "manager", "chatter", "c2")})
    assert {m["id"] for m in models}.isdisjoint({str(world["x"]), str(world["y"])})
    assert len(users) == 2 and len(models) == 1


@pytest.mark.parametrize("method, template, body", [(m, p, b) for m, p, b, *_ in MATRIX],
                         ids=[f"{m} {p}" for m, p, *_ in MATRIX])
def test_no_token_is_401(client, world, method, template, body):
    assert _send(client, method, _path(template, world), body, {}).status_code == 401


@pytest.mark.parametrize("method, template, body", [(m, p, b) for m, p, b, *_ in MATRIX],
                         ids=[f"{m} {p}" for m, p, *_ in MATRIX])
def test_a_deactivated_owner_gets_401_everywhere(client, world, method, template, body):
    second = make_user(world["a"], role="owner")
    assert client.delete(f"/api/users/{world['owner'].id}/", headers=second.headers).status_code == 200
    before = _fingerprint(world["a"].id)
    assert _send(client, method, _path(template, world), body, world["owner"].headers).status_code == 401
    assert _fingerprint(world["a"].id) == before


def test_a_signed_in_user_without_an_agency_gets_403_no_agency(client, world):
    from tests.factories import bearer

    r = client.get("/api/users/", headers=bearer("stranger"))
    assert r.status_code == 403 and r.get_json()["type"].endswith("/no-agency")
