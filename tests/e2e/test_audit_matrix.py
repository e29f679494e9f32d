"""The audit matrix (issue #15): every mutating HTTP operation the registry declares, called once successfully,
leaves exactly the audit entries of what it changed — each (entity, action) once — by its caller, in the same
transaction, with the values before (the entity's previous entry's after) and after (the row as it now is).

The requests are the authorization matrix's (tests/e2e/test_authorization_matrix.py: its World and EXPECT rows);
AUDIT below adds, per operation, the entries it must leave, and a body where the matrix's changes nothing (the
matrix sends values as they are, so its rows can be repeated). An operation that changes no audited entity is
listed as NoEntry with the reason. An operation missing from AUDIT fails `test_every_mutating_operation_is_listed`.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Callable

import pytest

from shared_lib import registry
from tests.e2e.test_authorization_matrix import (  # noqa: F401  (world: the matrix's fixture, one per module)
    EXPECT, Cell, _operations, _stamp, import_body, world)
from tests.factories import assign, bearer, sql

MUTATING = sorted(registry.MUTATING_METHODS)


@dataclass(frozen=True)
class Writes:
    """The operation's entries, (entity, action) each exactly once, by `who` (a matrix caller, or "newcomer": a
    signed-in person without an agency); `body` replaces the matrix's where that one changes nothing."""

    entries: tuple[tuple[str, str], ...]
    who: str = "owner"
    body: Callable[[Cell], Any] | None = None


@dataclass(frozen=True)
class NoEntry:
    reason: str


def _settings(rate: str) -> Callable[[Cell], Any]:
    return lambda c: {"compensation_type": "commission", "commission_rate": rate, "fixed_salary": "0.00",
                      "manager_tick_rate": "0.00", "effective_from": "2026-11-01"}


def _second_chatter(c: Cell) -> Any:
    """A reassignment that moves the fresh subject's sale: to C1 (M1's team too), assigned to its model first."""
    assign(c.w.a, c.s.model_id, "C1")
    return {"chatter_id": str(c.w.a.user("C1")), "reason": "audit matrix"}


AUDIT: dict[tuple[str, str], Writes | NoEntry] = {
    ("POST", "/api/agencies/"): Writes((("agency", "create"), ("user", "create"), ("agency", "update")),
                                       who="newcomer", body=lambda c: {"name": "Audited agency"}),
    ("PATCH", "/api/agency/"): Writes((("agency", "update"),), body=lambda c: {"name": f"Agency {_stamp()}"}),
    ("POST", "/api/users/"): Writes((("user", "create"),)),
    ("PATCH", "/api/users/{user_id}/"): Writes((("user", "update"),),
                                               body=lambda c: {"display_name": f"{c.s.name} {_stamp()}"}),
    ("DELETE", "/api/users/{user_id}/"): Writes((("user", "update"),)),
    ("PUT", "/api/users/{user_id}/financial-settings/"): Writes((("user_financial_settings", "update"),),
                                                                body=_settings("12.00")),
    ("POST", "/api/models/"): Writes((("model", "create"),)),
    ("PATCH", "/api/models/{model_id}/"): Writes((("model", "update"),),
                                                 body=lambda c: {"name": f"{c.s.model} {_stamp()}"}),
    ("PUT", "/api/models/{model_id}/assignments/"): Writes((("model_assignment", "create"),), body=lambda c: {
        "user_ids": [str(c.s.id), str(c.w.a.user("C2"))]}),
    ("PUT", "/api/models/{model_id}/settings/"): Writes((("model_settings", "update"),), body=lambda c: {
        "model_share_percent": "45.00", "split_chatting_costs": True, "effective_from": "2026-11-01"}),
    ("PUT", "/api/platform-settings/"): Writes((("platform_settings", "create"),), body=lambda c: {
        "onlyfans_fee_percent": "20.00", "effective_from": "2026-12-01"}),
    ("PUT", "/api/sales-settings/"): Writes((("sales_settings", "create"),), body=lambda c: {
        "commission_types": ["message_sale", "tip_sale"], "verification": "off", "chatter_edit_hours": 24,
        "effective_from": "2026-12-01"}),
    ("PUT", "/api/models/{model_id}/senders/"): Writes((("model_sender", "create"),), body=lambda c: {
        "senders": [{"sender": f"audit-{_stamp()}", "chatter_id": str(c.s.id)}]}),
    # the caller's role is the entry's: a chatter registering their own sale
    ("POST", "/api/income/register/"): Writes((("income", "create"),), who="self"),
    ("PUT", "/api/income/records/{income_id}/"): Writes((("income", "update"),),
                                                        body=lambda c: c.s.sale_body("150.00")),
    ("DELETE", "/api/income/records/{income_id}/"): Writes((("income", "delete"),)),
    ("POST", "/api/income/records/{income_id}/refunds/"): Writes((("income", "create"),)),
    ("POST", "/api/income/records/{income_id}/reassign/"): Writes((("income", "update"),), body=_second_chatter),
    ("POST", "/api/income/imports/"): Writes((("income", "create"), ("platform_transaction", "create")),
                                            body=lambda c: import_body(c.s.model_id, f"audit-{uuid.uuid4()}")),
    ("POST", "/api/income/recurring/"): Writes((("income_schedule", "create"),)),
    ("PATCH", "/api/income/recurring/{schedule_id}/"): Writes((("income_schedule", "update"),)),
    ("POST", "/api/expenses/"): Writes((("expense", "create"),)),
    ("PUT", "/api/expenses/{expense_id}/"): Writes((("expense", "update"),), body=lambda c: {
        "amount": "310.00", "expense_date": "2026-11-10", "source": "ads"}),
    ("DELETE", "/api/expenses/{expense_id}/"): Writes((("expense", "delete"),)),
    ("POST", "/api/expenses/recurring/"): Writes((("expense_schedule", "create"),)),
    ("PATCH", "/api/expenses/recurring/{schedule_id}/"): Writes((("expense_schedule", "update"),)),
    ("POST", "/api/financials/calculate/"): NoEntry("payout results are derived from audited records; "
                                                    "recalculating changes none of them"),
    ("POST", "/api/financials/adjustments/"): Writes((("adjustment", "create"),)),
    ("POST", "/api/financials/adjustments/{adjustment_id}/reverse/"): Writes((("adjustment", "create"),)),
    ("POST", "/api/stats/subscriber-counts/"): NoEntry("a subscriber count is an observation for statistics, "
                                                       "not an entity of the audit rule"),
    ("POST", "/api/stats/rebuild/"): NoEntry("statistics are derived aggregates"),
    ("POST", "/api/timetracking/shifts/"): Writes((("shift", "create"),)),
    ("POST", "/api/timetracking/check-in/"): Writes((("time_entry", "create"), ("shift", "update"))),
    ("POST", "/api/timetracking/check-out/"): Writes((("time_entry", "update"),)),
    ("PATCH", "/api/timetracking/entries/{entry_id}/"): Writes((("time_entry", "update"),), body=lambda c: {
        "checked_out_at": "2026-11-20T17:45:00Z"}),
    ("PUT", "/api/timetracking/settings/"): Writes((("timetracking_settings", "create"),), body=lambda c: {
        "grace_minutes": 7, "late_event_threshold_minutes": 15, "max_shift_hours": 12,
        "fee_per_late_minute": "0.10", "fee_per_missed_shift": "5.00"}),
    ("POST", "/api/financials/periods/{period}/payments/"): Writes((("payment", "create"),)),
    ("POST", "/api/financials/periods/{period}/close/"): Writes((("period", "create"),)),
}


def _mutating() -> list[tuple[str, str]]:
    return [(m, p) for m, p in _operations() if m in MUTATING]


def _ordered() -> list[tuple[str, str]]:
    """The authorization matrix's order (destructive rows last), then anything it lacks."""
    ops = _mutating()
    return [k for k in EXPECT if k in ops] + [k for k in ops if k not in EXPECT]


def test_every_mutating_operation_is_listed():
    ops = set(_mutating())
    missing = sorted(ops - set(AUDIT))
    stale = sorted(set(AUDIT) - ops)
    assert not missing, f"declare the audit entries these leave (or NoEntry and why) in AUDIT ({__file__}): {missing}"
    assert not stale, f"AUDIT names operations the registry no longer has: {stale}"


def _entries_since(last: int) -> list[Any]:
    return sql("SELECT id, agency_id, actor_user_id, actor_role, action, entity, entity_id, before, after "
               "FROM audit.entries WHERE id > :last ORDER BY id", {"last": last})


def _without_updated_at(values: dict | None) -> dict | None:
    # An update that changes only updated_at leaves no entry (docs/audit.md), so a chain may differ there only.
    return None if values is None else {k: v for k, v in values.items() if k != "updated_at"}


def _current(entity: str, entity_id: str) -> dict | None:
    (t,) = sql("SELECT table_name::text AS name, id_columns FROM audit.tracked WHERE entity = :e", {"e": entity})
    rows = sql(f"SELECT to_jsonb(r) AS v FROM {t.name} r WHERE audit.key_of(to_jsonb(r), :k) = :id",
               {"k": t.id_columns, "id": entity_id})
    return rows[0].v if rows else None


def _previous_after(entry) -> dict | None:
    rows = sql("SELECT after FROM audit.entries WHERE entity = :e AND entity_id = :i AND id < :id "
               "ORDER BY id DESC LIMIT 1", {"e": entry.entity, "i": entry.entity_id, "id": entry.id})
    return rows[0].after if rows else None


@pytest.mark.parametrize("method, path", _ordered(), ids=[f"{m} {p}" for m, p in _ordered()])
def test_audit_matrix(world, method, path):
    expected = AUDIT.get((method, path))
    assert expected is not None, f"{method} {path} is not in AUDIT: declare the entries it leaves"
    row = EXPECT[(method, path)]
    spec = next(s for s in registry.http_functions() if s.path == path)
    w = world
    who = expected.who if isinstance(expected, Writes) else "owner"
    cell = Cell(w, "owner" if who == "newcomer" else who, w.fresh("M1") if row.fresh else w.c1)
    url = path.format(**{k: str(v) for k, v in row.params(cell).items()})
    body_of = expected.body if isinstance(expected, Writes) and expected.body else row.body
    body = body_of(cell) if body_of else None
    headers = bearer(f"newcomer-{_stamp()}") if who == "newcomer" else cell.headers
    query = {k: str(v) for k, v in (row.query(cell) if row.query else {}).items()}
    w.settle()
    last = sql("SELECT coalesce(max(id), 0) AS m FROM audit.entries")[0].m

    r = w.client.open(url, method=method, json=body, query_string=query, headers=headers)
    assert r.status_code == spec.operations[method].status, f"{method} {url}: {r.status_code} {r.get_data(True)[:400]}"
    w.settle()  # what event handlers do after the request is theirs to audit, as the system
    new = _entries_since(last)
    mine = [e for e in new if e.actor_role != "system"]
    if isinstance(expected, NoEntry):
        assert mine == [], f"{method} {path} is NoEntry ({expected.reason}) but left {[(e.entity, e.action) for e in mine]}"
        return
    assert sorted((e.entity, e.action) for e in mine) == sorted(expected.entries), \
        f"{method} {path} left {[(e.entity, e.action, e.entity_id) for e in mine]}"
    if who == "newcomer":
        agency_id = uuid.UUID(r.get_json()["id"])
        assert {(e.agency_id, e.actor_user_id, e.actor_role) for e in mine} == {(agency_id, None, "unregistered")}
    else:
        actor = w.a.person("owner" if who == "owner" else cell.s.name)
        assert {(e.agency_id, e.actor_user_id, e.actor_role) for e in mine} == {(w.a.id, actor.id, actor.role)}
    for e in mine:
        assert (e.before is None) == (e.action == "create") and (e.after is None) == (e.action == "delete")
        if e.action != "create":
            assert _without_updated_at(e.before) == _without_updated_at(_previous_after(e)), \
                f"{e.entity} {e.entity_id}: before is not the state its previous entry left"
        last_of_entity = max(x.id for x in new if (x.entity, x.entity_id) == (e.entity, e.entity_id))
        if e.id == last_of_entity:
            assert e.after == _current(e.entity, e.entity_id), f"{e.entity} {e.entity_id}: after is not the row now"
