"""The payouts-sweep job (every 15 minutes, fired here through the local scheduler as Cloud Scheduler fires it):
a period whose scopes a catch-up left pending — an owner out of its budget or dead mid-round, in a burst whose
other deliveries it had absorbed and which therefore drain nothing — is caught up, and the answers show it."""
from __future__ import annotations

from datetime import date

from tests.factories import golden_agency, ok, scalar, seed_income, set_financial_settings

PROFIT = "/api/financials/profit/?period=2026-11"


def drain(client):
    assert ok(client.post("/_emulator/drain?timeout=30"))["drained"] is True


def c1_total(client, g) -> str:
    items = ok(client.get("/api/financials/payouts/?period=2026-11", headers=g.h()))["items"]
    return next(i["total"] for i in items if i["user_id"] == str(g.user("C1")))


def test_scopes_a_catch_up_left_behind_are_taken_by_the_scheduled_sweep(client):
    from functions.payouts import queries
    from shared_lib.db import unit_of_work
    from shared_lib.periods import Period

    g = golden_agency("psw", client=client)
    set_financial_settings(g.person("C1"), date(2026, 10, 1), commission_rate="10.00")
    ok(client.post("/api/income/register/", json={"type": "message_sale", "gross_amount": "100.00",
                                                   "sale_date": "2026-11-03", "model_id": str(g.models["A"])},
                   headers=g.h("C1")), 201)
    drain(client)
    assert ok(client.get(PROFIT, headers=g.h()))["gross_income"] == "100.00"
    before = c1_total(client, g)
    # A second sale whose scopes were marked and never drained (the owner that was to take them stopped).
    row = seed_income(g, day=date(2026, 11, 4), gross="50.00", model="A", chatter="C1")
    nov = Period(2026, 11)
    with unit_of_work() as uow:
        queries.mark_pending(uow, g.id, [(nov, "totals", None), (nov, "model", row["model_id"]),
                                         (nov, "user", row["chatter_id"])])
    assert ok(client.get(PROFIT, headers=g.h()))["gross_income"] == "100.00"

    fired = ok(client.post("/_emulator/scheduler/payouts-sweep"))

    assert fired["job"] == "payouts-sweep" and fired["drained"] is True
    assert ok(client.get(PROFIT, headers=g.h()))["gross_income"] == "150.00"
    assert before == "8.00" and c1_total(client, g) == "12.00"  # 10 % of the net (fee 20 %): the group, not only
    # the period's totals, was recomputed
    assert scalar("SELECT count(*) FROM financial_calculations.pending_scopes WHERE agency_id = :a",
                  {"a": g.id}) == 0
