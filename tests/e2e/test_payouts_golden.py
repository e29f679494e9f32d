"""BUSINESS_RULES.md's worked example end to end through HTTP: people, settings, sales, schedules, events, payouts."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from shared_lib import clock
from tests.factories import auth_emulator_host, bearer

AFTER_NOVEMBER = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SALES = [("C1", "A", "message_sale", "5000.00"), ("C1", "A", "tip_sale", "2500.00"),
         ("C1", "B", "message_sale", "10000.00"), ("C2", "A", "tip_sale", "1255.50"),
         ("C3", "B", "message_sale", "3000.00")]


def _ok(r, status=200):
    assert r.status_code == status, r.get_data(as_text=True)
    return r.get_json()


@pytest.fixture
def golden(client, platform):
    auth_emulator_host()  # people are created in Firebase Auth (the emulator) as in production
    tag = uuid.uuid4().hex[:8]
    owner = bearer(f"owner-{tag}", name="Owner")
    _ok(client.post("/api/agencies/", json={"name": "Golden Agency"}, headers=owner), 201)
    ids, heads = {}, {"owner": owner}

    def person(name, role, manager=None):
        body = {"email": f"{name.lower()}-{tag}@example.com", "display_name": name, "role": role}
        if manager:
            body["manager_id"] = ids[manager]
        user = _ok(client.post("/api/users/", json=body, headers=owner), 201)
        ids[name] = user["id"]
        heads[name] = bearer(user["firebase_uid"])

    person("M", "manager")
    person("C1", "chatter", "M")
    person("C2", "chatter", "M")
    person("C3", "chatter")
    for name, assigned in (("A", ["C1", "C2"]), ("B", ["C1", "C3"])):
        ids[name] = _ok(client.post("/api/models/", json={"name": name}, headers=owner), 201)["id"]
        _ok(client.put(f"/api/models/{ids[name]}/assignments/", json={"user_ids": [ids[u] for u in assigned]},
                       headers=owner))
    nov1 = "2026-11-01"
    _ok(client.put("/api/platform-settings/", json={"onlyfans_fee_percent": "20.00", "effective_from": nov1},
                   headers=owner))
    for name, ctype, rate, fixed, tick in (("M", "commission", "0.00", "0.00", "5.00"),
                                           ("C1", "commission", "10.00", "0.00", "0.00"),
                                           ("C2", "fixed_plus_commission", "5.00", "1500.00", "0.00"),
                                           ("C3", "fixed", "0.00", "2000.00", "0.00")):
        _ok(client.put(f"/api/users/{ids[name]}/financial-settings/", headers=owner, json={
            "compensation_type": ctype, "commission_rate": rate, "fixed_salary": fixed,
            "manager_tick_rate": tick, "effective_from": nov1}))
    for name, share, split in (("A", "50.00", True), ("B", "60.00", False)):
        _ok(client.put(f"/api/models/{ids[name]}/settings/", headers=owner, json={
            "model_share_percent": share, "split_chatting_costs": split, "effective_from": nov1}))
    for n, (chatter, model, type_, gross) in enumerate(SALES):
        _ok(client.post("/api/income/register/", headers=heads[chatter], json={
            "type": type_, "gross_amount": gross, "sale_date": f"2026-11-{3 + n:02d}", "model_id": ids[model]}), 201)
    _ok(client.post("/api/income/recurring/", headers=owner, json={
        "source": "Brand deal", "amount": "400.00", "frequency": "monthly", "day_of_month": 15,
        "start_date": nov1, "assigned_to_user_id": ids["M"], "split_percent": "25.00"}), 201)
    _ok(client.post("/api/expenses/recurring/", headers=owner, json={
        "source": "software", "amount": "1200.00", "frequency": "monthly", "day_of_month": 1, "start_date": nov1}),
        201)
    _ok(client.post("/api/expenses/", headers=owner, json={"amount": "300.00", "expense_date": "2026-11-10",
                                                          "source": "ads"}), 201)
    assert _ok(client.post("/_emulator/scheduler/recurring-generate?as_of=2026-11-30"))["drained"] is True
    assert _ok(client.post("/_emulator/drain"))["drained"] is True
    return ids, heads


def test_events_alone_bring_the_payouts_to_the_golden_figures(client, golden):
    ids, heads = golden
    # No explicit calculation: income.*, expense.* and settings events recalculated the period.
    profit = _ok(client.get("/api/financials/profit/?period=2026-11", headers=heads["owner"]))
    assert {k: profit[k] for k in ("gross_income", "platform_fees", "net_income", "employee_payouts",
                                   "model_payouts", "expenses", "agency_profit", "status")} == {
        "gross_income": "22155.50", "platform_fees": "4351.10", "net_income": "17804.40",
        "employee_payouts": "5800.44", "model_payouts": "9417.09", "expenses": "1500.00",
        "agency_profit": "1086.87", "status": "open"}


def test_calculate_payouts_and_model_payouts_match_every_figure(client, golden):
    ids, heads = golden
    owner = heads["owner"]
    totals = _ok(client.post("/api/financials/calculate/", json={"period": "2026-11"}, headers=owner))
    assert (totals["net_income"], totals["employee_payouts"], totals["model_payouts"], totals["expenses"],
            totals["agency_profit"]) == ("17804.40", "5800.44", "9417.09", "1500.00", "1086.87")
    payouts = _ok(client.get("/api/financials/payouts/?period=2026-11", headers=owner))["items"]
    by_user = {p["user_id"]: p for p in payouts}
    assert {n: by_user[ids[n]]["total"] for n in ("C1", "C2", "C3", "M")} == {
        "C1": "1400.00", "C2": "1550.22", "C3": "2000.00", "M": "850.22"}
    assert sorted((l["kind"], l["amount"]) for l in by_user[ids["M"]]["lines"]) == [
        ("manager_tick", "350.22"), ("manager_tick", "400.00"), ("other_income_share", "100.00")]
    assert sorted((l["kind"], l["basis"], l["rate"], l["amount"]) for l in by_user[ids["C2"]]["lines"]) == [
        ("commission", "1004.40", "5.00", "50.22"), ("fixed_salary", "1500.00", None, "1500.00")]
    models = {m["model_id"]: m for m in _ok(client.get("/api/financials/model-payouts/?period=2026-11",
                                                       headers=owner))["items"]}
    assert (models[ids["A"]]["base"], models[ids["A"]]["amount"]) == ("6354.18", "3177.09")
    assert (models[ids["B"]]["base"], models[ids["B"]]["amount"]) == ("10400.00", "6240.00")


def test_payouts_are_scoped_by_role(client, golden):
    ids, heads = golden
    mine = _ok(client.get("/api/financials/payouts/?period=2026-11", headers=heads["C1"]))["items"]
    assert [p["user_id"] for p in mine] == [ids["C1"]]
    team = _ok(client.get("/api/financials/payouts/?period=2026-11", headers=heads["M"]))["items"]
    assert sorted(p["user_id"] for p in team) == sorted([ids["M"], ids["C1"], ids["C2"]])
    assert client.get(f"/api/financials/payouts/?period=2026-11&user_id={ids['C3']}",
                      headers=heads["M"]).status_code == 404
    for path in ("/api/financials/profit/?period=2026-11", "/api/financials/model-payouts/?period=2026-11"):
        assert client.get(path, headers=heads["M"]).status_code == 403
    assert client.post("/api/financials/calculate/", json={"period": "2026-11"},
                       headers=heads["C1"]).status_code == 403
    other = bearer(f"other-{uuid.uuid4().hex[:6]}")
    _ok(client.post("/api/agencies/", json={"name": "Other"}, headers=other), 201)
    assert _ok(client.get("/api/financials/payouts/?period=2026-11", headers=other))["items"] == []
    assert client.get(f"/api/financials/payouts/?period=2026-11&user_id={ids['C1']}",
                      headers=other).status_code == 404


def test_closing_the_period_freezes_it(client, golden):
    ids, heads = golden
    owner = heads["owner"]
    assert client.post("/api/financials/periods/2026-11/close/", headers=heads["M"]).status_code == 403
    with clock.frozen(AFTER_NOVEMBER):  # a period is closed once it has ended
        assert _ok(client.post("/api/financials/periods/2026-11/close/", headers=owner)) == {
            "period": "2026-11", "status": "closed"}
    r = client.post("/api/income/register/", headers=heads["C1"], json={
        "type": "tip_sale", "gross_amount": "10.00", "sale_date": "2026-11-20", "model_id": ids["A"]})
    assert r.status_code == 409 and r.get_json()["type"].endswith("/period-closed")
    r = client.post("/api/expenses/", headers=owner, json={"amount": "5.00", "expense_date": "2026-11-20",
                                                          "source": "late"})
    assert r.status_code == 409
    r = client.put(f"/api/users/{ids['C1']}/financial-settings/", headers=owner, json={
        "compensation_type": "commission", "commission_rate": "50.00", "fixed_salary": "0.00",
        "manager_tick_rate": "0.00", "effective_from": "2026-11-10"})
    assert r.status_code == 409
    assert _ok(client.post("/_emulator/drain"))["drained"] is True
    profit = _ok(client.get("/api/financials/profit/?period=2026-11", headers=owner))
    assert (profit["agency_profit"], profit["status"]) == ("1086.87", "closed")
    again = _ok(client.post("/api/financials/calculate/", json={"period": "2026-11"}, headers=owner))
    assert (again["agency_profit"], again["status"]) == ("1086.87", "closed")


def test_bad_period_input_names_the_field(client, golden):
    _, heads = golden
    r = client.post("/api/financials/calculate/", json={"period": "2026-13"}, headers=heads["owner"])
    assert r.status_code == 400 and r.get_json()["errors"][0]["loc"] == ["body", "period"]
    r = client.post("/api/financials/periods/nov/close/", headers=heads["owner"])
    assert r.status_code == 400 and r.get_json()["errors"][0]["loc"] == ["path", "period"]


def test_a_burst_delivered_twice_and_out_of_order_ends_as_a_fresh_calculation(client, golden, platform):
    import json
    import random

    from sqlalchemy import text

    from functions.payouts import service
    from shared_lib import events
    from shared_lib.db import engine, unit_of_work
    from shared_lib.periods import Period

    ids, heads = golden
    rnd = random.Random(7)
    events.set_publisher(events.NullPublisher())  # hold every event back in the outbox
    try:
        for i in range(200):
            chatter, model = rnd.choice([("C1", "A"), ("C1", "B"), ("C2", "A"), ("C3", "B")])
            _ok(client.post("/api/income/register/", headers=heads[chatter], json={
                "type": rnd.choice(["message_sale", "tip_sale"]), "gross_amount": f"{rnd.randint(100, 99999) / 100:.2f}",
                "sale_date": f"2026-11-{rnd.randint(1, 24):02d}", "model_id": ids[model]}), 201)
    finally:
        events.set_publisher(platform.bus)
    with engine().begin() as c:
        rows = c.execute(text("UPDATE eventing.outbox SET published_at = now() WHERE published_at IS NULL "
                              "AND type = 'income.registered' RETURNING payload")).scalars().all()
    assert len(rows) == 200
    deliveries = [json.dumps(p).encode() for p in rows for _ in range(rnd.randint(1, 3))]
    rnd.shuffle(deliveries)
    for data in deliveries:
        platform.bus.publish_raw("income.registered", data, {})
    assert platform.drain(120)

    def snapshot():
        with engine().connect() as c:
            return c.execute(text("SELECT user_id, kind, model_id, basis, rate, amount FROM "
                                  "financial_calculations.payout_lines ORDER BY 1, 2, 3, 4, 5, 6")).all()

    after_events = snapshot()
    agency = uuid.UUID(_ok(client.get("/api/me/", headers=heads["owner"]))["agency_id"])
    with unit_of_work() as uow:
        fresh = service.period_recalculate(uow=uow, agency_id=agency, period=Period(2026, 11))
    assert snapshot() == after_events
    with engine().connect() as c:
        net = c.execute(text("SELECT sum(net_amount) FROM income_service.income_records WHERE agency_id = :a"),
                        {"a": agency}).scalar()
    assert fresh.net_income == net


def test_a_fee_change_mid_month_reprices_only_later_sales(client, golden):
    ids, heads = golden
    owner = heads["owner"]
    # Sales were registered on the 3rd..7th: C2's tip (6th) and C3's sale (7th) fall after the change.
    _ok(client.put("/api/platform-settings/", headers=owner,
                   json={"onlyfans_fee_percent": "25.00", "effective_from": "2026-11-06"}))
    assert _ok(client.post("/_emulator/drain"))["drained"] is True
    payouts = {p["user_id"]: p for p in _ok(client.get("/api/financials/payouts/?period=2026-11",
                                                       headers=owner))["items"]}
    assert payouts[ids["C1"]]["total"] == "1400.00"  # C1's sales (3rd-5th) keep the 20 % fee
    c2 = {l["kind"]: (l["basis"], l["amount"]) for l in payouts[ids["C2"]]["lines"]}
    assert c2["commission"] == ("941.62", "47.08")  # 1255.50 - round(313.875) = 941.62; 5 % = 47.08
    profit = _ok(client.get("/api/financials/profit/?period=2026-11", headers=owner))
    # fees: 4351.10 - 251.10 - 600.00 + 313.88 (C2 at 25 %) + 750.00 (C3 at 25 %)
    assert profit["platform_fees"] == "4563.88"


def test_each_users_running_payout_is_projected_to_firestore(client, golden):
    import os

    from shared_lib import firestore

    assert os.environ.get("FIRESTORE_EMULATOR_HOST"), "make test starts the Firestore emulator"
    ids, heads = golden
    agency = _ok(client.get("/api/me/", headers=heads["owner"]))["agency_id"]
    doc = firestore.client().document(f"agencies/{agency}/earnings/{ids['C2']}_2026-11").get()
    assert doc.exists
    data = doc.to_dict()
    assert (data["total"], data["period"], data["status"]) == ("1550.22", "2026-11", "open")
    assert data["uid"] == _ok(client.get(f"/api/users/{ids['C2']}/", headers=heads["owner"]))["firebase_uid"]
    assert sorted(l["amount"] for l in data["lines"]) == ["1500.00", "50.22"]
