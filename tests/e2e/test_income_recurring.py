"""/api/income/recurring/ through HTTP: create, read, end; validation; the scheduler job end to end."""
from __future__ import annotations

import pytest

from tests.factories import (
    assert_nothing_written,
    error_locs,
    golden_agency,
    make_agency,
    make_model,
    make_user,
    outbox,
    problem,
    scalar,
)

URL = "/api/income/recurring/"


def one(schedule_id: str) -> str:
    return f"{URL}{schedule_id}/"


@pytest.fixture
def g(client):
    return golden_agency(client=client)


def body(**change):
    return {"source": "Brand deal", "amount": "400.00", "frequency": "monthly", "day_of_month": 15,
            "start_date": "2026-11-01", **change}


def create(client, g, who="owner", **change):
    r = client.post(URL, json=body(**change), headers=g.h(who))
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_owner_creates_a_schedule_with_a_split(client, g):
    s = create(client, g, assigned_to_user_id=str(g.users["M"]), split_percent="25.00", notes="retainer",
               model_id=str(g.models["B"]), end_date="2027-10-31")
    assert {k: v for k, v in s.items() if k not in ("id", "created_at", "updated_at")} == {
        "source": "Brand deal", "amount": "400.00", "frequency": "monthly", "day_of_week": None, "day_of_month": 15,
        "start_date": "2026-11-01", "end_date": "2027-10-31", "model_id": str(g.models["B"]),
        "assigned_to_user_id": str(g.users["M"]), "split_percent": "25.00", "split_fixed_amount": None,
        "notes": "retainer", "created_by": str(g.owner_id)}
    assert client.get(one(s["id"]), headers=g.h()).get_json() == s
    assert outbox("income.") == []  # a schedule is not income; its occurrences are


def test_manager_creates_and_sees_their_own_and_their_teams_schedules(client, g):
    own = create(client, g, "M", frequency="weekly", day_of_month=None, day_of_week=5,
                 split_fixed_amount="40.00", assigned_to_user_id=str(g.users["C1"]))
    team = create(client, g, assigned_to_user_id=str(g.users["C2"]), split_percent="10.00")
    create(client, g, assigned_to_user_id=str(g.users["C3"]), split_percent="10.00")  # not M's team
    plain = create(client, g)
    listed = client.get(URL, headers=g.h("M")).get_json()
    assert [s["id"] for s in listed["items"]] == [team["id"], own["id"]]
    assert len(client.get(URL, headers=g.h()).get_json()["items"]) == 4
    problem(client.get(one(plain["id"]), headers=g.h("M")), 404)
    problem(client.patch(one(plain["id"]), json={"end_date": "2026-12-31"}, headers=g.h("M")), 404)


def test_chatters_may_not_touch_recurring_income(client, g):
    assert problem(client.post(URL, json=body(), headers=g.h("C1")), 403)["type"].endswith("/forbidden")
    assert_nothing_written()
    s = create(client, g, assigned_to_user_id=str(g.users["C1"]), split_percent="5.00")
    problem(client.get(URL, headers=g.h("C1")), 403)
    problem(client.get(one(s["id"]), headers=g.h("C1")), 403)
    problem(client.patch(one(s["id"]), json={"end_date": "2026-11-30"}, headers=g.h("C1")), 403)
    assert client.get(one(s["id"]), headers=g.h()).get_json()["end_date"] is None


def test_a_manager_splits_only_to_themselves_or_their_team(client, g):
    r = client.post(URL, json=body(assigned_to_user_id=str(g.users["C3"]), split_percent="5.00"), headers=g.h("M"))
    assert error_locs(r, 403) == [["body", "assigned_to_user_id"]]
    assert_nothing_written()


@pytest.mark.parametrize("change, loc", [
    ({"amount": "0.00"}, "amount"),
    ({"amount": "-1.00"}, "amount"),
    ({"amount": "1000000.01"}, "amount"),
    ({"amount": "1.001"}, "amount"),
    ({"frequency": "yearly"}, "frequency"),
    ({"frequency": "weekly", "day_of_month": None}, "day_of_week"),
    ({"day_of_month": 32}, "day_of_month"),
    ({"day_of_month": None}, "day_of_month"),
    ({"day_of_week": 2}, "day_of_week"),
    ({"frequency": "daily"}, "day_of_month"),
    ({"frequency": "weekly", "day_of_month": None, "day_of_week": 8}, "day_of_week"),
    ({"start_date": "1999-12-01"}, "start_date"),
    ({"end_date": "2026-10-31"}, "end_date"),
    ({"source": ""}, "source"),
    ({"split_percent": "25.00", "split_fixed_amount": "10.00", "assigned_to_user_id": "M"}, "split_fixed_amount"),
    ({"split_percent": "100.01", "assigned_to_user_id": "M"}, "split_percent"),
    ({"split_fixed_amount": "400.01", "assigned_to_user_id": "M"}, "split_fixed_amount"),
    ({"split_percent": "5.00"}, "assigned_to_user_id"),
    ({"assigned_to_user_id": "M"}, "assigned_to_user_id"),
    ({"chatter_id": "M"}, "chatter_id"),
])
def test_bad_schedules_are_400_naming_the_field(client, g, change, loc):
    change = {k: (str(g.users[v]) if k in ("assigned_to_user_id", "chatter_id") else v) for k, v in change.items()}
    r = client.post(URL, json={k: v for k, v in body(**change).items() if v is not None}, headers=g.h())
    assert error_locs(r, 400) == [["body", loc]]
    assert_nothing_written()


def test_foreign_model_or_user_is_404(client, g):
    other = make_agency(prefix="other", client=client)
    make_user(other, "manager", name="X")
    make_model(other, "Z")
    r = client.post(URL, json=body(model_id=str(other.models["Z"])), headers=g.h())
    assert error_locs(r, 404) == [["body", "model_id"]]
    r = client.post(URL, json=body(assigned_to_user_id=str(other.users["X"]), split_percent="1.00"), headers=g.h())
    assert error_locs(r, 404) == [["body", "assigned_to_user_id"]]
    assert_nothing_written()
    s = create(client, g)
    problem(client.get(one(s["id"]), headers=other.h()), 404)
    problem(client.patch(one(s["id"]), json={"end_date": "2026-12-31"}, headers=other.h()), 404)
    assert client.get(URL, headers=other.h()).get_json() == {"items": [], "next_cursor": None}


def test_patch_end_date_rules(client, g):
    s = create(client, g)
    r = client.patch(one(s["id"]), json={"end_date": "2026-10-31"}, headers=g.h())
    assert error_locs(r, 400) == [["body", "end_date"]]
    assert error_locs(client.patch(one(s["id"]), json={}, headers=g.h()), 400) == [["body", "end_date"]]
    r = client.patch(one(s["id"]), json={"end_date": "2026-12-31", "amount": "1.00"}, headers=g.h())
    assert error_locs(r, 400) == [["body", "amount"]]
    r = client.patch(one(s["id"]), json={"end_date": "2026-11-01"}, headers=g.h())
    assert r.status_code == 200 and r.get_json()["end_date"] == "2026-11-01"
    assert r.get_json()["updated_at"] >= s["updated_at"]
    r = client.patch(one(s["id"]), json={"end_date": None}, headers=g.h("M"))
    problem(r, 404)  # not M's schedule
    assert client.patch(one(s["id"]), json={"end_date": None}, headers=g.h()).get_json()["end_date"] is None


def test_list_pages_with_a_cursor(client, g):
    ids = [create(client, g, source=f"deal {n}")["id"] for n in range(5)]
    seen, cursor = [], None
    while True:
        page = client.get(URL + "?limit=2" + (f"&cursor={cursor}" if cursor else ""), headers=g.h()).get_json()
        seen += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids[::-1]
    assert error_locs(client.get(URL + "?cursor=zzz", headers=g.h()), 400) == [["query", "cursor"]]


def test_the_same_idempotency_key_creates_one_schedule(client, g):
    headers = {**g.h(), "Idempotency-Key": "sched-1"}
    first = client.post(URL, json=body(), headers=headers)
    second = client.post(URL, json=body(), headers=headers)
    assert (first.status_code, second.status_code) == (201, 201) and first.get_json() == second.get_json()
    assert scalar("SELECT count(*) FROM income_service.recurring_income_schedules") == 1


def test_the_scheduler_job_generates_once_however_often_it_fires(client, g):
    s = create(client, g, frequency="daily", day_of_month=None, start_date="2026-11-01", end_date="2026-11-10",
               split_percent="25.00", assigned_to_user_id=str(g.users["M"]))
    for _ in range(2):
        r = client.post("/_emulator/scheduler/recurring-generate?as_of=2026-11-20")
        assert r.get_json() == {"job": "recurring-generate", "as_of": "2026-11-20", "subscribers": 2,
                                "drained": True}
    items = client.get("/api/income/records/?limit=500", headers=g.h()).get_json()["items"]
    assert [i["sale_date"] for i in items] == [f"2026-11-{d:02d}" for d in range(10, 0, -1)]
    assert {(i["schedule_id"], i["type"], i["net_amount"], i["registered_by_user_id"]) for i in items} == \
        {(s["id"], "other_income", "400.00", str(g.owner_id))}
    # The split reaches M through payouts; it does not put the owner's other income in M's scope (docs/income.md).
    assert client.get("/api/income/records/", headers=g.h("M")).get_json()["items"] == []
    assert [e["data"]["reason"] for e in outbox("income.")] == ["generated"] * 10
