"""Seeds for the income and expense tests: agencies, people, models, assignments, fees and closed periods in
plain SQL (the users service's HTTP endpoints are not what these tests are about), plus outbox readers."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from shared_lib.db import engine
from tests.conftest import bearer


def sql(statement: str, params: dict[str, Any] | None = None):
    with engine().begin() as conn:
        result = conn.execute(text(statement), params or {})
        return result.all() if result.returns_rows else None


def scalar(statement: str, params: dict[str, Any] | None = None):
    with engine().connect() as conn:
        return conn.execute(text(statement), params or {}).scalar()


@dataclass
class Agency:
    id: uuid.UUID
    owner_id: uuid.UUID
    owner_uid: str
    users: dict[str, uuid.UUID] = field(default_factory=dict)   # name → user id; the uid is f"{prefix}-{name}"
    models: dict[str, uuid.UUID] = field(default_factory=dict)
    prefix: str = ""

    def uid(self, name: str) -> str:
        return self.owner_uid if name == "owner" else f"{self.prefix}-{name}"

    def h(self, name: str = "owner") -> dict[str, str]:
        """Authorization header of one of the agency's people ("owner", "M", "C1", …)."""
        return bearer(self.uid(name))

    def user(self, name: str) -> uuid.UUID:
        return self.owner_id if name == "owner" else self.users[name]


def make_agency(prefix: str = "a", *, client=None, timezone: str = "UTC") -> Agency:
    """An agency and its owner: through POST /api/agencies/ when a client is given, else in SQL."""
    owner_uid = f"{prefix}-owner"
    if client is not None:
        r = client.post("/api/agencies/", json={"name": f"Agency {prefix}", "timezone": timezone},
                        headers=bearer(owner_uid))
        assert r.status_code == 201, r.get_json()
        body = r.get_json()
        return Agency(id=uuid.UUID(body["id"]), owner_id=uuid.UUID(body["owner_user_id"]), owner_uid=owner_uid,
                      prefix=prefix)
    with engine().begin() as conn:
        agency_id = conn.execute(text("INSERT INTO user_service.agencies (name, timezone) VALUES (:n, :tz) "
                                      "RETURNING id"), {"n": f"Agency {prefix}", "tz": timezone}).scalar_one()
        owner_id = conn.execute(text(
            "INSERT INTO user_service.users (agency_id, firebase_uid, email, display_name, role) "
            "VALUES (:a, :uid, :uid || '@example.com', :name, 'owner') RETURNING id"),
            {"a": agency_id, "uid": owner_uid, "name": f"Owner {prefix}"}).scalar_one()
        conn.execute(text("UPDATE user_service.agencies SET owner_user_id = :o WHERE id = :a"),
                     {"o": owner_id, "a": agency_id})
    row = (agency_id, owner_id)
    return Agency(id=row[0], owner_id=row[1], owner_uid=owner_uid, prefix=prefix)


def add_user(agency: Agency, name: str, role: str, *, manager: str | None = None, active: bool = True) -> uuid.UUID:
    (row,) = sql(
        """
        INSERT INTO user_service.users (agency_id, firebase_uid, email, display_name, role, manager_id, active)
        VALUES (:a, :uid, :uid || '@example.com', :name, :role, :m, :active) RETURNING id
        """,
        {"a": agency.id, "uid": agency.uid(name), "name": name, "role": role,
         "m": agency.users[manager] if manager else None, "active": active},
    )
    agency.users[name] = row[0]
    return row[0]


def add_model(agency: Agency, name: str, *assigned: str) -> uuid.UUID:
    (row,) = sql("INSERT INTO user_service.models (agency_id, name) VALUES (:a, :n) RETURNING id",
                 {"a": agency.id, "n": name})
    agency.models[name] = row[0]
    for person in assigned:
        assign(agency, name, person)
    return row[0]


def assign(agency: Agency, model: str, person: str) -> None:
    sql("INSERT INTO user_service.model_assignments (agency_id, model_id, user_id) VALUES (:a, :m, :u)",
        {"a": agency.id, "m": agency.models[model], "u": agency.user(person)})


def set_manager(agency: Agency, person: str, manager: str | None) -> None:
    sql("UPDATE user_service.users SET manager_id = :m WHERE id = :u",
        {"m": agency.users[manager] if manager else None, "u": agency.user(person)})


def set_fee(agency: Agency, percent: str, effective_from: date) -> None:
    sql("""INSERT INTO user_service.platform_settings (agency_id, onlyfans_fee_percent, effective_from)
           VALUES (:a, :p, :d)""", {"a": agency.id, "p": Decimal(percent), "d": effective_from})


def close_period(agency: Agency, period: str) -> None:
    sql("""INSERT INTO financial_calculations.periods (agency_id, period, status, closed_at)
           VALUES (:a, :p, 'closed', now())
           ON CONFLICT (agency_id, period) DO UPDATE SET status = 'closed'""", {"a": agency.id, "p": period})


def golden_agency(prefix: str = "g", *, client=None) -> Agency:
    """BUSINESS_RULES.md's worked example: Manager M (team C1, C2), chatters C1, C2, C3; models A, B;
    C1 sells for A and B, C2 for A, C3 for B; OnlyFans fee 20.00 % from 2026-11-01."""
    agency = make_agency(prefix, client=client)
    add_user(agency, "M", "manager")
    add_user(agency, "C1", "chatter", manager="M")
    add_user(agency, "C2", "chatter", manager="M")
    add_user(agency, "C3", "chatter")
    add_model(agency, "A", "C1", "C2")
    add_model(agency, "B", "C1", "C3")
    set_fee(agency, "20.00", date(2026, 11, 1))
    return agency


# --- what was written --------------------------------------------------------------------------------------------


def outbox(type_prefix: str = "") -> list[dict[str, Any]]:
    """Outbox events (whole envelopes) whose type starts with type_prefix, oldest first."""
    rows = sql("SELECT payload FROM eventing.outbox WHERE type LIKE :t || '%' ORDER BY id", {"t": type_prefix})
    return [r[0] if isinstance(r[0], dict) else json.loads(r[0]) for r in rows]


def income_count() -> int:
    return scalar("SELECT count(*) FROM income_service.income_records")


def expense_count() -> int:
    return scalar("SELECT count(*) FROM expense_service.expenses")


def assert_nothing_written() -> None:
    """No income, no expense, no schedule, no income or expense event."""
    assert income_count() == 0
    assert expense_count() == 0
    assert scalar("SELECT count(*) FROM income_service.recurring_income_schedules") == 0
    assert scalar("SELECT count(*) FROM expense_service.recurring_expense_schedules") == 0
    assert outbox("income.") == [] and outbox("expense.") == []


def problem(r, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.mimetype == "application/problem+json"
    return r.get_json()


def error_locs(r, status: int) -> list[list[Any]]:
    return [e["loc"] for e in problem(r, status).get("errors", [])]


def caller(agency: Agency, name: str = "owner", *, timezone: str = "UTC"):
    """The Caller the HTTP layer would load for one of the agency's people (for calling use cases directly)."""
    from shared_lib.rbac import Caller, Role

    role = sql("SELECT role FROM user_service.users WHERE id = :u", {"u": agency.user(name)})[0][0]
    return Caller(user_id=agency.user(name), agency_id=agency.id, role=Role(role), firebase_uid=agency.uid(name),
                  display_name=name, email=None, agency_timezone=timezone)
