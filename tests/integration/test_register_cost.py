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

# the lock with every look-up, the INSERT that checks the period is open with its outbox row as a CTE
# (docs/income.md "Register path"); the caller look-up rides the pool's ping (shared_lib/http.py _caller_read).
REGISTER_STATEMENTS = 2
# the pool's ping, which is BEGIN + SET LOCAL ROLE + the caller look-up (shared_lib/db.py _install_ping), the two
# statements, COMMIT: one wait for the server each.
REGISTER_ROUND_TRIPS = 4
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


def test_a_chatter_registering_a_sale_costs_two_statements_in_four_round_trips(client, g, monkeypatch):
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
    _audited_as(r.get_json()["id"], g.users["C1"], "chatter")


def _audited_as(income_id: str, user_id, role: str) -> None:
    """The record's audit entry names the caller: the look-up that set the actor ran in this transaction."""
    from tests.factories import sql

    assert sql("SELECT actor_user_id, actor_role FROM audit.entries WHERE entity_id = :id AND action = 'create'",
               {"id": income_id}) == [(user_id, role)]


def _every_checkout_pinged(monkeypatch) -> None:
    monkeypatch.setenv("DB_SERVICE_ROLES", "true")
    from shared_lib.config import reset_settings

    reset_settings()


def test_a_uid_that_is_not_a_plain_literal_is_looked_up_as_a_statement_with_the_same_answers(client, g, monkeypatch):
    """shared_lib/http.py puts only a plain uid (letters, digits, _.@:-) into the ping's SQL text; any other is a
    parameter of its own statement (one more), with the same caller, roles and audit actor."""
    from shared_lib import http

    _every_checkout_pinged(monkeypatch)
    body = {**SALE, "model_id": str(g.models["A"])}
    monkeypatch.setattr(http, "_PLAIN_UID", __import__("re").compile("(?!)"))  # no uid is plain
    client.post(URL, json=body, headers=g.h("C1"))  # warm: the statement prepared on the connection
    with counted() as (statements, trips):
        r = client.post(URL, json=body, headers=g.h("C1"))
    assert r.status_code == 201, r.get_json()
    assert len(statements) == REGISTER_STATEMENTS + 1 and statements[0].startswith("SELECT u.id, u.agency_id")
    assert trips[1] == REGISTER_ROUND_TRIPS + 1, trips
    _audited_as(r.get_json()["id"], g.users["C1"], "chatter")
    assert http._caller_read(type("I", (), {"uid": "x'; DROP TABLE t; --"})()) is None


def test_a_caller_look_up_the_server_refuses_in_the_ping_runs_as_its_statement_and_the_request_is_served(
        client, g, monkeypatch):
    """The ping's read failing at the server (its transaction aborted) is rolled back and the plain ping sent: the
    caller is then looked up by its statement, and the request answers as it always did."""
    from shared_lib import http

    _every_checkout_pinged(monkeypatch)
    body = {**SALE, "model_id": str(g.models["A"])}
    client.post(URL, json=body, headers=g.h("C1"))
    monkeypatch.setattr(http, "_caller_read", lambda identity: "SELECT no_such_column FROM user_service.users")
    with counted() as (statements, _):
        r = client.post(URL, json=body, headers=g.h("C1"))
    assert r.status_code == 201, r.get_json()
    assert statements[0].startswith("SELECT u.id, u.agency_id") and len(statements) == REGISTER_STATEMENTS + 1
    _audited_as(r.get_json()["id"], g.users["C1"], "chatter")
    # a deactivated or unknown caller is refused the same way through the ping's read
    monkeypatch.undo()
    _every_checkout_pinged(monkeypatch)
    from tests.factories import sql

    sql("UPDATE user_service.users SET active = false WHERE id = :id", {"id": g.users["C1"]})
    assert problem(client.post(URL, json=body, headers=g.h("C1")), 401)["detail"] == "this account has been deactivated"
    assert income_count() == 2  # the two registers above; the refused one wrote nothing


def test_the_statements_stay_as_few_when_the_period_is_closed_and_nothing_is_written(client, g):
    close_period(g, "2026-11")
    with counted() as (statements, _):
        r = client.post(URL, json={**SALE, "model_id": str(g.models["A"])}, headers=g.h("C1"))
    answer = problem(r, 409)
    assert answer["type"].endswith("/period-closed")
    assert answer["detail"] == "period 2026-11 is closed; its figures can no longer change"
    assert len(statements) == REGISTER_STATEMENTS, statements  # the INSERT and its outbox CTE wrote nothing
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


def test_the_event_and_the_answer_built_from_the_values_are_what_the_stored_record_gives(client, g):
    """The outbox row goes with the INSERT (a CTE), so income.registered is built from the values before the row
    exists: it must be exactly what the stored record gives (service.event_data over the row, as before). The
    INSERT returns only what the table sets (queries.INSERTED_COLUMNS): the answer must be the record as a GET
    reads it back."""
    from functions.income.queries import RECORD_COLUMNS
    from functions.income.service import event_data
    from shared_lib.contracts import IncomeRegistered
    from tests.factories import sql

    for body in ({**SALE, "model_id": str(g.models["A"])},  # a chatting sale: fee, chatter, manager snapshot
                 {"type": "other_income", "gross_amount": "12.34", "sale_date": "2026-11-06",
                  "assigned_to_user_id": str(g.users["C1"]), "split_percent": "50.00"}):
        r = client.post(URL, json=body, headers=g.h("C1" if body["type"] == "message_sale" else "owner"))
        assert r.status_code == 201, r.get_json()
        income_id = r.get_json()["id"]
        read = client.get(f"/api/income/records/{income_id}/", headers=g.h("owner"))
        assert read.status_code == 200 and read.get_json() == r.get_json()
        stored = sql(f"SELECT {RECORD_COLUMNS} FROM income_service.income_records r WHERE r.id = :id",
                     {"id": income_id})[0]
        [event] = [e for e in outbox("income.registered") if e["subject"] == income_id]
        expected = event_data(IncomeRegistered, stored, reason="registered", old=None, new=stored)
        assert event["data"] == expected.model_dump(mode="json")
        assert event["agency_id"] == str(g.id) and event["type"] == "income.registered"
        assert sql("SELECT agency_id, subject FROM eventing.outbox WHERE event_id = :e",
                   {"e": event["event_id"]})[0] == (g.id, income_id)


def test_a_text_statement_builds_its_result_metadata_once_and_answers_as_before(db):
    """shared_lib/db.py learns a text's columns from its first answer (text().columns(...)): later executes reuse
    the metadata SQLAlchemy keeps with the compiled statement. Keys, values and types stay what a plain text()
    gives; a text whose columns the text alone does not fix ("*") or that repeats a name is never shaped."""
    from sqlalchemy import text

    from shared_lib import db as dbmod
    from shared_lib.db import unit_of_work

    sql = "SELECT CAST(:x AS integer) + 1 AS n, CAST(:d AS numeric(5, 2)) AS d, 'a' AS s, count(*) AS c FROM (SELECT 1) o"
    star = "SELECT * FROM (SELECT CAST(:x AS integer) AS n) t"
    twice = "SELECT CAST(:x AS integer) AS n, 2 AS n"
    with unit_of_work() as uow:
        first = uow.execute(sql, {"x": 1, "d": "1.50"})
        plain = uow.conn.execute(text(sql), {"x": 1, "d": "1.50"}).mappings().one()
        assert list(first.keys()) == ["n", "d", "s", "c"] and dict(first.mappings().one()) == dict(plain)
        again, third = uow.execute(sql, {"x": 41, "d": "2"}), uow.execute(sql, {"x": 2, "d": "3"})
        assert again._metadata is third._metadata  # built once, kept with the compiled statement
        row = again.one()
        assert (row.n, row.d, row.s, row.c) == (42, __import__("decimal").Decimal("2.00"), "a", 1)
        assert row._mapping["n"] == 42 and list(again.keys()) == ["n", "d", "s", "c"]
        for unshaped in (star, twice):
            assert uow.execute(unshaped, {"x": 7}).first()[0] == 7
            assert uow.execute(unshaped, {"x": 8}).first()[0] == 8
    assert sql in dbmod._shaped and star not in dbmod._shaped and twice not in dbmod._shaped


@pytest.fixture
def durable():
    from shared_lib import events
    from tests.factories import DurablePublisher

    p = DurablePublisher()
    events.set_publisher(p)
    yield p
    events.set_publisher(None)


def _unpublished() -> int:
    from tests.factories import scalar

    return scalar("SELECT count(*) FROM eventing.outbox WHERE published_at IS NULL")


def test_the_published_mark_is_one_round_trip_on_the_requests_own_connection(client, g, durable, monkeypatch):
    """After commit the events go to the publisher and are marked published with one simple query (BEGIN, the
    role, the UPDATE, COMMIT) on the connection the request already holds: no second checkout, no ping."""
    monkeypatch.setenv("DB_SERVICE_ROLES", "true")
    from shared_lib.config import reset_settings

    reset_settings()
    body = {**SALE, "model_id": str(g.models["A"])}
    client.post(URL, json=body, headers=g.h("C1"))
    checkouts = []
    listener = lambda *a: checkouts.append(threading.get_ident())  # noqa: E731
    event.listen(engine().pool, "checkout", listener)
    try:
        with counted() as (statements, trips):
            r = client.post(URL, json=body, headers=g.h("C1"))
    finally:
        event.remove(engine().pool, "checkout", listener)
    assert r.status_code == 201, r.get_json()
    assert len(durable.sent) == 2 and durable.sent[-1].subject == r.get_json()["id"]
    assert checkouts.count(threading.get_ident()) == 1  # the request's one connection
    assert trips[0] == REGISTER_ROUND_TRIPS + 1, trips  # the mark: one more
    assert len(statements) == REGISTER_STATEMENTS, statements  # not through SQLAlchemy: a simple query
    assert _unpublished() == 0


def test_a_failed_mark_leaves_the_row_to_the_relay_and_the_register_answers_201(client, g, durable, monkeypatch):
    from shared_lib import outbox as ob

    with monkeypatch.context() as m:
        m.setattr(ob, "mark_published_sql", lambda ids: "UPDATE eventing.no_such_table SET x = 1")
        r = client.post(URL, json={**SALE, "model_id": str(g.models["A"])}, headers=g.h("C1"))
    assert r.status_code == 201, r.get_json()
    assert [e.subject for e in durable.sent] == [r.get_json()["id"]] and _unpublished() == 1
    # the next request is served (that connection was invalidated, not pooled); the relay publishes the row again
    assert client.get(f"/api/income/records/{r.get_json()['id']}/", headers=g.h("owner")).status_code == 200
    assert ob.relay_outbox(engine(), min_age_seconds=0) == 1
    assert [e.subject for e in durable.sent] == [r.get_json()["id"]] * 2 and _unpublished() == 0


def test_a_text_with_parameters_is_prepared_once_per_connection_and_planned_per_execute(db):
    """shared_lib/db.py prepares a text with parameters on its first use on a connection; later executes send Bind
    and Execute only (one round trip each) and the server keeps one statement for it; plans stay per execute."""
    from sqlalchemy import text

    probe = "SELECT CAST(:x AS integer) * 2 AS doubled"
    with engine().connect() as conn, counted() as (_, trips):
        assert conn.execute(text(probe), {"x": 1}).scalar_one() == 2
        first = trips[0]  # BEGIN, the prepare, the execute
        assert [conn.execute(text(probe), {"x": n}).scalar_one() for n in (2, 3)] == [4, 6]
        later = trips[0] - first
        kept = conn.execute(text("SELECT count(*) FROM pg_prepared_statements WHERE statement = :s"),
                            {"s": "SELECT CAST($1 AS integer) * 2 AS doubled"}).scalar_one()
        assert conn.execute(text("SHOW plan_cache_mode")).scalar_one() == "force_custom_plan"
    assert (first, later, kept) == (3, 2, 1)


def test_a_prepared_statement_whose_result_a_migration_changed_fails_once_then_is_prepared_anew(db):
    from sqlalchemy import exc, text

    with engine().connect() as conn:
        conn.execute(text("CREATE TABLE public.reshaped (a integer)"))
        conn.execute(text("INSERT INTO public.reshaped VALUES (1)"))
        conn.commit()
        read = text("SELECT * FROM public.reshaped WHERE a = :a")
        assert conn.execute(read, {"a": 1}).all() == [(1,)]
        conn.commit()
    with engine().connect() as other:
        other.execute(text("ALTER TABLE public.reshaped ADD COLUMN b text DEFAULT 'x'"))
        other.commit()
    with engine().connect() as conn:
        try:
            first = conn.execute(read, {"a": 1}).all()
        except exc.DBAPIError as err:  # the connection that prepared it (the pool hands the same one back)
            assert "cached plan must not change result type" in str(err)
            conn.rollback()
            first = None
        again = conn.execute(read, {"a": 1}).all()
    assert first in (None, [(1, "x")]) and again == [(1, "x")]


def test_past_the_cap_a_connection_runs_texts_unnamed(db, monkeypatch):
    from sqlalchemy import text

    from shared_lib import db as dbmod

    monkeypatch.setattr(dbmod, "_PREPARED_MAX", 0)
    with engine().connect() as conn:
        conn.exec_driver_sql("DEALLOCATE ALL")
        conn.connection.dbapi_connection.__dict__.pop("_om_prepared", None)
        assert [conn.execute(text("SELECT CAST(:x AS integer) + 1"), {"x": n}).scalar_one() for n in (1, 2)] == [2, 3]
        assert conn.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar_one() == 0


def test_the_ping_that_begins_the_transaction_sets_the_role_and_the_begin_sends_nothing_more(db, monkeypatch):
    """As deployed (DB_SERVICE_ROLES): a pooled connection's ping is `BEGIN; SET LOCAL ROLE om_<service>`, so the
    transaction runs as the service's role with no round trip of the begin hook's; without a role, SELECT 1."""
    from shared_lib.config import reset_settings
    from shared_lib.db import unit_of_work

    monkeypatch.setenv("DB_SERVICE_ROLES", "true")
    reset_settings()
    try:
        users = []
        for _ in range(3):  # the first checkout connects (no ping); the next ones are pinged
            with counted() as (_, trips), unit_of_work(service="income") as uow:
                users.append(uow.execute("SELECT current_user AS u").scalar_one())
        assert users == ["om_income"] * 3
        assert trips[0] == 3, trips  # the ping (BEGIN + role), the SELECT, COMMIT
        with counted() as (_, trips), unit_of_work() as uow:  # no service: the login role, a plain ping
            assert uow.execute("SELECT current_user AS u").scalar_one() != "om_income"
        assert trips[0] == 4, trips  # SELECT 1, pg8000's BEGIN, the SELECT, COMMIT
    finally:
        monkeypatch.undo()
        reset_settings()


def test_dates_and_timestamps_read_fast_are_what_pg8000_read_before(db):
    """shared_lib/db.py reads PostgreSQL's ISO dates and timestamps with fromisoformat; every value, and its UTC
    offset, is what pg8000's strptime-based functions give, and what those alone read (BC, past 9999,
    infinity) still goes to them."""
    import pg8000.converters as pc
    from sqlalchemy import text

    from shared_lib import db as dbmod

    texts = {pc.DATE: ["2026-11-05", "0044-03-15 BC", "infinity", "12026-01-01"],
             pc.TIMESTAMP: ["2026-11-05 08:09:10", "2026-11-05 08:09:10.5", "2026-11-05 08:09:10.123456",
                            "0044-03-15 00:00:00 BC", "-infinity"],
             pc.TIMESTAMPTZ: ["2026-11-05 08:09:10+00", "2026-11-05 08:09:10.25+05:30",
                              "2026-11-05 23:59:59.999999-03", "0044-03-15 00:00:00+00 BC", "infinity"]}
    slow = {pc.DATE: pc.date_in, pc.TIMESTAMP: pc.timestamp_in, pc.TIMESTAMPTZ: pc.timestamptz_in}
    for oid, values in texts.items():
        fast = pc.PG_TYPES[oid]
        assert fast is not slow[oid]  # installed with the engine
        for value in values:
            got, want = fast(value), slow[oid](value)
            assert got == want and type(got) is type(want), value
            assert getattr(got, "utcoffset", lambda: None)() == getattr(want, "utcoffset", lambda: None)(), value
    # A local-mean-time offset with seconds (a session in such a zone): pg8000 gave back the text; now the instant.
    lmt = pc.PG_TYPES[pc.TIMESTAMPTZ]("1890-01-01 00:00:00+05:53:28")
    assert lmt.utcoffset().total_seconds() == 5 * 3600 + 53 * 60 + 28
    with dbmod.engine().connect() as conn:
        row = conn.execute(text("SELECT DATE '2026-11-05' AS d, TIMESTAMPTZ '2026-11-05 08:09:10.5+00' AS ts")).one()
    assert (row.d, row.ts) == (pc.date_in("2026-11-05"), pc.timestamptz_in("2026-11-05 08:09:10.5+00"))


def test_only_the_register_lets_postgresql_choose_generic_plans_and_it_costs_no_round_trip(client, g, monkeypatch):
    """POST /api/income/register/ is declared generic_plans=True (its statements are point look-ups): its
    transaction runs with plan_cache_mode = auto, set with its BEGIN; any other request — here a PUT of the same
    record, a GET of the list — keeps every statement planned for its values (force_custom_plan, STARTUP_PARAMS)."""
    from functions.income import service
    from shared_lib.db import STARTUP_PARAMS

    _every_checkout_pinged(monkeypatch)
    seen: list[tuple[str, str]] = []
    for name in ("income_register", "income_update"):
        real = getattr(service, name)

        def spy(*, uow, _real=real, _name=name, **kw):
            seen.append((_name, uow.execute("SHOW plan_cache_mode").scalar()))
            return _real(uow=uow, **kw)

        monkeypatch.setattr(service, name, spy)
    body = {**SALE, "model_id": str(g.models["A"])}
    client.post(URL, json=body, headers=g.h("C1"))  # warm
    with counted() as (statements, trips):
        r = client.post(URL, json=body, headers=g.h("C1"))
    assert r.status_code == 201, r.get_json()
    assert trips[1] == REGISTER_ROUND_TRIPS + 1  # the spy's SHOW only: the setting went with the BEGIN
    assert client.put(f"/api/income/records/{r.get_json()['id']}/", json=body, headers=g.h("C1")).status_code == 200
    assert seen == [("income_register", "auto"), ("income_register", "auto"),
                    ("income_update", STARTUP_PARAMS["plan_cache_mode"])]
    assert STARTUP_PARAMS["plan_cache_mode"] == "force_custom_plan"
