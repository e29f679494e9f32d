"""BUSINESS_RULES.md's worked example through HTTP: every income and expense record, to the cent."""
from __future__ import annotations

from decimal import Decimal

from tests.factories import golden_agency, outbox

SALES = [  # (who registers, chatter, model, type, gross) → fee, net
    ("C1", None, "A", "message_sale", "5000.00", "1000.00", "4000.00"),
    ("C1", None, "A", "tip_sale", "2500.00", "500.00", "2000.00"),
    ("C1", None, "B", "message_sale", "10000.00", "2000.00", "8000.00"),
    ("M", "C2", "A", "tip_sale", "1255.50", "251.10", "1004.40"),
    ("owner", "C3", "B", "message_sale", "3000.00", "600.00", "2400.00"),
]


def test_the_golden_example_comes_out_to_the_cent(client):
    g = golden_agency(client=client)
    ids = {}
    for n, (who, chatter, model, type_, gross, fee, net) in enumerate(SALES):
        body = {"type": type_, "gross_amount": gross, "sale_date": f"2026-11-{3 + n:02d}",
                "model_id": str(g.models[model])}
        if chatter:
            body["chatter_id"] = str(g.users[chatter])
        r = client.post("/api/income/register/", json=body, headers=g.h(who))
        assert r.status_code == 201, r.get_json()
        rec = r.get_json()
        credited = chatter or who
        assert (rec["gross_amount"], rec["fee_percent"], rec["fee_amount"], rec["net_amount"]) == \
            (gross, "20.00", fee, net)
        assert rec["chatter_id"] == str(g.users[credited])
        assert rec["manager_id"] == (None if credited == "C3" else str(g.users["M"]))
        assert rec["registered_by_user_id"] == str(g.user(who))
        ids[rec["id"]] = rec

    r = client.post("/api/income/recurring/", headers=g.h(), json={
        "source": "Brand deal", "amount": "400.00", "frequency": "monthly", "day_of_month": 15,
        "start_date": "2026-11-01", "assigned_to_user_id": str(g.users["M"]), "split_percent": "25.00"})
    assert r.status_code == 201, r.get_json()
    income_schedule = r.get_json()["id"]
    r = client.post("/api/expenses/recurring/", headers=g.h(), json={
        "source": "software", "amount": "1200.00", "frequency": "monthly", "day_of_month": 1,
        "start_date": "2026-11-01"})
    assert r.status_code == 201, r.get_json()
    expense_schedule = r.get_json()["id"]
    r = client.post("/api/expenses/", headers=g.h(), json={"amount": "300.00", "expense_date": "2026-11-10",
                                                            "source": "ads"})
    assert r.status_code == 201, r.get_json()

    r = client.post("/_emulator/scheduler/recurring-generate?as_of=2026-11-30")
    assert r.status_code == 200 and r.get_json()["subscribers"] == 2 and r.get_json()["drained"] is True

    page = client.get("/api/income/records/?date_from=2026-11-01&date_to=2026-11-30", headers=g.h()).get_json()
    assert page["next_cursor"] is None and len(page["items"]) == 6
    (other,) = [i for i in page["items"] if i["type"] == "other_income"]
    assert (other["gross_amount"], other["fee_percent"], other["fee_amount"], other["net_amount"]) == \
        ("400.00", "0.00", "0.00", "400.00")
    assert (other["sale_date"], other["schedule_id"], other["split_percent"], other["assigned_to_user_id"]) == \
        ("2026-11-15", income_schedule, "25.00", str(g.users["M"]))
    total = {k: sum(Decimal(i[k]) for i in page["items"]) for k in ("gross_amount", "fee_amount", "net_amount")}
    assert total == {"gross_amount": Decimal("22155.50"), "fee_amount": Decimal("4351.10"),
                     "net_amount": Decimal("17804.40")}

    expenses = client.get("/api/expenses/?date_from=2026-11-01&date_to=2026-11-30", headers=g.h()).get_json()
    assert [(e["expense_date"], e["amount"], e["source"], e["schedule_id"]) for e in expenses["items"]] == [
        ("2026-11-10", "300.00", "ads", None), ("2026-11-01", "1200.00", "software", expense_schedule)]
    assert sum(Decimal(e["amount"]) for e in expenses["items"]) == Decimal("1500.00")

    assert [e["type"] for e in outbox("income.")] == ["income.registered"] * 6
    assert [e["type"] for e in outbox("expense.")] == ["expense.recorded"] * 2
