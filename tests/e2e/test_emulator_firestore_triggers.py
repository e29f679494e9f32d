"""The local platform delivers Firestore trigger CloudEvents for frontend writes (the emulator emits none)."""
from __future__ import annotations

from tests.factories import bearer


def test_a_profile_document_write_reaches_the_users_trigger(client):
    import uuid

    uid = f"fs-owner-{uuid.uuid4().hex[:8]}"  # the Firestore emulator keeps documents between runs
    h = bearer(uid, name="Old Name")
    assert client.post("/api/agencies/", json={"name": "FS"}, headers=h).status_code == 201
    r = client.post(f"/_emulator/firestore/users/{uid}", json={"display_name": "New Name", "role": "chatter"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["functions"] == ["user_profile_sync"] and r.get_json()["drained"] is True
    me = client.get("/api/me/", headers=h).get_json()
    assert (me["display_name"], me["role"]) == ("New Name", "owner")


def test_a_document_matching_no_trigger_calls_nothing(client):
    r = client.post("/_emulator/firestore/somewhere/else", json={"a": 1})
    assert r.status_code == 200 and r.get_json()["functions"] == []


def test_the_body_must_be_an_object(client):
    r = client.post("/_emulator/firestore/users/x", json=[1])
    assert r.status_code == 400
