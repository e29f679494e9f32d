"""Payments (BUSINESS_RULES "Closing, carrying and paying", docs/payouts.md "Payments"): after close the Owner
records that a person or a model was paid the closed payout (the server's amount), once per payee and period,
never changed; payout and model-payout items say paid, unpaid or nothing_due."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared_lib import clock
from shared_lib.db import unit_of_work
from tests.e2e.test_period_closing_rules import close, payouts, shop  # noqa: F401  (the fixture)
from tests.factories import make_agency, make_model, make_user, outbox, outbox_data, problem, race, scalar, sql

NOV_20 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TX1 = {"paid_at": "2026-11-05", "method": "bank", "reference": "TX-1"}


@pytest.fixture
def closed(client, shop):  # noqa: F811
    """September and October closed. October: C1 80.00, M 40.00, C3 0.00 (its -30.00 carried); model X 320.00."""
    assert close(client, shop, "2026-09").status_code == 200
    assert close(client, shop, "2026-10").status_code == 200
    return shop


def post(client, a, body, period="2026-10", who="owner"):
    """POST …/payments/ on whatever clock is set (a race freezes it once, in the main thread, around all threads)."""
    return client.post(f"/api/financials/periods/{period}/payments/", json=body, headers=a.h(who))


def pay(client, a, body, period="2026-10", who="owner"):
    with clock.frozen(NOV_20):
        return post(client, a, body, period, who)


def written(a) -> tuple:
    return (scalar("SELECT count(*) FROM financial_calculations.payments WHERE agency_id = :a", {"a": a.id}),
            len(outbox("financial_payment.recorded")),
            scalar("SELECT count(*) FROM audit.entries WHERE agency_id = :a AND entity = 'payment'", {"a": a.id}))


def test_the_owner_records_a_payment_of_the_closed_total(client, closed):
    a = closed
    r = pay(client, a, {"user_id": str(a.user("C1")), **TX1})
    assert r.status_code == 201, r.get_data(as_text=True)
    body = r.get_json()
    assert body == {"id": body["id"], "period": "2026-10", "user_id": str(a.user("C1")), "model_id": None,
                    "amount": "80.00", **TX1}
    assert outbox_data("financial_payment.recorded") == [{
        "agency_id": str(a.id), "payment_id": body["id"], "period": "2026-10", "user_id": str(a.user("C1")),
        "model_id": None, "amount": "80.00", "paid_at": "2026-11-05", "method": "bank"}]
    assert [tuple(e) for e in sql("SELECT action, actor_user_id, after ->> 'amount' FROM audit.entries "
                                  "WHERE agency_id = :a AND entity = 'payment'", {"a": a.id})] == [
        ("create", a.owner_id, "80.00")]
    items = payouts(client, a, "2026-10")
    assert {n: (i["payment_status"], i["paid_at"], i["method"], i["reference"]) for n, i in items.items()} == {
        "C1": ("paid", "2026-11-05", "bank", "TX-1"), "M": ("unpaid", None, None, None),
        "C3": ("nothing_due", None, None, None)}


def test_a_model_is_paid_its_payout_and_its_items_say_so(client, closed):
    a = closed
    r = pay(client, a, {"model_id": str(a.models["X"]), "paid_at": "2026-11-06", "method": "wise",
                        "reference": "W-77"})
    assert (r.status_code, r.get_json()["amount"], r.get_json()["user_id"]) == (201, "320.00", None)
    items = client.get("/api/financials/model-payouts/?period=2026-10", headers=a.h()).get_json()["items"]
    assert [(i["amount"], i["payment_status"], i["paid_at"], i["method"], i["reference"]) for i in items] == [
        ("320.00", "paid", "2026-11-06", "wise", "W-77")]
    september = client.get("/api/financials/model-payouts/?period=2026-09", headers=a.h()).get_json()["items"]
    assert [(i["amount"], i["payment_status"]) for i in september] == [("160.00", "unpaid")]


def test_refusals_write_nothing(client, closed):
    a = closed
    other = make_agency()
    stranger, strangers_model = make_user(other), make_model(other, "Z")
    before = written(a)
    # exactly one payee, a known method, no amount from the client, a day not in the future nor before the period
    for bad in ({**TX1}, {"user_id": str(a.user("C1")), "model_id": str(a.models["X"]), **TX1},
                {"user_id": str(a.user("C1")), **TX1, "method": "venmo"},
                {"user_id": str(a.user("C1")), **TX1, "amount": "1.00"},
                {"user_id": str(a.user("C1")), **TX1, "reference": ""}):
        problem(pay(client, a, bad), 400)
    assert problem(pay(client, a, {"user_id": str(a.user("C1")), **TX1, "paid_at": "2026-11-21"}), 400)[
        "errors"][0]["loc"] == ["body", "paid_at"]
    problem(pay(client, a, {"user_id": str(a.user("C1")), **TX1, "paid_at": "2026-09-30"}), 400)
    # another agency's person or model is not found; so is an unknown one
    problem(pay(client, a, {"user_id": str(stranger.id), **TX1}), 404)
    problem(pay(client, a, {"model_id": str(strangers_model), **TX1}), 404)
    # an open period is not paid; nobody is paid twice; nothing is due to C3 (0.00 after the carry)
    assert problem(pay(client, a, {"user_id": str(a.user("C1")), **TX1, "paid_at": "2026-11-20"},
                       period="2026-11"), 409)["type"].endswith("/period-open")
    assert problem(pay(client, a, {"user_id": str(a.user("C3")), **TX1}), 409)["type"].endswith("/nothing-due")
    problem(pay(client, a, {"user_id": str(a.user("C1")), **TX1}, who="M"), 403)
    problem(pay(client, a, {"user_id": str(a.user("C1")), **TX1}, who="C1"), 403)
    assert written(a) == before
    assert pay(client, a, {"user_id": str(a.user("C1")), **TX1}).status_code == 201
    again = pay(client, a, {"user_id": str(a.user("C1")), **TX1, "reference": "TX-2"})
    assert problem(again, 409)["type"].endswith("/already-paid")
    assert written(a) == (before[0] + 1, before[1] + 1, before[2] + 1)


def test_two_payments_at_once_leave_one(client, closed):
    a = closed
    answers = []
    # clock.frozen is process-wide: frozen once here, around the race, not in each thread
    with clock.frozen(NOV_20):
        race(lambda i: answers.append(post(client, a, {"user_id": str(a.user("M")), **TX1,
                                                       "reference": f"R-{i}"}).status_code))
    assert sorted(answers) == [201, 409, 409]
    assert scalar("SELECT count(*) FROM financial_calculations.payments WHERE user_id = :u", {"u": a.user("M")}) == 1


def test_the_database_refuses_to_change_or_remove_a_payment(client, closed):
    from sqlalchemy.exc import DBAPIError, ProgrammingError

    a = closed
    assert pay(client, a, {"user_id": str(a.user("C1")), **TX1}).status_code == 201
    for statement in ("UPDATE financial_calculations.payments SET reference = 'changed'",
                      "DELETE FROM financial_calculations.payments"):
        with pytest.raises(DBAPIError, match="never changed or removed"):
            sql(statement)
    # Nor is the payouts service's role granted UPDATE or DELETE (sql/0145: append-only tables, both guards).
    for statement in ("UPDATE financial_calculations.payments SET reference = 'changed'",
                      "DELETE FROM financial_calculations.payments"):
        with pytest.raises(ProgrammingError, match="permission denied for table payments"):
            with unit_of_work(service="payouts") as uow:
                uow.execute(statement)
    assert sql("SELECT amount, reference FROM financial_calculations.payments") == [(80, "TX-1")]


def test_payments_are_listed_as_payouts_are_seen_in_pages(client, closed):
    a = closed
    for body in ({"user_id": str(a.user("C1"))}, {"user_id": str(a.user("M"))}, {"model_id": str(a.models["X"])}):
        assert pay(client, a, {**body, **TX1}).status_code == 201

    def listed(who, **query):
        r = client.get("/api/financials/periods/2026-10/payments/", query_string=query, headers=a.h(who))
        assert r.status_code == 200, r.get_data(as_text=True)
        return r.get_json()

    def payees(page):
        names = {str(v): k for k, v in {**a.users, **a.models}.items()}
        return [names[i["user_id"] or i["model_id"]] for i in page["items"]]

    assert payees(listed("owner")) == ["C1", "M", "X"]  # in the order recorded
    assert payees(listed("M")) == ["C1", "M"]  # own team and self; models are the Owner's books
    assert payees(listed("C1")) == ["C1"]
    assert payees(listed("C3")) == []
    seen, cursor = [], None
    while True:
        page = listed("owner", limit=1, **({"cursor": cursor} if cursor else {}))
        seen += payees(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["C1", "M", "X"]
    assert client.get("/api/financials/periods/2026-09/payments/", headers=a.h()).get_json() == {
        "items": [], "next_cursor": None}


def test_a_retried_request_with_its_idempotency_key_replays_the_payment(client, closed):
    a = closed
    body = {"user_id": str(a.user("C1")), **TX1}
    with clock.frozen(NOV_20):
        first, again = (client.post("/api/financials/periods/2026-10/payments/", json=body,
                                    headers={**a.h(), "Idempotency-Key": "pay-c1-2026-10"}) for _ in range(2))
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.get_json() == first.get_json() and again.headers.get("Idempotent-Replayed") == "true"
    assert len(outbox("financial_payment.recorded")) == 1
