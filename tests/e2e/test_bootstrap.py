"""The users bootstrap through HTTP on the local platform: health, agencies, me."""
from tests.factories import bearer


def test_health_answers_without_a_token(client):
    r = client.get("/api/health/")
    assert r.status_code == 200
    assert r.get_json() == {"status": "ok", "database": "ok", "version": "0.1.0"}


def test_health_without_trailing_slash(client):
    assert client.get("/api/health").status_code == 200


def test_create_agency_makes_the_caller_its_owner(client):
    r = client.post("/api/agencies/", json={"name": "Velvet Agency", "timezone": "Europe/Berlin"},
                    headers=bearer("owner-1", name="Olga"))
    assert r.status_code == 201, r.get_json()
    agency = r.get_json()
    assert agency["name"] == "Velvet Agency" and agency["currency"] == "USD"
    assert agency["timezone"] == "Europe/Berlin"
    me = client.get("/api/me/", headers=bearer("owner-1")).get_json()
    assert me["agency_id"] == agency["id"]
    assert me["user_id"] == agency["owner_user_id"]
    assert me["role"] == "owner" and me["display_name"] == "Olga"


def test_me_without_agency_has_null_membership(client):
    r = client.get("/api/me/", headers=bearer("new-user", email="n@example.com"))
    assert r.status_code == 200
    assert r.get_json() == {"user_id": None, "agency_id": None, "role": None, "display_name": None,
                            "email": "n@example.com", "agency": None}


def test_second_agency_for_the_same_user_is_a_conflict_and_writes_nothing(client):
    h = bearer("owner-2")
    assert client.post("/api/agencies/", json={"name": "A"}, headers=h).status_code == 201
    r = client.post("/api/agencies/", json={"name": "B"}, headers=h)
    assert r.status_code == 409
    assert r.get_json()["type"].endswith("/already-member")
    from sqlalchemy import text

    from shared_lib.db import engine

    with engine().connect() as c:
        assert c.execute(text("SELECT count(*) FROM user_service.agencies")).scalar() == 1
