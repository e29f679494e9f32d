"""The authorization matrix (issue #12): every HTTP operation the registry declares × Owner, Manager (subject in
their team / outside it), Chatter (self / another chatter), another agency's Owner and no token, against the role
table of BUSINESS_RULES.md ("Who may do what", refined per endpoint in docs/<service>.md).

One world, built once through the API and the factories: agency A with an Owner, managers M1 (team: C1) and M2
(team: C2), models X (C1's) and Y (C2's), sales, schedules, an expense, shifts and entries, subscriber counts and a
calculated period 2026-11; agency B with its Owner. EXPECT below is the one table: an operation missing from it
fails `test_every_operation_has_a_declared_expectation` and its own matrix rows.

Each row checks, besides the status: refusals are problem+json and write nothing in agency A (its outbox), another
agency's Owner never sees or changes anything of A, and a list shows the subject exactly when the scope includes
them ("ok+": listed, "ok-": not listed).
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Callable

import pytest

from shared_lib import registry
from tests.conftest import _truncate_all
from tests.factories import Agency, bearer, make_agency, make_model, make_user, scalar, sql

registry.load_all()

CALLERS = ("owner", "team", "outside", "self", "other", "foreign", "anon")
PERIOD = "2026-11"
RANGE = {"date_from": "2026-11-01", "date_to": "2026-11-30"}


def import_body(model_id, transaction_id: str) -> dict[str, Any]:
    """A one-row platform import (POST /api/income/imports/): a re-sent one changes nothing. A subscription sale:
    nobody is on shift, and statistics do not yet take an unattributed chatting sale (docs/income.md)."""
    return {"model_id": str(model_id), "transactions": [
        {"transaction_id": transaction_id, "occurred_at": "2026-11-05T12:00:00Z", "type": "subscription",
         "gross_amount": "25.00", "status": "cleared"}]}


# --- the world -----------------------------------------------------------------------------------------------------


@dataclass
class Subject:
    """A chatter the request is about, with what they own; `fresh` ones are made for one mutating row."""

    world: "World"
    name: str
    model: str
    manager: str
    _made: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> uuid.UUID:
        return self.world.a.user(self.name)

    @property
    def model_id(self) -> uuid.UUID:
        return self.world.a.models[self.model]

    def _once(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self._made:
            self._made[key] = make()
        return self._made[key]

    def sale_body(self, gross: str = "100.00") -> dict[str, Any]:
        return {"type": "message_sale", "gross_amount": gross, "sale_date": "2026-11-05",
                "model_id": str(self.model_id), "chatter_id": str(self.id)}

    @property
    def sale(self) -> str:
        return self._once("sale", lambda: self.world.post("/api/income/register/", self.sale_body())["id"])

    @property
    def income_schedule(self) -> str:
        body = {"source": f"Split to {self.name}", "amount": "400.00", "frequency": "monthly", "day_of_month": 15,
                "start_date": "2026-11-01", "assigned_to_user_id": str(self.id), "split_percent": "25.00"}
        return self._once("schedule", lambda: self.world.post("/api/income/recurring/", body)["id"])

    @property
    def past_shift(self) -> str:
        """A shift on 2026-11-20 with a closed entry (recorded by the Owner)."""
        def make():
            shift = self.world.post("/api/timetracking/shifts/", {
                "user_id": str(self.id), "starts_at": "2026-11-20T09:00:00Z", "ends_at": "2026-11-20T17:00:00Z"})
            entry = self.world.post("/api/timetracking/check-in/", {"user_id": str(self.id),
                                                                    "at": "2026-11-20T09:12:00Z"})
            self.world.post("/api/timetracking/check-out/", {"user_id": str(self.id), "at": "2026-11-20T17:30:00Z"},
                            status=200)
            return shift["id"], entry["id"]
        return self._once("past_shift", make)

    @property
    def shift_now(self) -> str:
        """A shift covering the server's now (so a live check-in finds it)."""
        now = datetime.now(UTC).replace(microsecond=0)
        return self._once("shift_now", lambda: self.world.post("/api/timetracking/shifts/", {
            "user_id": str(self.id), "starts_at": (now - timedelta(minutes=30)).isoformat(),
            "ends_at": (now + timedelta(hours=6)).isoformat()})["id"])

    @property
    def open_entry(self) -> str:
        def make():
            _ = self.shift_now
            return self.world.post("/api/timetracking/check-in/", {"user_id": str(self.id)})["id"]
        return self._once("open_entry", make)


class World:
    def __init__(self, client):
        self.client = client
        self.a: Agency = make_agency(prefix="mx", client=client)
        self.b: Agency = make_agency(prefix="fx", client=client)
        self.fresh_count = 0
        make_user(self.a, "manager", name="M1")
        make_user(self.a, "manager", name="M2")
        make_user(self.a, "chatter", name="C1", manager="M1")
        make_user(self.a, "chatter", name="C2", manager="M2")
        make_model(self.a, "X", "C1")
        make_model(self.a, "Y", "C2")
        make_user(self.b, "chatter", name="BC")
        make_model(self.b, "BX", "BC")
        self.c1 = Subject(self, "C1", "X", "M1")
        self.c2 = Subject(self, "C2", "Y", "M2")
        for person, pay in (("C1", "10.00"), ("C2", "5.00")):
            self.put(f"/api/users/{self.a.user(person)}/financial-settings/", {
                "compensation_type": "commission", "commission_rate": pay, "fixed_salary": "0.00",
                "manager_tick_rate": "0.00", "effective_from": "2026-11-01"})
        for m in ("M1", "M2"):
            self.put(f"/api/users/{self.a.user(m)}/financial-settings/", {
                "compensation_type": "commission", "commission_rate": "0.00", "fixed_salary": "0.00",
                "manager_tick_rate": "5.00", "effective_from": "2026-11-01"})
        for model in ("X", "Y"):
            self.put(f"/api/models/{self.a.models[model]}/settings/", {
                "model_share_percent": "50.00", "split_chatting_costs": False, "effective_from": "2026-11-01"})
            self.post("/api/stats/subscriber-counts/", {"model_id": str(self.a.models[model]),
                                                        "subscriber_count": 1000,
                                                        "observed_at": "2026-11-30T12:00:00Z"}, status=202)
        for s in (self.c1, self.c2):
            _ = s.sale, s.income_schedule, s.past_shift
        self.expense = self.new_expense()
        self.expense_schedule = self.post("/api/expenses/recurring/", {
            "source": "software", "amount": "120.00", "frequency": "monthly", "day_of_month": 1,
            "start_date": "2026-11-01"})["id"]
        self.settle()
        self.post("/api/financials/calculate/", {"period": PERIOD}, status=200)
        self.settle()
        # What agency B must never see: every id and every address of agency A.
        self.secrets = {str(v) for (v,) in sql(
            "SELECT id::text FROM user_service.users WHERE agency_id = :a UNION ALL "
            "SELECT email FROM user_service.users WHERE agency_id = :a UNION ALL "
            "SELECT id::text FROM user_service.models WHERE agency_id = :a UNION ALL "
            "SELECT id::text FROM income_service.income_records WHERE agency_id = :a UNION ALL "
            "SELECT id::text FROM timetracking_service.shifts WHERE agency_id = :a", {"a": self.a.id})}
        self.secrets |= {str(self.a.id), self.expense, self.expense_schedule}

    # requests as A's Owner, for building
    def _call(self, method: str, path: str, body: Any, status: int) -> dict[str, Any]:
        r = self.client.open(path, method=method, json=body, headers=self.a.h("owner"))
        assert r.status_code == status, f"{method} {path}: {r.status_code} {r.get_data(as_text=True)}"
        return r.get_json() if r.data else {}

    def post(self, path: str, body: Any, status: int = 201) -> dict[str, Any]:
        return self._call("POST", path, body, status)

    def put(self, path: str, body: Any, status: int = 200) -> dict[str, Any]:
        return self._call("PUT", path, body, status)

    def new_expense(self) -> str:
        return self.post("/api/expenses/", {"amount": "300.00", "expense_date": "2026-11-10", "source": "ads"})["id"]

    def fresh(self, manager: str) -> Subject:
        """A new chatter in `manager`'s team, assigned to a new model, for one mutating row."""
        self.fresh_count += 1
        name, model = f"F{self.fresh_count}", f"FX{self.fresh_count}"
        make_user(self.a, "chatter", name=name, manager=manager)
        make_model(self.a, model, name)
        return Subject(self, name, model, manager)

    def settle(self) -> None:
        """Every event published so far handled (so a later snapshot is not moved by an earlier row)."""
        from tests.conftest import _RUNNING

        for p in _RUNNING:
            assert p.drain(30), "events still pending after 30 s"

    @property
    def paid_period(self) -> str:
        """2026-09, closed: C1, C2 and M1 each get a 25.00 share of other income; C1 and C2 are paid (M1 is left
        for the payments POST row). Made on first use: the rows before it see no September."""
        if not hasattr(self, "_paid_period"):
            for name in ("C1", "C2", "M1"):
                self.post("/api/income/register/", {
                    "type": "other_income", "gross_amount": "100.00", "sale_date": "2026-09-05",
                    "source": f"Brand deal {name}", "assigned_to_user_id": str(self.a.user(name)),
                    "split_percent": "25.00"})
            self.settle()
            self.post("/api/financials/periods/2026-09/close/", None, status=200)
            for name in ("C1", "C2"):
                self.post("/api/financials/periods/2026-09/payments/", {
                    "user_id": str(self.a.user(name)), "paid_at": "2026-10-05", "method": "bank",
                    "reference": f"MX-{name}"})
            self.settle()
            self._paid_period = "2026-09"
        return self._paid_period

    def outbox_of_a(self) -> int:
        return scalar("SELECT count(*) FROM eventing.outbox WHERE agency_id = :a", {"a": self.a.id})


@dataclass
class Cell:
    """One matrix row: who calls, about whom."""

    w: World
    caller: str
    s: Subject

    @property
    def headers(self) -> dict[str, str]:
        if self.caller == "anon":
            return {}
        uid = {"owner": self.w.a.uid("owner"), "team": self.w.a.uid("M1"), "outside": self.w.a.uid("M1"),
               "other": self.w.a.uid("C1"), "self": self.w.a.uid(self.s.name),
               "foreign": self.w.b.uid("owner")}[self.caller]
        return bearer(uid)


# --- the table -------------------------------------------------------------------------------------------------------
# Per operation: the role-table row it derives from, six expectations (owner, team, outside, self, other, foreign;
# no token is always 401, except the public health check), and the request. Expectations: "ok" = the operation's
# documented success status; "ok+"/"ok-" = that status and the subject's id in / not in the answer; a number = that
# problem status. Columns: owner = A's Owner about C1; team = M1 about C1 (their team); outside = M1 about C2 (M2's
# team); self = C1 about C1; other = C1 about C2; foreign = B's Owner with A's ids (404) or on B's own data.
# fresh=True: the row mutates, so each column gets a new chatter (team: M1's; outside/other: M2's).


@dataclass(frozen=True)
class Row:
    rule: str
    expect: str
    params: Callable[[Cell], dict[str, Any]] = lambda c: {}
    query: Callable[[Cell], dict[str, Any]] | None = None
    body: Callable[[Cell], Any] | None = None
    marker: Callable[[Cell], Any] | None = None
    fresh: bool = False

    def codes(self) -> dict[str, str]:
        codes = self.expect.split()
        assert len(codes) == 6, f"{self.expect!r}: six expectations (owner team outside self other foreign)"
        return dict(zip(CALLERS[:6], codes))


def _uid(c: Cell) -> dict[str, Any]:
    return {"user_id": c.s.id}


def _model(c: Cell) -> dict[str, Any]:
    return {"model_id": c.s.model_id}


def _adjustment(c: Cell) -> str:
    """The subject's adjustment of the period (recorded by A's Owner, once)."""
    return c.s._once("adjustment", lambda: c.w.post("/api/financials/adjustments/", {
        "user_id": str(c.s.id), "period": PERIOD, "amount": "10.00", "reason": "bonus"})["id"])


def _stamp() -> str:
    return uuid.uuid4().hex[:8]


USERS_ROW = "users, models, assignments, teams: Owner yes, Manager read own team, Chatter read self"
SETTINGS_ROW = "agency settings, financial/model/platform settings, close a period: Owner only"
EXPECT: dict[tuple[str, str], Row] = {
    # users service (docs/users.md refines the table per endpoint)
    ("GET", "/api/health/"): Row("public liveness check", "ok ok ok ok ok ok"),
    ("POST", "/api/agencies/"): Row("any signed-in person without an agency (members: 409 already-member)",
                                    "409 409 409 409 409 409", body=lambda c: {"name": "Second agency"}),
    ("GET", "/api/me/"): Row("any signed-in person: their own membership", "ok ok ok ok ok ok"),
    ("GET", "/api/agency/"): Row("everyone reads their own agency", "ok ok ok ok ok ok"),
    ("PATCH", "/api/agency/"): Row(SETTINGS_ROW, "ok 403 403 403 403 ok", body=lambda c: {"name": "Renamed agency"}),
    ("GET", "/api/users/"): Row(USERS_ROW, "ok+ ok+ ok- ok+ ok- ok-", marker=lambda c: c.s.id),
    ("POST", "/api/users/"): Row(USERS_ROW, "ok 403 403 403 403 ok", body=lambda c: {
        "email": f"matrix-{_stamp()}@example.com", "display_name": "New chatter", "role": "chatter"}),
    ("GET", "/api/users/{user_id}/"): Row(USERS_ROW, "ok ok 404 ok 404 404", params=_uid),
    ("PATCH", "/api/users/{user_id}/"): Row(USERS_ROW, "ok 403 403 403 403 404", params=_uid,
                                            body=lambda c: {"display_name": c.s.name}),
    ("DELETE", "/api/users/{user_id}/"): Row(USERS_ROW, "ok 403 403 403 403 404", params=_uid, fresh=True),
    ("GET", "/api/users/{user_id}/financial-settings/"): Row(
        "settings Owner only; a person reads their own pay (docs/users.md)", "ok 403 404 ok 404 404", params=_uid),
    ("PUT", "/api/users/{user_id}/financial-settings/"): Row(SETTINGS_ROW, "ok 403 403 403 403 404", params=_uid,
                                                             body=lambda c: {
        "compensation_type": "commission", "commission_rate": "10.00" if c.s.name == "C1" else "5.00",
        "fixed_salary": "0.00", "manager_tick_rate": "0.00", "effective_from": "2026-11-01"}),
    ("GET", "/api/models/"): Row(USERS_ROW, "ok+ ok+ ok- ok+ ok- ok-", marker=lambda c: c.s.model_id),
    ("POST", "/api/models/"): Row(USERS_ROW, "ok 403 403 403 403 ok", body=lambda c: {"name": f"M-{_stamp()}"}),
    ("GET", "/api/models/{model_id}/"): Row(USERS_ROW, "ok ok 404 ok 404 404", params=_model),
    ("PATCH", "/api/models/{model_id}/"): Row(USERS_ROW, "ok 403 403 403 403 404", params=_model,
                                              body=lambda c: {"name": c.s.model}),
    ("GET", "/api/models/{model_id}/assignments/"): Row(USERS_ROW, "ok ok 404 ok 404 404", params=_model),
    ("PUT", "/api/models/{model_id}/assignments/"): Row(USERS_ROW, "ok 403 403 403 403 404", params=_model,
                                                        body=lambda c: {"user_ids": [str(c.s.id)]}),
    ("GET", "/api/models/{model_id}/settings/"): Row(SETTINGS_ROW, "ok 403 403 403 403 404", params=_model),
    ("PUT", "/api/models/{model_id}/settings/"): Row(SETTINGS_ROW, "ok 403 403 403 403 404", params=_model,
                                                     body=lambda c: {"model_share_percent": "50.00",
                                                                     "split_chatting_costs": False,
                                                                     "effective_from": "2026-11-01"}),
    ("GET", "/api/platform-settings/"): Row(SETTINGS_ROW, "ok 403 403 403 403 ok"),
    ("PUT", "/api/platform-settings/"): Row(SETTINGS_ROW, "ok 403 403 403 403 ok", body=lambda c: {
        "onlyfans_fee_percent": "20.00", "effective_from": "2026-11-01"}),
    ("GET", "/api/sales-settings/"): Row(SETTINGS_ROW, "ok 403 403 403 403 ok"),
    ("PUT", "/api/sales-settings/"): Row(SETTINGS_ROW, "ok 403 403 403 403 ok", body=lambda c: {
        "commission_types": ["message_sale", "tip_sale"], "verification": "off", "chatter_edit_hours": 24,
        "effective_from": "2026-11-01"}),
    ("GET", "/api/models/{model_id}/senders/"): Row(SETTINGS_ROW, "ok 403 403 403 403 404", params=_model),
    ("PUT", "/api/models/{model_id}/senders/"): Row(SETTINGS_ROW, "ok 403 403 403 403 404", params=_model,
                                                    body=lambda c: {"senders": [
                                                        {"sender": c.s.name, "chatter_id": str(c.s.id)}]}),
    # income (docs/income.md)
    ("POST", "/api/income/register/"): Row(
        "register chatting sale: Owner yes, Manager for own team, Chatter self on assigned models",
        "ok ok 403 ok 403 404", body=lambda c: c.s.sale_body()),
    ("GET", "/api/income/records/"): Row("read income: all / own team + own / own", "ok+ ok+ ok- ok+ ok- ok-",
                                         marker=lambda c: c.s.sale),
    ("GET", "/api/income/records/{income_id}/"): Row("read income: all / own team + own / own",
                                                     "ok ok 404 ok 404 404", params=lambda c: {"income_id": c.s.sale}),
    ("PUT", "/api/income/records/{income_id}/"): Row("change income: all / own team + own / own, open period",
                                                     "ok ok 404 ok 404 404", params=lambda c: {"income_id": c.s.sale},
                                                     body=lambda c: c.s.sale_body()),
    ("DELETE", "/api/income/records/{income_id}/"): Row("delete income: all / own team + own / own, open period",
                                                        "ok ok 404 ok 404 404", fresh=True,
                                                        params=lambda c: {"income_id": c.s.sale}),
    ("POST", "/api/income/records/{income_id}/refunds/"): Row(
        "refund a chatting sale: Owner, Manager for own team's sales; Chatter no", "ok ok 404 403 403 404",
        fresh=True, params=lambda c: {"income_id": c.s.sale},
        body=lambda c: {"kind": "refund", "amount": "10.00", "refund_date": "2026-11-06"}),
    ("POST", "/api/income/records/{income_id}/reassign/"): Row(
        "reassign a sale: Owner, Manager within their team; Chatter no (the same chatter again: a no-op)",
        "ok ok 404 403 403 404", fresh=True, params=lambda c: {"income_id": c.s.sale},
        body=lambda c: {"chatter_id": str(c.s.id), "reason": "matrix"}),
    ("POST", "/api/income/imports/"): Row(
        "import platform transactions: Owner, Manager for models of their team's chatters; Chatter no",
        "ok ok 403 403 403 404", body=lambda c: import_body(c.s.model_id, f"matrix-{c.s.name}")),
    ("POST", "/api/income/recurring/"): Row(
        "recur other income: Owner, Manager (split only to self or team); Chatter no", "ok ok 403 403 403 404",
        body=lambda c: {"source": "Brand deal", "amount": "400.00", "frequency": "monthly", "day_of_month": 15,
                        "start_date": "2026-11-01", "assigned_to_user_id": str(c.s.id), "split_percent": "25.00"}),
    ("GET", "/api/income/recurring/"): Row("recurring income: Owner all, Manager own + split to team; Chatter no",
                                           "ok+ ok+ ok- 403 403 ok-", marker=lambda c: c.s.income_schedule),
    ("GET", "/api/income/recurring/{schedule_id}/"): Row(
        "recurring income: Owner all, Manager own + split to team; Chatter no", "ok ok 404 403 403 404",
        params=lambda c: {"schedule_id": c.s.income_schedule}),
    ("PATCH", "/api/income/recurring/{schedule_id}/"): Row(
        "recurring income: Owner all, Manager own + split to team; Chatter no", "ok ok 404 403 403 404",
        params=lambda c: {"schedule_id": c.s.income_schedule}, body=lambda c: {"end_date": "2027-12-31"}),
    # expenses: Owner yes, Manager read, Chatter no
    ("GET", "/api/expenses/"): Row("expenses: Owner yes, Manager read, Chatter no", "ok+ ok+ ok+ 403 403 ok-",
                                   marker=lambda c: c.w.expense),
    ("POST", "/api/expenses/"): Row("expenses: Owner yes, Manager read, Chatter no", "ok 403 403 403 403 ok",
                                    body=lambda c: {"amount": "10.00", "expense_date": "2026-11-11",
                                                    "source": "coffee"}),
    ("GET", "/api/expenses/{expense_id}/"): Row("expenses: Owner yes, Manager read, Chatter no",
                                                "ok ok ok 403 403 404", params=lambda c: {"expense_id": c.w.expense}),
    ("PUT", "/api/expenses/{expense_id}/"): Row("expenses: Owner yes, Manager read, Chatter no",
                                                "ok 403 403 403 403 404", params=lambda c: {"expense_id": c.w.expense},
                                                body=lambda c: {"amount": "300.00", "expense_date": "2026-11-10",
                                                                "source": "ads"}),
    ("DELETE", "/api/expenses/{expense_id}/"): Row("expenses: Owner yes, Manager read, Chatter no",
                                                   "ok 403 403 403 403 404",
                                                   params=lambda c: {"expense_id": c.w.new_expense()}),
    ("GET", "/api/expenses/recurring/"): Row("expenses: Owner yes, Manager read, Chatter no",
                                             "ok+ ok+ ok+ 403 403 ok-", marker=lambda c: c.w.expense_schedule),
    ("POST", "/api/expenses/recurring/"): Row("expenses: Owner yes, Manager read, Chatter no", "ok 403 403 403 403 ok",
                                              body=lambda c: {"source": "rent", "amount": "50.00",
                                                              "frequency": "weekly", "day_of_week": 1,
                                                              "start_date": "2026-11-02"}),
    ("GET", "/api/expenses/recurring/{schedule_id}/"): Row("expenses: Owner yes, Manager read, Chatter no",
                                                           "ok ok ok 403 403 404",
                                                           params=lambda c: {"schedule_id": c.w.expense_schedule}),
    ("PATCH", "/api/expenses/recurring/{schedule_id}/"): Row("expenses: Owner yes, Manager read, Chatter no",
                                                             "ok 403 403 403 403 404",
                                                             params=lambda c: {"schedule_id": c.w.expense_schedule},
                                                             body=lambda c: {"end_date": "2027-12-31"}),
    # payouts: all / own team + own / own; the period's books are Owner-only
    ("POST", "/api/financials/calculate/"): Row(SETTINGS_ROW + " (recalculating is the Owner's)",
                                                "ok 403 403 403 403 404",
                                                body=lambda c: {"period": PERIOD, "user_id": str(c.s.id)}),
    ("GET", "/api/financials/payouts/"): Row("payouts: all / own team + own / own", "ok+ ok+ ok- ok+ ok- ok-",
                                             query=lambda c: {"period": PERIOD}, marker=lambda c: c.s.id),
    ("GET", "/api/financials/model-payouts/"): Row("model payouts are the agency's books: Owner only",
                                                   "ok+ 403 403 403 403 ok-", query=lambda c: {"period": PERIOD},
                                                   marker=lambda c: c.s.model_id),
    ("GET", "/api/financials/profit/"): Row("the agency's profit: Owner only", "ok 403 403 403 403 ok",
                                            query=lambda c: {"period": PERIOD}),
    ("GET", "/api/financials/payouts/{user_id}/statement/"): Row(
        "payouts: all / own team + own / own", "ok ok 404 ok 404 404", params=_uid,
        query=lambda c: {"period": PERIOD, "format": "csv"}),
    ("GET", "/api/financials/model-payouts/{model_id}/statement/"): Row(
        "model payouts are the agency's books: Owner only", "ok 403 403 403 403 404", params=_model,
        query=lambda c: {"period": PERIOD, "format": "csv"}),
    # adjustments (issue #15): the Owner records and reverses; seen as payouts are
    ("POST", "/api/financials/adjustments/"): Row(
        "adjustments: Owner only", "ok 403 403 403 403 404", fresh=True,
        body=lambda c: {"user_id": str(c.s.id), "period": PERIOD, "amount": "10.00", "reason": "bonus"}),
    ("GET", "/api/financials/adjustments/"): Row("adjustments are seen as payouts: all / own team + own / own",
                                                 "ok+ ok+ ok- ok+ ok- ok-", marker=lambda c: _adjustment(c)),
    ("POST", "/api/financials/adjustments/{adjustment_id}/reverse/"): Row(
        "adjustments: Owner only", "ok 403 403 403 403 404", fresh=True,
        params=lambda c: {"adjustment_id": _adjustment(c)}, body=lambda c: {}),
    # statistics: all / own team / own figures
    ("GET", "/api/stats/summary/"): Row("statistics: all / own team / own figures", "ok ok ok ok ok ok",
                                        query=lambda c: RANGE),
    ("GET", "/api/stats/top-earners/"): Row("statistics: all / own team / own figures", "ok+ ok+ ok- ok+ ok- ok-",
                                            query=lambda c: RANGE, marker=lambda c: c.s.id),
    ("GET", "/api/stats/afv/"): Row("statistics: all / own team / own figures", "ok+ ok+ ok- ok+ ok- ok-",
                                    query=lambda c: RANGE, marker=lambda c: c.s.id),
    ("GET", "/api/stats/trends/income/"): Row("statistics: all / own team / own figures", "ok ok ok ok ok ok",
                                              query=lambda c: RANGE),
    ("GET", "/api/stats/trends/afv/"): Row(
        "statistics: all / own team / own figures; ?model_id= is that model's AFV of the sales in the caller's "
        "scope (docs/stats.md), another agency's model 404", "ok ok ok ok ok 404",
        query=lambda c: {**RANGE, **_model(c)}),
    ("GET", "/api/stats/top-fans/"): Row("a model's fans: Owner all, Manager own team's models; Chatter no",
                                         "ok ok 404 403 403 404", query=lambda c: {**RANGE, **_model(c)}),
    ("GET", "/api/stats/subscriber-counts/"): Row("statistics: Owner all, Manager own team's models; Chatter no",
                                                  "ok+ ok+ ok- 403 403 ok-", marker=lambda c: c.s.model_id),
    ("POST", "/api/stats/subscriber-counts/"): Row("recording a model's count: Owner only", "ok 403 403 403 403 404",
                                                   body=lambda c: {"model_id": str(c.s.model_id),
                                                                   "subscriber_count": 1000,
                                                                   "observed_at": "2026-11-30T12:00:00Z"}),
    ("POST", "/api/stats/rebuild/"): Row("rebuilding the agency's statistics: Owner only", "ok 403 403 403 403 ok",
                                         body=lambda c: RANGE),
    # time tracking: all / own team / own check-in/out, own summary (docs/timetracking.md)
    ("GET", "/api/timetracking/shifts/"): Row("time tracking: all / own team / own", "ok+ ok+ ok- ok+ ok- ok-",
                                              query=lambda c: RANGE, marker=lambda c: c.s.past_shift[0]),
    ("POST", "/api/timetracking/shifts/"): Row("planning shifts: Owner, Manager for own team; Chatter no",
                                               "ok ok 404 403 403 404", fresh=True, body=lambda c: {
        "user_id": str(c.s.id), "starts_at": "2026-12-20T09:00:00Z", "ends_at": "2026-12-20T17:00:00Z"}),
    ("POST", "/api/timetracking/check-in/"): Row(
        "own check-in; Owner all, Manager own team (user_id outside: 404); a Chatter for another: 403",
        "ok ok 404 ok 403 404", fresh=True, params=lambda c: (c.s.shift_now, {})[1],
        body=lambda c: {} if c.caller == "self" else {"user_id": str(c.s.id)}),
    ("POST", "/api/timetracking/check-out/"): Row(
        "own check-out; Owner all, Manager own team (user_id outside: 404); a Chatter for another: 403",
        "ok ok 404 ok 403 404", fresh=True, params=lambda c: (c.s.open_entry, {})[1],
        body=lambda c: {} if c.caller == "self" else {"user_id": str(c.s.id)}),
    ("GET", "/api/timetracking/entries/"): Row("time tracking: all / own team / own", "ok+ ok+ ok- ok+ ok- ok-",
                                               query=lambda c: RANGE, marker=lambda c: c.s.past_shift[1]),
    ("PATCH", "/api/timetracking/entries/{entry_id}/"): Row(
        "correcting time: Owner, Manager for own team; Chatter no", "ok ok 404 403 403 404",
        params=lambda c: {"entry_id": c.s.past_shift[1]}, body=lambda c: {"checked_out_at": "2026-11-20T17:30:00Z"}),
    ("GET", "/api/timetracking/summary/{user_id}/"): Row("time tracking: all / own team / own summary",
                                                         "ok ok 404 ok 404 404", params=_uid, query=lambda c: RANGE),
    ("GET", "/api/timetracking/settings/"): Row("agency settings: Owner only", "ok 403 403 403 403 ok"),
    ("PUT", "/api/timetracking/settings/"): Row("agency settings: Owner only", "ok 403 403 403 403 ok",
                                                body=lambda c: {"grace_minutes": 5, "late_event_threshold_minutes": 15,
                                                                "max_shift_hours": 12,
                                                                "fee_per_late_minute": "0.00",
                                                                "fee_per_missed_shift": "0.00"}),
    # audit trail (docs/audit.md): the agency's books of who changed what, Owner only; a filter for another agency's
    # entity finds nothing
    ("GET", "/api/audit/"): Row("the audit trail: Owner only", "ok+ 403 403 403 403 ok-",
                                query=lambda c: {"entity": "user", "entity_id": c.s.id}, marker=lambda c: c.s.id),
    # payments and the payroll export of a closed period (docs/payouts.md "Payments"): recording is the Owner's
    # (about A's M1, whom nobody paid yet; B's Owner naming A's person: 404); the list is seen as payouts are
    ("GET", "/api/financials/periods/{period}/payments/"): Row(
        "payouts: all / own team + own / own", "ok+ ok+ ok- ok+ ok- ok-",
        params=lambda c: {"period": c.w.paid_period}, marker=lambda c: c.s.id),
    ("POST", "/api/financials/periods/{period}/payments/"): Row(
        SETTINGS_ROW + " (recording a payment is the Owner's)", "ok 403 403 403 403 404",
        params=lambda c: {"period": c.w.paid_period}, body=lambda c: {
            "user_id": str(c.w.a.user("M1")), "paid_at": "2026-10-06", "method": "cash", "reference": "MX-M1"}),
    ("GET", "/api/financials/periods/{period}/export.csv/"): Row(
        "the payroll is the agency's books: Owner only", "ok+ 403 403 403 403 ok-",
        params=lambda c: {"period": c.w.paid_period}, marker=lambda c: c.s.id),
    # last: closing a period is final (A's 2026-10 holds nothing the rows above use)
    ("POST", "/api/financials/periods/{period}/close/"): Row(SETTINGS_ROW, "ok 403 403 403 403 ok",
                                                             params=lambda c: {"period": "2026-10"}),
}


# Cells where the platform differs from the role table today, each naming the open finding (the coordinator decides).
# Such a cell must still differ: once fixed, its test fails until the entry is removed (never a silent pass).
OPEN: dict[tuple[str, str, str], str] = {}


def _operations() -> list[tuple[str, str]]:
    return [(m, s.path) for s in registry.http_functions() for m in sorted(s.operations)]


def _ordered() -> list[tuple[str, str]]:
    """The table's order (destructive rows last), then anything the registry has that the table lacks."""
    ops = _operations()
    return [k for k in EXPECT if k in ops] + [k for k in ops if k not in EXPECT]


CASES = [(m, p, who) for m, p in _ordered() for who in CALLERS]


@pytest.fixture(scope="module")
def world(platform):
    _truncate_all()
    w = World(platform.wsgi_app().test_client())
    yield w
    w.settle()


def test_every_operation_has_a_declared_expectation():
    ops = set(_operations())
    missing = sorted(ops - set(EXPECT))
    stale = sorted(set(EXPECT) - ops)
    assert not missing, f"declare who may call these in EXPECT ({__file__}): {missing}"
    assert not stale, f"EXPECT names operations the registry no longer has: {stale}"
    for key, row in EXPECT.items():
        row.codes()


def _deviates(r, expected: int, code: str, marker: str | None) -> bool:
    text = r.get_data(as_text=True)
    return (r.status_code != expected or (code == "ok+" and marker not in text)
            or (code == "ok-" and marker in text))


def _secret_hits(w: World, text: str, sent: str) -> set[str]:
    return {s for s in w.secrets if s in text and s not in sent}


@pytest.mark.parametrize("method, path, who", CASES, ids=[f"{m} {p} as {w}" for m, p, w in CASES])
def test_authorization_matrix(world, method, path, who):
    row = EXPECT.get((method, path))
    assert row is not None, f"{method} {path} has no declared expectation in EXPECT: add one (role table)"
    spec = next(s for s in registry.http_functions() if s.path == path)
    operation = spec.operations[method]
    w = world
    manager = "M2" if who in ("outside", "other") else "M1"
    if row.fresh:
        subject = w.fresh(manager)
    else:
        subject = w.c2 if manager == "M2" else w.c1
    cell = Cell(w, who, subject)
    url = path.format(**{k: str(v) for k, v in row.params(cell).items()})
    query = row.query(cell) if row.query else None
    body = row.body(cell) if row.body else None
    marker = str(row.marker(cell)) if row.marker else None
    w.settle()
    before = w.outbox_of_a()

    r = w.client.open(url, method=method, json=body, query_string={k: str(v) for k, v in (query or {}).items()},
                      headers=cell.headers)
    text = r.get_data(as_text=True)
    sent = url + json.dumps(query or {}, default=str) + json.dumps(body, default=str)

    if who == "anon":
        expected = operation.status if operation.auth == "none" else 401
        code = "ok" if operation.auth == "none" else "401"
    else:
        code = row.codes()[who]
        expected = operation.status if code.startswith("ok") else int(code)
    if (method, path, who) in OPEN:
        assert _deviates(r, expected, code, marker), f"fixed? remove OPEN{(method, path, who)}: {OPEN[(method, path, who)]}"
        return
    assert r.status_code == expected, f"{who}: {method} {url} → {r.status_code} {text[:500]} (expected {code})"
    if expected >= 400:
        assert r.mimetype == "application/problem+json", text[:200]
    if code == "ok+":
        assert marker in text, f"{who} does not see {marker} in {text[:500]}"
    if code == "ok-":
        assert marker not in text, f"{who} sees {marker}, outside their scope: {text[:500]}"
    if who == "foreign":
        assert not _secret_hits(w, text, sent), f"agency B sees agency A's data: {_secret_hits(w, text, sent)}"
    if expected >= 400 or who == "foreign":
        w.settle()
        assert w.outbox_of_a() == before, f"{who}: a refused or foreign request changed agency A"
