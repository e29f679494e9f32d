"""No 500 for any input: poisoned connections are dropped, dates and texts bounded, deep JSON refused, amounts fit
their columns, a database outage answers 503 problem+json — each through HTTP on the local platform."""
from __future__ import annotations

import json
import socket
import threading
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import text

from shared_lib.config import reset_settings, settings
from shared_lib.db import dispose_engine, engine, unit_of_work
from tests.factories import (
    assert_nothing_written,
    make_agency,
    make_model,
    make_user,
    outbox,
    scalar,
    set_platform_fee,
)

REGISTER = "/api/income/register/"


def _problem(r, status: int) -> dict:
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.mimetype == "application/problem+json"
    body = r.get_json()
    assert body["status"] == status and body["type"].startswith("https://onlymanager.app/problems/")
    assert body["title"] and body["detail"]
    return body


def _locs(r, status: int = 400) -> list[list]:
    return [e["loc"] for e in _problem(r, status)["errors"]]


@pytest.fixture
def seller(client):
    """An agency with a chatter C who sells for model A (20 % OnlyFans fee)."""
    agency = make_agency(prefix="h")
    make_user(agency, "chatter", name="C")
    make_model(agency, "A", "C")
    set_platform_fee(agency, date(2026, 1, 1), "20.00")
    return agency


def _sale(agency, **extra) -> dict:
    return {"type": "message_sale", "gross_amount": "100.00", "sale_date": "2026-11-05",
            "model_id": str(agency.models["A"]), **extra}


@pytest.fixture
def cut_pool(platform, database_url, monkeypatch):
    """Cuts the platform's own engine, when called, to one connection and no overflow: every request takes the
    same one. Events are handled first: a payouts event handler holds two connections at once (its scopes are
    marked in a transaction of its own), which a pool of one never has."""

    def cut():
        assert platform.drain(60), "events still pending when the pool is cut"
        monkeypatch.setenv("DB_POOL_SIZE", "1")
        monkeypatch.setenv("DB_MAX_OVERFLOW", "0")
        reset_settings()
        dispose_engine()
        return engine()

    yield cut
    platform.drain(30)
    monkeypatch.undo()
    reset_settings()
    dispose_engine()


@pytest.fixture
def small_pool(cut_pool):
    """The platform's own engine with one connection and no overflow from the start."""
    return cut_pool()


# --- 1. a statement that fails outside the protocol invalidates its connection --------------------------------


def _backend_pid() -> int:
    with unit_of_work() as uow:
        return uow.execute("SELECT pg_backend_pid()").scalar_one()


def test_a_poisoning_parameter_drops_the_connection_and_the_pool_serves_everyone_else(client, seller, cut_pool):
    other = make_agency(prefix="o")
    make_user(other, "chatter", name="C")
    make_model(other, "A", "C")
    for day in (1, 2, 3):
        assert client.post(REGISTER, json={**_sale(other), "sale_date": f"2026-11-0{day}"},
                           headers=other.h("C")).status_code == 201
    cut_pool()
    before = _backend_pid()

    # pg8000 converts an aware datetime to UTC while encoding it: year 1 at +14:00 overflows mid-statement.
    for _ in range(5):
        with pytest.raises(OverflowError):
            with unit_of_work(service="income") as uow:
                uow.execute("SELECT CAST(:t AS timestamptz)",
                            {"t": datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14)))})

    assert _backend_pid() != before  # the only pooled connection was replaced, not handed out again
    answers = [client.get("/api/income/records/", headers=other.h()) for _ in range(20)]
    assert [r.status_code for r in answers] == [200] * 20
    assert all(sorted(i["sale_date"] for i in r.get_json()["items"]) == ["2026-11-01", "2026-11-02", "2026-11-03"]
               for r in answers)


def test_a_clean_database_error_keeps_the_connection(client, small_pool):
    before = _backend_pid()
    with pytest.raises(Exception) as raised:
        with unit_of_work() as uow:
            uow.execute("SELECT 1 / 0")
    assert "22012" in str(raised.value)  # division_by_zero, answered by the server: the protocol is in sync
    assert _backend_pid() == before


# --- 2. dates and times: ISO text inside 1900-01-01..2999-12-31 (also in UTC) ---------------------------------


@pytest.mark.parametrize("path, query, field", [
    ("/api/stats/trends/income/", "date_from=2999-12-01&date_to=9999-12-31&granularity=monthly", "date_to"),
    ("/api/stats/summary/", "date_from=0001-01-01&date_to=2026-11-30", "date_from"),
    ("/api/income/records/", "date_from=1899-12-31", "date_from"),
    ("/api/timetracking/entries/", "date_to=3000-01-01", "date_to"),
    ("/api/users/{owner}/financial-settings/", "on=1699920000", "on"),
])
def test_query_dates_outside_the_bounds_are_400_naming_the_parameter(client, seller, path, query, field):
    r = client.get(f"{path.format(owner=seller.owner_id)}?{query}", headers=seller.h())
    assert _locs(r) == [["query", field]]


def test_the_latest_accepted_dates_compute_every_trend_bucket(client, seller):
    # 2999-12-01 is a Sunday: the first ISO week is that one day, the last ends 2999-12-31 (a Tuesday)
    for granularity, buckets in (("daily", 31), ("weekly", 6), ("monthly", 1)):
        r = client.get(f"/api/stats/trends/income/?date_from=2999-12-01&date_to=2999-12-31&granularity={granularity}",
                       headers=seller.h())
        assert r.status_code == 200, r.get_data(as_text=True)
        assert len(r.get_json()["buckets"]) == buckets


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                                "2999-12-31T23:00:00-05:00", "1700000000", "2026-11-05T09:00:00"])
def test_datetimes_outside_the_bounds_or_without_offset_are_400_and_write_nothing(client, seller, at):
    user = str(seller.users["C"])
    model = str(seller.models["A"])
    value: object = int(at) if at.isdigit() else at
    requests = [
        ("post", "/api/timetracking/check-in/", {"user_id": user, "at": value}, "at"),
        ("post", "/api/timetracking/shifts/", {"user_id": user, "starts_at": value,
                                               "ends_at": "2026-11-05T17:00:00Z"}, "starts_at"),
        ("patch", f"/api/timetracking/entries/{uuid.uuid4()}/", {"checked_in_at": value}, "checked_in_at"),
        ("post", "/api/stats/subscriber-counts/", {"model_id": model, "subscriber_count": 5,
                                                   "observed_at": value}, "observed_at"),
    ]
    for method, path, body, field in requests:
        r = getattr(client, method)(path, json=body, headers=seller.h())
        assert _locs(r) == [["body", field]], path
    assert scalar("SELECT count(*) FROM timetracking_service.shifts") == 0
    assert scalar("SELECT count(*) FROM timetracking_service.time_entries") == 0
    assert scalar("SELECT count(*) FROM statistics_service.subscriber_count_snapshots") == 0
    assert outbox() == []


def test_a_crafted_cursor_is_400_and_the_next_page_still_works(client, seller):
    from shared_lib.pagination import encode_cursor

    crafted = encode_cursor("0001-01-01", "0001-01-01T00:00:00+14:00", str(uuid.uuid4()))
    r = client.get(f"/api/income/records/?cursor={crafted}", headers=seller.h())
    assert _locs(r) == [["query", "cursor"]]
    assert client.get("/api/income/records/", headers=seller.h()).status_code == 200


# --- 3. control characters in text ----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["a\x00b", "\x07bell", "esc\x1b[0m", "del\x7f"])
def test_control_characters_in_a_body_string_are_400_naming_the_field(client, seller, bad):
    r = client.post(REGISTER, json=_sale(seller, notes=bad), headers=seller.h("C"))
    assert _locs(r) == [["body", "notes"]]
    r = client.post("/api/models/", json={"name": bad}, headers=seller.h())
    assert _locs(r) == [["body", "name"]]
    # a model outside the shared Strict base gets the same rule (the pipeline checks every body)
    r = client.post("/api/stats/subscriber-counts/", json={"model_id": bad, "subscriber_count": 1,
                                                           "observed_at": "2026-11-01T00:00:00Z"}, headers=seller.h())
    assert _locs(r) == [["body", "model_id"]]
    assert_nothing_written()
    assert scalar("SELECT count(*) FROM user_service.models") == 1
    assert outbox() == []


def test_a_lone_surrogate_is_400_not_an_encoding_error(client, seller):
    raw = json.dumps(_sale(seller)).replace('"100.00"', '"100.00", "notes": "\\ud800"')
    r = client.post(REGISTER, data=raw, content_type="application/json", headers=seller.h("C"))
    assert _locs(r) == [["body", "notes"]]
    assert_nothing_written()


def test_tabs_and_line_breaks_stay_allowed_in_free_text(client, seller):
    r = client.post(REGISTER, json=_sale(seller, notes="line one\nline two\r\n\tindented"), headers=seller.h("C"))
    assert r.status_code == 201, r.get_data(as_text=True)
    assert r.get_json()["notes"] == "line one\nline two\r\n\tindented"


@pytest.mark.parametrize("query, field", [("cursor=%00", "cursor"), ("date_from=2026-11-01%0A", "date_from"),
                                          ("x%00=1", "x\x00")])
def test_control_characters_in_a_query_parameter_are_400(client, seller, query, field):
    r = client.get(f"/api/income/records/?{query}", headers=seller.h())
    assert ["query", field] in _locs(r)


@pytest.mark.parametrize("path", ["/api/users/%0A/", "/api/users/%00/", "/api/models/a%0Ab/settings/",
                                  "/api/me/%0A", "/api/%0A/"])
def test_control_characters_in_a_path_are_404_problem_json(client, seller, path):
    _problem(client.get(path, headers=seller.h()), 404)


def test_a_control_character_in_a_period_path_closes_nothing(client, seller):
    _problem(client.post("/api/financials/periods/2026-11%00/close/", json={}, headers=seller.h()), 404)
    _problem(client.post("/api/financials/periods/2026-11%0A/close/", json={}, headers=seller.h()), 404)
    assert scalar("SELECT count(*) FROM financial_calculations.periods WHERE status = 'closed'") == 0


# --- 4. JSON depth -------------------------------------------------------------------------------------------


def test_a_5000_deep_body_is_400_and_writes_nothing(client, seller):
    body = '{"notes": ' + "[" * 5000 + "]" * 5000 + "}"
    r = client.post(REGISTER, data=body, content_type="application/json", headers=seller.h("C"))
    assert _locs(r) == [["body"]]
    assert "nested deeper than 32" in r.get_json()["detail"]
    assert_nothing_written()


def test_brackets_inside_strings_do_not_count_as_depth(client, seller):
    r = client.post(REGISTER, json=_sale(seller, notes="[" * 100 + "{" * 100), headers=seller.h("C"))
    assert r.status_code == 201, r.get_data(as_text=True)


def test_32_levels_are_parsed_and_the_model_answers(client, seller):
    nested: object = 1
    for _ in range(31):
        nested = [nested]
    r = client.post(REGISTER, json=_sale(seller, notes=nested), headers=seller.h("C"))
    assert _locs(r) == [["body", "notes"]]  # a list is not a note: the model's answer, not the depth limit
    assert "nested" not in r.get_json()["detail"]


# --- 5. amounts: the largest accepted values still calculate ---------------------------------------------------


def test_a_fixed_salary_over_the_limit_is_400_and_writes_nothing(client, seller):
    r = client.put(f"/api/users/{seller.users['C']}/financial-settings/", json={
        "compensation_type": "fixed", "commission_rate": "0.00", "fixed_salary": "999999999999.99",
        "manager_tick_rate": "0.00", "effective_from": "2026-11-01"}, headers=seller.h())
    assert _locs(r) == [["body", "fixed_salary"]]
    assert scalar("SELECT count(*) FROM user_service.user_financial_settings") == 0
    r = client.put("/api/timetracking/settings/", json={
        "grace_minutes": 5, "late_event_threshold_minutes": 15, "max_shift_hours": 12,
        "fee_per_late_minute": "1000000.01", "fee_per_missed_shift": "1000000.01"}, headers=seller.h())
    assert sorted(_locs(r)) == [["body", "fee_per_late_minute"], ["body", "fee_per_missed_shift"]]
    assert outbox() == []


def test_the_largest_accepted_amounts_calculate_a_period(client, seller, platform):
    make_user(seller, "chatter", name="C2")
    make_user(seller, "manager", name="M")
    for person in ("C", "C2", "M"):
        r = client.put(f"/api/users/{seller.users[person]}/financial-settings/", json={
            "compensation_type": "fixed_plus_commission", "commission_rate": "100.00", "fixed_salary": "1000000.00",
            "manager_tick_rate": "100.00", "effective_from": "2026-11-01"}, headers=seller.h())
        assert r.status_code in (200, 201), r.get_data(as_text=True)
    for day in range(1, 11):
        r = client.post(REGISTER, json=_sale(seller, gross_amount="1000000.00", sale_date=f"2026-11-{day:02d}",
                                             split_fixed_amount=None), headers=seller.h("C"))
        assert r.status_code == 201, r.get_data(as_text=True)
        r = client.post("/api/expenses/", json={"amount": "1000000.00", "expense_date": f"2026-11-{day:02d}",
                                                "source": "ads"}, headers=seller.h())
        assert r.status_code == 201, r.get_data(as_text=True)
    platform.drain(60)
    r = client.post("/api/financials/calculate/", json={"period": "2026-11"}, headers=seller.h())
    assert r.status_code == 200, r.get_data(as_text=True)
    t = r.get_json()
    assert (t["gross_income"], t["platform_fees"], t["net_income"], t["expenses"]) == (
        "10000000.00", "2000000.00", "8000000.00", "10000000.00")
    profit = (Decimal(t["net_income"]) - Decimal(t["employee_payouts"]) - Decimal(t["model_payouts"])
              - Decimal(t["expenses"]))
    assert Decimal(t["agency_profit"]) == profit
    assert Decimal(t["employee_payouts"]) >= Decimal("3000000.00")  # three fixed salaries at least


# --- 6. the database unreachable: 503 problem+json with Retry-After, then recovery ----------------------------


class _Relay:
    """A TCP relay in front of the test database: stopping it is an outage the engine cannot tell from a real one."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.up = False

    def start(self) -> None:
        if not self.up:
            self.listener = socket.socket()
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(16)
        self.up = True
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        self.up = False
        try:  # shutdown wakes the accept() blocked in the relay thread; close alone would leave it listening
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        self.sockets.clear()

    def _accept(self) -> None:
        listener = self.listener
        while self.up:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture
def relay(database_url, monkeypatch):
    parts = urlsplit(settings().database_url)
    if parts.hostname is None:
        pytest.fail("the outage test needs a TCP database URL")
    r = _Relay((parts.hostname, parts.port or 5432))
    r.start()
    netloc = f"{parts.username + '@' if parts.username else ''}127.0.0.1:{r.port}"
    monkeypatch.setenv("DATABASE_URL", urlunsplit(parts._replace(netloc=netloc)))
    monkeypatch.setenv("DB_POOL_TIMEOUT_SECONDS", "2")
    reset_settings()
    dispose_engine()
    yield r
    r.stop()
    monkeypatch.undo()
    reset_settings()
    dispose_engine()


def test_an_unreachable_database_is_503_problem_json_then_recovers(client, seller, relay):
    assert client.get("/api/health/").status_code == 200
    assert client.get("/api/income/records/", headers=seller.h()).status_code == 200

    relay.stop()  # the pooled connection dies with it; new connects are refused
    for r in (client.get("/api/health/"),
              client.get("/api/income/records/", headers=seller.h()),
              client.post(REGISTER, json=_sale(seller), headers=seller.h("C"))):
        body = _problem(r, 503)
        assert r.headers["Retry-After"] == "5"
        assert body["type"].endswith("/unavailable")
    assert _problem(client.get("/api/health/"), 503)["database"] == "unavailable"

    relay.start()  # the same engine, the same pool: the next requests are served again
    assert client.get("/api/health/").get_json()["database"] == "ok"
    r = client.post(REGISTER, json=_sale(seller), headers=seller.h("C"))
    assert r.status_code == 201, r.get_data(as_text=True)
    assert client.get("/api/income/records/", headers=seller.h()).get_json()["items"][0]["id"] == r.get_json()["id"]
    with engine().connect() as conn:  # the refused sale was never written: exactly the one after recovery
        assert conn.execute(text("SELECT count(*) FROM income_service.income_records")).scalar() == 1


def test_a_database_lost_at_the_transactions_first_query_is_503_not_500(client, seller, monkeypatch):
    """The BEGIN + SET LOCAL ROLE simple query goes from the engine's "begin" event (shared_lib/db.py), outside
    SQLAlchemy's error wrapping: the server going away right after the pool's ping raises the driver's own
    InterfaceError there. That is the database being unreachable (503, retry), never a bug (500).
    On a pooled connection the ping itself sends that query (issue #13): its failure makes the pool reconnect,
    and the new connection's begin hook sends it again, failing a second time here."""
    import pg8000.core
    import pg8000.exceptions

    real = pg8000.core.CoreConnection.execute_simple
    cut = {"left": 2}

    def lost_once(self, statement):
        if statement.startswith("BEGIN TRANSACTION; SET LOCAL ROLE") and cut["left"]:
            cut["left"] -= 1
            raise pg8000.exceptions.InterfaceError("network error")
        return real(self, statement)

    monkeypatch.setattr(pg8000.core.CoreConnection, "execute_simple", lost_once)
    r = client.post(REGISTER, json=_sale(seller), headers=seller.h("C"))
    assert cut["left"] == 0  # the seam was reached
    assert _problem(r, 503)["type"].endswith("/unavailable") and r.headers["Retry-After"] == "5"
    assert client.post(REGISTER, json=_sale(seller), headers=seller.h("C")).status_code == 201
    with engine().connect() as conn:  # nothing of the refused one
        assert conn.execute(text("SELECT count(*) FROM income_service.income_records")).scalar() == 1


def test_every_503_says_when_to_retry():
    from functions.users.directory import DirectoryUnavailable
    from shared_lib.http import problem_response

    r = problem_response(DirectoryUnavailable("Firebase Auth did not answer"))
    assert (r.status_code, r.headers["Retry-After"], r.mimetype) == (503, "5", "application/problem+json")


def test_the_database_refuses_amounts_over_the_ceiling_from_any_writer(seller):
    from sqlalchemy.exc import DBAPIError

    writes = [
        ("INSERT INTO user_service.user_financial_settings (agency_id, user_id, compensation_type, fixed_salary, "
         "effective_from) VALUES (:a, :u, 'fixed', 1000000.01, DATE '2026-11-01')"),
        ("INSERT INTO timetracking_service.settings (agency_id, effective_from, grace_minutes, "
         "late_event_threshold_minutes, max_shift_hours, fee_per_late_minute, fee_per_missed_shift) "
         "VALUES (:a, DATE '2026-11-01', 5, 15, 12, 0, 1000000.01)"),
    ]
    for statement in writes:
        with pytest.raises(DBAPIError) as raised:
            with engine().begin() as conn:
                conn.execute(text(statement), {"a": seller.id, "u": seller.users["C"]})
        assert "23514" in str(raised.value)  # check_violation
    assert scalar("SELECT count(*) FROM user_service.user_financial_settings") == 0
    assert scalar("SELECT count(*) FROM timetracking_service.settings") == 0
