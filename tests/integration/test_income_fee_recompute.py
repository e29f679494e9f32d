"""platform.settings.updated → stored fee and net follow the fee % in effect, in open periods only, through the
platform's event bus; and the SQL rounding used there agrees with shared_lib.money to the cent."""
from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.income import service
from functions.income.rules import refund_amounts
from functions.income.schemas import IncomeRegister
from shared_lib.db import engine, unit_of_work
from shared_lib.money import percent_of
from tests.factories import close_period, golden_agency, outbox, set_platform_fee, sql


def register(g, who: str, **body):
    with unit_of_work() as uow:
        return service.income_register(uow=uow, caller=g.person(who).caller(),
                                       cmd=IncomeRegister.model_validate(body))


def fees() -> dict[date, tuple[Decimal, Decimal, Decimal]]:
    rows = sql("SELECT sale_date, type, fee_percent, fee_amount, net_amount FROM income_service.income_records")
    return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows}


def publish_fee_change(g, effective_from: str, event_id: uuid.UUID | None = None):
    """What the users service emits after PUT /api/platform-settings/."""
    with unit_of_work() as uow:
        event = uow.emit("platform.settings.updated", agency_id=g.id, subject=g.id,
                         data={"agency_id": str(g.id), "version_id": str(uuid.uuid4()),
                               "effective_from": effective_from, "effective_to": None, "replaced": False})
    return event


@pytest.fixture
def seeded(app, platform):
    g = golden_agency()
    register(g, "C1", type="message_sale", gross_amount="100.00", sale_date="2026-10-20", model_id=str(g.models["A"]))
    register(g, "C1", type="message_sale", gross_amount="1000.00", sale_date="2026-11-05", model_id=str(g.models["A"]))
    register(g, "C2", type="tip_sale", gross_amount="1255.50", sale_date="2026-11-12", model_id=str(g.models["A"]))
    register(g, "owner", type="other_income", gross_amount="400.00", sale_date="2026-11-12")
    set_platform_fee(g, date(2026, 11, 20), "30.00")
    register(g, "C3", type="message_sale", gross_amount="1000.00", sale_date="2026-11-21", model_id=str(g.models["B"]))
    close_period(g, "2026-10")
    platform.drain(10)
    sql("DELETE FROM eventing.outbox")
    return g


BEFORE = {
    (date(2026, 10, 20), "message_sale"): (Decimal("20.00"), Decimal("20.00"), Decimal("80.00")),
    (date(2026, 11, 5), "message_sale"): (Decimal("20.00"), Decimal("200.00"), Decimal("800.00")),
    (date(2026, 11, 12), "tip_sale"): (Decimal("20.00"), Decimal("251.10"), Decimal("1004.40")),
    (date(2026, 11, 12), "other_income"): (Decimal("0.00"), Decimal("0.00"), Decimal("400.00")),
    (date(2026, 11, 21), "message_sale"): (Decimal("30.00"), Decimal("300.00"), Decimal("700.00")),
}


def test_seeded_records_carry_the_fee_in_effect_on_their_dates(seeded):
    assert fees() == BEFORE


def test_a_new_fee_version_recomputes_the_records_it_covers_until_the_next_version(seeded, platform):
    set_platform_fee(seeded, date(2026, 11, 10), "25.00")
    publish_fee_change(seeded, "2026-11-10")
    assert platform.drain(10)
    # Only the 11-12 sale moves: 11-05 is before the version, 11-21 is under the 30.00 % version of 11-20,
    # other income has no fee.
    assert fees() == {**BEFORE, (date(2026, 11, 12), "tip_sale"): (Decimal("25.00"), Decimal("313.88"),
                                                                     Decimal("941.62"))}
    (event,) = outbox("income.")
    record_id = sql("SELECT id FROM income_service.income_records WHERE type = 'tip_sale'")[0][0]
    assert event["type"] == "income.updated" and event["subject"] == str(record_id)
    snapshot = {"type": "tip_sale", "sale_date": "2026-11-12", "model_id": str(seeded.models["A"]),
                "chatter_id": str(seeded.users["C2"]), "manager_id": str(seeded.users["M"]),
                "assigned_to_user_id": None, "gross_amount": "1255.50"}
    assert event["data"] == {
        "income_id": str(record_id), "agency_id": str(seeded.id), "schedule_id": None,
        "reason": "platform_fee_changed", "sale_date": "2026-11-12", "old_sale_date": "2026-11-12",
        "model_id": str(seeded.models["A"]), "chatter_id": str(seeded.users["C2"]),
        "old": {**snapshot, "fee_amount": "251.10", "net_amount": "1004.40", "refund_of": None},
        "new": {**snapshot, "fee_amount": "313.88", "net_amount": "941.62", "refund_of": None}}


def test_records_in_a_closed_period_never_change(seeded, platform):
    # A version reaching back into closed 2026-10 (the users service refuses that; the recompute holds anyway).
    set_platform_fee(seeded, date(2026, 10, 1), "15.00")
    publish_fee_change(seeded, "2026-10-01")
    assert platform.drain(10)
    assert fees() == BEFORE
    assert outbox("income.") == []


def test_a_redelivered_or_repeated_fee_event_changes_nothing_more(seeded, platform):
    set_platform_fee(seeded, date(2026, 11, 10), "25.00")
    event = publish_fee_change(seeded, "2026-11-10")
    assert platform.drain(10)
    after = fees()
    # Pub/Sub redelivers the same message (inbox dedupe) and the users service saves the same version again.
    platform.bus.publish_raw("platform.settings.updated", event.payload(), event.attributes())
    publish_fee_change(seeded, "2026-11-10")
    assert platform.drain(10)
    assert fees() == after
    assert len(outbox("income.")) == 1


def test_a_malformed_fee_event_is_dead_lettered_without_changes(seeded, platform):
    with unit_of_work() as uow:
        uow.emit("platform.settings.updated", agency_id=seeded.id, subject=seeded.id,
                 data={"agency_id": str(seeded.id), "effective_from": "not-a-date"})
    assert platform.drain(10)
    assert fees() == BEFORE
    assert outbox("income.") == []


@settings(max_examples=300, deadline=None)
@given(gross=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1000000.00"), places=2),
       pct=st.decimals(min_value=Decimal("0.00"), max_value=Decimal("100.00"), places=2))
def test_sql_fee_rounding_equals_percent_of(database_url, gross, pct):
    from sqlalchemy import text

    with engine().connect() as conn:
        got = conn.execute(text("SELECT round(CAST(:g AS numeric(14,2)) * CAST(:p AS numeric(5,2)) / 100, 2)"),
                           {"g": gross, "p": pct}).scalar()
        # a refund's negative gross: the recompute's SQL gives exactly the fee the refund was created with
        refund = conn.execute(text("SELECT round(CAST(:g AS numeric(14,2)) * CAST(:p AS numeric(5,2)) / 100, 2)"),
                              {"g": -gross, "p": pct}).scalar()
    assert got == percent_of(gross, pct)
    assert (-gross, refund, -gross - refund) == refund_amounts(gross, pct)


@pytest.mark.parametrize("gross, pct, fee", [("0.10", "25.00", "0.03"), ("0.02", "25.00", "0.01"),
                                             ("1255.50", "20.00", "251.10"), ("0.01", "50.00", "0.01")])
def test_sql_fee_rounding_is_half_up_at_the_cent(database_url, gross, pct, fee):
    from sqlalchemy import text

    with engine().connect() as conn:
        got = conn.execute(text("SELECT round(CAST(:g AS numeric(14,2)) * CAST(:p AS numeric(5,2)) / 100, 2)"),
                           {"g": Decimal(gross), "p": Decimal(pct)}).scalar()
    assert got == Decimal(fee) == percent_of(gross, pct)
