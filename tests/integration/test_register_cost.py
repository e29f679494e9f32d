"""What one register costs the database (issue #13): the statements SQLAlchemy sends and the round trips pg8000
waits for, pinned so neither can silently grow back. docs/DESIGN.md "Register path cost" says what each one is."""
from __future__ import annotations

import threading
from contextlib import contextmanager

import pg8000.core
import pytest
from sqlalchemy import event

from shared_lib.db import engine
from tests.factories import close_period, golden_agency, income_count, outbox, problem

URL = "/api/income/register/"
SALE = {"type": "message_sale", "gross_amount": "100.00", "sale_date": "2026-11-05"}

# caller (the pipeline), the lock with every look-up, the INSERT that checks the period is open, the outbox row.
REGISTER_STATEMENTS = 4
# pre-ping, BEGIN + SET LOCAL ROLE, the four statements, COMMIT: one wait for the server each.
REGISTER_ROUND_TRIPS = 7
# The audit trail's actor goes with the caller look-up (shared_lib/audit.py ACTOR_COLUMNS): no statement of its own.
AUDIT_ACTOR = "SELECT set_config('om.actor_id'"


@contextmanager
def counted():
    """The statements (SQLAlchemy's before_cursor_execute) and the server round trips (pg8000 reading up to
    ReadyForQuery) of this thread; the event handlers the bus runs on its own threads are not counted."""
    me, statements, trips = threading.get_ident(), [], [0, None]  # all, and those until the first COMMIT

    def on_statement(conn, cursor, statement, parameters, context, executemany):
        if threading.get_ident() == me:
            statements.append(" ".join(statement.split())[:80])

    original = pg8000.core.CoreConnection.handle_messages

    def handle_messages(self, context):
        if threading.get_ident() == me:
            trips[0] += 1
        return original(self, context)

    def on_commit(conn):
        if threading.get_ident() == me and trips[1] is None:
            trips[1] = trips[0] + 1  # the COMMIT's own

    event.listen(engine(), "before_cursor_execute", on_statement)
    event.listen(engine(), "commit", on_commit)
    pg8000.core.CoreConnection.handle_messages = handle_messages
    try:
        yield statements, trips
    finally:
        pg8000.core.CoreConnection.handle_messages = original
        event.remove(engine(), "commit", on_commit)
        event.remove(engine(), "before_cursor_execute", on_statement)


@pytest.fixture
def g(client):
    return golden_agency(client=client)


def test_a_chatter_registering_a_sale_costs_four_statements_in_seven_round_trips(client, g, monkeypatch):
    monkeypatch.setenv("DB_SERVICE_ROLES", "true")  # as deployed: the role is set with the BEGIN, no extra trip
    from shared_lib.config import reset_settings

    reset_settings()
    body = {**SALE, "model_id": str(g.models["A"])}
    client.post(URL, json=body, headers=g.h("C1"))  # warm: the pool's connection, the certificates
    with counted() as (statements, trips):
        r = client.post(URL, json=body, headers=g.h("C1"))
    assert r.status_code == 201, r.get_json()
    mark = [s for s in statements if s.startswith("UPDATE eventing.outbox SET published_at")]
    audit = [s for s in statements if s.startswith(AUDIT_ACTOR)]
    work = [s for s in statements if s not in mark and s not in audit]
    assert len(work) == REGISTER_STATEMENTS and audit == [], statements
    # the request's transaction (marking the outbox published after commit is one of its own)
    assert trips[1] == REGISTER_ROUND_TRIPS, (trips, statements)
    assert r.get_json()["fee_amount"] == "20.00" and income_count() == 2
    assert len(outbox("income.registered")) == 2


def test_the_statements_stay_as_few_when_the_period_is_closed_and_nothing_is_written(client, g):
    close_period(g, "2026-11")
    with counted() as (statements, _):
        r = client.post(URL, json={**SALE, "model_id": str(g.models["A"])}, headers=g.h("C1"))
    answer = problem(r, 409)
    assert answer["type"].endswith("/period-closed")
    assert answer["detail"] == "period 2026-11 is closed; its figures can no longer change"
    assert len(statements) == REGISTER_STATEMENTS - 1, statements  # no outbox row, no actor statement
    assert income_count() == 0 and outbox("income.") == []


def test_a_failed_statement_leaves_the_pipelined_connection_in_step(db):
    """pg8000's execute_unnamed sends Parse..Sync at once (shared_lib/db.py): an error in any of them is read
    to its ReadyForQuery, so the same pooled connection answers the next statement."""
    from sqlalchemy import exc, text

    with engine().connect() as conn:
        with pytest.raises(exc.DBAPIError):
            conn.execute(text("SELECT no_such_column FROM (SELECT :x AS a) t"), {"x": 1})
        conn.rollback()
        with pytest.raises(exc.DBAPIError):
            conn.execute(text("SELECT CAST(:x AS integer)"), {"x": "not a number"})
        conn.rollback()
        assert conn.execute(text("SELECT CAST(:x AS integer) + 1 AS n, '50%' AS literal"), {"x": "41"}).one() == (42, "50%")
