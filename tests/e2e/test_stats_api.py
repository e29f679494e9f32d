"""Statistics through HTTP: the worked example end to end, role scoping, subscriber counts, rebuild, bad input."""
from __future__ import annotations

import uuid
from datetime import date

from shared_lib.periods import local_today
from tests.factories import (
    error_locs,
    golden_agency,
    make_agency,
    make_model,
    make_user,
    ok,
    problem,
    rebuild,
    scalar,
    seed_income,
    sql,
)

NOV = "date_from=2026-11-01&date_to=2026-11-30"


def drain(client):
    assert ok(client.post("/_emulator/drain?timeout=30"))["drained"] is True


def test_worked_example_statistics_through_the_http_api(client):
    g = golden_agency("w", client=client)
    A, B = str(g.models["A"]), str(g.models["B"])
    for who, model, t, gross, day in [("C1", A, "message_sale", "5000.00", "2026-11-03"),
                                      ("C1", A, "tip_sale", "2500.00", "2026-11-04"),
                                      ("C1", B, "message_sale", "10000.00", "2026-11-05"),
                                      ("C2", A, "tip_sale", "1255.50", "2026-11-06"),
                                      ("C3", B, "message_sale", "3000.00", "2026-11-09")]:
        ok(client.post("/api/income/register/", json={"type": t, "gross_amount": gross, "sale_date": day,
                                                       "model_id": model}, headers=g.h(who)), 201)
    ok(client.post("/api/income/recurring/", json={
        "source": "Brand deal", "amount": "400.00", "frequency": "monthly", "day_of_month": 15,
        "start_date": "2026-11-01", "assigned_to_user_id": str(g.users["M"]), "split_percent": "25.00"},
        headers=g.h()), 201)
    ok(client.post("/api/expenses/recurring/", json={"source": "software", "amount": "1200.00",
                                                     "frequency": "monthly", "day_of_month": 1,
                                                     "start_date": "2026-11-01"}, headers=g.h()), 201)
    ok(client.post("/api/expenses/", json={"amount": "300.00", "expense_date": "2026-11-10", "source": "ads"},
                   headers=g.h()), 201)
    ok(client.post("/_emulator/scheduler/recurring-generate?as_of=2026-11-20"))
    for model, count in ((A, 1000), (B, 2000)):
        ok(client.post("/api/stats/subscriber-counts/", json={
            "model_id": model, "subscriber_count": count, "observed_at": "2026-11-01T00:00:00Z"},
            headers=g.h()), 202)
    drain(client)

    summary = ok(client.get(f"/api/stats/summary/?{NOV}", headers=g.h()))
    assert summary == {"date_from": "2026-11-01", "date_to": "2026-11-30", "gross_income": "22155.50",
                       "platform_fees": "4351.10", "net_income": "17804.40", "expenses": "1500.00",
                       "sales_count": 5, "refunds_count": 0, "refunds_amount": "0.00"}
    top = ok(client.get(f"/api/stats/top-earners/?{NOV}", headers=g.h()))
    assert [(i["display_name"], i["net_sales"], i["sales_count"]) for i in top["items"]] == \
        [("C1", "14000.00", 3), ("C3", "2400.00", 1), ("C2", "1004.40", 1)]
    assert [i["user_id"] for i in top["items"]] == [str(g.users[n]) for n in ("C1", "C3", "C2")]
    afv = ok(client.get(f"/api/stats/afv/?{NOV}", headers=g.h()))
    no_fans = {"paying_fans": 0, "paying_fans_net": "0.00", "earnings_per_paying_fan": None}  # no fan ids
    assert afv["models"] == [
        {"model_id": A, "name": "A", "net": "7004.40", "subscriber_count": 1000, "afv": "7.00", **no_fans},
        {"model_id": B, "name": "B", "net": "10400.00", "subscriber_count": 2000, "afv": "5.20", **no_fans}]
    assert afv["chatters"][0] == {"user_id": str(g.users["C1"]), "display_name": "C1", "net": "14000.00",
                                  "subscriber_count": 3000, "afv": "4.67", **no_fans}
    trend = ok(client.get(f"/api/stats/trends/income/?{NOV}&granularity=monthly", headers=g.h()))
    assert trend["buckets"] == [{"start": "2026-11-01", "end": "2026-11-30", "value": "17804.40",
                                 "change_pct": None}]
    afv_trend = ok(client.get(f"/api/stats/trends/afv/?{NOV}&granularity=monthly&model_id={A}", headers=g.h()))
    assert afv_trend["granularity"] == "monthly" and afv_trend["buckets"][0]["value"] == "7.00"


def _team_agency(client):
    g = golden_agency("r", client=client)
    for chatter, model, gross, day in (("C1", "A", "100.00", 2), ("C2", "A", "50.00", 3), ("C3", "B", "70.00", 3)):
        seed_income(g, day=date(2026, 11, day), gross=gross, model=model, chatter=chatter)
    seed_income(g, day=date(2026, 11, 4), gross="400.00", type="other_income")
    rebuild(g)
    return g


def test_each_role_sees_its_own_scope(client):
    g = _team_agency(client)
    owner = ok(client.get(f"/api/stats/summary/?{NOV}", headers=g.h()))
    manager = ok(client.get(f"/api/stats/summary/?{NOV}", headers=g.h("M")))
    chatter = ok(client.get(f"/api/stats/summary/?{NOV}", headers=g.h("C2")))
    assert (owner["net_income"], owner["expenses"], owner["sales_count"]) == ("576.00", "0.00", 3)
    assert (manager["net_income"], manager["expenses"], manager["sales_count"]) == ("120.00", None, 2)
    assert (chatter["gross_income"], chatter["net_income"], chatter["expenses"], chatter["sales_count"]) == \
        ("50.00", "40.00", None, 1)
    top = ok(client.get(f"/api/stats/top-earners/?{NOV}", headers=g.h("M")))
    assert [i["display_name"] for i in top["items"]] == ["C1", "C2"]
    mine = ok(client.get(f"/api/stats/afv/?{NOV}", headers=g.h("C3")))
    assert [c["display_name"] for c in mine["chatters"]] == ["C3"] and [m["name"] for m in mine["models"]] == ["B"]


def test_the_default_range_is_the_current_month_to_date(client):
    g = make_agency(prefix="d", client=client, timezone="Pacific/Auckland")
    today = local_today("Pacific/Auckland")
    body = ok(client.get("/api/stats/summary/", headers=g.h()))
    assert (body["date_from"], body["date_to"]) == (today.replace(day=1).isoformat(), today.isoformat())
    assert ok(client.get("/api/stats/trends/income/", headers=g.h()))["granularity"] == "daily"


def test_invalid_queries_answer_400_naming_every_field_and_tokens_are_required(client):
    g = make_agency(prefix="v", client=client)
    assert error_locs(client.get("/api/stats/summary/?date_from=2026-13-01&date_to=yesterday", headers=g.h()),
                      400) == [["query", "date_from"], ["query", "date_to"]]
    assert error_locs(client.get(f"/api/stats/summary/?{NOV}&chatter=me", headers=g.h()), 400) == \
        [["query", "chatter"]]
    assert error_locs(client.get("/api/stats/summary/?date_from=2026-11-10&date_to=2026-11-09", headers=g.h()),
                      400) == [["query", "date_to"]]
    for limit in ("0", "51", "five"):
        assert error_locs(client.get(f"/api/stats/top-earners/?limit={limit}", headers=g.h()), 400) == \
            [["query", "limit"]]
    assert error_locs(client.get("/api/stats/trends/income/?granularity=hourly", headers=g.h()), 400) == \
        [["query", "granularity"]]
    assert error_locs(client.get("/api/stats/trends/income/?date_from=2020-01-01&date_to=2026-11-01",
                                 headers=g.h()), 400) == [["query", "granularity"]]
    assert error_locs(client.get("/api/stats/trends/afv/?model_id=not-a-uuid", headers=g.h()), 400) == \
        [["query", "model_id"]]
    for path in ("summary", "top-earners", "afv", "trends/income", "trends/afv"):
        assert problem(client.get(f"/api/stats/{path}/"), 401)["status"] == 401


def test_top_earners_limit_and_ties_by_name_through_http(client):
    g = make_agency(prefix="t", client=client)
    for name in ("Zed", "amy", "Bob"):
        make_user(g, "chatter", name=name)
    make_model(g, "A", "Zed", "amy", "Bob")
    for name in ("Zed", "amy", "Bob"):
        seed_income(g, day=date(2026, 11, 2), gross="10.00", model="A", chatter=name)
    rebuild(g)
    top = ok(client.get(f"/api/stats/top-earners/?{NOV}&limit=2", headers=g.h()))
    assert [(i["display_name"], i["net_sales"]) for i in top["items"]] == [("amy", "8.00"), ("Bob", "8.00")]


def test_another_agencys_model_answers_404(client):
    g = make_agency(prefix="x", client=client)
    other = make_agency(prefix="y", client=client)
    make_model(other, "Theirs")
    theirs = str(other.models["Theirs"])
    r = client.get(f"/api/stats/trends/afv/?model_id={theirs}", headers=g.h())
    assert problem(r, 404)["errors"][0]["loc"] == ["query", "model_id"]
    r = client.post("/api/stats/subscriber-counts/", json={"model_id": theirs, "subscriber_count": 5,
                                                         "observed_at": "2026-11-01T00:00:00Z"}, headers=g.h())
    assert problem(r, 404)["errors"][0]["loc"] == ["body", "model_id"]
    assert scalar("SELECT count(*) FROM statistics_service.subscriber_count_snapshots") == 0


# --- subscriber counts -------------------------------------------------------------------------------------------


def _snapshot_rows():
    return scalar("SELECT count(*) FROM statistics_service.subscriber_count_snapshots")


def test_owner_records_subscriber_counts_and_reads_the_history(client):
    g = make_agency(prefix="s", client=client)
    make_user(g, "manager", name="M")
    make_user(g, "chatter", name="C")
    make_model(g, "A", "M")  # a Manager reads the counts of the models assigned to them or their team
    model = str(g.models["A"])
    first = ok(client.post("/api/stats/subscriber-counts/", json={
        "model_id": model, "subscriber_count": 1000, "observed_at": "2026-11-01T08:00:00+01:00"},
        headers={**g.h(), "Idempotency-Key": "count-1"}), 202)
    assert (first["subscriber_count"], first["observed_at"], first["observed_on"], first["source"],
            first["recorded_by"]) == (1000, "2026-11-01T07:00:00Z", "2026-11-01", "manual", str(g.owner_id))
    replay = client.post("/api/stats/subscriber-counts/", json={
        "model_id": model, "subscriber_count": 1000, "observed_at": "2026-11-01T08:00:00+01:00"},
        headers={**g.h(), "Idempotency-Key": "count-1"})
    assert replay.status_code == 202 and replay.headers["Idempotent-Replayed"] == "true"
    ok(client.post("/api/stats/subscriber-counts/", json={
        "model_id": model, "subscriber_count": 1200, "observed_at": "2026-11-10T00:00:00Z"}, headers=g.h()), 202)
    drain(client)
    assert _snapshot_rows() == 2
    assert scalar("SELECT count(*) FROM eventing.outbox WHERE type = 'model.subscriber_count.updated'") == 2
    page = ok(client.get("/api/stats/subscriber-counts/?limit=1", headers=g.h("M")))
    assert [i["subscriber_count"] for i in page["items"]] == [1200] and page["next_cursor"]
    rest = ok(client.get(f"/api/stats/subscriber-counts/?limit=1&cursor={page['next_cursor']}", headers=g.h()))
    assert [i["subscriber_count"] for i in rest["items"]] == [1000] and rest["next_cursor"] is None
    assert problem(client.get("/api/stats/subscriber-counts/", headers=g.h("C")), 403)
    assert error_locs(client.get("/api/stats/subscriber-counts/?cursor=garbage", headers=g.h()), 400) == \
        [["query", "cursor"]]


def test_a_manager_reads_only_the_subscriber_counts_of_their_teams_models(client):
    g = make_agency(prefix="t", client=client)
    make_user(g, "manager", name="M")
    make_user(g, "chatter", name="C", manager="M")
    make_user(g, "chatter", name="D")
    make_model(g, "Ours", "C")
    make_model(g, "Theirs", "D")
    for name, count in (("Ours", 100), ("Theirs", 200)):
        ok(client.post("/api/stats/subscriber-counts/", json={
            "model_id": str(g.models[name]), "subscriber_count": count, "observed_at": "2026-11-02T00:00:00Z"},
            headers=g.h()), 202)
    everything = ok(client.get("/api/stats/subscriber-counts/", headers=g.h()))  # the Owner: both, newest id first
    assert [i["subscriber_count"] for i in everything["items"]] == [200, 100]
    mine = ok(client.get("/api/stats/subscriber-counts/", headers=g.h("M")))
    assert [(i["model_id"], i["subscriber_count"]) for i in mine["items"]] == [(str(g.models["Ours"]), 100)]
    assert problem(client.get(f"/api/stats/subscriber-counts/?model_id={g.models['Theirs']}", headers=g.h("M")), 404)


def test_bad_subscriber_counts_are_refused_and_nothing_is_written(client):
    g = make_agency(prefix="b", client=client)
    make_user(g, "chatter", name="C")
    make_model(g, "A", "C")
    model = str(g.models["A"])
    good = {"model_id": model, "subscriber_count": 10, "observed_at": "2026-11-01T00:00:00Z"}
    assert problem(client.post("/api/stats/subscriber-counts/", json=good, headers=g.h("C")), 403)
    cases = [({**good, "subscriber_count": -1}, [["body", "subscriber_count"]]),
             ({**good, "subscriber_count": "10"}, [["body", "subscriber_count"]]),
             ({**good, "observed_at": "2026-11-01T00:00:00"}, [["body", "observed_at"]]),
             ({**good, "observed_at": "2999-01-01T00:00:00Z"}, [["body", "observed_at"]]),
             ({"subscriber_count": 10}, [["body", "model_id"], ["body", "observed_at"]]),
             ({**good, "source": "scraper"}, [["body", "source"]])]
    for body, locs in cases:
        assert error_locs(client.post("/api/stats/subscriber-counts/", json=body, headers=g.h()), 400) == locs
    assert problem(client.post("/api/stats/subscriber-counts/", json={**good, "model_id": str(uuid.uuid4())},
                               headers=g.h()), 404)
    assert _snapshot_rows() == 0
    assert scalar("SELECT count(*) FROM eventing.outbox") == 0


# --- rebuild -------------------------------------------------------------------------------------------------------


def test_owner_rebuilds_a_range_from_the_truth(client):
    g = _team_agency(client)
    sql("DELETE FROM statistics_service.daily_chatter_stats")   # as if the aggregates had been lost
    assert ok(client.get(f"/api/stats/top-earners/?{NOV}", headers=g.h()))["items"] == []
    body = ok(client.post("/api/stats/rebuild/", json={"date_from": "2026-11-01", "date_to": "2026-11-30"},
                          headers=g.h()))
    assert body == {"date_from": "2026-11-01", "date_to": "2026-11-30", "model_rows": 4, "chatter_rows": 3,
                    "expense_rows": 0}
    assert [i["display_name"] for i in ok(client.get(f"/api/stats/top-earners/?{NOV}", headers=g.h()))["items"]] \
        == ["C1", "C3", "C2"]
    assert problem(client.post("/api/stats/rebuild/", json={}, headers=g.h("M")), 403)
    assert error_locs(client.post("/api/stats/rebuild/", json={"date_from": "2026-11-02", "date_to": "2026-11-01"},
                                  headers=g.h()), 400) == [["body", "date_to"]]


def test_marks_a_catch_up_left_behind_are_taken_by_the_scheduled_sweep(client):
    """A catch-up owner that ran out of its budget or died mid-round leaves its agency's marks pending until the
    agency's next event, which may not come: the stats-sweep job (every 15 minutes, fired here through the local
    scheduler as Cloud Scheduler fires it) catches every such agency up, and the answers then show the sale."""
    from functions.stats import queries
    from functions.stats.rules import Slice
    from shared_lib.db import unit_of_work

    g = golden_agency("sw", client=client)
    ok(client.post("/api/income/register/", json={"type": "message_sale", "gross_amount": "100.00",
                                                   "sale_date": "2026-11-03", "model_id": str(g.models["A"])},
                   headers=g.h("C1")), 201)
    drain(client)
    assert ok(client.get(f"/api/stats/summary/?{NOV}", headers=g.h()))["gross_income"] == "100.00"
    # A second sale whose handler committed its mark and died before its catch-up (no drain after the mark).
    row = seed_income(g, day=date(2026, 11, 4), gross="50.00", model="A", chatter="C1")
    with unit_of_work() as uow:
        queries.mark_pending(uow, g.id, "income", [Slice(row["sale_date"], row["model_id"], row["type"],
                                                         row["chatter_id"])])
    assert ok(client.get(f"/api/stats/summary/?{NOV}", headers=g.h()))["gross_income"] == "100.00"
    fired = ok(client.post("/_emulator/scheduler/stats-sweep"))
    assert fired["job"] == "stats-sweep" and fired["drained"] is True
    assert ok(client.get(f"/api/stats/summary/?{NOV}", headers=g.h()))["gross_income"] == "150.00"
    assert scalar("SELECT count(*) FROM statistics_service.pending_slices WHERE agency_id = :a", {"a": g.id}) == 0
    assert scalar("SELECT count(*) FROM statistics_service.pending_dashboards WHERE agency_id = :a",
                  {"a": g.id}) == 0
