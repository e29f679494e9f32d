"""GET /api/income/records/ and GET/PUT/DELETE /api/income/records/{id}/: scope by role, filters, cursor pages,
fee recomputed on change, old and new dates in the events, closed periods."""
from __future__ import annotations

from datetime import date

import pytest

from tests.factories import (
    close_period,
    error_locs,
    golden_agency,
    income_count,
    make_agency,
    make_model,
    make_user,
    outbox,
    problem,
    set_manager,
    set_platform_fee,
    sql,
)

LIST = "/api/income/records/"


def one(record_id: str) -> str:
    return f"/api/income/records/{record_id}/"


@pytest.fixture
def g(client):
    """The golden agency with one sale per chatter, an other income by the owner and one by the manager."""
    g = golden_agency(client=client)
    g.recs = {}
    for name, who, body in [
        ("c1", "C1", {"type": "message_sale", "gross_amount": "5000.00", "sale_date": "2026-11-03",
                      "model_id": str(g.models["A"])}),
        ("c2", "C2", {"type": "tip_sale", "gross_amount": "1255.50", "sale_date": "2026-11-04",
                      "model_id": str(g.models["A"])}),
        ("c3", "C3", {"type": "message_sale", "gross_amount": "3000.00", "sale_date": "2026-11-05",
                      "model_id": str(g.models["B"])}),
        ("own", "owner", {"type": "other_income", "gross_amount": "400.00", "sale_date": "2026-11-06"}),
        ("mgr", "M", {"type": "other_income", "gross_amount": "50.00", "sale_date": "2026-11-07"}),
    ]:
        r = client.post("/api/income/register/", json=body, headers=g.h(who))
        assert r.status_code == 201, r.get_json()
        g.recs[name] = r.get_json()
    sql("DELETE FROM eventing.outbox")
    return g


def listed(client, g, who="owner", query=""):
    r = client.get(LIST + query, headers=g.h(who))
    assert r.status_code == 200, r.get_json()
    return [next(k for k, v in g.recs.items() if v["id"] == item["id"]) for item in r.get_json()["items"]]


# --- reading: scope, filters, pages --------------------------------------------------------------------------------


def test_owner_sees_everything_newest_sale_first(client, g):
    assert listed(client, g) == ["mgr", "own", "c3", "c2", "c1"]


def test_manager_sees_their_team_and_their_own(client, g):
    assert listed(client, g, "M") == ["mgr", "c2", "c1"]


def test_manager_keeps_seeing_the_sales_that_carry_their_tick_after_a_team_move(client, g):
    set_manager(g, "C2", None)
    assert listed(client, g, "M") == ["mgr", "c2", "c1"]  # c2's snapshot manager is still M


def test_chatter_sees_only_their_own(client, g):
    assert listed(client, g, "C1") == ["c1"]
    assert listed(client, g, "C3") == ["c3"]
    assert listed(client, g, "C1", f"?chatter_id={g.users['C3']}") == []


def test_filters_combine(client, g):
    assert listed(client, g, query=f"?chatter_id={g.users['C1']}") == ["c1"]
    assert listed(client, g, query=f"?model_id={g.models['A']}") == ["c2", "c1"]
    assert listed(client, g, query="?type=other_income") == ["mgr", "own"]
    assert listed(client, g, query="?date_from=2026-11-04&date_to=2026-11-06") == ["own", "c3", "c2"]
    assert listed(client, g, query=f"?model_id={g.models['A']}&type=tip_sale&date_to=2026-11-04") == ["c2"]


def test_cursor_pages_walk_every_record_once(client, g):
    seen, cursor = [], None
    while True:
        q = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(LIST + q, headers=g.h()).get_json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [g.recs[k]["id"] for k in ("mgr", "own", "c3", "c2", "c1")]


@pytest.mark.parametrize("query, loc", [
    ("?cursor=garbage", "cursor"), ("?limit=0", "limit"), ("?limit=501", "limit"), ("?type=rent", "type"),
    ("?date_from=2026-11-05&date_to=2026-11-04", "date_to"), ("?chatter_id=nope", "chatter_id"),
    ("?date_from=11/05/2026", "date_from"), ("?color=red", "color"),
])
def test_bad_list_queries_are_400_naming_the_parameter(client, g, query, loc):
    assert error_locs(client.get(LIST + query, headers=g.h()), 400) == [["query", loc]]


def test_get_one_follows_the_same_scope(client, g):
    assert client.get(one(g.recs["c3"]["id"]), headers=g.h()).get_json() == g.recs["c3"]
    assert client.get(one(g.recs["c2"]["id"]), headers=g.h("M")).status_code == 200
    assert client.get(one(g.recs["mgr"]["id"]), headers=g.h("M")).status_code == 200
    for who, rec in (("M", "c3"), ("M", "own"), ("C1", "c2"), ("C1", "own")):
        problem(client.get(one(g.recs[rec]["id"]), headers=g.h(who)), 404)
    problem(client.get(one("not-a-uuid"), headers=g.h()), 404)


def test_another_agencys_records_are_404_everywhere(client, g):
    other = make_agency(prefix="other", client=client)
    make_user(other, "chatter", name="X")
    make_model(other, "Z", "X")
    rid = g.recs["c1"]["id"]
    problem(client.get(one(rid), headers=other.h()), 404)
    problem(client.put(one(rid), headers=other.h(), json={"type": "other_income", "gross_amount": "1.00",
                                                           "sale_date": "2026-11-01"}), 404)
    problem(client.delete(one(rid), headers=other.h()), 404)
    assert client.get(LIST, headers=other.h()).get_json() == {"items": [], "next_cursor": None}
    assert client.get(one(rid), headers=g.h()).get_json() == g.recs["c1"]
    assert outbox("income.") == []


# --- changing ------------------------------------------------------------------------------------------------------


def put_body(rec, **change):
    keys = ("type", "gross_amount", "sale_date", "model_id", "customer_username", "notes")
    return {**{k: rec[k] for k in keys if rec[k] is not None}, **change}


def test_put_recomputes_fee_and_net_and_publishes_old_and_new_dates(client, g):
    set_platform_fee(g, date(2026, 11, 10), "25.00")
    rec = g.recs["c1"]
    r = client.put(one(rec["id"]), headers=g.h(),
                   json=put_body(rec, gross_amount="6000.00", sale_date="2026-11-12",
                                 chatter_id=str(g.users["C1"]), notes="corrected"))
    assert r.status_code == 200, r.get_json()
    new = r.get_json()
    assert (new["gross_amount"], new["fee_percent"], new["fee_amount"], new["net_amount"], new["sale_date"]) == \
        ("6000.00", "25.00", "1500.00", "4500.00", "2026-11-12")
    assert (new["id"], new["created_at"], new["registered_by_user_id"], new["notes"]) == \
        (rec["id"], rec["created_at"], rec["registered_by_user_id"], "corrected")
    assert new["updated_at"] > rec["updated_at"]
    (event,) = outbox("income.")
    assert event["type"] == "income.updated" and event["subject"] == rec["id"]
    d = event["data"]
    assert (d["reason"], d["agency_id"], d["old"]["sale_date"], d["new"]["sale_date"]) == \
        ("edited", str(g.id), "2026-11-03", "2026-11-12")
    assert (d["old_sale_date"], d["sale_date"], d["model_id"], d["chatter_id"]) == \
        ("2026-11-03", "2026-11-12", str(g.models["A"]), str(g.users["C1"]))
    assert (d["old"]["net_amount"], d["new"]["net_amount"]) == ("4000.00", "4500.00")
    assert d["old"]["chatter_id"] == d["new"]["chatter_id"] == str(g.users["C1"])
    assert d["old"]["model_id"] == d["new"]["model_id"] == str(g.models["A"])


def test_put_keeps_the_manager_snapshot_unless_the_chatter_changes(client, g):
    set_manager(g, "C1", None)
    rec = g.recs["c1"]
    same = client.put(one(rec["id"]), headers=g.h(), json=put_body(rec, chatter_id=str(g.users["C1"]),
                                                                   gross_amount="1.00"))
    assert same.get_json()["manager_id"] == str(g.users["M"])
    set_manager(g, "C2", None)
    moved = client.put(one(rec["id"]), headers=g.h(), json=put_body(rec, chatter_id=str(g.users["C2"])))
    assert (moved.get_json()["chatter_id"], moved.get_json()["manager_id"]) == (str(g.users["C2"]), None)
    d = outbox("income.updated")[1]["data"]
    assert (d["old"]["chatter_id"], d["new"]["chatter_id"]) == (str(g.users["C1"]), str(g.users["C2"]))


def test_chatter_changes_their_own_sale_in_an_open_period(client, g):
    rec = g.recs["c1"]
    r = client.put(one(rec["id"]), headers=g.h("C1"), json=put_body(rec, gross_amount="4000.00"))
    assert r.status_code == 200 and r.get_json()["net_amount"] == "3200.00"


def test_chatter_cannot_turn_a_sale_into_other_income(client, g):
    rec = g.recs["c1"]
    r = client.put(one(rec["id"]), headers=g.h("C1"), json={"type": "other_income", "gross_amount": "1.00",
                                                             "sale_date": "2026-11-03"})
    assert error_locs(r, 403) == [["body", "type"]]
    assert client.get(one(rec["id"]), headers=g.h()).get_json() == rec and outbox("income.") == []


def test_nobody_changes_what_they_cannot_see(client, g):
    for who, rec in (("C1", "c2"), ("M", "c3"), ("M", "own")):
        r = client.put(one(g.recs[rec]["id"]), headers=g.h(who), json=put_body(g.recs[rec], gross_amount="1.00"))
        problem(r, 404)
    assert [client.get(one(g.recs[k]["id"]), headers=g.h()).get_json() for k in ("c2", "c3", "own")] == \
        [g.recs[k] for k in ("c2", "c3", "own")]
    assert outbox("income.") == []


def test_put_validates_like_register(client, g):
    rec = g.recs["c2"]
    r = client.put(one(rec["id"]), headers=g.h("M"), json=put_body(rec, chatter_id=str(g.users["C3"])))
    assert error_locs(r, 403) == [["body", "chatter_id"]]
    r = client.put(one(rec["id"]), headers=g.h("M"), json=put_body(rec, gross_amount="0.001"))
    assert error_locs(r, 400) == [["body", "gross_amount"]]
    assert client.get(one(rec["id"]), headers=g.h()).get_json() == rec and outbox("income.") == []


@pytest.mark.parametrize("closed, new_date", [("2026-10", "2026-10-15"), ("2026-11", "2026-11-20")])
def test_put_into_or_out_of_a_closed_period_is_409(client, g, closed, new_date):
    close_period(g, closed)
    rec = g.recs["c1"]
    r = client.put(one(rec["id"]), headers=g.h(), json=put_body(rec, sale_date=new_date,
                                                                chatter_id=str(g.users["C1"])))
    assert problem(r, 409)["type"].endswith("/period-closed")
    assert client.get(one(rec["id"]), headers=g.h()).get_json() == rec and outbox("income.") == []


# --- deleting ------------------------------------------------------------------------------------------------------


def test_delete_publishes_what_the_record_was(client, g):
    rec = g.recs["c2"]
    r = client.delete(one(rec["id"]), headers=g.h("M"))
    assert r.status_code == 204 and r.get_data() == b""
    problem(client.get(one(rec["id"]), headers=g.h()), 404)
    (event,) = outbox("income.")
    assert event["type"] == "income.deleted" and event["subject"] == rec["id"]
    assert event["data"]["old"] == {
        "type": "tip_sale", "sale_date": "2026-11-04", "model_id": str(g.models["A"]),
        "chatter_id": str(g.users["C2"]), "manager_id": str(g.users["M"]), "assigned_to_user_id": None,
        "gross_amount": "1255.50", "fee_amount": "251.10", "net_amount": "1004.40", "refund_of": None}
    assert event["data"]["new"] is None and event["data"]["reason"] == "deleted"
    assert (event["data"]["sale_date"], event["data"]["old_sale_date"], event["data"]["chatter_id"]) == \
        ("2026-11-04", "2026-11-04", str(g.users["C2"]))
    problem(client.delete(one(rec["id"]), headers=g.h()), 404)


def test_chatter_deletes_their_own_only_and_only_in_an_open_period(client, g):
    problem(client.delete(one(g.recs["c2"]["id"]), headers=g.h("C1")), 404)
    close_period(g, "2026-11")
    assert problem(client.delete(one(g.recs["c1"]["id"]), headers=g.h("C1")), 409)["type"].endswith(
        "/period-closed")
    assert problem(client.delete(one(g.recs["c1"]["id"]), headers=g.h()), 409)["status"] == 409
    assert income_count() == 5 and outbox("income.") == []
    sql("UPDATE financial_calculations.periods SET status = 'open'")
    assert client.delete(one(g.recs["c1"]["id"]), headers=g.h("C1")).status_code == 204
    assert income_count() == 4
