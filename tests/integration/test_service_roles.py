"""Least-privilege database roles (sql/0090): each service's role reads and writes its own schema, reads only what
it reads elsewhere, and the registry pipeline really runs every function's transactions as that role."""
from __future__ import annotations

import base64
import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from shared_lib import registry
from shared_lib.config import settings
from shared_lib.db import engine, unit_of_work
from tests.factories import make_agency

SCHEMAS = {"users": "user_service", "income": "income_service", "expenses": "expense_service",
           "payouts": "financial_calculations", "stats": "statistics_service",
           "timetracking": "timetracking_service"}
# Append-only business tables: a row is never edited or deleted, by anyone. Both guards, always (sql/0145): a
# BEFORE UPDATE OR DELETE trigger refuses it for every role (the owner and the admin login too), and no service role
# is granted UPDATE, DELETE or TRUNCATE on it. So they are the exception to "a service reads and writes its own
# schema": SELECT and INSERT only. A new append-only table is listed here (the test below finds every table with
# such a trigger and fails until it is) and its grants revoked in its migration.
APPEND_ONLY = {
    "financial_calculations.adjustments": "payouts",  # bonuses, penalties, corrections; a reversal is a new row
    "financial_calculations.payments": "payouts",  # a payment recorded for a closed period is never changed
}


def admin(sql: str, params: dict | None = None):
    """As the migrating login (no service: no role)."""
    with engine().begin() as conn:
        result = conn.execute(text(sql), params or {})
        return result.all() if result.returns_rows else []


def denied(service: str, sql: str, params: dict | None = None) -> str:
    """Run `sql` as the service's role; return PostgreSQL's refusal (the test fails if it is allowed)."""
    with pytest.raises(ProgrammingError) as err:
        with unit_of_work(service=service) as uow:
            uow.execute(sql, params or {})
    assert "42501" in str(err.value)  # insufficient_privilege, not some other error
    return str(err.value)


def test_the_tests_run_under_the_service_roles():
    assert settings().db_service_roles is True
    with unit_of_work(service="income") as uow:
        assert uow.execute("SELECT current_user").scalar() == "om_income"
        with unit_of_work() as nested:  # after-commit work of a function keeps its role
            assert nested.execute("SELECT current_user").scalar() == "om_income"
    with unit_of_work() as uow:
        assert uow.execute("SELECT current_user").scalar() == "postgres"


def test_every_deployed_service_has_a_nologin_group_role(db):
    rows = dict(admin("SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'om\\_%'"))
    assert {f"om_{s}" for s in registry.service_names()} <= set(rows)
    assert not any(rows[f"om_{s}"] for s in registry.service_names())


def test_income_may_not_write_the_payouts_schema(db):
    agency = make_agency()
    admin("INSERT INTO financial_calculations.periods (agency_id, period, status) VALUES (:a, '2026-10', 'open')",
          {"a": agency.id})
    msg = denied("income", "INSERT INTO financial_calculations.periods (agency_id, period, status) "
                           "VALUES (:a, '2026-11', 'closed')", {"a": agency.id})
    assert "permission denied for table periods" in msg
    denied("income", "UPDATE financial_calculations.periods SET status = 'closed' WHERE agency_id = :a",
           {"a": agency.id})
    denied("income", "DELETE FROM financial_calculations.periods WHERE agency_id = :a", {"a": agency.id})
    denied("stats", "UPDATE income_service.income_records SET notes = 'x'")
    denied("payouts", "DELETE FROM user_service.users")
    assert admin("SELECT period, status FROM financial_calculations.periods") == [("2026-10", "open")]
    # What it may do there: read the closed-period rule.
    with unit_of_work(service="income") as uow:
        assert uow.execute("SELECT count(*) FROM financial_calculations.periods").scalar() == 1


def test_a_service_may_not_read_what_it_does_not_read(db):
    assert "permission denied for schema statistics_service" in denied(
        "income", "SELECT * FROM statistics_service.daily_model_stats")
    # A readable schema is not a readable table: expenses resolves callers, it never sees salaries.
    assert "permission denied for table user_financial_settings" in denied(
        "expenses", "SELECT fixed_salary FROM user_service.user_financial_settings")
    assert "permission denied for table calculated_payouts_summary" in denied(
        "income", "SELECT * FROM financial_calculations.calculated_payouts_summary")
    denied("timetracking", "SELECT * FROM eventing.schema_migrations")
    denied("eventing", "SELECT * FROM user_service.users")


def test_own_schema_tables_created_later_are_granted_to_their_service_only(db):
    admin("CREATE TABLE income_service.roles_probe (id int PRIMARY KEY)")
    try:
        with unit_of_work(service="income") as uow:
            uow.execute("INSERT INTO income_service.roles_probe VALUES (1)")
            uow.execute("UPDATE income_service.roles_probe SET id = 2")
            assert uow.execute("SELECT id FROM income_service.roles_probe").scalar() == 2
        denied("payouts", "SELECT * FROM income_service.roles_probe")  # cross-service reads are named grants
    finally:
        admin("DROP TABLE income_service.roles_probe")


def test_the_grants_cover_what_the_pipeline_does_for_each_kind_of_function(db):
    """From the registry: publishers write and mark the outbox, event consumers claim the inbox, HTTP services
    keep idempotency keys — so a new function of an existing kind needs no new grant."""
    registry.load_all()
    checks = []
    for service in registry.service_names():
        specs = [s for s in registry.REGISTRY.values() if s.service == service]
        role = f"om_{service}"
        if any(service in publishers for publishers in registry.PUBLISHED.values()):
            checks += [(role, "eventing.outbox", "INSERT"), (role, "eventing.outbox", "UPDATE")]
        if any(s.trigger in ("pubsub", "firestore") for s in specs):
            checks.append((role, "eventing.inbox", "INSERT"))
        if any(s.trigger == "http" for s in specs):
            checks += [(role, "eventing.idempotency_keys", p) for p in ("SELECT", "INSERT", "UPDATE")]
        if service in SCHEMAS:
            for (t,) in admin("SELECT tablename FROM pg_tables WHERE schemaname = :s", {"s": SCHEMAS[service]}):
                table = f"{SCHEMAS[service]}.{t}"
                # append-only: SELECT and INSERT only (test_append_only_tables_are_refused_by_grant_and_trigger)
                privileges = ("SELECT", "INSERT") if table in APPEND_ONLY else ("SELECT", "INSERT", "UPDATE", "DELETE")
                checks += [(role, table, p) for p in privileges]
    missing = [c for c in checks
               if not admin("SELECT has_table_privilege(:r, :t, :p) OR has_any_column_privilege(:r, :t, :p)",
                            dict(zip("rtp", c)))[0][0]]
    assert missing == [] and len(checks) > 100
    assert admin("SELECT has_column_privilege('om_income', 'eventing.outbox', 'published_at', 'UPDATE'), "
                 "has_column_privilege('om_income', 'eventing.outbox', 'payload', 'UPDATE'), "
                 "has_table_privilege('om_income', 'eventing.outbox', 'DELETE')") == [(True, False, False)]


def test_append_only_tables_are_refused_by_grant_and_trigger(db):
    """Every table with a BEFORE UPDATE OR DELETE trigger in a service schema is listed in APPEND_ONLY; none of them
    grants UPDATE, DELETE or TRUNCATE to any service role; the writing service is refused by the privilege check and
    the admin login (every privilege) by the trigger."""
    # tgtype bits: 2 BEFORE, 8 DELETE, 16 UPDATE
    refused = {t for (t,) in admin(
        "SELECT DISTINCT c.oid::regclass::text FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT g.tgisinternal AND n.nspname = ANY(:s) "
        "AND g.tgtype & 2 = 2 AND g.tgtype & 8 = 8 AND g.tgtype & 16 = 16", {"s": list(SCHEMAS.values())})}
    assert refused == set(APPEND_ONLY)
    roles = [f"om_{s}" for s in registry.service_names()]
    for table, service in APPEND_ONLY.items():
        granted = {r: admin("SELECT has_table_privilege(:r, :t, 'UPDATE') OR has_any_column_privilege(:r, :t, "
                            "'UPDATE'), has_table_privilege(:r, :t, 'DELETE'), has_table_privilege(:r, :t, 'TRUNCATE')",
                            {"r": r, "t": table})[0] for r in roles}
        assert {r: tuple(g) for r, g in granted.items() if any(g)} == {}, table  # (UPDATE, DELETE, TRUNCATE)
        assert admin("SELECT has_table_privilege(:r, :t, 'SELECT'), has_table_privilege(:r, :t, 'INSERT')",
                     {"r": f"om_{service}", "t": table}) == [(True, True)]
        for statement in (f"UPDATE {table} SET created_at = created_at", f"DELETE FROM {table}"):
            assert f"permission denied for table {table.split('.')[1]}" in denied(service, statement)
            with pytest.raises(ProgrammingError) as err:  # the owner has every privilege: the trigger refuses
                admin(statement)
            assert "42501" in str(err.value) and "refused" in str(err.value)


def test_an_http_function_runs_as_its_service_role(client, caplog):
    agency = make_agency()
    body = {"amount": "300.00", "expense_date": "2026-11-10", "source": "ads"}
    admin("REVOKE INSERT ON expense_service.expenses FROM om_expenses")
    try:
        r = client.post("/api/expenses/", json=body, headers=agency.owner.headers)
    finally:
        admin("GRANT INSERT ON expense_service.expenses TO om_expenses")
    assert r.status_code == 500 and r.content_type == "application/problem+json"
    assert "permission denied for table expenses" in caplog.text
    assert admin("SELECT count(*) FROM expense_service.expenses") == [(0,)]
    assert admin("SELECT count(*) FROM eventing.outbox") == [(0,)]
    r = client.post("/api/expenses/", json=body, headers=agency.owner.headers)
    assert r.status_code == 201 and r.get_json()["amount"] == "300.00"


def test_an_event_function_runs_as_its_service_role(platform, db):
    from cloudevents.http import CloudEvent

    from shared_lib.events import Event

    registry.load_all()
    spec = registry.REGISTRY["payouts_on_expense_recorded"]
    agency = make_agency()
    event = Event(event_id=uuid.uuid4(), type="expense.recorded", occurred_at=datetime.now(timezone.utc),
                  agency_id=agency.id, subject=str(uuid.uuid4()), data={
                      "expense_id": str(uuid.uuid4()), "agency_id": str(agency.id), "schedule_id": None,
                      "reason": "recorded", "expense_date": "2026-11-10", "old_expense_date": None, "old": None,
                      "new": {"expense_date": "2026-11-10", "amount": "10.00", "source": "ads"}})
    cloud_event = CloudEvent({"specversion": "1.0", "id": uuid.uuid4().hex, "type": "google.cloud.pubsub.topic.v1."
                              "messagePublished", "source": "//pubsub.googleapis.com/test"},
                             {"message": {"data": base64.b64encode(event.payload()).decode(), "messageId": "m-1",
                                          "publishTime": datetime.now(timezone.utc).isoformat()}})
    admin("REVOKE INSERT ON eventing.inbox FROM om_payouts")
    try:
        with pytest.raises(ProgrammingError, match="permission denied for table inbox"):
            spec.entry_point(cloud_event)  # what functions-framework calls
    finally:
        admin("GRANT INSERT ON eventing.inbox TO om_payouts")
    assert admin("SELECT count(*) FROM eventing.inbox") == [(0,)]

