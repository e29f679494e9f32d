"""Platform imports attribute new sales by the agency's attribution_rules per type (issue #16; docs/income.md
"Platform imports"): shift (who was checked in), sender (the model's sender mapping), none (unattributed)."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.factories import checked_in, golden_agency, ok, sql


@pytest.fixture
def g(client):
    """The golden agency: C1 and C2 chat for model A (team of M); C1 is checked in 14:00–18:00 on 2026-11-03."""
    g = golden_agency("at", client=client)
    checked_in(g.person("C1"), datetime(2026, 11, 3, 14, tzinfo=UTC), datetime(2026, 11, 3, 18, tzinfo=UTC))
    return g


def rules(client, g, effective_from: str = "2026-11-01", **attribution) -> None:
    ok(client.put("/api/sales-settings/", headers=g.h(), json={
        "commission_types": ["message_sale", "tip_sale"], "attribution_rules": attribution, "verification": "off",
        "chatter_edit_hours": 24, "effective_from": effective_from}))


def senders(client, g, **mapping) -> None:
    ok(client.put(f"/api/models/{g.models['A']}/senders/", headers=g.h(), json={
        "senders": [{"sender": name, "chatter_id": str(g.user(who))} for name, who in mapping.items()]}))


def imported(client, g, *rows) -> dict:
    return ok(client.post("/api/income/imports/", headers=g.h(), json={"model_id": str(g.models["A"]), "transactions": [
        {"transaction_id": tid, "occurred_at": at, "type": type, "gross_amount": "10.00", "status": "cleared",
         **({"sender": sender} if sender is not None else {})} for tid, type, sender, at in rows]}))


def attributed() -> dict[str, tuple]:
    """{transaction id: (record type, chatter id, manager id)} of the imported records."""
    return {r.transaction_id: (r.type, r.chatter_id, r.manager_id) for r in sql(
        "SELECT t.transaction_id, r.type, r.chatter_id, r.manager_id FROM income_service.platform_transactions t "
        "JOIN income_service.income_records r ON r.id = t.income_id")}


ON_SHIFT = "2026-11-03T15:00:00Z"


def test_each_type_follows_its_rule_and_a_type_left_out_is_by_shift(client, g):
    rules(client, g, message="sender", tip="none")
    senders(client, g, Anna="C2")
    result = imported(client, g, ("T1", "message", "  ANNA ", ON_SHIFT), ("T2", "message", "bob", ON_SHIFT),
                      ("T3", "message", None, ON_SHIFT), ("T4", "tip", "Anna", ON_SHIFT),
                      ("T5", "subscription", "Anna", ON_SHIFT))
    assert (result["new"], result["unattributed"]) == (5, 3)
    c1, c2, m = g.user("C1"), g.user("C2"), g.user("M")
    assert attributed() == {
        "T1": ("message_sale", c2, m),    # sender: the mapping, trimmed and ignoring case, though C1 was on shift
        "T2": ("message_sale", None, None),  # a sender nobody is mapped to: unattributed
        "T3": ("message_sale", None, None),  # no sender at all
        "T4": ("tip_sale", None, None),      # none: unattributed whoever was on shift
        "T5": ("subscription_sale", c1, m),  # not listed: shift
    }
    listed = ok(client.get("/api/income/records/?unattributed=true", headers=g.h()))["items"]
    assert len(listed) == 3


def test_without_sales_settings_every_type_is_by_shift(client, g):
    imported(client, g, ("T1", "message", "Anna", ON_SHIFT), ("T2", "post", None, ON_SHIFT),
             ("T3", "tip", None, "2026-11-03T19:00:00Z"))
    c1, m = g.user("C1"), g.user("M")
    assert attributed() == {"T1": ("message_sale", c1, m), "T2": ("post_sale", c1, m), "T3": ("tip_sale", None, None)}


def test_the_rule_in_effect_on_the_transactions_local_date_applies(client, g):
    rules(client, g, effective_from="2026-11-01")  # every type by shift …
    rules(client, g, effective_from="2026-11-04", message="none")  # … and from the 4th messages are unattributed
    imported(client, g, ("T1", "message", None, ON_SHIFT), ("T2", "message", None, "2026-11-04T15:00:00Z"))
    assert attributed() == {"T1": ("message_sale", g.user("C1"), g.user("M")), "T2": ("message_sale", None, None)}


def test_a_mapped_chatter_no_longer_assigned_to_the_model_is_not_credited(client, g):
    rules(client, g, message="sender")
    senders(client, g, Anna="C2")
    ok(client.put(f"/api/models/{g.models['A']}/assignments/", headers=g.h(),
                  json={"user_ids": [str(g.user("C1"))]}))  # C2 leaves model A
    imported(client, g, ("T1", "message", "Anna", ON_SHIFT))
    assert attributed() == {"T1": ("message_sale", None, None)}
