"""GET /api/audit/ (docs/audit.md): the Owner reads their agency's trail newest first, filtered by entity, entity id,
actor and the agency's local dates, a page at a time; nobody else reads it, and another agency's ids find nothing."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.factories import make_agency, make_user, problem


def entries(client, agency, who="owner", **query):
    r = client.get("/api/audit/", query_string={k: str(v) for k, v in query.items()}, headers=agency.h(who))
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def record_expense(client, agency, amount="300.00"):
    r = client.post("/api/expenses/", json={"amount": amount, "expense_date": "2026-11-10", "source": "ads"},
                    headers=agency.h())
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def test_the_owner_reads_each_change_newest_first_with_its_values(client):
    agency = make_agency()
    expense = record_expense(client, agency)
    r = client.put(f"/api/expenses/{expense}/", json={"amount": "310.50", "expense_date": "2026-11-10",
                                                      "source": "ads"}, headers=agency.h())
    assert r.status_code == 200
    assert client.delete(f"/api/expenses/{expense}/", headers=agency.h()).status_code == 204

    page = entries(client, agency, entity="expense", entity_id=expense)
    assert [e["action"] for e in page["items"]] == ["delete", "update", "create"]
    assert page["next_cursor"] is None
    delete, update, create = page["items"]
    assert set(create) == {"id", "at", "actor_user_id", "actor_role", "action", "entity", "entity_id", "before",
                           "after", "reason"}
    assert {e["reason"] for e in page["items"]} == {None}  # no reason asked for these changes
    assert {(e["actor_user_id"], e["actor_role"], e["entity"]) for e in page["items"]} == {
        (str(agency.owner_id), "owner", "expense")}
    # Amounts keep their cents, as text like everywhere in the API.
    assert create["before"] is None and create["after"]["amount"] == "300.00"
    assert update["before"]["amount"] == "300.00" and update["after"]["amount"] == "310.50"
    assert delete["before"]["amount"] == "310.50" and delete["after"] is None


def test_filters_and_pages(client):
    agency = make_agency()
    chatter = make_user(agency, name="C")  # in SQL: no person named, the system's entry
    ids = [record_expense(client, agency, f"{n}.00") for n in (10, 11, 12)]

    assert [e["entity_id"] for e in entries(client, agency, entity="expense")["items"]] == ids[::-1]
    assert [e["entity_id"] for e in entries(client, agency, actor_user_id=agency.owner_id)["items"]] == ids[::-1]
    (system,) = entries(client, agency, entity="user", entity_id=chatter.id)["items"]
    assert (system["actor_user_id"], system["actor_role"], system["action"]) == (None, "system", "create")
    assert entries(client, agency, entity="model")["items"] == []

    seen, cursor = [], None
    while True:
        page = entries(client, agency, entity="expense", limit=2, **({"cursor": cursor} if cursor else {}))
        seen += [e["entity_id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]
    assert problem(client.get("/api/audit/?cursor=nonsense", headers=agency.h()), 400)
    assert problem(client.get("/api/audit/?entity=Robert');", headers=agency.h()), 400)


def test_dates_are_the_agencys_local_days(client):
    # A zone whose date differs from UTC's right now: the day after UTC's late in the UTC day, the day before early.
    zone = "Pacific/Kiritimati" if datetime.now(UTC).hour >= 10 else "Pacific/Pago_Pago"
    agency = make_agency(timezone=zone)
    expense = record_expense(client, agency)
    local_today = datetime.now(ZoneInfo(zone)).date()
    utc_today = datetime.now(UTC).date()
    assert local_today != utc_today

    def dated(**days):
        return [e["entity_id"] for e in entries(client, agency, entity="expense", **days)["items"]]

    assert dated(date_from=local_today, date_to=local_today) == [expense]
    assert dated(date_from=utc_today, date_to=utc_today) == []
    assert dated(date_to=local_today - timedelta(days=1)) == []
    assert dated(date_from=local_today + timedelta(days=1)) == []
    assert problem(client.get(f"/api/audit/?date_from={local_today}&date_to={local_today - timedelta(days=1)}",
                              headers=agency.h()), 400)


def test_only_the_owner_and_only_their_agency(client):
    agency, other = make_agency(), make_agency()
    make_user(agency, "manager", name="M")
    make_user(agency, "chatter", name="C", manager="M")
    expense = record_expense(client, agency)
    for who in ("M", "C"):
        assert problem(client.get("/api/audit/", headers=agency.h(who)), 403)
    assert client.get("/api/audit/").status_code == 401
    # Another agency's Owner filtering by this agency's ids finds nothing of it.
    assert entries(client, other, entity="expense", entity_id=expense)["items"] == []
    assert entries(client, other, actor_user_id=agency.owner_id)["items"] == []
    assert str(agency.id) not in str(entries(client, other))
