"""BUSINESS_RULES.md's worked example 2 end to end, through HTTP and events alone (the in-process platform and its
bus, real emulator tokens): people and settings from 2026-09-01, September's sales and close, October's sales,
the chargeback and the refund, D2's shifts checked in and out, the adjustments and the expense; every figure of
the October table, its statistics, its close (D3's clawback carried into November) and D1's payment, to the cent.

The story is told in order, each step with the clock (shared_lib.clock.frozen) standing at the moment it happens:
sales and refunds are registered on their day, D2 checks in and out at the minutes given, a month is closed once
it has ended, D1 is paid on 2026-11-05.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from shared_lib import clock
from tests.conftest import _truncate_all
from tests.factories import auth_emulator_host, bearer

FROM = "2026-09-01"
HOURLY_D2 = 1830  # 600 + 600 + 630 worked minutes


def _ok(r, status=200):
    assert r.status_code == status, r.get_data(as_text=True)
    return r.get_json()


@contextmanager
def at(instant: str):
    """The clock stands at `instant` (UTC, "2026-10-12T09:00") for the block."""
    with clock.frozen(datetime.fromisoformat(instant + "+00:00")):
        yield


@dataclass
class World:
    client: Any
    platform: Any
    ids: dict[str, str] = field(default_factory=dict)
    heads: dict[str, dict[str, str]] = field(default_factory=dict)
    sales: dict[str, dict[str, Any]] = field(default_factory=dict)  # by the story's name for them

    @property
    def owner(self) -> dict[str, str]:
        return self.heads["owner"]

    def post(self, path: str, body: dict | None = None, who: str = "owner", status: int = 201):
        return _ok(self.client.post(path, json=body, headers=self.heads[who]), status)

    def put(self, path: str, body: dict, who: str = "owner"):
        return _ok(self.client.put(path, json=body, headers=self.heads[who]))

    def get(self, path: str, who: str = "owner"):
        return _ok(self.client.get(path, headers=self.heads[who]))

    def drain(self) -> None:
        assert _ok(self.client.post("/_emulator/drain"))["drained"] is True

    def sale(self, name: str, chatter: str, type_: str, gross: str, on: str) -> None:
        with at(f"{on}T15:00"):  # registered by the chatter on the day of the sale
            self.sales[name] = self.post("/api/income/register/", {
                "type": type_, "gross_amount": gross, "sale_date": on, "model_id": self.ids["P"]}, who=chatter)

    def payouts(self, period: str) -> dict[str, dict[str, Any]]:
        items = self.get(f"/api/financials/payouts/?period={period}")["items"]
        name = {v: k for k, v in self.ids.items()}
        return {name[p["user_id"]]: p for p in items}

    def lines(self, period: str) -> dict[str, list[tuple[str, str]]]:
        return {who: sorted((line["kind"], line["amount"]) for line in p["lines"])
                for who, p in self.payouts(period).items()}

    def model_payout(self, period: str) -> dict[str, Any]:
        (item,) = self.get(f"/api/financials/model-payouts/?period={period}")["items"]
        assert item["model_id"] == self.ids["P"]
        return item

    def profit(self, period: str) -> dict[str, str]:
        p = self.get(f"/api/financials/profit/?period={period}")
        return {k: p[k] for k in ("net_income", "employee_payouts", "model_payouts", "expenses", "agency_profit",
                                  "status")}


def people_and_settings(client, platform) -> World:
    """The agency (USD, UTC, fee 20 %), N with D1 and D2 in the team, D3 without a manager, model P; every setting
    effective 2026-09-01."""
    auth_emulator_host()  # people are created in Firebase Auth (the emulator), as in production
    w = World(client, platform)
    tag = uuid.uuid4().hex[:8]
    with at("2026-09-01T08:00"):
        w.heads["owner"] = bearer(f"owner2-{tag}", name="Owner")
        agency = w.post("/api/agencies/", {"name": "Worked Example 2", "currency": "USD", "timezone": "UTC"})
        w.ids["owner"] = agency["owner_user_id"]
        for name, role, manager in (("N", "manager", None), ("D1", "chatter", "N"), ("D2", "chatter", "N"),
                                    ("D3", "chatter", None)):
            body = {"email": f"{name.lower()}-{tag}@example2.test", "display_name": name, "role": role}
            if manager:
                body["manager_id"] = w.ids[manager]
            user = w.post("/api/users/", body)
            w.ids[name], w.heads[name] = user["id"], bearer(user["firebase_uid"])
        w.ids["P"] = w.post("/api/models/", {"name": "P"})["id"]
        w.put(f"/api/models/{w.ids['P']}/assignments/", {"user_ids": [w.ids[u] for u in ("D1", "D2", "D3")]})
        w.put("/api/platform-settings/", {"onlyfans_fee_percent": "20.00", "effective_from": FROM})
        pay = {
            "N": {"compensation_type": "commission", "commission_rate": "0.00", "manager_tick_rate": "5.00"},
            "D1": {"compensation_type": "commission", "commission_rate": "10.00",
                   "bonus_bands": [{"from_net": "5000.00", "bonus": "150.00"},
                                   {"from_net": "10000.00", "bonus": "400.00"}]},
            "D2": {"compensation_type": "hourly_plus_commission", "commission_rate": "5.00", "hourly_rate": "6.00"},
            "D3": {"compensation_type": "commission", "commission_rate": "10.00"},
        }
        for name, body in pay.items():
            version = w.put(f"/api/users/{w.ids[name]}/financial-settings/", {
                "fixed_salary": "0.00", "manager_tick_rate": "0.00", **body, "effective_from": FROM})
            assert (version["compensation_type"], version["effective_from"]) == (body["compensation_type"], FROM)
        w.put(f"/api/models/{w.ids['P']}/settings/", {"model_share_percent": "40.00", "split_chatting_costs": True,
                                                     "effective_from": FROM})
    return w


def september(w: World) -> None:
    w.sale("D1 September", "D1", "message_sale", "500.00", "2026-09-20")
    w.sale("D3 September", "D3", "tip_sale", "300.00", "2026-09-25")
    w.drain()


def close_september(w: World) -> None:
    with at("2026-10-01T09:00"):  # September has ended (UTC)
        assert w.post("/api/financials/periods/2026-09/close/", status=200) == {"period": "2026-09",
                                                                                "status": "closed"}


def october_sales(w: World) -> None:
    w.sale("D1 message", "D1", "message_sale", "8000.00", "2026-10-03")
    w.sale("D1 tip", "D1", "tip_sale", "1000.00", "2026-10-10")
    w.sale("D2 message", "D2", "message_sale", "2000.00", "2026-10-12")


def d2_shifts(w: World) -> None:
    """Three shifts of 09:00-19:00 planned by the Owner; D2 checks in and out herself, "now" each time."""
    with at("2026-10-01T10:00"):
        for day in (12, 13, 14):
            w.post("/api/timetracking/shifts/", {"user_id": w.ids["D2"], "starts_at": f"2026-10-{day}T09:00:00Z",
                                                "ends_at": f"2026-10-{day}T19:00:00Z"})
    for day, out in ((12, "19:00"), (13, "19:00"), (14, "19:30")):
        with at(f"2026-10-{day}T09:00"):
            entry = w.post("/api/timetracking/check-in/", {}, who="D2")
        with at(f"2026-10-{day}T{out}"):
            closed = w.post("/api/timetracking/check-out/", {}, who="D2", status=200)
        assert closed["id"] == entry["id"]


def expense(w: World) -> None:
    with at("2026-10-01T10:00"):
        w.post("/api/expenses/", {"amount": "1000.00", "expense_date": "2026-10-01", "source": "software"})


def refunds(w: World) -> None:
    """D1's September sale charged back in full on 10-05, D3's September tip refunded in full on 10-06 (their
    period is closed: the refunds land in October)."""
    for name, kind, amount, on in (("D1 September", "chargeback", "500.00", "2026-10-05"),
                                   ("D3 September", "refund", "300.00", "2026-10-06")):
        with at(f"{on}T11:00"):
            w.sales[f"{name} {kind}"] = w.post(f"/api/income/records/{w.sales[name]['id']}/refunds/",
                                               {"kind": kind, "amount": amount, "refund_date": on})


def adjustments(w: World) -> None:
    with at("2026-10-31T12:00"):
        for who, amount, reason in (("D2", "-25.00", "late report"), ("N", "50.00", "team target")):
            adj = w.post("/api/financials/adjustments/", {"user_id": w.ids[who], "period": "2026-10",
                                                          "amount": amount, "reason": reason})
            assert (adj["amount"], adj["reason"], adj["reverses"]) == (amount, reason, None)
    w.drain()


@pytest.fixture(scope="module")
def october(platform) -> Iterator[World]:
    """Worked example 2 up to the end of October, the period still open, built once for the module (the close
    test comes last and is the only one that changes it). Events are drained before September's close and at the
    end: handled in any order, they end in the same figures."""
    _truncate_all()
    client = platform.wsgi_app().test_client()
    w = people_and_settings(client, platform)
    september(w)
    close_september(w)
    expense(w)
    october_sales(w)
    refunds(w)
    d2_shifts(w)
    adjustments(w)
    yield w
    platform.drain(10)


OCTOBER_LINES = {
    "D1": [("bonus", "150.00"), ("commission", "680.00")],
    "D2": [("adjustment", "-25.00"), ("commission", "80.00"), ("hourly", "183.00")],
    "D3": [("commission", "-24.00")],
    "N": [("adjustment", "50.00"), ("manager_tick", "420.00")],
}


def _people(w: World, period: str) -> dict:
    return {k: v for k, v in w.lines(period).items() if k in ("D1", "D2", "D3", "N")}


def test_the_records_september_and_d2s_minutes(october):
    w = october
    assert {name: (s["type"], s["gross_amount"], s["fee_amount"], s["net_amount"], s["sale_date"], s["manager_id"])
            for name, s in w.sales.items()} == {
        "D1 September": ("message_sale", "500.00", "100.00", "400.00", "2026-09-20", w.ids["N"]),
        "D3 September": ("tip_sale", "300.00", "60.00", "240.00", "2026-09-25", None),
        "D1 message": ("message_sale", "8000.00", "1600.00", "6400.00", "2026-10-03", w.ids["N"]),
        "D1 tip": ("tip_sale", "1000.00", "200.00", "800.00", "2026-10-10", w.ids["N"]),
        "D2 message": ("message_sale", "2000.00", "400.00", "1600.00", "2026-10-12", w.ids["N"]),
        # The refunds: negative, in October, with their original's chatter and manager snapshot.
        "D1 September chargeback": ("chargeback", "-500.00", "-100.00", "-400.00", "2026-10-05", w.ids["N"]),
        "D3 September refund": ("refund", "-300.00", "-60.00", "-240.00", "2026-10-06", None),
    }
    for refund, original in (("D1 September chargeback", "D1 September"), ("D3 September refund", "D3 September")):
        assert w.sales[refund]["refund_of"] == w.sales[original]["id"]
        assert w.sales[refund]["chatter_id"] == w.sales[original]["chatter_id"]

    # September, closed before the refunds, keeps its figures: D1 10 % × 400.00, D3 10 % × 240.00, N 5 % × 400.00
    # (D3 has no manager); model P (640.00 − 64.00) × 40 %.
    assert w.profit("2026-09") == {"net_income": "640.00", "employee_payouts": "84.00", "model_payouts": "230.40",
                                   "expenses": "0.00", "agency_profit": "325.60", "status": "closed"}
    totals = {who: p["total"] for who, p in w.payouts("2026-09").items()}
    assert {k: totals[k] for k in ("D1", "D3", "N")} == {"D1": "40.00", "D3": "24.00", "N": "20.00"}
    model = w.model_payout("2026-09")
    assert (model["base"], model["amount"]) == ("576.00", "230.40")
    r = w.client.post("/api/income/register/", headers=w.heads["D1"], json={
        "type": "tip_sale", "gross_amount": "10.00", "sale_date": "2026-09-30", "model_id": w.ids["P"]})
    assert r.status_code == 409 and r.get_json()["type"].endswith("/period-closed")

    span = "date_from=2026-10-01&date_to=2026-10-31"
    summary = w.get(f"/api/timetracking/summary/{w.ids['D2']}/?{span}")
    assert (summary["worked_minutes"], summary["late_count"], summary["overtime_minutes"]) == (HOURLY_D2, 0, 30)
    assert w.get(f"/api/timetracking/summary/{w.ids['D2']}/?{span}", who="D2")["worked_minutes"] == HOURLY_D2


def test_every_figure_of_the_october_table_and_its_statistics(october):
    w = october
    assert _people(w, "2026-10") == OCTOBER_LINES
    by = w.payouts("2026-10")
    assert {k: by[k]["total"] for k in OCTOBER_LINES} == {"D1": "830.00", "D2": "238.00", "D3": "-24.00",
                                                          "N": "470.00"}
    assert all(p["total"] == "0.00" for k, p in by.items() if k not in OCTOBER_LINES)
    d1 = {line["kind"]: line for line in by["D1"]["lines"]}
    # One commission line: the chargeback is priced at September's rate, the same 10 %, so it joins October's.
    assert (d1["commission"]["basis"], d1["commission"]["rate"]) == ("6800.00", "10.00")
    d2 = {line["kind"]: line for line in by["D2"]["lines"]}
    assert (d2["commission"]["basis"], d2["commission"]["rate"]) == ("1600.00", "5.00")
    assert d2["hourly"]["amount"] == "183.00" and "1830" in d2["hourly"]["detail"]  # 1830 min × 6.00 / 60
    d3 = {line["kind"]: line for line in by["D3"]["lines"]}
    assert (d3["commission"]["basis"], d3["commission"]["rate"]) == ("-240.00", "10.00")
    n = {line["kind"]: line for line in by["N"]["lines"]}
    assert (n["manager_tick"]["basis"], n["manager_tick"]["rate"]) == ("8400.00", "5.00")
    model = w.model_payout("2026-10")
    assert (model["base"], model["model_share_percent"], model["amount"]) == ("7424.00", "40.00", "2969.60")
    assert w.profit("2026-10") == {"net_income": "8160.00", "employee_payouts": "1514.00",
                                   "model_payouts": "2969.60", "expenses": "1000.00", "agency_profit": "2676.40",
                                   "status": "open"}
    mine = w.get("/api/financials/payouts/?period=2026-10", who="D3")["items"]
    assert [(p["user_id"], p["total"]) for p in mine] == [(w.ids["D3"], "-24.00")]

    span = "date_from=2026-10-01&date_to=2026-10-31"
    s = w.get(f"/api/stats/summary/?{span}")
    assert {k: s[k] for k in ("gross_income", "platform_fees", "net_income", "expenses", "sales_count",
                              "refunds_count", "refunds_amount")} == {
        "gross_income": "10200.00", "platform_fees": "2040.00", "net_income": "8160.00", "expenses": "1000.00",
        "sales_count": 3, "refunds_count": 2, "refunds_amount": "800.00"}
    top = w.get(f"/api/stats/top-earners/?{span}")["items"]
    assert [(t["display_name"], t["net_sales"]) for t in top] == [("D1", "6800.00"), ("D2", "1600.00")]


def test_closing_october_carries_d3_and_d1_is_paid(october):
    from shared_lib import firestore

    w = october
    with at("2026-10-31T20:00"):  # not ended yet
        r = w.client.post("/api/financials/periods/2026-10/close/", headers=w.owner)
        assert r.status_code == 409 and r.get_json()["type"].endswith("/period-not-ended"), r.get_json()
    with at("2026-11-01T09:00"):
        assert w.post("/api/financials/periods/2026-10/close/", status=200)["status"] == "closed"
    w.drain()
    lines = _people(w, "2026-10")
    assert lines == {**OCTOBER_LINES, "D3": [("carried_forward", "24.00"), ("commission", "-24.00")]}
    by = w.payouts("2026-10")
    assert (by["D3"]["total"], by["D1"]["total"]) == ("0.00", "830.00")
    assert w.profit("2026-10") == {"net_income": "8160.00", "employee_payouts": "1538.00",
                                   "model_payouts": "2969.60", "expenses": "1000.00", "agency_profit": "2652.40",
                                   "status": "closed"}
    november = w.payouts("2026-11")
    assert sorted((line["kind"], line["amount"]) for line in november["D3"]["lines"]) == [
        ("carried_balance", "-24.00")]
    assert november["D3"]["total"] == "-24.00"

    with at("2026-11-05T12:00"):
        paid = w.post("/api/financials/periods/2026-10/payments/", {
            "user_id": w.ids["D1"], "paid_at": "2026-11-05", "method": "bank", "reference": "TX-1"})
    assert (paid["period"], paid["user_id"], paid["amount"], paid["method"], paid["reference"]) == (
        "2026-10", w.ids["D1"], "830.00", "bank", "TX-1")
    w.drain()
    by = w.payouts("2026-10")
    assert (by["D1"]["payment_status"], by["D1"]["method"], by["D1"]["reference"]) == ("paid", "bank", "TX-1")
    assert by["D1"]["paid_at"].startswith("2026-11-05")
    assert by["D3"]["payment_status"] == "nothing_due" and by["D2"]["payment_status"] == "unpaid"
    agency = w.get("/api/me/")["agency_id"]
    doc = firestore.client().document(f"agencies/{agency}/earnings/{w.ids['D1']}_2026-10").get()
    assert doc.exists and (doc.to_dict()["status"], doc.to_dict()["total"]) == ("paid", "830.00")
