"""The tests' one vocabulary for building a world and reading what was written: agencies, people, models,
assignments, settings and closed periods in plain SQL (the users service's endpoints are not what most tests are
about), shifts and Firestore time events, income and expense rows with the events they publish and their delivery
to the stats functions, outbox and aggregate readers, emulator-mode tokens and the Auth emulator.

    from tests.factories import make_agency, make_user, make_model, assign
    agency = make_agency()                                  # with its owner, agency.owner
    m = make_user(agency, "manager")
    c = make_user(agency, "chatter", manager=m)
    x = make_model(agency, "Model X", c)                    # assigned to c
    client.get("/api/me/", headers=c.headers)               # an emulator-mode token for that person

People can also be named, as BUSINESS_RULES.md's worked example does (`golden_agency()`): with
`make_agency(prefix="g")`, `make_user(agency, "chatter", name="C1")` is `agency.person("C1")`, its id
`agency.user("C1")` (or `agency.users["C1"]`), its token `agency.h("C1")`; `make_model(agency, "A", "C1")`
is `agency.models["A"]`. A factory that only needs the agency takes the Agency or any Person of it.
Uids are unique per agency, so tests sharing one Auth emulator or database never collide.
"""
from __future__ import annotations

import base64
import json
import os
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, Callable

import pytest
import requests
from sqlalchemy import text

from shared_lib import registry
from shared_lib.db import engine
from shared_lib.events import Event
from shared_lib.money import percent_of
from shared_lib.rbac import Caller, Role

PROJECT = os.environ.get("GOOGLE_CLOUD_PROJECT", "demo-onlymanager")
TT = "timetracking_service"


# --- SQL -----------------------------------------------------------------------------------------------------------


def sql(statement: str, params: dict[str, Any] | None = None, **kw: Any):
    """Run one statement in its own transaction: its rows, or None when it returns none."""
    with engine().begin() as conn:
        result = conn.execute(text(statement), params or kw)
        return result.all() if result.returns_rows else None


def scalar(statement: str, params: dict[str, Any] | None = None, **kw: Any):
    with engine().connect() as conn:
        return conn.execute(text(statement), params or kw).scalar()


def _hex() -> str:
    return uuid.uuid4().hex[:12]


# --- tokens --------------------------------------------------------------------------------------------------------


def bearer(uid: str, email: str | None = None, name: str | None = None) -> dict[str, str]:
    """An emulator-mode ID token's Authorization header (no claims: the backend never trusts claims)."""
    from shared_lib.auth import mint_emulator_token

    return {"Authorization": f"Bearer {mint_emulator_token(uid, email or f'{uid}@example.com', name=name)}"}


# --- agencies and people -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    id: uuid.UUID
    agency_id: uuid.UUID
    uid: str
    role: str
    display_name: str | None = None      # default: the uid
    email: str | None = None             # default: uid@example.com
    manager_id: uuid.UUID | None = None
    timezone: str = "UTC"                # the agency's

    def __post_init__(self) -> None:
        if self.display_name is None:
            object.__setattr__(self, "display_name", self.uid)
        if self.email is None:
            object.__setattr__(self, "email", f"{self.uid}@example.com")

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.uid, self.email, self.display_name)

    def caller(self) -> Caller:
        """The Caller the HTTP layer would load for this person (for calling use cases directly)."""
        return Caller(user_id=self.id, agency_id=self.agency_id, role=Role(self.role), firebase_uid=self.uid,
                      display_name=self.display_name, email=self.email, agency_timezone=self.timezone)


@dataclass
class Agency:
    id: uuid.UUID
    owner: Person
    name: str = "Velvet Agency"
    timezone: str = "UTC"
    currency: str = "USD"
    prefix: str = ""
    people: dict[str, Person] = field(default_factory=dict)   # by name ("M", "C1", …), the owner as "owner"
    models: dict[str, uuid.UUID] = field(default_factory=dict)

    @property
    def owner_id(self) -> uuid.UUID:
        return self.owner.id

    @property
    def owner_uid(self) -> str:
        return self.owner.uid

    @property
    def users(self) -> dict[str, uuid.UUID]:
        return {name: p.id for name, p in self.people.items()}

    def person(self, name: str = "owner") -> Person:
        return self.owner if name == "owner" else self.people[name]

    def user(self, name: str = "owner") -> uuid.UUID:
        return self.person(name).id

    def uid(self, name: str = "owner") -> str:
        if name == "owner" or name in self.people:
            return self.person(name).uid
        return f"{self.prefix}-{name}" if self.prefix else f"{name}-{_hex()}"

    def h(self, name: str = "owner") -> dict[str, str]:
        """Authorization header of one of the agency's people ("owner", "M", "C1", …)."""
        return bearer(self.uid(name))


def _agency_id(agency: Agency | Person) -> uuid.UUID:
    return agency.id if isinstance(agency, Agency) else agency.agency_id


def make_agency(name: str | None = None, *, prefix: str = "", timezone: str = "UTC", currency: str = "USD",
                owner_name: str | None = None, owner_uid: str | None = None, client=None) -> Agency:
    """An agency and its owner: in SQL, or through POST /api/agencies/ when a client is given.

    With a prefix the agency is "Agency {prefix}", its owner "{prefix}-owner" ("Owner {prefix}") and its named people
    "{prefix}-{name}"; else "Velvet Agency", owned by "Olga Owner" with a fresh uid."""
    name = name or (f"Agency {prefix}" if prefix else "Velvet Agency")
    owner_uid = owner_uid or (f"{prefix}-owner" if prefix else f"owner-{_hex()}")
    owner_name = owner_name or (f"Owner {prefix}" if prefix else "Olga Owner")
    if client is not None:
        r = client.post("/api/agencies/", json={"name": name, "timezone": timezone}, headers=bearer(owner_uid))
        assert r.status_code == 201, r.get_json()
        body = r.get_json()
        agency_id, owner_id = uuid.UUID(body["id"]), uuid.UUID(body["owner_user_id"])
    else:
        with engine().begin() as conn:
            agency_id = conn.execute(text(
                "INSERT INTO user_service.agencies (name, currency, timezone) VALUES (:n, :c, :tz) RETURNING id"),
                {"n": name, "c": currency, "tz": timezone}).scalar_one()
            owner_id = conn.execute(text(
                "INSERT INTO user_service.users (agency_id, firebase_uid, email, display_name, role) "
                "VALUES (:a, :uid, :uid || '@example.com', :name, 'owner') RETURNING id"),
                {"a": agency_id, "uid": owner_uid, "name": owner_name}).scalar_one()
            conn.execute(text("UPDATE user_service.agencies SET owner_user_id = :o WHERE id = :a"),
                         {"o": owner_id, "a": agency_id})
    owner = Person(owner_id, agency_id, owner_uid, "owner", owner_name, timezone=timezone)
    return Agency(id=agency_id, owner=owner, name=name, timezone=timezone, currency=currency, prefix=prefix)


def make_user(agency: Agency | Person, role: str = "chatter", *, name: str | None = None,
              manager: Person | str | None = None, display_name: str | None = None, active: bool = True,
              uid: str | None = None) -> Person:
    """A person of the agency (or of a colleague's agency). A named one (needs the Agency) is kept in
    agency.people under that name and is displayed as it."""
    if name is not None:
        uid = uid or agency.uid(name)
        display_name = display_name or name
    uid = uid or f"{role}-{_hex()}"
    display_name = display_name or uid
    if isinstance(manager, str):
        manager = agency.person(manager)
    manager_id = manager.id if manager else None
    (row,) = sql(
        """
        INSERT INTO user_service.users (agency_id, firebase_uid, email, display_name, role, manager_id, active)
        VALUES (:a, :uid, :uid || '@example.com', :n, :r, :m, :act) RETURNING id
        """, {"a": _agency_id(agency), "uid": uid, "n": display_name, "r": role, "m": manager_id, "act": active})
    person = Person(row.id, _agency_id(agency), uid, role, display_name, manager_id=manager_id,
                    timezone=agency.timezone)
    if name is not None:
        agency.people[name] = person
    return person


def make_model(agency: Agency, name: str = "Model", *assigned: Person | str) -> uuid.UUID:
    """A model of the agency (kept in agency.models under its name), assigned to the given people."""
    (row,) = sql("INSERT INTO user_service.models (agency_id, name) VALUES (:a, :n) RETURNING id",
                 {"a": agency.id, "n": name})
    agency.models[name] = row.id
    assign(agency, row.id, *assigned)
    return row.id


def assign(agency: Agency, model: uuid.UUID | str, *people: Person | str) -> None:
    """Assign people (or the agency's named people) to a model (its id, or its name in agency.models)."""
    model_id = agency.models[model] if isinstance(model, str) else model
    for p in people:
        agency_id, user_id = (p.agency_id, p.id) if isinstance(p, Person) else (agency.id, agency.user(p))
        sql("INSERT INTO user_service.model_assignments (agency_id, model_id, user_id) VALUES (:a, :m, :u) "
            "ON CONFLICT DO NOTHING", {"a": agency_id, "m": model_id, "u": user_id})


def set_manager(agency: Agency, person: Person | str, manager: Person | str | None) -> None:
    if isinstance(person, str):
        person = agency.person(person)
    if isinstance(manager, str):
        manager = agency.person(manager)
    sql("UPDATE user_service.users SET manager_id = :m WHERE id = :u",
        {"m": manager.id if manager else None, "u": person.id})


def team_agency() -> tuple[Agency, Person, Person, Person, uuid.UUID, uuid.UUID]:
    """(agency, manager, chatter, other_chatter, x, y): chatter is on the manager's team and assigned to model X,
    other_chatter is on no team and assigned to model Y."""
    agency = make_agency()
    manager = make_user(agency, role="manager")
    chatter = make_user(agency, role="chatter", manager=manager)
    other = make_user(agency, role="chatter")
    x, y = make_model(agency, "X", chatter), make_model(agency, "Y", other)
    return agency, manager, chatter, other, x, y


def golden_agency(prefix: str = "g", *, client=None) -> Agency:
    """BUSINESS_RULES.md's worked example: Manager M (team C1, C2), chatters C1, C2, C3; models A, B;
    C1 sells for A and B, C2 for A, C3 for B; OnlyFans fee 20.00 % from 2026-11-01."""
    agency = make_agency(prefix=prefix, client=client)
    make_user(agency, "manager", name="M")
    make_user(agency, "chatter", name="C1", manager="M")
    make_user(agency, "chatter", name="C2", manager="M")
    make_user(agency, "chatter", name="C3")
    make_model(agency, "A", "C1", "C2")
    make_model(agency, "B", "C1", "C3")
    set_platform_fee(agency, date(2026, 11, 1), "20.00")
    return agency


# --- settings and periods ------------------------------------------------------------------------------------------


def set_financial_settings(person: Person, effective_from: date, *, compensation_type: str = "commission",
                           commission_rate: str = "0.00", fixed_salary: str = "0.00",
                           manager_tick_rate: str = "0.00", hourly_rate: str = "0.00",
                           bonus_bands: list[tuple[str, str]] | None = None) -> None:
    """A version of the person's pay (no closed-period check: test setup only); bonus_bands as
    [(from_net, bonus), ...]."""
    _save("user_financial", person.agency_id, person.id, effective_from, {
        "compensation_type": compensation_type, "commission_rate": Decimal(commission_rate),
        "fixed_salary": Decimal(fixed_salary), "manager_tick_rate": Decimal(manager_tick_rate),
        "hourly_rate": Decimal(hourly_rate),
        "bonus_bands": [{"from_net": f, "bonus": b} for f, b in bonus_bands or ()]})


def set_model_settings(agency: Agency | Person, model_id: uuid.UUID, effective_from: date, *,
                       model_share_percent: str = "0.00", split_chatting_costs: bool = False) -> None:
    _save("model", _agency_id(agency), model_id, effective_from, {
        "model_share_percent": Decimal(model_share_percent), "split_chatting_costs": split_chatting_costs})


def set_platform_fee(agency: Agency | Person, effective_from: date, onlyfans_fee_percent: str = "20.00") -> None:
    agency_id = _agency_id(agency)
    _save("platform", agency_id, agency_id, effective_from, {"onlyfans_fee_percent": Decimal(onlyfans_fee_percent)})


def _save(kind: str, agency_id, subject_id, effective_from: date, values: dict[str, Any]) -> None:
    from functions.users import queries
    from shared_lib.db import unit_of_work

    with unit_of_work() as uow:
        queries.save_version(uow, kind=kind, agency_id=agency_id, subject_id=subject_id,
                             effective_from=effective_from, values=values, by=None)


def set_timetracking_settings(agency: Agency | Person, effective_from: str = "2000-01-01", **values: Any) -> None:
    """A version of the agency's time tracking settings (grace 5, late-event threshold 15, max shift 12 h,
    no fees, unless given)."""
    row = {"grace_minutes": 5, "late_event_threshold_minutes": 15, "max_shift_hours": 12,
           "fee_per_late_minute": "0.00", "fee_per_missed_shift": "0.00", **values}
    sql(f"INSERT INTO {TT}.settings (agency_id, effective_from, grace_minutes, late_event_threshold_minutes, "
        "max_shift_hours, fee_per_late_minute, fee_per_missed_shift) "
        "VALUES (:a, CAST(:eff AS date), :grace_minutes, :late_event_threshold_minutes, :max_shift_hours, "
        "CAST(:fee_per_late_minute AS numeric), CAST(:fee_per_missed_shift AS numeric))",
        {**row, "a": _agency_id(agency), "eff": effective_from})


def close_period(agency: Agency | Person, period: str) -> None:
    """Mark a payout period closed the way the payouts service records it."""
    sql("""INSERT INTO financial_calculations.periods (agency_id, period, status, closed_at)
           VALUES (:a, :p, 'closed', now())
           ON CONFLICT (agency_id, period) DO UPDATE SET status = 'closed'""", {"a": _agency_id(agency), "p": period})


# --- what was written ----------------------------------------------------------------------------------------------


class DurablePublisher:
    """A publisher that holds what it is given durably, as Pub/Sub does (events.set_publisher): the unit of work
    marks the outbox rows published; `sent` is every event handed over, in order."""

    marks_when_handled = False

    def __init__(self):
        self.sent: list[Event] = []

    def publish_many(self, evs):
        self.sent.extend(evs)
        return [e.event_id for e in evs]


def outbox(type: str | None = None) -> list[dict[str, Any]]:
    """Outbox events (whole envelopes), oldest first: all, those of one type, or of a family ("income.")."""
    if type is None:
        rows = sql("SELECT payload FROM eventing.outbox ORDER BY id")
    else:
        rows = sql("SELECT payload FROM eventing.outbox WHERE type = :t OR (right(:t, 1) = '.' AND "
                   "starts_with(type, :t)) ORDER BY id", {"t": type})
    return [r[0] if isinstance(r[0], dict) else json.loads(r[0]) for r in rows]


def outbox_data(type: str) -> list[dict[str, Any]]:
    """The data of every outbox event of that type (or family), in write order."""
    return [e["data"] for e in outbox(type)]


def time_events() -> list[dict[str, Any]]:
    """The data of every employee.time.event in the outbox, in write order."""
    return outbox_data("employee.time.event")


def kinds() -> list[str]:
    """The kind of every employee.time.event in the outbox, in write order."""
    return [d["kind"] for d in time_events()]


TIMETRACKING_EVENT_TYPES = ("employee.time.event", "timetracking.settings.updated")


def counts() -> dict[str, int]:
    """Rows in every time tracking table and its outbox events: a refused request must leave these unchanged.
    (Only this service's events: on the local platform other services' handlers write theirs concurrently.)"""
    found = {t: scalar(f"SELECT count(*) FROM {t}")
             for t in (f"{TT}.shifts", f"{TT}.time_entries", f"{TT}.time_events", f"{TT}.settings")}
    found["outbox"] = scalar("SELECT count(*) FROM eventing.outbox WHERE type = ANY(:t)",
                             {"t": list(TIMETRACKING_EVENT_TYPES)})
    return found


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


def ok(r, status: int = 200) -> Any:
    """The JSON body of a response that must have `status` (its text in the failure message otherwise)."""
    assert r.status_code == status, r.get_data(as_text=True)
    return r.get_json()


def problem(r, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.mimetype == "application/problem+json"
    return r.get_json()


def error_locs(r, status: int) -> list[list[Any]]:
    return [e["loc"] for e in problem(r, status).get("errors", [])]


def race(attempt: Callable[[int], Any], n: int = 3) -> None:
    """Run attempt(0) … attempt(n - 1) in n threads released at the same moment, and wait for all of them."""
    barrier = threading.Barrier(n)

    def run(i: int) -> None:
        barrier.wait()
        attempt(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


# --- time tracking -------------------------------------------------------------------------------------------------


def shift(person: Person, starts_at: datetime, ends_at: datetime) -> uuid.UUID:
    """A planned shift written directly (tests of the shift rules go through the use case instead)."""
    (row,) = sql(f"INSERT INTO {TT}.shifts (agency_id, user_id, starts_at, ends_at) VALUES (:a, :u, :s, :e) "
                 "RETURNING id", {"a": person.agency_id, "u": person.id, "s": starts_at, "e": ends_at})
    return row.id


def checked_in(person: Person, start: datetime, end: datetime) -> None:
    """A planned shift and a closed time entry for it, written directly: `person` was checked in [start, end)
    (what an import's attribution by shift looks at)."""
    sql(f"INSERT INTO {TT}.time_entries (agency_id, user_id, shift_id, checked_in_at, checked_out_at, "
        "worked_minutes, overtime_minutes, source) VALUES (:a, :u, :s, :i, :o, :w, 0, 'http')",
        {"a": person.agency_id, "u": person.id, "s": shift(person, start, end), "i": start, "o": end,
         "w": int((end - start).total_seconds() // 60)})


def firestore_event(agency_id: Any, event_id: str, document: dict[str, Any] | None, *, ce_id: str | None = None,
                    received_at: datetime | None = None):
    """The CloudEvent Eventarc delivers for a created agencies/{a}/time_events/{e} document (real protobuf).

    `received_at`: the document's server create time. Default: its `at` when that is not in the future (the
    app was online: Firestore stored it as it was tapped, so tests can use fixed past dates), else now."""
    from cloudevents.http import CloudEvent

    from shared_lib.firestore_values import document_event_bytes

    path = f"agencies/{agency_id}/time_events/{event_id}"
    name = f"projects/demo-onlymanager/databases/(default)/documents/{path}"
    attributes = {
        "specversion": "1.0",
        "type": "google.cloud.firestore.document.v1.created",
        "source": "//firestore.googleapis.com/projects/demo-onlymanager/databases/(default)",
        "id": ce_id or uuid.uuid4().hex,
        "datacontenttype": "application/protobuf",
        "subject": f"documents/{path}",
        "document": path,
    }
    if received_at is None:
        at, now = (document or {}).get("at"), datetime.now(UTC)
        received_at = min(at, now) if isinstance(at, datetime) and at.tzinfo is not None else now
    return CloudEvent(attributes, document_event_bytes(name, document, update_time=received_at))


CHATTING = ("message_sale", "tip_sale")
_INCOME_COLUMNS = ("id, agency_id, type, gross_amount, fee_amount, net_amount, sale_date, model_id, chatter_id, "
                   "manager_id, assigned_to_user_id, schedule_id")


def _row(result) -> dict[str, Any] | None:
    return None if not result else dict(result[0]._mapping)


# --- income and expenses -------------------------------------------------------------------------------------------


def seed_income(agency: Agency, *, day: date, gross: str | Decimal = "100.00", type: str = "message_sale",
                model: str | None = None, chatter: str | None = None, fee_percent: str = "20.00") -> dict[str, Any]:
    """One income record as the income service stores it (fee rounded half-up, net = gross − fee)."""
    gross = Decimal(gross)
    pct = Decimal(fee_percent) if type in CHATTING else Decimal("0.00")
    fee = percent_of(gross, pct)
    chatter_id = agency.user(chatter) if chatter else None
    return _row(sql(
        f"""
        INSERT INTO income_service.income_records
            (agency_id, type, gross_amount, fee_percent, fee_amount, net_amount, sale_date, model_id, chatter_id,
             manager_id, registered_by_user_id)
        VALUES (:a, :type, :gross, :pct, :fee, :net, :day, :model, :chatter,
                (SELECT manager_id FROM user_service.users WHERE id = CAST(:chatter AS uuid)), :owner)
        RETURNING {_INCOME_COLUMNS}
        """,
        {"a": agency.id, "type": type, "gross": gross, "pct": pct, "fee": fee, "net": gross - fee, "day": day,
         "model": agency.models[model] if model else None, "chatter": chatter_id, "owner": agency.owner_id}))


def update_income(income_id: uuid.UUID, *, day: date | None = None, gross: str | Decimal | None = None,
                  model_id: uuid.UUID | None = None, chatter_id: uuid.UUID | None = None) -> tuple[dict, dict]:
    """Change a record in place (fee recomputed at its stored percent); returns (old, new)."""
    old = _row(sql(f"SELECT {_INCOME_COLUMNS}, fee_percent FROM income_service.income_records WHERE id = :id",
                   {"id": income_id}))
    gross = Decimal(gross) if gross is not None else old["gross_amount"]
    fee = percent_of(gross, old.pop("fee_percent"))
    new = _row(sql(
        f"""
        UPDATE income_service.income_records
           SET sale_date = :day, gross_amount = :gross, fee_amount = :fee, net_amount = :net,
               model_id = coalesce(CAST(:model AS uuid), model_id),
               chatter_id = coalesce(CAST(:chatter AS uuid), chatter_id),
               updated_at = clock_timestamp()
         WHERE id = :id
        RETURNING {_INCOME_COLUMNS}
        """,
        {"id": income_id, "day": day or old["sale_date"], "gross": gross, "fee": fee, "net": gross - fee,
         "model": None if model_id is None else str(model_id),
         "chatter": None if chatter_id is None else str(chatter_id)}))
    return old, new


def delete_income(income_id: uuid.UUID) -> dict[str, Any]:
    return _row(sql(f"DELETE FROM income_service.income_records WHERE id = :id RETURNING {_INCOME_COLUMNS}",
                    {"id": income_id}))


def seed_expense(agency: Agency, *, day: date, amount: str | Decimal = "100.00", source: str = "software") -> dict:
    return _row(sql(
        """
        INSERT INTO expense_service.expenses (agency_id, amount, expense_date, source, created_by)
        VALUES (:a, :amount, :day, :source, :owner)
        RETURNING id, agency_id, amount, expense_date, source, schedule_id
        """, {"a": agency.id, "amount": Decimal(amount), "day": day, "source": source, "owner": agency.owner_id}))


def update_expense(expense_id: uuid.UUID, *, day: date | None = None,
                   amount: str | Decimal | None = None) -> tuple[dict, dict]:
    old = _row(sql("SELECT id, agency_id, amount, expense_date, source, schedule_id FROM expense_service.expenses "
                   "WHERE id = :id", {"id": expense_id}))
    new = _row(sql(
        """
        UPDATE expense_service.expenses SET expense_date = :day, amount = :amount, updated_at = clock_timestamp()
        WHERE id = :id RETURNING id, agency_id, amount, expense_date, source, schedule_id
        """, {"id": expense_id, "day": day or old["expense_date"],
              "amount": Decimal(amount) if amount is not None else old["amount"]}))
    return old, new


def delete_expense(expense_id: uuid.UUID) -> dict[str, Any]:
    return _row(sql("DELETE FROM expense_service.expenses WHERE id = :id "
                    "RETURNING id, agency_id, amount, expense_date, source, schedule_id", {"id": expense_id}))


# --- the events those changes publish ------------------------------------------------------------------------------


def income_event(kind: str, old: dict | None, new: dict | None) -> Event:
    """income.registered / updated / deleted as the income service publishes them (shared_lib/contracts.py)."""
    from shared_lib.contracts import CONTRACTS, IncomeSnapshot

    row = new or old
    before = None if old is None else IncomeSnapshot.model_validate(old)
    after = None if new is None else IncomeSnapshot.model_validate(new)
    last = after or before
    data = CONTRACTS[f"income.{kind}"](
        income_id=row["id"], agency_id=row["agency_id"], schedule_id=None,
        reason={"registered": "registered", "updated": "edited", "deleted": "deleted"}[kind],
        sale_date=last.sale_date, old_sale_date=None if before is None else before.sale_date,
        model_id=last.model_id, chatter_id=last.chatter_id, old=before, new=after)
    return Event(event_id=uuid.uuid4(), type=f"income.{kind}", occurred_at=datetime.now(UTC),
                 agency_id=row["agency_id"], subject=str(row["id"]), data=data.model_dump(mode="json"))


def expense_event(kind: str, old: dict | None, new: dict | None) -> Event:
    """expense.recorded / updated / deleted as the expenses service publishes them (shared_lib/contracts.py)."""
    from shared_lib.contracts import CONTRACTS, ExpenseSnapshot

    row = new or old
    before = None if old is None else ExpenseSnapshot.model_validate(old)
    after = None if new is None else ExpenseSnapshot.model_validate(new)
    data = CONTRACTS[f"expense.{kind}"](
        expense_id=row["id"], agency_id=row["agency_id"], schedule_id=None,
        reason={"recorded": "recorded", "updated": "edited", "deleted": "deleted"}[kind],
        expense_date=(after or before).expense_date,
        old_expense_date=None if before is None else before.expense_date, old=before, new=after)
    return Event(event_id=uuid.uuid4(), type=f"expense.{kind}", occurred_at=datetime.now(UTC),
                 agency_id=row["agency_id"], subject=str(row["id"]), data=data.model_dump(mode="json"))


def event(type: str, agency_id: uuid.UUID, data: dict[str, Any], subject: str = "s") -> Event:
    return Event(event_id=uuid.uuid4(), type=type, occurred_at=datetime.now(UTC), agency_id=agency_id,
                 subject=subject, data=data)


STATS_FUNCTION = {
    "income.registered": "stats_on_income_registered", "income.updated": "stats_on_income_updated",
    "income.deleted": "stats_on_income_deleted", "expense.recorded": "stats_on_expense_recorded",
    "expense.updated": "stats_on_expense_updated", "expense.deleted": "stats_on_expense_deleted",
    "financial_calculation.completed": "stats_on_financial_calculation_completed",
    "model.subscriber_count.updated": "stats_on_subscriber_count_updated",
}


def cloud_event(topic: str, data: bytes, *, message_id: str | None = None, attributes: dict | None = None):
    """A Pub/Sub messagePublished CloudEvent exactly as Eventarc (and the local bus) delivers it."""
    from emulator.bus import Message, Subscription, cloud_event_for

    message_id = message_id or uuid.uuid4().hex
    msg = Message(ack_id=message_id, message_id=message_id, data=data, attributes=attributes or {},
                  publish_time=datetime.now(UTC))
    return cloud_event_for("demo-onlymanager", Subscription(name="test", topic=topic, function="test"), msg)


def deliver(ev: Event) -> None:
    """Deliver an event to the stats function subscribed to its type (a new Pub/Sub message each call)."""
    import functions.stats.main  # noqa: F401  (declares the functions)

    spec = registry.REGISTRY[STATS_FUNCTION[ev.type]]
    spec.entry_point(cloud_event(ev.type, ev.payload(), attributes=ev.attributes()))


def deliver_raw(function: str, data: bytes, *, message_id: str | None = None) -> None:
    import functions.stats.main  # noqa: F401

    spec = registry.REGISTRY[function]
    spec.entry_point(cloud_event(spec.topic, data, message_id=message_id))


def scraper_payload(agency_id, model_id, count, observed_at: datetime | str) -> bytes:
    at = observed_at if isinstance(observed_at, str) else observed_at.isoformat()
    return json.dumps({"agency_id": str(agency_id), "model_id": str(model_id), "subscriber_count": count,
                       "observed_at": at}).encode()


# --- subscriber counts and aggregates ------------------------------------------------------------------------------


def add_snapshot(agency: Agency, model: str, count: int, on: date, *, at: time = time(12, 0)) -> None:
    """A stored observation (UTC agencies: observed_on is observed_at's date)."""
    sql("""
        INSERT INTO statistics_service.subscriber_count_snapshots
            (agency_id, model_id, subscriber_count, observed_at, observed_on, source)
        VALUES (:a, :m, :c, :at, :on, 'manual')
        ON CONFLICT ON CONSTRAINT subscriber_count_snapshots_observation
        DO UPDATE SET subscriber_count = EXCLUDED.subscriber_count
        """, {"a": agency.id, "m": agency.models[model], "c": count,
              "at": datetime.combine(on, at, tzinfo=UTC), "on": on})


def rebuild(agency: Agency, date_from: date | None = None, date_to: date | None = None):
    from functions.stats import service
    from shared_lib.db import unit_of_work

    with unit_of_work() as uow:
        return service.stats_rebuild(uow=uow, agency_id=agency.id, date_from=date_from, date_to=date_to)


def aggregates(agency_id: uuid.UUID | None = None) -> dict[str, list[tuple]]:
    """Every row of the three aggregate tables (of one agency, or all), sorted: to compare states exactly."""
    where = "" if agency_id is None else "WHERE agency_id = :a"
    out = {}
    for table, cols in (("daily_model_stats", "agency_id, day, model_id, type, gross, fees, net, sales_count"),
                        ("daily_chatter_stats",
                         "agency_id, day, chatter_id, model_id, type, gross, fees, net, sales_count"),
                        ("daily_expense_stats", "agency_id, day, amount, expense_count")):
        rows = sql(f"SELECT {cols} FROM statistics_service.{table} {where}", {"a": agency_id})
        out[table] = sorted((tuple(str(v) for v in r) for r in rows))
    return out


def use_case(fn, agency: Agency, who: str = "owner", **kwargs):
    """Call a stats use case as one of the agency's people would through HTTP (one transaction)."""
    from shared_lib.db import unit_of_work

    with unit_of_work() as uow:
        return fn(uow=uow, caller=agency.person(who).caller(), **kwargs)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


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
