"""Stats test seeds: income, expenses and counts in SQL, their events as real CloudEvents, aggregate readers."""
from __future__ import annotations

import base64
import json
import uuid
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any

from shared_lib import registry
from shared_lib.events import Event
from shared_lib.money import percent_of
from tests.income_factories import (  # noqa: F401  (re-exported for the stats tests)
    Agency,
    add_model,
    add_user,
    caller,
    error_locs,
    golden_agency,
    make_agency,
    problem,
    scalar,
    sql,
)

CHATTING = ("message_sale", "tip_sale")
_INCOME_COLUMNS = ("id, agency_id, type, gross_amount, fee_amount, net_amount, sale_date, model_id, chatter_id, "
                   "manager_id, assigned_to_user_id, schedule_id")


def _row(result) -> dict[str, Any] | None:
    return None if not result else dict(result[0]._mapping)


# --- truth: income and expenses ----------------------------------------------------------------------------------


def seed_income(agency: Agency, *, day: date, gross: str | Decimal = "100.00", type: str = "message_sale",
                model: str | None = None, chatter: str | None = None, fee_percent: str = "20.00") -> dict[str, Any]:
    """One income record as the income service stores it (fee rounded half-up, net = gross − fee)."""
    gross = Decimal(gross)
    pct = Decimal(fee_percent) if type in CHATTING else Decimal("0.00")
    fee = percent_of(gross, pct)
    chatter_id = agency.user(chatter) if chatter else None
    return _row(sql(
        f"""
        INSERT INTO income_service.income_records
            (agency_id, type, gross_amount, fee_percent, fee_amount, net_amount, sale_date, model_id, chatter_id,
             manager_id, registered_by_user_id)
        VALUES (:a, :type, :gross, :pct, :fee, :net, :day, :model, :chatter,
                (SELECT manager_id FROM user_service.users WHERE id = CAST(:chatter AS uuid)), :owner)
        RETURNING {_INCOME_COLUMNS}
        """,
        {"a": agency.id, "type": type, "gross": gross, "pct": pct, "fee": fee, "net": gross - fee, "day": day,
         "model": agency.models[model] if model else None, "chatter": chatter_id, "owner": agency.owner_id}))


def update_income(income_id: uuid.UUID, *, day: date | None = None, gross: str | Decimal | None = None,
                  model_id: uuid.UUID | None = None, chatter_id: uuid.UUID | None = None) -> tuple[dict, dict]:
    """Change a record in place (fee recomputed at its stored percent); returns (old, new)."""
    old = _row(sql(f"SELECT {_INCOME_COLUMNS}, fee_percent FROM income_service.income_records WHERE id = :id",
                   {"id": income_id}))
    gross = Decimal(gross) if gross is not None else old["gross_amount"]
    fee = percent_of(gross, old.pop("fee_percent"))
    new = _row(sql(
        f"""
        UPDATE income_service.income_records
           SET sale_date = :day, gross_amount = :gross, fee_amount = :fee, net_amount = :net,
               model_id = coalesce(CAST(:model AS uuid), model_id),
               chatter_id = coalesce(CAST(:chatter AS uuid), chatter_id),
               updated_at = clock_timestamp()
         WHERE id = :id
        RETURNING {_INCOME_COLUMNS}
        """,
        {"id": income_id, "day": day or old["sale_date"], "gross": gross, "fee": fee, "net": gross - fee,
         "model": None if model_id is None else str(model_id),
         "chatter": None if chatter_id is None else str(chatter_id)}))
    return old, new


def delete_income(income_id: uuid.UUID) -> dict[str, Any]:
    return _row(sql(f"DELETE FROM income_service.income_records WHERE id = :id RETURNING {_INCOME_COLUMNS}",
                    {"id": income_id}))


def seed_expense(agency: Agency, *, day: date, amount: str | Decimal = "100.00", source: str = "software") -> dict:
    return _row(sql(
        """
        INSERT INTO expense_service.expenses (agency_id, amount, expense_date, source, created_by)
        VALUES (:a, :amount, :day, :source, :owner)
        RETURNING id, agency_id, amount, expense_date, source, schedule_id
        """, {"a": agency.id, "amount": Decimal(amount), "day": day, "source": source, "owner": agency.owner_id}))


def update_expense(expense_id: uuid.UUID, *, day: date | None = None,
                   amount: str | Decimal | None = None) -> tuple[dict, dict]:
    old = _row(sql("SELECT id, agency_id, amount, expense_date, source, schedule_id FROM expense_service.expenses "
                   "WHERE id = :id", {"id": expense_id}))
    new = _row(sql(
        """
        UPDATE expense_service.expenses SET expense_date = :day, amount = :amount, updated_at = clock_timestamp()
        WHERE id = :id RETURNING id, agency_id, amount, expense_date, source, schedule_id
        """, {"id": expense_id, "day": day or old["expense_date"],
              "amount": Decimal(amount) if amount is not None else old["amount"]}))
    return old, new


def delete_expense(expense_id: uuid.UUID) -> dict[str, Any]:
    return _row(sql("DELETE FROM expense_service.expenses WHERE id = :id "
                    "RETURNING id, agency_id, amount, expense_date, source, schedule_id", {"id": expense_id}))


# --- the events those changes publish ------------------------------------------------------------------------------


def income_event(kind: str, old: dict | None, new: dict | None) -> Event:
    """income.registered / updated / deleted as the income service publishes them (shared_lib/contracts.py)."""
    from shared_lib.contracts import CONTRACTS, IncomeSnapshot

    row = new or old
    before = None if old is None else IncomeSnapshot.model_validate(old)
    after = None if new is None else IncomeSnapshot.model_validate(new)
    last = after or before
    data = CONTRACTS[f"income.{kind}"](
        income_id=row["id"], agency_id=row["agency_id"], schedule_id=None,
        reason={"registered": "registered", "updated": "edited", "deleted": "deleted"}[kind],
        sale_date=last.sale_date, old_sale_date=None if before is None else before.sale_date,
        model_id=last.model_id, chatter_id=last.chatter_id, old=before, new=after)
    return Event(event_id=uuid.uuid4(), type=f"income.{kind}", occurred_at=datetime.now(timezone.utc),
                 agency_id=row["agency_id"], subject=str(row["id"]), data=data.model_dump(mode="json"))


def expense_event(kind: str, old: dict | None, new: dict | None) -> Event:
    """expense.recorded / updated / deleted as the expenses service publishes them (shared_lib/contracts.py)."""
    from shared_lib.contracts import CONTRACTS, ExpenseSnapshot

    row = new or old
    before = None if old is None else ExpenseSnapshot.model_validate(old)
    after = None if new is None else ExpenseSnapshot.model_validate(new)
    data = CONTRACTS[f"expense.{kind}"](
        expense_id=row["id"], agency_id=row["agency_id"], schedule_id=None,
        reason={"recorded": "recorded", "updated": "edited", "deleted": "deleted"}[kind],
        expense_date=(after or before).expense_date,
        old_expense_date=None if before is None else before.expense_date, old=before, new=after)
    return Event(event_id=uuid.uuid4(), type=f"expense.{kind}", occurred_at=datetime.now(timezone.utc),
                 agency_id=row["agency_id"], subject=str(row["id"]), data=data.model_dump(mode="json"))


def event(type: str, agency_id: uuid.UUID, data: dict[str, Any], subject: str = "s") -> Event:
    return Event(event_id=uuid.uuid4(), type=type, occurred_at=datetime.now(timezone.utc), agency_id=agency_id,
                 subject=subject, data=data)


STATS_FUNCTION = {
    "income.registered": "stats_on_income_registered", "income.updated": "stats_on_income_updated",
    "income.deleted": "stats_on_income_deleted", "expense.recorded": "stats_on_expense_recorded",
    "expense.updated": "stats_on_expense_updated", "expense.deleted": "stats_on_expense_deleted",
    "financial_calculation.completed": "stats_on_financial_calculation_completed",
    "model.subscriber_count.updated": "stats_on_subscriber_count_updated",
}


def cloud_event(topic: str, data: bytes, *, message_id: str | None = None, attributes: dict | None = None):
    """A Pub/Sub messagePublished CloudEvent exactly as Eventarc (and the local bus) delivers it."""
    from emulator.bus import Message, Subscription, cloud_event_for

    message_id = message_id or uuid.uuid4().hex
    msg = Message(ack_id=message_id, message_id=message_id, data=data, attributes=attributes or {},
                  publish_time=datetime.now(timezone.utc))
    return cloud_event_for("demo-onlymanager", Subscription(name="test", topic=topic, function="test"), msg)


def deliver(ev: Event) -> None:
    """Deliver an event to the stats function subscribed to its type (a new Pub/Sub message each call)."""
    import functions.stats.main  # noqa: F401  (declares the functions)

    spec = registry.REGISTRY[STATS_FUNCTION[ev.type]]
    spec.entry_point(cloud_event(ev.type, ev.payload(), attributes=ev.attributes()))


def deliver_raw(function: str, data: bytes, *, message_id: str | None = None) -> None:
    import functions.stats.main  # noqa: F401

    spec = registry.REGISTRY[function]
    spec.entry_point(cloud_event(spec.topic, data, message_id=message_id))


def scraper_payload(agency_id, model_id, count, observed_at: datetime | str) -> bytes:
    at = observed_at if isinstance(observed_at, str) else observed_at.isoformat()
    return json.dumps({"agency_id": str(agency_id), "model_id": str(model_id), "subscriber_count": count,
                       "observed_at": at}).encode()


# --- subscriber counts and aggregates ------------------------------------------------------------------------------


def add_snapshot(agency: Agency, model: str, count: int, on: date, *, at: time = time(12, 0)) -> None:
    """A stored observation (UTC agencies: observed_on is observed_at's date)."""
    sql("""
        INSERT INTO statistics_service.subscriber_count_snapshots
            (agency_id, model_id, subscriber_count, observed_at, observed_on, source)
        VALUES (:a, :m, :c, :at, :on, 'manual')
        ON CONFLICT ON CONSTRAINT subscriber_count_snapshots_observation
        DO UPDATE SET subscriber_count = EXCLUDED.subscriber_count
        """, {"a": agency.id, "m": agency.models[model], "c": count,
              "at": datetime.combine(on, at, tzinfo=timezone.utc), "on": on})


def rebuild(agency: Agency, date_from: date | None = None, date_to: date | None = None):
    from functions.stats import service
    from shared_lib.db import unit_of_work

    with unit_of_work() as uow:
        return service.stats_rebuild(uow=uow, agency_id=agency.id, date_from=date_from, date_to=date_to)


def aggregates(agency_id: uuid.UUID | None = None) -> dict[str, list[tuple]]:
    """Every row of the three aggregate tables (of one agency, or all), sorted: to compare states exactly."""
    where = "" if agency_id is None else "WHERE agency_id = :a"
    out = {}
    for table, cols in (("daily_model_stats", "agency_id, day, model_id, type, gross, fees, net, sales_count"),
                        ("daily_chatter_stats",
                         "agency_id, day, chatter_id, model_id, type, gross, fees, net, sales_count"),
                        ("daily_expense_stats", "agency_id, day, amount, expense_count")):
        rows = sql(f"SELECT {cols} FROM statistics_service.{table} {where}", {"a": agency_id})
        out[table] = sorted((tuple(str(v) for v in r) for r in rows))
    return out


def use_case(fn, agency: Agency, who: str = "owner", **kwargs):
    """Call a stats use case as one of the agency's people would through HTTP (one transaction)."""
    from shared_lib.db import unit_of_work

    with unit_of_work() as uow:
        return fn(uow=uow, caller=caller(agency, who), **kwargs)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
