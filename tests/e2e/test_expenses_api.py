"""/api/expenses/ and /api/expenses/recurring/ through HTTP: Owner writes, Manager reads, Chatter nothing;
events with old and new dates; closed periods; bad input; the role matrix."""
from __future__ import annotations

from datetime import timedelta

import pytest

from shared_lib.periods import local_today
from tests.factories import (
    assert_nothing_written,
    close_period,
    error_locs,
    expense_count,
    golden_agency,
    make_agency,
    outbox,
    problem,
    sql,
)

URL = "/api/expenses/"
RECURRING = "/api/expenses/recurring/"
EXPENSE = {"amount": "300.00", "expense_date": "2026-11-10", "source": "ads"}
SCHEDULE = {"source": "software", "amount": "1200.00", "frequency": "monthly", "day_of_month": 1,
            "start_date": "2026-11-01"}


@pytest.fixture
def g(client):
    return golden_agency(client=client)


def record(client, g, **change):
    r = client.post(URL, json={**EXPENSE, **change}, headers=g.h())
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_owner_records_an_expense_and_it_is_published(client, g):
    e = record(client, g, notes="Nov campaign")
    assert {k: e[k] for k in ("amount", "expense_date", "source", "notes", "schedule_id", "created_by")} == \
        {"amount": "300.00", "expense_date": "2026-11-10", "source": "ads", "notes": "Nov campaign",
         "schedule_id": None, "created_by": str(g.owner_id)}
    (event,) = outbox("expense.")
    assert event["type"] == "expense.recorded" and event["subject"] == e["id"]
    assert event["data"] == {"expense_id": e["id"], "agency_id": str(g.id), "schedule_id": None,
                             "reason": "recorded", "expense_date": "2026-11-10", "old_expense_date": None,
                             "old": None,
                             "new": {"expense_date": "2026-11-10", "amount": "300.00", "source": "ads"}}


def test_put_publishes_old_and_new_dates(client, g):
    e = record(client, g)
    sql("DELETE FROM eventing.outbox")
    r = client.put(f"{URL}{e['id']}/", json={"amount": "350.00", "expense_date": "2026-11-02", "source": "ads"},
                   headers=g.h())
    assert r.status_code == 200 and (r.get_json()["amount"], r.get_json()["notes"]) == ("350.00", None)
    (event,) = outbox("expense.")
    assert (event["type"], event["data"]["reason"]) == ("expense.updated", "edited")
    assert (event["data"]["expense_date"], event["data"]["old_expense_date"]) == ("2026-11-02", "2026-11-10")
    assert (event["data"]["old"], event["data"]["new"]) == (
        {"expense_date": "2026-11-10", "amount": "300.00", "source": "ads"},
        {"expense_date": "2026-11-02", "amount": "350.00", "source": "ads"})


def test_delete_publishes_what_it_was(client, g):
    e = record(client, g)
    sql("DELETE FROM eventing.outbox")
    r = client.delete(f"{URL}{e['id']}/", headers=g.h())
    assert r.status_code == 204 and expense_count() == 0
    (event,) = outbox("expense.")
    assert (event["type"], event["data"]["new"], event["data"]["old"]["amount"]) == ("expense.deleted", None,
                                                                                     "300.00")
    assert (event["data"]["expense_date"], event["data"]["old_expense_date"]) == ("2026-11-10", "2026-11-10")
    problem(client.get(f"{URL}{e['id']}/", headers=g.h()), 404)


@pytest.mark.parametrize("closed, method, change", [
    ("2026-10", "post", {"expense_date": "2026-10-31"}),
    ("2026-11", "put", {"expense_date": "2026-10-01"}),   # out of a closed period
    ("2026-10", "put", {"expense_date": "2026-10-01"}),   # into a closed period
    ("2026-11", "delete", None),
])
def test_closed_periods_refuse_expense_changes(client, g, closed, method, change):
    e = record(client, g)
    sql("DELETE FROM eventing.outbox")
    close_period(g, closed)
    if method == "post":
        r = client.post(URL, json={**EXPENSE, **change}, headers=g.h())
    elif method == "put":
        r = client.put(f"{URL}{e['id']}/", json={**EXPENSE, **change}, headers=g.h())
    else:
        r = client.delete(f"{URL}{e['id']}/", headers=g.h())
    assert problem(r, 409)["type"].endswith("/period-closed")
    assert expense_count() == 1 and outbox("expense.") == []
    assert client.get(f"{URL}{e['id']}/", headers=g.h()).get_json() == e


@pytest.mark.parametrize("change, loc", [
    ({"amount": "0.00"}, "amount"), ({"amount": "-3.00"}, "amount"), ({"amount": "1000000.01"}, "amount"),
    ({"amount": "3.333"}, "amount"), ({"amount": None}, "amount"), ({"source": ""}, "source"),
    ({"source": None}, "source"), ({"expense_date": "2026-13-01"}, "expense_date"),
    ({"expense_date": "1999-12-31"}, "expense_date"), ({"notes": "x" * 2001}, "notes"), ({"vat": "1"}, "vat"),
])
def test_bad_expenses_are_400_naming_the_field(client, g, change, loc):
    body = {k: v for k, v in {**EXPENSE, **change}.items() if v is not None}
    assert error_locs(client.post(URL, json=body, headers=g.h()), 400) == [["body", loc]]
    assert_nothing_written()


def test_future_expense_dates_are_400(client, g):
    tomorrow = (local_today("UTC") + timedelta(days=1)).isoformat()
    r = client.post(URL, json={**EXPENSE, "expense_date": tomorrow}, headers=g.h())
    assert problem(r, 400)["errors"] == [{"loc": ["body", "expense_date"], "msg": "must not be in the future"}]
    assert_nothing_written()


def test_list_filters_by_date_and_pages(client, g):
    ids = [record(client, g, expense_date=f"2026-11-{d:02d}")["id"] for d in (1, 5, 5, 9, 20)]
    page = client.get(URL + "?date_from=2026-11-05&date_to=2026-11-09", headers=g.h("M")).get_json()
    assert [e["id"] for e in page["items"]] == [ids[3], ids[2], ids[1]]
    seen, cursor = [], None
    while True:
        page = client.get(URL + "?limit=2" + (f"&cursor={cursor}" if cursor else ""), headers=g.h()).get_json()
        seen += [e["id"] for e in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == [ids[4], ids[3], ids[2], ids[1], ids[0]]
    assert error_locs(client.get(URL + "?date_from=2026-11-09&date_to=2026-11-05", headers=g.h()), 400) == \
        [["query", "date_to"]]


def test_another_agencys_expenses_are_404(client, g):
    e = record(client, g)
    s = client.post(RECURRING, json=SCHEDULE, headers=g.h()).get_json()
    other = make_agency(prefix="other", client=client)
    sql("DELETE FROM eventing.outbox")
    problem(client.get(f"{URL}{e['id']}/", headers=other.h()), 404)
    problem(client.put(f"{URL}{e['id']}/", json=EXPENSE, headers=other.h()), 404)
    problem(client.delete(f"{URL}{e['id']}/", headers=other.h()), 404)
    problem(client.get(f"{RECURRING}{s['id']}/", headers=other.h()), 404)
    problem(client.patch(f"{RECURRING}{s['id']}/", json={"end_date": None}, headers=other.h()), 404)
    assert client.get(URL, headers=other.h()).get_json() == {"items": [], "next_cursor": None}
    assert client.get(RECURRING, headers=other.h()).get_json() == {"items": [], "next_cursor": None}
    assert expense_count() == 1 and outbox("expense.") == []


def test_recurring_expense_create_end_and_generate(client, g):
    r = client.post(RECURRING, json={**SCHEDULE, "notes": "SaaS"}, headers=g.h())
    assert r.status_code == 201
    s = r.get_json()
    assert {k: s[k] for k in SCHEDULE} == SCHEDULE and (s["end_date"], s["notes"]) == (None, "SaaS")
    assert client.get(RECURRING, headers=g.h("M")).get_json()["items"] == [s]
    client.post("/_emulator/scheduler/recurring-generate?as_of=2026-11-25")
    r = client.patch(f"{RECURRING}{s['id']}/", json={"end_date": "2026-11-30"}, headers=g.h())
    assert r.status_code == 200 and r.get_json()["end_date"] == "2026-11-30"
    client.post("/_emulator/scheduler/recurring-generate?as_of=2027-01-15")
    items = client.get(URL, headers=g.h()).get_json()["items"]
    assert [(e["expense_date"], e["amount"], e["schedule_id"]) for e in items] == \
        [("2026-11-01", "1200.00", s["id"])]


@pytest.mark.parametrize("change, loc", [
    ({"frequency": "weekly"}, "day_of_week"), ({"day_of_month": 0}, "day_of_month"),
    ({"end_date": "2026-10-01"}, "end_date"), ({"amount": "0"}, "amount"),
    ({"split_percent": "10.00"}, "split_percent"), ({"start_date": "2026-11-31"}, "start_date"),
])
def test_bad_recurring_expenses_are_400(client, g, change, loc):
    body = {**SCHEDULE, **change}
    if change.get("frequency") == "weekly":
        body.pop("day_of_month")
    assert error_locs(client.post(RECURRING, json=body, headers=g.h()), 400) == [["body", loc]]
    assert_nothing_written()


MATRIX = [
    ("owner", "post", URL, EXPENSE, 201), ("M", "post", URL, EXPENSE, 403), ("C1", "post", URL, EXPENSE, 403),
    ("owner", "get", URL, None, 200), ("M", "get", URL, None, 200), ("C1", "get", URL, None, 403),
    ("owner", "get", URL + "{e}/", None, 200), ("M", "get", URL + "{e}/", None, 200),
    ("C1", "get", URL + "{e}/", None, 403),
    ("owner", "put", URL + "{e}/", EXPENSE, 200), ("M", "put", URL + "{e}/", EXPENSE, 403),
    ("C1", "put", URL + "{e}/", EXPENSE, 403),
    ("owner", "delete", URL + "{e}/", None, 204), ("M", "delete", URL + "{e}/", None, 403),
    ("C1", "delete", URL + "{e}/", None, 403),
    ("owner", "post", RECURRING, SCHEDULE, 201), ("M", "post", RECURRING, SCHEDULE, 403),
    ("C1", "post", RECURRING, SCHEDULE, 403),
    ("owner", "get", RECURRING, None, 200), ("M", "get", RECURRING, None, 200), ("C1", "get", RECURRING, None, 403),
    ("owner", "get", RECURRING + "{s}/", None, 200), ("M", "get", RECURRING + "{s}/", None, 200),
    ("C1", "get", RECURRING + "{s}/", None, 403),
    ("owner", "patch", RECURRING + "{s}/", {"end_date": "2026-12-31"}, 200),
    ("M", "patch", RECURRING + "{s}/", {"end_date": "2026-12-31"}, 403),
    ("C1", "patch", RECURRING + "{s}/", {"end_date": "2026-12-31"}, 403),
]


@pytest.mark.parametrize("who, method, path, body, status", MATRIX,
                         ids=[f"{m[1]} {m[2]} as {m[0]} -> {m[4]}" for m in MATRIX])
def test_expenses_role_matrix(client, who, method, path, body, status):
    g = golden_agency(client=client)
    ids = {"e": record(client, g)["id"],
           "s": client.post(RECURRING, json=SCHEDULE, headers=g.h()).get_json()["id"]}
    sql("DELETE FROM eventing.outbox")
    before = _expense_state()
    kwargs = {"headers": g.h(who), **({"json": body} if body is not None else {})}
    r = getattr(client, method)(path.format(**ids), **kwargs)
    assert r.status_code == status, r.get_data(as_text=True)
    if status >= 400:
        assert _expense_state() == before and outbox("expense.") == []


def _expense_state():
    return (sql("SELECT id, amount, expense_date, source, notes FROM expense_service.expenses ORDER BY id"),
            sql("SELECT id, amount, end_date FROM expense_service.recurring_expense_schedules ORDER BY id"))
