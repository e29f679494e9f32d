"""The payroll export (GET /api/financials/periods/{period}/export.csv, Owner): what the bookkeeper opens in a
spreadsheet — one row per person and per model, the sums per line kind, the total and the payment — to the cent."""
from __future__ import annotations

import csv
import io
from decimal import Decimal

from tests.e2e.test_payments_api import TX1, closed, pay  # noqa: F401  (the fixture)
from tests.e2e.test_period_closing_rules import shop  # noqa: F401
from tests.factories import make_user, problem, sql

KINDS = ["commission", "fixed_salary", "manager_tick", "other_income_share", "deduction", "bonus", "hourly",
         "adjustment", "carried_forward", "carried_balance"]
HEADER = ["id", "name", "role", *KINDS, "model_payout", "total", "payment_status", "paid_at", "method", "reference"]


def export(client, a, period="2026-10", who="owner"):
    return client.get(f"/api/financials/periods/{period}/export.csv", headers=a.h(who))


def rows(r) -> list[dict[str, str]]:
    assert r.status_code == 200, r.get_data(as_text=True)
    text = r.get_data().decode("utf-8")
    assert text.startswith("\ufeff")  # a BOM: spreadsheets read non-Latin names right
    table = list(csv.reader(io.StringIO(text[1:])))
    assert table[0] == HEADER
    return [dict(zip(HEADER, row)) for row in table[1:]]


def test_one_row_per_person_and_model_with_sums_per_kind_and_the_payment(client, closed):
    a = closed
    assert pay(client, a, {"user_id": str(a.user("C1")), **TX1}).status_code == 201
    r = export(client, a)
    assert r.mimetype == "text/csv"
    assert r.headers["Content-Disposition"] == 'attachment; filename="payroll-2026-10.csv"'
    got = rows(r)
    zero = dict.fromkeys(KINDS, "0.00")
    assert got == [
        {"id": str(a.user("C1")), "name": "C1", "role": "chatter", **zero, "commission": "80.00",
         "model_payout": "", "total": "80.00", "payment_status": "paid", "paid_at": "2026-11-05", "method": "bank",
         "reference": "TX-1"},
        {"id": str(a.user("C3")), "name": "C3", "role": "chatter", **zero, "adjustment": "-30.00",
         "carried_forward": "30.00", "model_payout": "", "total": "0.00", "payment_status": "nothing_due",
         "paid_at": "", "method": "", "reference": ""},
        {"id": str(a.user("M")), "name": "M", "role": "manager", **zero, "manager_tick": "40.00",
         "model_payout": "", "total": "40.00", "payment_status": "unpaid", "paid_at": "", "method": "",
         "reference": ""},
        {"id": str(a.models["X"]), "name": "X", "role": "model", **dict.fromkeys(KINDS, ""),
         "model_payout": "320.00", "total": "320.00", "payment_status": "unpaid", "paid_at": "", "method": "",
         "reference": ""},
    ]
    # The columns add up: the people's totals are the period's employee payouts, the models' its model payouts.
    profit = client.get("/api/financials/profit/?period=2026-10", headers=a.h()).get_json()
    people = [row for row in got if row["role"] != "model"]
    assert sum(Decimal(row["total"]) for row in people) == Decimal(profit["employee_payouts"])
    assert all(sum(Decimal(row[k]) for k in KINDS) == Decimal(row["total"]) for row in people)
    assert sum(Decimal(row["model_payout"]) for row in got if row["role"] == "model") == \
        Decimal(profit["model_payouts"])


def test_the_next_period_shows_the_carried_balance(client, closed):
    a = closed
    (c3,) = [row for row in rows(export(client, a, "2026-11")) if row["name"] == "C3"]
    assert (c3["carried_balance"], c3["total"], c3["payment_status"]) == ("-30.00", "-30.00", "nothing_due")


def test_a_name_that_looks_like_a_formula_stays_text(client, closed):
    a = closed
    sql("UPDATE user_service.users SET display_name = '=HYPERLINK(\"http://x\")' WHERE id = :u", {"u": a.user("C1")})
    (c1,) = [row for row in rows(export(client, a)) if row["id"] == str(a.user("C1"))]
    assert c1["name"] == "'=HYPERLINK(\"http://x\")" and c1["commission"] == "80.00"


def test_only_the_owner_exports_and_another_agency_sees_only_its_own(client, closed):
    a = closed
    for who in ("M", "C1"):
        problem(export(client, a, who=who), 403)
    from tests.factories import make_agency

    other = make_agency()
    make_user(other, "chatter")
    r = client.get("/api/financials/periods/2026-10/export.csv", headers=other.h())
    assert rows(r) == []
    problem(client.get("/api/financials/periods/2026-13/export.csv", headers=a.h()), 400)
