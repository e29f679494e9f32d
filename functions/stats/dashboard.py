"""The live dashboard read model agencies/{agencyId}/dashboards/{period} in Firestore (replay rebuilds it)."""
from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import date, datetime, timezone
from typing import Any, Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared_lib import firestore
from shared_lib.db import UnitOfWork, unit_of_work
from shared_lib.money import Money
from shared_lib.periods import Period

from . import figures, queries
from .queries import Scope
from .schemas import DashboardAfv, TopEarner

log = logging.getLogger(__name__)

TOP_EARNERS = 5
PATH = "agencies/{agencyId}/dashboards/{period}"


class DashboardSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gross_income: Money
    platform_fees: Money
    net_income: Money
    expenses: Money | None
    sales_count: int
    refunds_count: int
    refunds_amount: Money


class DashboardProfit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gross_income: Money
    platform_fees: Money
    net_income: Money
    employee_payouts: Money
    model_payouts: Money
    expenses: Money
    agency_profit: Money
    status: Literal["open", "closed"]
    calculated_at: datetime | None


@firestore.document_model("dashboards", PATH)
class DashboardDocument(BaseModel):
    """The Owner's live figures for one calendar month (a projection: replay rebuilds it)."""

    model_config = ConfigDict(extra="forbid")

    agency_id: str
    period: str
    date_from: date
    date_to: date
    summary: DashboardSummary
    top_earners: list[TopEarner] = Field(description=f"the {TOP_EARNERS} best by net sales")
    afv: DashboardAfv
    profit: DashboardProfit | None = Field(description="null until the payouts service has calculated the period")
    version: int = Field(description="commit order: the newest version wins (shared_lib.firestore)")
    updated_at: datetime


def path(agency_id: uuid.UUID, period: Period) -> str:
    return PATH.format(agencyId=agency_id, period=period)


def build(uow: UnitOfWork, agency_id: uuid.UUID, period: Period) -> dict[str, Any]:
    """The whole agency's figures for the calendar month (the Owner's view), plus profit once calculated."""
    scope, first, last = Scope.agency(agency_id), period.first_day, period.last_day
    afv = figures.afv(uow, scope, first, last)
    profit = queries.period_profit(uow, agency_id, str(period))
    return {
        "agency_id": str(agency_id),
        "period": str(period),
        "date_from": first.isoformat(),
        "date_to": last.isoformat(),
        "summary": figures.summary(uow, scope, first, last).model_dump(mode="json", exclude={"date_from", "date_to"}),
        "top_earners": figures.top_earners(uow, scope, first, last, TOP_EARNERS).model_dump(mode="json")["items"],
        "afv": afv.model_dump(mode="json"),
        "profit": None if profit is None else _profit(profit),
    }


def _profit(row) -> dict[str, Any]:
    money = ("gross_income", "platform_fees", "net_income", "employee_payouts", "model_payouts", "expenses",
             "agency_profit")
    out: dict[str, Any] = {k: format(getattr(row, k), "f") for k in money}
    out["status"] = row.status
    out["calculated_at"] = row.calculated_at
    return out


def digest(doc: DashboardDocument) -> str:
    """The document's figures (everything but version and time): equal digests, equal documents."""
    return hashlib.sha256(doc.model_dump_json(exclude={"version", "updated_at"}).encode()).hexdigest()


def refresh(uow: UnitOfWork, agency_id: uuid.UUID, periods: Iterable[Period], *, force: bool = False) -> int:
    """Build the periods' dashboards in this transaction and write, after commit, those whose figures changed
    since the last write (all of them with `force`: the rebuild endpoint); how many are written.

    Built under the agency's statistics lock with a version from a sequence, so versions follow commit order;
    the write keeps whichever version is newest, whatever order concurrent handlers finish in. A write that
    fails forgets its digest, so the next refresh of that period writes again.
    Nothing is built when Firestore is not configured (local runs without the emulator).
    """
    periods = sorted(set(periods))
    if not periods or not firestore.enabled():
        return 0
    queries.lock_agency(uow, agency_id)
    built = datetime.now(timezone.utc)  # replaced at write time; validated here, inside the transaction
    docs = {str(p): DashboardDocument(**build(uow, agency_id, p), version=0, updated_at=built) for p in periods}
    digests = {p: digest(doc) for p, doc in docs.items()}
    written = {} if force else queries.dashboard_digests(uow, agency_id, list(docs))
    changed = {p: d for p, d in digests.items() if written.get(p) != d}
    if not changed:
        return 0
    version = queries.next_dashboard_version(uow)
    queries.save_dashboard_digests(uow, agency_id, changed, version)
    out = [(p, path(agency_id, Period.parse(p)), docs[p].model_copy(update={"version": version})) for p in changed]

    def write() -> None:
        now = datetime.now(timezone.utc)
        for period, doc_path, doc in out:
            try:
                firestore.write_read_model(doc_path, doc.model_copy(update={"updated_at": now}))
            except Exception:
                log.exception("dashboard %s not written; the next refresh of it writes again", doc_path)
                with unit_of_work() as again:
                    queries.forget_dashboard_digest(again, agency_id, period, version)

    uow.after_commit(write)
    return len(out)
