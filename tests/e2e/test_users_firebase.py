"""Users and Firebase Auth, end to end against the real Auth emulator (firebase-tools): accounts created or
linked, sign-in with a password, /api/me/ with the emulator's own idToken, custom claims on create, role
change and deactivation. These tests FAIL (never skip) when the emulator does not answer."""
from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from shared_lib.auth import verify_id_token
from shared_lib.db import engine
from tests.factories import (
    Agency,
    Person,
    auth_emulator_host,
    firebase_user,
    firebase_user_by_email,
    make_agency,
    make_user,
    sign_in,
    sign_up,
    unique_email,
)


@pytest.fixture(scope="module")
def emulator():
    """The Auth emulator's host; a fresh firebase-admin app pointed at it."""
    from shared_lib import auth
    from shared_lib.config import reset_settings

    host = auth_emulator_host()
    reset_settings()
    auth.reset_for_tests()
    return host


def _bearer(id_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {id_token}"}


def _users_with_email(email: str) -> int:
    with engine().connect() as c:
        return c.execute(text("SELECT count(*) FROM user_service.users WHERE email = :e"), {"e": email}).scalar()


@pytest.fixture
def owner(client, emulator):
    """An owner who signed up in the Auth emulator and created an agency with their real idToken."""
    email = unique_email("owner")
    account = sign_up(emulator, email)
    r = client.post("/api/agencies/", json={"name": "Velvet"}, headers=_bearer(account["idToken"]))
    assert r.status_code == 201, r.get_json()
    agency_id, user_id = r.get_json()["id"], r.get_json()["owner_user_id"]
    person = Person(uuid.UUID(user_id), uuid.UUID(agency_id), account["localId"], "owner", "Owner", email)
    return SimpleNamespace(email=email, uid=account["localId"], agency_id=agency_id, user_id=user_id,
                           h=_bearer(account["idToken"]), person=person,
                           agency=Agency(id=uuid.UUID(agency_id), owner=person))


# --- the real end-to-end sign-in ------------------------------------------------------------------------------------


def test_a_created_user_signs_in_and_calls_me_with_the_emulators_token(client, emulator, owner):
    email = unique_email("chatter")
    r = client.post("/api/users/", json={"email": email, "display_name": "Cleo", "role": "chatter"},
                    headers=owner.h)
    assert r.status_code == 201, r.get_json()
    created = r.get_json()
    assert (created["email"], created["display_name"], created["role"], created["active"]) == (
        email, "Cleo", "chatter", True)
    account = firebase_user(created["firebase_uid"])
    assert account is not None and account.email == email and account.display_name == "Cleo"

    # The invite flow ends with the user choosing a password; the admin API stands in for the reset e-mail.
    from firebase_admin import auth as fb_auth

    from shared_lib.auth import firebase_app

    fb_auth.update_user(created["firebase_uid"], password="chatter-pass-1", app=firebase_app())
    token = sign_in(emulator, email, "chatter-pass-1")["idToken"]
    me = client.get("/api/me/", headers=_bearer(token))
    assert me.status_code == 200
    body = me.get_json()
    agency = body.pop("agency")
    assert body == {"user_id": created["id"], "agency_id": owner.agency_id, "role": "chatter",
                    "display_name": "Cleo", "email": email}
    whole = client.get("/api/agency/", headers=owner.h).get_json()
    assert agency == {k: whole[k] for k in ("id", "name", "currency", "timezone")}
    assert agency["id"] == owner.agency_id
    # The token the emulator issued carries the mirrored claims Firestore rules use.
    claims = verify_id_token(token)
    assert (claims["agency_id"], claims["role"]) == (owner.agency_id, "chatter")


def test_someone_who_signed_up_first_is_linked_by_email(client, emulator, owner):
    email = unique_email("early")
    account = sign_up(emulator, email, "early-pass-1")
    r = client.post("/api/users/", json={"email": email, "display_name": "Early", "role": "manager"},
                    headers=owner.h)
    assert r.status_code == 201 and r.get_json()["firebase_uid"] == account["localId"]
    me = client.get("/api/me/", headers=_bearer(sign_in(emulator, email, "early-pass-1")["idToken"]))
    assert me.get_json()["role"] == "manager" and me.get_json()["user_id"] == r.get_json()["id"]


def test_firebase_uid_links_an_existing_account(client, emulator, owner):
    email = unique_email("linked")
    uid = sign_up(emulator, email)["localId"]
    r = client.post("/api/users/", json={"email": email, "display_name": "L", "role": "chatter",
                                         "firebase_uid": uid}, headers=owner.h)
    assert r.status_code == 201 and r.get_json()["firebase_uid"] == uid
    assert firebase_user(uid).custom_claims == {"agency_id": owner.agency_id, "role": "chatter"}


def test_agency_creation_gives_the_owner_claims(client, emulator, owner):
    assert firebase_user(owner.uid).custom_claims == {"agency_id": owner.agency_id, "role": "owner"}
    claims = verify_id_token(sign_in(emulator, owner.email)["idToken"])
    assert (claims["agency_id"], claims["role"]) == (owner.agency_id, "owner")


# --- custom claims -------------------------------------------------------------------------------------------------


def test_claims_are_set_on_create_and_follow_role_changes(client, emulator, owner):
    r = client.post("/api/users/", json={"email": unique_email(), "display_name": "P", "role": "chatter"},
                    headers=owner.h)
    user = r.get_json()
    assert firebase_user(user["firebase_uid"]).custom_claims == {"agency_id": owner.agency_id, "role": "chatter"}
    r = client.patch(f"/api/users/{user['id']}/", json={"role": "manager"}, headers=owner.h)
    assert r.status_code == 200
    assert firebase_user(user["firebase_uid"]).custom_claims == {"agency_id": owner.agency_id, "role": "manager"}


def test_deactivation_removes_claims_ends_sessions_and_the_token_gets_401(client, emulator, owner):
    email = unique_email("leaver")
    uid = sign_up(emulator, email)["localId"]
    r = client.post("/api/users/", json={"email": email, "display_name": "Leaver", "role": "chatter",
                                         "firebase_uid": uid}, headers=owner.h)
    token = sign_in(emulator, email)["idToken"]
    assert client.get("/api/me/", headers=_bearer(token)).status_code == 200
    assert client.delete(f"/api/users/{r.get_json()['id']}/", headers=owner.h).status_code == 200
    account = firebase_user(uid)
    assert not account.custom_claims
    assert account.tokens_valid_after_timestamp > 0
    assert client.get("/api/me/", headers=_bearer(token)).status_code == 401
    # Reactivation gives the claims back.
    client.patch(f"/api/users/{r.get_json()['id']}/", json={"active": True}, headers=owner.h)
    assert firebase_user(uid).custom_claims == {"agency_id": owner.agency_id, "role": "chatter"}


def test_me_repairs_claims_that_missed_an_update(client, emulator, owner):
    from firebase_admin import auth as fb_auth

    from shared_lib.auth import firebase_app

    fb_auth.set_custom_user_claims(owner.uid, None, app=firebase_app())  # as if the after-commit call failed
    token = sign_in(emulator, owner.email)["idToken"]
    assert client.get("/api/me/", headers=_bearer(token)).status_code == 200
    assert firebase_user(owner.uid).custom_claims == {"agency_id": owner.agency_id, "role": "owner"}


def test_a_chatter_cannot_change_their_own_claims_or_role(client, emulator, owner):
    email = unique_email("sneaky")
    uid = sign_up(emulator, email)["localId"]
    client.post("/api/users/", json={"email": email, "display_name": "S", "role": "chatter", "firebase_uid": uid},
                headers=owner.h)
    token = sign_in(emulator, email)["idToken"]
    r = client.patch(f"/api/users/{client.get('/api/me/', headers=_bearer(token)).get_json()['user_id']}/",
                     json={"role": "owner"}, headers=_bearer(token))
    assert r.status_code == 403
    assert firebase_user(uid).custom_claims["role"] == "chatter"


# --- bad input: refused before anything is written, in the database or in Firebase Auth --------------------------


@pytest.mark.parametrize("case", ["unknown role", "unknown manager", "foreign manager", "chatter as manager",
                                  "owner in a team", "bad email", "missing display_name"])
def test_bad_new_users_are_400_naming_the_field_and_create_no_account(client, emulator, owner, case):
    email = unique_email("bad")
    body = {"email": email, "display_name": "B", "role": "chatter"}
    other = make_agency("Other")
    with engine().connect() as c:
        chatter_id = c.execute(text("INSERT INTO user_service.users (agency_id, firebase_uid, role) "
                                    "VALUES (:a, :u, 'chatter') RETURNING id"),
                               {"a": owner.agency_id, "u": f"c-{uuid.uuid4().hex}"}).scalar()
        c.commit()
    field = {
        "unknown role": ("role", {"role": "admin"}),
        "unknown manager": ("manager_id", {"manager_id": str(uuid.uuid4())}),
        "foreign manager": ("manager_id", {"manager_id": str(make_user(other, role="manager").id)}),
        "chatter as manager": ("manager_id", {"manager_id": str(chatter_id)}),
        "owner in a team": ("role", {"role": "owner", "manager_id": str(owner.user_id)}),
        "bad email": ("email", {"email": "not-an-email"}),
        "missing display_name": ("display_name", {"display_name": None}),
    }[case]
    body.update(field[1])
    body = {k: v for k, v in body.items() if v is not None}
    r = client.post("/api/users/", json=body, headers=owner.h)
    assert r.status_code == 400, r.get_json()
    assert ["body", field[0]] in [e["loc"] for e in r.get_json()["errors"]]
    assert _users_with_email(email) == 0
    assert firebase_user_by_email(email) is None


def test_an_unknown_firebase_uid_is_400(client, emulator, owner):
    email = unique_email()
    r = client.post("/api/users/", json={"email": email, "display_name": "X", "role": "chatter",
                                         "firebase_uid": f"no-such-{uuid.uuid4().hex}"}, headers=owner.h)
    assert r.status_code == 400 and r.get_json()["errors"][0]["loc"] == ["body", "firebase_uid"]
    assert _users_with_email(email) == 0


def test_a_member_of_another_agency_cannot_be_added_409(client, emulator, owner):
    email = unique_email("taken")
    account = sign_up(emulator, email)
    assert client.post("/api/agencies/", json={"name": "Theirs"},
                       headers=_bearer(account["idToken"])).status_code == 201
    r = client.post("/api/users/", json={"email": email, "display_name": "T", "role": "chatter"}, headers=owner.h)
    assert r.status_code == 409 and r.get_json()["type"].endswith("/already-member")
    with engine().connect() as c:
        assert c.execute(text("SELECT count(*) FROM user_service.users WHERE agency_id = :a"),
                         {"a": owner.agency_id}).scalar() == 1
    # Their claims still name their own agency.
    assert firebase_user(account["localId"]).custom_claims["role"] == "owner"


def test_create_user_is_idempotent_by_key(client, emulator, owner):
    email = unique_email("once")
    h = {**owner.h, "Idempotency-Key": f"invite-{email}"}
    body = {"email": email, "display_name": "Once", "role": "chatter"}
    first, again = client.post("/api/users/", json=body, headers=h), client.post("/api/users/", json=body, headers=h)
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json() and again.headers.get("Idempotent-Replayed") == "true"
    assert _users_with_email(email) == 1


def test_firebase_auth_down_is_503_and_writes_nothing(client, emulator, owner, monkeypatch):
    from shared_lib import auth
    from shared_lib.config import reset_settings

    email = unique_email("down")
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9")  # nothing listens on the discard port
    reset_settings()
    auth.reset_for_tests()
    try:
        r = client.post("/api/users/", json={"email": email, "display_name": "D", "role": "chatter"},
                        headers=owner.person.headers)
    finally:
        monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", emulator)
        reset_settings()
        auth.reset_for_tests()
    assert r.status_code == 503 and r.get_json()["type"].endswith("/identity-provider-unavailable")
    assert _users_with_email(email) == 0
    assert firebase_user_by_email(email) is None


def test_only_an_owner_creates_users(client, emulator, owner):
    email = unique_email("nope")
    chatter = make_user(owner.agency, role="chatter")
    r = client.post("/api/users/", json={"email": email, "display_name": "N", "role": "chatter"},
                    headers=chatter.headers)
    assert r.status_code == 403
    assert firebase_user_by_email(email) is None and _users_with_email(email) == 0


def test_linking_a_uid_whose_account_has_another_email_is_400(client, emulator, owner):
    uid = sign_up(emulator, unique_email("real"))["localId"]
    claimed = unique_email("claimed")
    r = client.post("/api/users/", json={"email": claimed, "display_name": "X", "role": "chatter",
                                         "firebase_uid": uid}, headers=owner.h)
    assert r.status_code == 400 and r.get_json()["errors"][0]["loc"] == ["body", "email"]
    assert _users_with_email(claimed) == 0 and not firebase_user(uid).custom_claims
