"""Closing in order (BUSINESS_RULES "Closing, carrying and paying"): only after the period's last day has ended in
the agency's time zone, only when every earlier period with data is closed, and a negative total is carried to
the next period in the closing transaction. A refusal writes nothing."""
from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from shared_lib import clock
from tests.factories import (make_agency, make_model, make_user, outbox, scalar, seed_income, set_financial_settings,
                             set_model_settings, set_platform_fee, sql)

NY = "America/New_York"
# 2026-10-31 ends in New York at 2026-11-01T04:00Z (EDT, UTC-4)
OCT_31_EVENING = datetime(2026, 11, 1, 3, 59, tzinfo=UTC)
NOV_1_MORNING = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def shop(client):
    """An agency in New York: M (tick 5 %) manages C1 (commission 10 %); C3 (commission 10 %); model X (40 %).
    September: C1 sells 500.00. October: C1 sells 1000.00, C3 gets a penalty of -30.00 (a negative total)."""
    a = make_agency(timezone=NY)
    make_user(a, "manager", name="M")
    make_user(a, "chatter", name="C1", manager="M")
    make_user(a, "chatter", name="C3")
    make_model(a, "X", "C1", "C3")
    sep1 = date(2026, 9, 1)
    set_platform_fee(a, sep1, "20.00")
    set_financial_settings(a.person("M"), sep1, manager_tick_rate="5.00")
    for c in ("C1", "C3"):
        set_financial_settings(a.person(c), sep1, commission_rate="10.00")
    set_model_settings(a, a.models["X"], sep1, model_share_percent="40.00")
    seed_income(a, day=date(2026, 9, 20), gross="500.00", model="X", chatter="C1")
    seed_income(a, day=date(2026, 10, 3), gross="1000.00", model="X", chatter="C1")
    add_adjustment(a, "C3", "2026-10", "-30.00")
    for period in ("2026-09", "2026-10"):
        calculate(client, a, period)
    return a


def add_adjustment(a, who: str, period: str, amount: str) -> None:
    sql("INSERT INTO financial_calculations.adjustments (agency_id, user_id, period, amount, reason, created_by) "
        "VALUES (:a, :u, :p, CAST(:amount AS numeric), 'penalty', :o)",
        {"a": a.id, "u": a.user(who), "p": period, "amount": amount, "o": a.owner_id})


def calculate(client, a, period: str) -> dict:
    r = client.post("/api/financials/calculate/", json={"period": period}, headers=a.h())
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()


def close(client, a, period: str, at: datetime = LATER):
    with clock.frozen(at):
        return client.post(f"/api/financials/periods/{period}/close/", headers=a.h())


def payouts(client, a, period: str) -> dict[str, dict]:
    items = client.get(f"/api/financials/payouts/?period={period}", headers=a.h()).get_json()["items"]
    names = {str(v): k for k, v in a.users.items()}
    return {names[i["user_id"]]: i for i in items}


def written(a) -> tuple:
    """Everything a close writes: period rows, carries, audit entries, outbox events."""
    return (scalar("SELECT count(*) FROM financial_calculations.periods WHERE agency_id = :a", {"a": a.id}),
            scalar("SELECT count(*) FROM financial_calculations.carries WHERE agency_id = :a", {"a": a.id}),
            scalar("SELECT count(*) FROM audit.entries WHERE agency_id = :a", {"a": a.id}),
            len(outbox("financial_period.closed")))


def conflict(r, slug: str) -> str:
    assert r.status_code == 409, r.get_data(as_text=True)
    assert r.mimetype == "application/problem+json" and r.get_json()["type"].endswith("/" + slug)
    return r.get_json()["detail"]


def test_a_period_whose_last_day_has_not_ended_locally_is_409_period_not_ended(client, shop):
    assert close(client, shop, "2026-09").status_code == 200
    before = written(shop)
    # 03:59 UTC on November 1st is still October 31st in New York
    assert "2026-10-31" in conflict(close(client, shop, "2026-10", OCT_31_EVENING), "period-not-ended")
    conflict(close(client, shop, "2026-11", LATER), "period-not-ended")  # the current month
    conflict(close(client, shop, "2027-01", LATER), "period-not-ended")  # one not started (the old slug's case)
    assert written(shop) == before
    assert close(client, shop, "2026-10", NOV_1_MORNING).status_code == 200


def test_an_earlier_period_with_data_still_open_is_409_previous_period_open(client, shop):
    before = written(shop)
    assert "2026-09" in conflict(close(client, shop, "2026-10"), "previous-period-open")
    assert written(shop) == before  # no close row, no carry, no audit entry, no event
    assert payouts(client, shop, "2026-10")["C3"]["total"] == "-30.00"
    assert close(client, shop, "2026-09").status_code == 200  # August and before hold nothing: no obstacle
    assert close(client, shop, "2026-10").status_code == 200


def test_an_open_period_with_only_a_calculated_payout_counts_too(client, shop):
    assert close(client, shop, "2026-09").status_code == 200
    assert close(client, shop, "2026-10").status_code == 200
    set_financial_settings(shop.person("C3"), date(2026, 11, 1), compensation_type="fixed", fixed_salary="900.00")
    calculate(client, shop, "2026-11")  # November: no income, no expense, a salary
    conflict(close(client, shop, "2026-12", datetime(2027, 1, 2, 12, tzinfo=UTC)), "previous-period-open")


def test_closing_carries_a_negative_total_to_the_next_period_and_posts_it(client, shop):
    oct_before = calculate(client, shop, "2026-10")
    assert close(client, shop, "2026-09").status_code == 200
    assert close(client, shop, "2026-10").status_code == 200
    october = payouts(client, shop, "2026-10")
    assert sorted((l["kind"], l["amount"]) for l in october["C3"]["lines"]) == [
        ("adjustment", "-30.00"), ("carried_forward", "30.00")]
    assert (october["C3"]["total"], october["C3"]["status"]) == ("0.00", "closed")
    assert october["C1"]["total"] == "80.00"  # a positive total is not carried
    november = payouts(client, shop, "2026-11")
    assert [(l["kind"], l["amount"]) for l in november["C3"]["lines"]] == [("carried_balance", "-30.00")]
    assert (november["C3"]["total"], november["C3"]["status"]) == ("-30.00", "open")
    assert sql("SELECT from_period, to_period, user_id, amount FROM financial_calculations.carries "
               "WHERE agency_id = :a", {"a": shop.id}) == [("2026-10", "2026-11", shop.user("C3"), 30)]

    profit = client.get("/api/financials/profit/?period=2026-10", headers=shop.h()).get_json()
    assert (profit["employee_payouts"], profit["agency_profit"]) == (
        _plus(oct_before["employee_payouts"], "30.00"), _plus(oct_before["agency_profit"], "-30.00"))
    # The ledger: each period's postings sum, per account and party, to its figures (C3 owes nothing in October,
    # 30.00 in November).
    assert _payable(shop, "2026-10", "C3") == 0 and _payable(shop, "2026-11", "C3") == -30
    assert scalar("SELECT sum(t.amount) FROM financial_calculations.transaction_ledger t "
                  "JOIN financial_calculations.ledger_postings p ON p.id = t.posting_id "
                  "WHERE p.agency_id = :a AND p.period = '2026-10' AND t.account = 'equity:agency_profit'",
                  {"a": shop.id}) == _dec(profit["agency_profit"])
    # Audited in the close's transaction: the period and the carry, by the Owner.
    assert sorted(tuple(r) for r in sql(
        "SELECT entity, action, actor_role FROM audit.entries WHERE agency_id = :a AND entity IN ('carry', 'period') "
        "AND entity_id LIKE '2026-10%'", {"a": shop.id})) == [("carry", "create", "owner"),
                                                            ("period", "create", "owner")]


def test_closing_again_answers_200_and_carries_nothing_twice(client, shop):
    assert close(client, shop, "2026-09").status_code == 200
    assert close(client, shop, "2026-10").status_code == 200
    before = written(shop)
    r = close(client, shop, "2026-10")
    assert (r.status_code, r.get_json()) == (200, {"period": "2026-10", "status": "closed"})
    assert written(shop) == before
    assert payouts(client, shop, "2026-11")["C3"]["total"] == "-30.00"


def _dec(text: str) -> Decimal:
    return Decimal(text)


def _plus(a: str, b: str) -> str:
    return str(_dec(a) + _dec(b))


def _payable(a, period: str, who: str):
    return scalar("SELECT coalesce(sum(t.amount), 0) FROM financial_calculations.transaction_ledger t "
                  "JOIN financial_calculations.ledger_postings p ON p.id = t.posting_id "
                  "WHERE p.agency_id = :a AND p.period = :p AND t.account = 'payable:employee' AND t.party_id = :u",
                  {"a": a.id, "p": period, "u": a.user(who)})
