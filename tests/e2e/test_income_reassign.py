"""POST /api/income/records/{id}/reassign/ (issue #16): a sale and its refunds credited to another chatter (or, for an
imported sale, to nobody) with a reason, in open periods; both chatters' and managers' payout lines move; the audit
trail shows who and why; a Manager only within their team; another agency's record 404."""
from __future__ import annotations

from datetime import date

import pytest

from tests.factories import (
    close_period,
    error_locs,
    golden_agency,
    make_agency,
    make_user,
    ok,
    outbox,
    problem,
    set_financial_settings,
    sql,
)

NOV = date(2026, 11, 1)


def reassign(client, g, record_id: str, chatter: str | None, reason: str | None = "wrong chatter", who="owner"):
    body = {"chatter_id": None if chatter is None else str(g.people[chatter].id)}
    if reason is not None:
        body["reason"] = reason
    return client.post(f"/api/income/records/{record_id}/reassign/", json=body, headers=g.h(who))


@pytest.fixture
def g(client):
    """The golden agency (fee 20.00 % from 2026-11-01; M manages C1 and C2, C3 has no manager; A: C1, C2; B: C1,
    C3): commission C1 10 %, C2 5 %, C3 10 %, M's tick 5 %; C1's 1000.00 sale of B on 2026-11-03 with a 100.00 refund
    on 2026-11-05."""
    g = golden_agency("ra", client=client)
    g.A, g.B = str(g.models["A"]), str(g.models["B"])
    for who, rate in (("C1", "10.00"), ("C2", "5.00"), ("C3", "10.00")):
        set_financial_settings(g.people[who], NOV, commission_rate=rate)
    set_financial_settings(g.people["M"], NOV, manager_tick_rate="5.00")
    g.sale = register(client, g, "C1", g.B, "1000.00")
    g.refund = ok(client.post(f"/api/income/records/{g.sale['id']}/refunds/", json={
        "kind": "refund", "amount": "100.00", "refund_date": "2026-11-05"}, headers=g.h("owner")), 201)
    sql("DELETE FROM eventing.outbox")
    return g


def register(client, g, who: str, model: str, gross: str, day: str = "2026-11-03") -> dict:
    return ok(client.post("/api/income/register/", json={"type": "message_sale", "gross_amount": gross,
                                                         "sale_date": day, "model_id": model}, headers=g.h(who)), 201)


def pay_lines(client, g) -> dict[str, list[tuple[str, str, str]]]:
    """Each person's commission and tick lines of 2026-11 (kind, basis, amount), calculated now."""
    ok(client.post("/api/financials/calculate/", json={"period": "2026-11"}, headers=g.h("owner")))
    items = ok(client.get("/api/financials/payouts/?period=2026-11", headers=g.h("owner")))["items"]
    names = {str(p.id): n for n, p in g.people.items()}
    return {names[p["user_id"]]: sorted((l["kind"], l["basis"], l["amount"]) for l in p["lines"]
                                        if l["kind"] in ("commission", "manager_tick"))
            for p in items if p["user_id"] in names}


def record(record_id) -> tuple:
    (r,) = sql("SELECT chatter_id, manager_id FROM income_service.income_records WHERE id = :i", {"i": record_id})
    return r.chatter_id, r.manager_id


def nothing_written_since(entries: int) -> bool:
    """No income event and no audit entry of an income row since `entries`. (Only income's: on the local platform
    payouts' handlers may still be finishing the fixture's chain and write their own events and period rows.)"""
    new = sql("SELECT entity, action, actor_role FROM audit.entries WHERE id > :n AND entity IN "
              "('income', 'platform_transaction') ORDER BY id", {"n": entries})
    assert (outbox("income."), new) == ([], [])
    return True


def audit_count() -> int:
    """The newest audit entry's id (0: none yet)."""
    return sql("SELECT coalesce(max(id), 0) AS n FROM audit.entries")[0].n


def test_reassigning_moves_the_commission_and_the_tick_of_the_sale_and_its_refund(client, g):
    net = "720.00"  # (1000.00 − 20 %) − (100.00 − 20 %)
    before = pay_lines(client, g)
    assert (before.get("C1"), before.get("M"), before.get("C3", [])) == (
        [("commission", net, "72.00")], [("manager_tick", net, "36.00")], [])

    moved = ok(reassign(client, g, g.sale["id"], "C3", reason="  C3 sent the messages  "))
    assert (moved["id"], moved["chatter_id"], moved["manager_id"]) == (g.sale["id"], str(g.people["C3"].id), None)
    assert record(g.sale["id"]) == record(g.refund["id"]) == (g.people["C3"].id, None)

    after = pay_lines(client, g)
    assert (after.get("C1", []), after.get("M", []), after.get("C3")) == ([], [], [("commission", net, "72.00")])
    events = {e["data"]["income_id"]: e["data"] for e in outbox("income.updated")}
    assert set(events) == {g.sale["id"], g.refund["id"]}
    for e in events.values():
        assert e["reason"] == "reassigned"
        assert (e["old"]["chatter_id"], e["old"]["manager_id"]) == (str(g.people["C1"].id), str(g.people["M"].id))
        assert (e["new"]["chatter_id"], e["new"]["manager_id"], e["chatter_id"]) == (
            str(g.people["C3"].id), None, str(g.people["C3"].id))


def test_the_audit_trail_shows_the_reason_and_the_actor_of_each_moved_record(client, g):
    ok(reassign(client, g, g.sale["id"], "C3", reason="  C3 sent the messages  "))
    for rid in (g.sale["id"], g.refund["id"]):
        entries = ok(client.get("/api/audit/", query_string={"entity": "income", "entity_id": rid},
                                headers=g.h("owner")))["items"]
        latest, created = entries[0], entries[-1]
        assert (latest["action"], latest["reason"], latest["actor_user_id"], latest["actor_role"]) == (
            "update", "C3 sent the messages", str(g.owner.id), "owner")
        assert (latest["before"]["chatter_id"], latest["after"]["chatter_id"]) == (
            str(g.people["C1"].id), str(g.people["C3"].id))
        assert (created["action"], created["reason"]) == ("create", None)


def test_a_reason_is_required_and_a_refused_request_writes_nothing(client, g):
    entries = audit_count()
    for reason in (None, "", "   ", "x" * 501):
        assert error_locs(reassign(client, g, g.sale["id"], "C3", reason=reason), 400) == [["body", "reason"]]
    r = client.post(f"/api/income/records/{g.sale['id']}/reassign/", json={"reason": "no chatter given"},
                    headers=g.h("owner"))
    assert error_locs(r, 400) == [["body", "chatter_id"]]
    assert record(g.sale["id"]) == (g.people["C1"].id, g.people["M"].id)
    assert nothing_written_since(entries)


def test_a_closed_period_refuses_the_move_of_a_sale_or_of_its_refunds(client, g):
    october = register(client, g, "C1", g.B, "300.00", day="2026-10-20")
    ok(client.post(f"/api/income/records/{october['id']}/refunds/", json={
        "kind": "refund", "amount": "10.00", "refund_date": "2026-11-02"}, headers=g.h("owner")), 201)
    close_period(g, "2026-10")
    sql("DELETE FROM eventing.outbox")
    entries = audit_count()
    assert problem(reassign(client, g, october["id"], "C3"), 409)["type"].endswith("period-closed")
    assert record(october["id"]) == (g.people["C1"].id, g.people["M"].id)
    assert nothing_written_since(entries)


def test_who_may_reassign_what(client, g):
    a_sale = register(client, g, "C1", g.A, "50.00")
    c3_sale = register(client, g, "C3", g.B, "60.00")
    make_user(g, "manager", name="M2")
    # A Manager within their team: C1 → C2 (both M's).
    moved = ok(reassign(client, g, a_sale["id"], "C2", who="M"))
    assert (moved["chatter_id"], moved["manager_id"]) == (str(g.people["C2"].id), str(g.people["M"].id))
    # Not to a chatter outside the team; not a sale of another team's chatter (out of scope: 404).
    assert error_locs(reassign(client, g, g.sale["id"], "C3", who="M"), 403) == [["body", "chatter_id"]]
    problem(reassign(client, g, c3_sale["id"], "C1", who="M"), 404)
    problem(reassign(client, g, a_sale["id"], "C1", who="M2"), 404)
    # A Chatter never reassigns (403 before any look-up).
    problem(reassign(client, g, a_sale["id"], "C1", who="C2"), 403)
    assert record(c3_sale["id"]) == (g.people["C3"].id, None)


def test_another_agencys_record_or_chatter_is_404_and_the_new_chatter_must_be_credited(client, g):
    other = golden_agency("rb", client=client)
    foreign_sale = register(client, other, "C1", str(other.models["A"]), "40.00")
    problem(client.post(f"/api/income/records/{foreign_sale['id']}/reassign/", json={
        "chatter_id": str(g.people["C3"].id), "reason": "mine now"}, headers=g.h("owner")), 404)
    r = client.post(f"/api/income/records/{g.sale['id']}/reassign/", json={
        "chatter_id": str(other.people["C1"].id), "reason": "theirs"}, headers=g.h("owner"))
    assert error_locs(r, 404) == [["body", "chatter_id"]]
    # C2 is not assigned to model B; M is no chatter; a self-reported sale always has a chatter.
    for who in ("C2", "M", None):
        assert error_locs(reassign(client, g, g.sale["id"], who), 400) == [["body", "chatter_id"]], who
    # A refund follows its sale; other income has no chatter.
    assert problem(reassign(client, g, g.refund["id"], "C3"), 409)["type"].endswith("not-reassignable")
    other_income = ok(client.post("/api/income/register/", json={
        "type": "other_income", "gross_amount": "10.00", "sale_date": "2026-11-03"}, headers=g.h("owner")), 201)
    assert problem(reassign(client, g, other_income["id"], "C3"), 409)["type"].endswith("not-reassignable")
    assert record(foreign_sale["id"])[0] == other.people["C1"].id
    assert record(g.sale["id"]) == (g.people["C1"].id, g.people["M"].id)


def test_the_same_chatter_again_is_a_no_op(client, g):
    entries = audit_count()
    same = ok(reassign(client, g, g.sale["id"], "C1"))
    assert (same["chatter_id"], same["updated_at"]) == (g.sale["chatter_id"], g.sale["updated_at"])
    assert nothing_written_since(entries)


def test_an_imported_sale_is_unattributed_or_assigned_and_its_chargeback_follows(client, g):
    row = {"transaction_id": "T1", "occurred_at": "2026-11-03T15:00:00Z", "type": "message", "gross_amount": "80.00",
           "status": "cleared"}
    ok(client.post("/api/income/imports/", json={"model_id": g.A, "transactions": [row]}, headers=g.h("owner")))
    ok(client.post("/api/income/imports/", json={"model_id": g.A, "transactions": [{**row, "status": "reversed"}]},
                   headers=g.h("owner")))
    (sale,) = sql("SELECT id FROM income_service.income_records WHERE origin = 'import' AND refund_of IS NULL")
    (chargeback,) = sql("SELECT id FROM income_service.income_records WHERE refund_of = :s", {"s": sale.id})
    assert record(sale.id) == (None, None)
    # The Manager whose team chats for the model sees it where they assign it from (a Manager of no team doesn't).
    make_user(g, "manager", name="M2")
    listed = ok(client.get("/api/income/records/?unattributed=true", headers=g.h("M")))["items"]
    assert sorted(r["id"] for r in listed) == sorted([str(sale.id), str(chargeback.id)])  # the chargeback too
    assert ok(client.get(f"/api/income/records/{sale.id}/", headers=g.h("M")))["chatter_id"] is None
    assert ok(client.get("/api/income/records/?unattributed=true", headers=g.h("M2")))["items"] == []
    problem(client.get(f"/api/income/records/{sale.id}/", headers=g.h("M2")), 404)
    # Seeing it is not changing it: deleting stays the Owner's (out of the Manager's change scope: 404).
    problem(client.delete(f"/api/income/records/{sale.id}/", headers=g.h("M")), 404)
    # A Manager assigns an unattributed sale of a model their team chats for (they did not import it).
    assigned = ok(reassign(client, g, str(sale.id), "C2", who="M", reason="C2 was on the account"))
    assert (assigned["chatter_id"], assigned["manager_id"]) == (str(g.people["C2"].id), str(g.people["M"].id))
    assert record(chargeback.id) == (g.people["C2"].id, g.people["M"].id)
    ok(reassign(client, g, str(sale.id), None, reason="nobody sold it: a subscription renewal"))
    assert record(sale.id) == record(chargeback.id) == (None, None)
    assert [e["data"]["new"]["chatter_id"] for e in outbox("income.updated")][-2:] == [None, None]
