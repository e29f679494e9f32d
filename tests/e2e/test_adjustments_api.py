"""POST GET /api/financials/adjustments/ and POST …/{id}/reverse/ (issue #15): Owner-only writes in open periods,
visible as payouts are, append-only, reversed once, each one an `adjustment` payout line at once."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from shared_lib import clock
from tests import factories as f

URL = "/api/financials/adjustments/"


def _ok(r, status=200):
    assert r.status_code == status, r.get_data(as_text=True)
    return r.get_json()


@pytest.fixture
def team(client):
    """Owner; Manager M with chatter C1 on their team; chatter C3 on no team."""
    a = f.make_agency(prefix=f"adj{uuid.uuid4().hex[:6]}")
    f.make_user(a, "manager", name="M")
    f.make_user(a, "chatter", name="C1", manager="M")
    f.make_user(a, "chatter", name="C3")
    return a


def post(client, a, name="C1", amount="-25.00", reason="late report", period="2026-10", who="owner"):
    return client.post(URL, headers=a.h(who), json={"user_id": str(a.user(name)), "period": period,
                                                     "amount": amount, "reason": reason})


def test_an_adjustment_is_recorded_and_is_a_payout_line_at_once(client, team):
    a = team
    body = _ok(post(client, a), 201)
    assert {k: body[k] for k in ("user_id", "period", "amount", "reason", "reverses", "created_by")} == {
        "user_id": str(a.user("C1")), "period": "2026-10", "amount": "-25.00", "reason": "late report",
        "reverses": None, "created_by": str(a.owner_id)}
    assert uuid.UUID(body["id"]) and body["created_at"]
    page = _ok(client.get(f"/api/financials/payouts/?period=2026-10&user_id={a.user('C1')}", headers=a.h()))
    (item,) = page["items"]
    assert [(l["kind"], l["amount"], l["detail"]) for l in item["lines"]] == [("adjustment", "-25.00", "late report")]
    assert item["total"] == "-25.00"


@pytest.mark.parametrize("field, value", [("amount", "0.00"), ("amount", "1000000.01"), ("amount", "-1000000.01"),
                                          ("amount", "1.005"), ("reason", ""), ("reason", "x" * 501),
                                          ("period", "2026-13"), ("user_id", "nope")])
def test_invalid_bodies_answer_400_naming_the_field(client, team, field, value):
    a = team
    body = {"user_id": str(a.user("C1")), "period": "2026-10", "amount": "10.00", "reason": "ok", field: value}
    assert ["body", field] in f.error_locs(client.post(URL, headers=a.h(), json=body), 400)
    assert f.scalar("SELECT count(*) FROM financial_calculations.adjustments") == 0


def test_limits_are_inclusive_and_reason_can_be_500_characters(client, team):
    a = team
    _ok(post(client, a, amount="1000000.00", reason="x" * 500), 201)
    _ok(post(client, a, amount="-1000000.00"), 201)


def test_only_the_owner_writes_a_person_of_another_agency_is_404_a_closed_period_409(client, team):
    a = team
    for who in ("M", "C1"):
        assert post(client, a, who=who).status_code == 403
    stranger = f.make_user(f.make_agency())
    r = client.post(URL, headers=a.h(), json={"user_id": str(stranger.id), "period": "2026-10", "amount": "1.00",
                                              "reason": "x"})
    assert f.problem(r, 404)
    f.close_period(a, "2026-09")
    assert f.problem(post(client, a, period="2026-09"), 409)["type"].endswith("/period-closed")
    assert f.scalar("SELECT count(*) FROM financial_calculations.adjustments") == 0
    assert f.scalar("SELECT count(*) FROM financial_calculations.payout_lines") == 0
    assert f.outbox("financial_calculation.") == []


def test_reversing_adds_the_opposite_once_and_a_reversal_is_not_reversible(client, team):
    a = team
    first = _ok(post(client, a, amount="50.00", reason="team target"), 201)
    back = _ok(client.post(f"{URL}{first['id']}/reverse/", headers=a.h(), json={"reason": "booked twice"}), 201)
    assert (back["amount"], back["reverses"], back["reason"], back["period"]) == (
        "-50.00", first["id"], "booked twice", "2026-10")
    again = client.post(f"{URL}{first['id']}/reverse/", headers=a.h(), json={})
    assert f.problem(again, 409)["type"].endswith("/already-reversed")
    of_reversal = client.post(f"{URL}{back['id']}/reverse/", headers=a.h(), json={})
    assert f.problem(of_reversal, 409)["type"].endswith("/already-reversed")
    assert f.problem(client.post(f"{URL}{uuid.uuid4()}/reverse/", headers=a.h(), json={}), 404)
    assert client.post(f"{URL}{first['id']}/reverse/", headers=a.h("M"), json={}).status_code == 403
    assert f.scalar("SELECT count(*) FROM financial_calculations.adjustments") == 2  # nothing more landed
    page = _ok(client.get(f"/api/financials/payouts/?period=2026-10&user_id={a.user('C1')}", headers=a.h()))
    assert page["items"] == [] or page["items"][0]["total"] == "0.00"


def test_concurrent_reversals_one_wins(client, team):
    a = team
    first = _ok(post(client, a), 201)
    app = client.application
    codes = []
    f.race(lambda i: codes.append(app.test_client().post(f"{URL}{first['id']}/reverse/", headers=a.h(),
                                                         json={}).status_code))
    assert sorted(codes) == [201, 409, 409]
    assert f.scalar("SELECT count(*) FROM financial_calculations.adjustments WHERE reverses = :i",
                    i=first["id"]) == 1


def test_a_reversal_of_an_adjustment_in_a_closed_period_is_409(client, team):
    a = team
    first = _ok(post(client, a, period="2026-09"), 201)
    f.close_period(a, "2026-09")
    r = client.post(f"{URL}{first['id']}/reverse/", headers=a.h(), json={})
    assert f.problem(r, 409)["type"].endswith("/period-closed")
    assert f.scalar("SELECT count(*) FROM financial_calculations.adjustments") == 1


def test_the_list_is_scoped_like_payouts_filtered_and_paged(client, team):
    a = team
    ids = {name: _ok(post(client, a, name=name, amount="10.00"), 201)["id"] for name in ("M", "C1", "C3", "owner")}
    _ok(post(client, a, name="C1", period="2026-11", amount="5.00"), 201)

    def listed(who, query=""):
        return [(i["user_id"], i["period"]) for i in _ok(client.get(f"{URL}?{query}", headers=a.h(who)))["items"]]

    assert len(listed("owner")) == 5
    assert {u for u, _ in listed("M")} == {str(a.user("M")), str(a.user("C1"))}
    assert {u for u, _ in listed("C1")} == {str(a.user("C1"))}
    assert listed("owner", "period=2026-11") == [(str(a.user("C1")), "2026-11")]
    assert listed("owner", f"user_id={a.user('C3')}") == [(str(a.user("C3")), "2026-10")]
    assert f.problem(client.get(f"{URL}?user_id={a.user('C3')}", headers=a.h("C1")), 404)
    seen, cursor = [], None
    while True:
        page = _ok(client.get(f"{URL}?limit=2" + (f"&cursor={cursor}" if cursor else ""), headers=a.h()))
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5 and set(ids.values()) <= set(seen)
    assert ["query", "cursor"] in f.error_locs(client.get(f"{URL}?cursor=garbage", headers=a.h()), 400)


def test_a_period_not_yet_begun_in_the_agencys_time_zone_is_400_on_period_and_writes_nothing(client, team):
    """Today through the clock seam: 15 November 2026. November takes adjustments; December, not yet begun,
    answers 400 naming `period` (a bonus for next month is recorded once it has begun); nothing is written."""
    a = team
    with clock.frozen(datetime(2026, 11, 15, 12, 0, tzinfo=timezone.utc)):
        _ok(post(client, a, period="2026-11", amount="5.00"), 201)
        r = f.problem(post(client, a, period="2026-12", amount="5.00"), 400)
        assert r["errors"][0]["loc"] == ["body", "period"] and "2026-11" in r["errors"][0]["msg"]
    assert f.scalar("SELECT count(*) FROM financial_calculations.adjustments WHERE period = '2026-12'") == 0
    with clock.frozen(datetime(2026, 12, 1, 0, 0, 1, tzinfo=timezone.utc)):  # the month has begun
        _ok(post(client, a, period="2026-12", amount="5.00"), 201)
