"""Deductions reach the payout (through timetracking_service.deductions_for): negative lines, balanced books."""
from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import text

from shared_lib.db import engine
from tests import factories as f
from tests.factories import bearer

API = "/api/timetracking"


def test_late_minutes_and_a_missed_shift_become_deduction_lines_in_the_payout(client, platform):
    r = client.post("/api/agencies/", json={"name": "Late Birds"}, headers=bearer("pay-owner"))
    assert r.status_code == 201
    a = r.get_json()
    owner = f.Person(uuid.UUID(a["owner_user_id"]), uuid.UUID(a["id"]), "pay-owner", "owner", timezone="UTC")
    chatter = f.make_user(owner, uid="pay-chatter")
    with engine().begin() as c:  # the users service owns these; seeded as test data
        c.execute(text("INSERT INTO user_service.user_financial_settings (agency_id, user_id, compensation_type, "
                       "fixed_salary, effective_from) VALUES (:a, :u, 'fixed', 3000.00, '2026-11-01')"),
                  {"a": owner.agency_id, "u": chatter.id})
    o = bearer("pay-owner")
    assert client.put(f"{API}/settings/", headers=o, json={
        "grace_minutes": 5, "late_event_threshold_minutes": 15, "max_shift_hours": 12,
        "fee_per_late_minute": "0.35", "fee_per_missed_shift": "40.00", "effective_from": "2026-11-01"}
    ).status_code == 200
    for day in (16, 17, 18):
        assert client.post(f"{API}/shifts/", headers=o, json={
            "user_id": str(chatter.id), "starts_at": f"2026-11-{day}T09:00:00Z",
            "ends_at": f"2026-11-{day}T17:00:00Z"}).status_code == 201
    for day, late in ((16, 12), (17, 19)):
        assert client.post(f"{API}/check-in/", headers=o, json={
            "user_id": str(chatter.id), "at": f"2026-11-{day}T09:{late:02d}:00Z"}).status_code == 201
        assert client.post(f"{API}/check-out/", headers=o, json={
            "user_id": str(chatter.id), "at": f"2026-11-{day}T17:00:00Z"}).status_code == 200
    # The 18th is missed: the sweep finds it and announces it (employee.time.event).
    assert client.post("/_emulator/scheduler/timetracking-sweep?as_of=2026-11-18").get_json()["drained"] is True
    assert platform.drain(30)

    r = client.get(f"/api/financials/payouts/?period=2026-11&user_id={chatter.id}", headers=o)
    assert r.status_code == 200, r.get_json()
    [payout] = r.get_json()["items"]
    deductions = sorted((line["detail"], line["basis"], line["rate"], line["amount"])
                        for line in payout["lines"] if line["kind"] == "deduction")
    assert deductions == [("late_minutes", "31.00", "0.35", "-10.85"), ("missed_shift", "1.00", "40.00", "-40.00")]
    assert Decimal(payout["total"]) == Decimal("3000.00") - Decimal("10.85") - Decimal("40.00")

    profit = client.get("/api/financials/profit/?period=2026-11", headers=o).get_json()
    assert Decimal(profit["employee_payouts"]) == Decimal(payout["total"])
    assert Decimal(profit["net_income"]) == (Decimal(profit["employee_payouts"]) + Decimal(profit["model_payouts"])
                                             + Decimal(profit["expenses"]) + Decimal(profit["agency_profit"]))
