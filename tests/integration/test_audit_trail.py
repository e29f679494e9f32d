"""The audit trail in the database (sql/0120_audit.sql, docs/audit.md): each audited table's writes leave one
entry per row, in the writing statement's transaction, with the actor the transaction named and the row's values
before and after; the entries refuse UPDATE, DELETE and TRUNCATE for every service role and for their owner."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, ProgrammingError

from shared_lib import registry
from shared_lib.audit import set_actor
from shared_lib.db import engine, unit_of_work
from tests.factories import make_agency, make_user, scalar, seed_income, sql

CHANGES = ("UPDATE audit.entries SET actor_role = 'owner'", "DELETE FROM audit.entries", "TRUNCATE audit.entries")


def entries(agency_id, entity: str | None = None) -> list:
    return sql("SELECT actor_user_id, actor_role, action, entity, entity_id, before, after FROM audit.entries "
               "WHERE agency_id = :a AND (CAST(:e AS text) IS NULL OR entity = :e) ORDER BY id",
               {"a": agency_id, "e": entity})


@pytest.mark.parametrize("statement", CHANGES)
@pytest.mark.parametrize("service", [None, *registry.service_names()])
def test_no_role_may_change_or_remove_an_entry(db, service, statement):
    make_agency()  # entries to refuse touching
    with pytest.raises((ProgrammingError, DBAPIError)) as err:
        with unit_of_work(service=service) as uow:  # None: the migrating login, the table's owner
            uow.execute(statement)
    assert "42501" in str(err.value)  # a missing grant, or the append-only trigger for the owner
    if service is None:
        assert "audit entries cannot be changed or removed" in str(err.value)
    assert scalar("SELECT count(*) FROM audit.entries") > 0


def test_the_owner_cannot_disable_refusal_by_writing_as_a_service(db):
    agency = make_agency()
    with pytest.raises(ProgrammingError, match="42501"):
        with unit_of_work(service="audit") as uow:
            uow.execute("INSERT INTO audit.entries (agency_id, actor_role, action, entity, entity_id, after) "
                        "VALUES (:a, 'owner', 'create', 'income', 'forged', '{}')", {"a": agency.id})


def test_create_update_delete_record_the_values_before_and_after_and_the_actor(db):
    agency = make_agency()
    owner = agency.owner
    with unit_of_work(service="users") as uow:
        set_actor(uow, owner.caller())
        model_id = uow.execute("INSERT INTO user_service.models (agency_id, name) VALUES (:a, 'Lia') RETURNING id",
                               {"a": agency.id}).scalar_one()
    with unit_of_work(service="users") as uow:
        set_actor(uow, owner.caller())
        uow.execute("UPDATE user_service.models SET name = 'Lia B', updated_at = now() WHERE id = :m", {"m": model_id})
        uow.execute("UPDATE user_service.models SET updated_at = now() + interval '1 s' WHERE id = :m",
                    {"m": model_id})  # nothing audited changed: no entry
    with unit_of_work(service="users") as uow:  # no actor named: the system
        uow.execute("DELETE FROM user_service.models WHERE id = :m", {"m": model_id})

    create, update, delete = entries(agency.id, "model")
    assert [(e.action, e.entity_id) for e in (create, update, delete)] == [
        ("create", str(model_id)), ("update", str(model_id)), ("delete", str(model_id))]
    assert (create.actor_user_id, create.actor_role) == (owner.id, "owner")
    assert (update.actor_user_id, update.actor_role) == (owner.id, "owner")
    assert (delete.actor_user_id, delete.actor_role) == (None, "system")
    assert create.before is None and create.after["name"] == "Lia" and create.after["agency_id"] == str(agency.id)
    assert update.before == create.after and update.after["name"] == "Lia B"
    # The updated_at-only update left no entry: the delete's before is the update's after, but for updated_at.
    assert {**delete.before, "updated_at": None} == {**update.after, "updated_at": None} and delete.after is None


def test_a_rolled_back_write_leaves_no_entry(db):
    agency = make_agency()
    with pytest.raises(RuntimeError):
        with unit_of_work(service="users") as uow:
            uow.execute("INSERT INTO user_service.models (agency_id, name) VALUES (:a, 'Gone')", {"a": agency.id})
            raise RuntimeError("abort")
    assert entries(agency.id, "model") == []


def test_a_set_based_write_records_one_entry_per_row_in_the_same_statement(db):
    agency = make_agency()
    rows = 2000
    with unit_of_work(service="income") as uow:
        set_actor(uow, agency.owner.caller())
        uow.execute(
            """
            INSERT INTO income_service.income_records (agency_id, type, gross_amount, fee_percent, fee_amount,
                                                       net_amount, sale_date, registered_by_user_id)
            SELECT :a, 'other_income', 10 + g, 0, 0, 10 + g, DATE '2026-10-01', :o FROM generate_series(1, :n) g
            """, {"a": agency.id, "o": agency.owner_id, "n": rows})
        uow.execute("UPDATE income_service.income_records SET notes = 'bulk' WHERE agency_id = :a", {"a": agency.id})
    counts = dict(sql("SELECT action, count(*) FROM audit.entries WHERE agency_id = :a AND entity = 'income' "
                      "GROUP BY action", {"a": agency.id}))
    assert counts == {"create": rows, "update": rows}
    assert scalar("SELECT count(DISTINCT entity_id) FROM audit.entries WHERE agency_id = :a AND entity = 'income'",
                  {"a": agency.id}) == rows
    assert scalar("SELECT count(*) FROM audit.entries e JOIN income_service.income_records r ON r.id::text = "
                  "e.entity_id WHERE e.action = 'update' AND e.after = to_jsonb(r) AND e.before ->> 'notes' IS NULL "
                  "AND e.actor_role = 'owner'") == rows


def test_composite_keys_name_the_entity(db):
    agency = make_agency()
    chatter = make_user(agency)
    model_id = sql("INSERT INTO user_service.models (agency_id, name) VALUES (:a, 'Kai') RETURNING id",
                   {"a": agency.id})[0].id
    sql("INSERT INTO user_service.model_assignments (agency_id, model_id, user_id) VALUES (:a, :m, :u)",
        {"a": agency.id, "m": model_id, "u": chatter.id})
    sql("DELETE FROM user_service.models WHERE id = :m", {"m": model_id})  # the assignment goes by cascade
    assert [(e.action, e.entity_id) for e in entries(agency.id, "model_assignment")] == [
        ("create", f"{model_id}:{chatter.id}"), ("delete", f"{model_id}:{chatter.id}")]
    sql("INSERT INTO financial_calculations.periods (agency_id, period, status) VALUES (:a, '2026-10', 'open')",
        {"a": agency.id})
    sql("UPDATE financial_calculations.periods SET status = 'closed', closed_at = now() WHERE agency_id = :a",
        {"a": agency.id})
    assert [(e.action, e.entity_id, (e.before or {}).get("status"), e.after["status"])
            for e in entries(agency.id, "period")] == [("create", "2026-10", None, "open"),
                                                      ("update", "2026-10", "open", "closed")]


def test_every_business_table_is_audited_and_derived_ones_are_not(db):
    tracked = {r.table_name for r in sql("SELECT table_name::text FROM audit.tracked")}
    assert tracked == {
        "user_service.agencies", "user_service.users", "user_service.models", "user_service.model_assignments",
        "user_service.user_financial_settings", "user_service.model_settings", "user_service.platform_settings",
        "timetracking_service.settings", "financial_calculations.periods", "income_service.income_records",
        "income_service.recurring_income_schedules", "expense_service.expenses",
        "expense_service.recurring_expense_schedules", "timetracking_service.shifts",
        "timetracking_service.time_entries", "financial_calculations.adjustments", "financial_calculations.carries",
        "financial_calculations.payments", "income_service.platform_transactions", "user_service.sales_settings",
        "user_service.model_senders"}
    # Every role that writes an audited table may add entries (track() grants it), and none may read them but om_audit.
    writers = {r.grantee for r in sql(
        "SELECT DISTINCT a.grantee::regrole::text AS grantee FROM audit.tracked t JOIN pg_class c ON c.oid = t.table_name, "
        "aclexplode(c.relacl) a WHERE a.privilege_type IN ('INSERT', 'UPDATE', 'DELETE') AND a.grantee <> c.relowner")}
    for role in writers:
        assert scalar("SELECT has_table_privilege(:r, 'audit.entries', 'INSERT')", {"r": role}), role
    readers = {r.role for r in sql("SELECT rolname AS role FROM pg_roles WHERE rolname LIKE 'om\\_%' "
                                   "AND has_table_privilege(oid, 'audit.entries', 'SELECT')")}
    assert readers == {"om_audit"}


def test_track_is_the_one_line_that_audits_a_new_table(db):
    agency = make_agency()
    with engine().begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS public.audit_probe (id int PRIMARY KEY, agency_id uuid, v text)"))
        conn.execute(text("SELECT audit.track('public.audit_probe', 'probe')"))
    try:
        sql("INSERT INTO public.audit_probe VALUES (1, :a, 'x'), (2, :a, 'y')", {"a": agency.id})
        assert [(e.action, e.entity_id) for e in entries(agency.id, "probe")] == [("create", "1"), ("create", "2")]
        with pytest.raises(ProgrammingError, match="no column nope"):
            sql("SELECT audit.track('public.audit_probe', 'probe2', '{nope}')")
    finally:
        with engine().begin() as conn:
            conn.execute(text("DELETE FROM audit.tracked WHERE entity = 'probe'"))
            conn.execute(text("DROP TABLE public.audit_probe"))


def test_a_time_event_from_the_app_is_the_writers_and_the_sweep_the_systems(db):
    from datetime import UTC, datetime, timedelta

    from functions.timetracking import main  # noqa: F401  (declares timetracking_time_event)
    from shared_lib.db import unit_of_work as uow_of
    from functions.timetracking import sweep
    from tests.factories import firestore_event, shift

    agency = make_agency()
    chatter = make_user(agency)
    at = datetime(2026, 11, 20, 9, 5, tzinfo=UTC)
    shift_id = shift(chatter, at - timedelta(minutes=5), at + timedelta(hours=8))
    registry.REGISTRY["timetracking_time_event"].entry_point(firestore_event(
        agency.id, "ev-in", {"uid": chatter.uid, "user_id": str(chatter.id), "kind": "check_in", "at": at}))
    (entry,) = entries(agency.id, "time_entry")
    assert (entry.action, entry.actor_user_id, entry.actor_role) == ("create", chatter.id, "chatter")
    with uow_of(service="timetracking") as uow:  # closes the entry left open too long: nobody's but the system's
        sweep.sweep(uow=uow, as_of=date(2026, 11, 22), now=at + timedelta(hours=30))
    closed = entries(agency.id, "time_entry")[-1]
    assert (closed.action, closed.actor_user_id, closed.actor_role) == ("update", None, "system")
    assert closed.after["checked_out_at"] is not None and closed.before["checked_out_at"] is None
    assert str(shift_id) in {e.entity_id for e in entries(agency.id, "shift")}
