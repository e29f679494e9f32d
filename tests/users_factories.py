"""Test data for the users service, usable by every service's tests: agencies, people, models, assignments and
settings written straight into user_service (no Firebase Auth involved), plus Auth emulator helpers.

    from tests.users_factories import make_agency, make_user, make_model, assign, bearer_for
    agency = make_agency()                        # with its owner
    m = make_user(agency, role="manager")
    c = make_user(agency, role="chatter", manager=m)
    x = make_model(agency, "Model X"); assign(x, c)
    client.get("/api/me/", headers=bearer_for(c))   # an emulator-mode token for that user

Uids are unique per call, so tests sharing one Auth emulator or database never collide.
"""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import requests

PROJECT = os.environ.get("GOOGLE_CLOUD_PROJECT", "demo-onlymanager")


@dataclass(frozen=True)
class Person:
    id: uuid.UUID
    agency_id: uuid.UUID
    uid: str
    email: str
    display_name: str
    role: str
    manager_id: uuid.UUID | None = None


@dataclass(frozen=True)
class AgencyRef:
    id: uuid.UUID
    owner: Person
    timezone: str = "UTC"


def _uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _exec(sql: str, params: dict[str, Any]):
    from shared_lib.db import unit_of_work

    with unit_of_work() as uow:
        return uow.execute(sql, params).one_or_none()


def make_agency(name: str = "Velvet Agency", *, timezone: str = "UTC", currency: str = "USD",
                owner_name: str = "Olga Owner") -> AgencyRef:
    """An agency and its owner (created_by the same path as POST /api/agencies/, minus Firebase)."""
    from shared_lib.db import unit_of_work

    uid = _uid("owner")
    email = f"{uid}@example.com"
    with unit_of_work() as uow:
        agency_id = uow.execute("INSERT INTO user_service.agencies (name, currency, timezone) VALUES (:n, :c, :tz) "
                                "RETURNING id", {"n": name, "c": currency, "tz": timezone}).scalar_one()
        owner_id = uow.execute(
            "INSERT INTO user_service.users (agency_id, firebase_uid, email, display_name, role) "
            "VALUES (:a, :uid, :e, :n, 'owner') RETURNING id",
            {"a": agency_id, "uid": uid, "e": email, "n": owner_name}).scalar_one()
        uow.execute("UPDATE user_service.agencies SET owner_user_id = :o WHERE id = :a", {"o": owner_id, "a": agency_id})
    return AgencyRef(id=agency_id, owner=Person(owner_id, agency_id, uid, email, owner_name, "owner"),
                     timezone=timezone)


def make_user(agency: AgencyRef, *, role: str = "chatter", manager: Person | None = None,
              display_name: str | None = None, active: bool = True, uid: str | None = None) -> Person:
    uid = uid or _uid(role)
    email = f"{uid}@example.com"
    name = display_name or uid
    row = _exec(
        "INSERT INTO user_service.users (agency_id, firebase_uid, email, display_name, role, manager_id, active) "
        "VALUES (:a, :uid, :e, :n, :r, :m, :act) RETURNING id",
        {"a": agency.id, "uid": uid, "e": email, "n": name, "r": role, "m": manager.id if manager else None,
         "act": active})
    return Person(row.id, agency.id, uid, email, name, role, manager.id if manager else None)


def make_model(agency: AgencyRef, name: str = "Model") -> uuid.UUID:
    return _exec("INSERT INTO user_service.models (agency_id, name) VALUES (:a, :n) RETURNING id",
                 {"a": agency.id, "n": name}).id


def assign(model_id: uuid.UUID, *people: Person) -> None:
    for p in people:
        _exec("INSERT INTO user_service.model_assignments (agency_id, model_id, user_id) VALUES (:a, :m, :u) "
              "ON CONFLICT DO NOTHING RETURNING 1", {"a": p.agency_id, "m": model_id, "u": p.id})


def set_financial_settings(person: Person, effective_from: date, *, compensation_type: str = "commission",
                           commission_rate: str = "0.00", fixed_salary: str = "0.00",
                           manager_tick_rate: str = "0.00") -> None:
    """A version of the person's pay (no closed-period check: test setup only)."""
    _save("user_financial", person.agency_id, person.id, effective_from, {
        "compensation_type": compensation_type, "commission_rate": Decimal(commission_rate),
        "fixed_salary": Decimal(fixed_salary), "manager_tick_rate": Decimal(manager_tick_rate)})


def set_model_settings(agency: AgencyRef, model_id: uuid.UUID, effective_from: date, *,
                       model_share_percent: str = "0.00", split_chatting_costs: bool = False) -> None:
    _save("model", agency.id, model_id, effective_from, {
        "model_share_percent": Decimal(model_share_percent), "split_chatting_costs": split_chatting_costs})


def set_platform_fee(agency: AgencyRef, effective_from: date, onlyfans_fee_percent: str = "20.00") -> None:
    _save("platform", agency.id, agency.id, effective_from, {"onlyfans_fee_percent": Decimal(onlyfans_fee_percent)})


def _save(kind: str, agency_id, subject_id, effective_from: date, values: dict[str, Any]) -> None:
    from functions.users import queries
    from shared_lib.db import unit_of_work

    with unit_of_work() as uow:
        queries.save_version(uow, kind=kind, agency_id=agency_id, subject_id=subject_id,
                             effective_from=effective_from, values=values, by=None)


def close_period(agency: AgencyRef, period: str) -> None:
    """Mark a payout period closed the way the payouts service records it."""
    _exec("INSERT INTO financial_calculations.periods (agency_id, period, status, closed_at) "
          "VALUES (:a, :p, 'closed', now()) ON CONFLICT (agency_id, period) DO UPDATE SET status = 'closed' "
          "RETURNING 1", {"a": agency.id, "p": period})


def bearer_for(person: Person) -> dict[str, str]:
    """An emulator-mode ID token for the person (no claims: the backend never trusts claims)."""
    from shared_lib.auth import mint_emulator_token

    return {"Authorization": f"Bearer {mint_emulator_token(person.uid, person.email, name=person.display_name)}"}


# --- the Firebase Auth emulator ----------------------------------------------------------------------------------


def auth_emulator_host() -> str:
    """The Auth emulator's host:port; fails the test (never skips) when it is not set or does not answer."""
    host = os.environ.get("FIREBASE_AUTH_EMULATOR_HOST")
    hint = ("start it with `emulator/services.sh start && . .local/services.env`, or "
            "`npx firebase emulators:start --only auth --project demo-onlymanager "
            "--config emulator/firebase-auth-emulator.json`")
    if not host:
        pytest.fail(f"FIREBASE_AUTH_EMULATOR_HOST is not set; this test needs the Firebase Auth emulator: {hint}")
    try:
        r = requests.get(f"http://{host}/emulator/v1/projects/{PROJECT}/config", timeout=3)
    except requests.RequestException as exc:
        pytest.fail(f"the Firebase Auth emulator does not answer on {host} ({type(exc).__name__}): {hint}")
    if r.status_code != 200 or "signIn" not in r.text:
        pytest.fail(f"{host} answered {r.status_code} but is not the Firebase Auth emulator: {hint}")
    return host


def _identitytoolkit(host: str, method: str, body: dict[str, Any]) -> dict[str, Any]:
    r = requests.post(f"http://{host}/identitytoolkit.googleapis.com/v1/accounts:{method}?key=fake-api-key",
                      json=body, timeout=10)
    assert r.status_code == 200, f"{method}: {r.status_code} {r.text}"
    return r.json()


def sign_up(host: str, email: str, password: str = "secret-123") -> dict[str, Any]:
    """The emulator's REST signUp, as the frontend's createUserWithEmailAndPassword calls it."""
    return _identitytoolkit(host, "signUp", {"email": email, "password": password, "returnSecureToken": True})


def sign_in(host: str, email: str, password: str = "secret-123") -> dict[str, Any]:
    """signInWithPassword: a fresh idToken carrying the account's current custom claims."""
    return _identitytoolkit(host, "signInWithPassword", {"email": email, "password": password,
                                                         "returnSecureToken": True})


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def firebase_user(uid: str):
    """The account as the Auth emulator holds it (firebase-admin get_user), or None."""
    from firebase_admin import auth

    from shared_lib.auth import firebase_app

    try:
        return auth.get_user(uid, app=firebase_app())
    except auth.UserNotFoundError:
        return None


def firebase_user_by_email(email: str):
    from firebase_admin import auth

    from shared_lib.auth import firebase_app

    try:
        return auth.get_user_by_email(email, app=firebase_app())
    except auth.UserNotFoundError:
        return None
