"""The earnings read model agencies/{agencyId}/earnings/{userId}_{period}: each user's running payout, live."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Callable, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared_lib import firestore
from shared_lib.db import UnitOfWork
from shared_lib.money import Money
from shared_lib.periods import Period

from . import queries
from .calc import Line, LineValues, PayoutValues
from .schemas import Kind

EarningsStatus = Literal["open", "closed", "paid"]


class EarningsLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind
    model_id: str | None
    basis: Money
    rate: Money | None
    amount: Money


@firestore.document_model("earnings", "agencies/{agencyId}/earnings/{userId}_{period}")
class EarningsDocument(BaseModel):
    """One user's payout for one period, as the chatter app shows it (a projection: replay rebuilds it)."""

    model_config = ConfigDict(extra="forbid")

    user_id: str
    uid: str | None = Field(description="the user's Firebase uid: firestore.rules let them read their own")
    manager_uid: str | None = Field(
        description="the Firebase uid of the user's manager when the document was written (null: in no team): "
                    "firestore.rules let that Manager read it; each write takes the team from Cloud SQL again")
    period: str
    lines: list[EarningsLine]
    total: Money
    status: EarningsStatus
    updated_at: datetime
    version: int = Field(description="commit order: the newest version wins (shared_lib.firestore)")


def earnings_status(period_status: str, paid: bool = False) -> EarningsStatus:
    """What an earnings document says about its money: `open` while the period is open, `closed` once it is,
    `paid` once the person's payment of the closed period is recorded (financial_calculations.payments).

    The one place that derives it."""
    if period_status != "closed":
        return "open"
    return "paid" if paid else "closed"


def path(agency_id: uuid.UUID, user_id: str, period: Period) -> str:
    return f"agencies/{agency_id}/earnings/{user_id}_{period}"


def publish_changed(uow: UnitOfWork, *, agency_id: uuid.UUID, period: Period, user_ids: list[str],
                    payouts: dict[uuid.UUID, PayoutValues] | None = None) -> None:
    """After commit, rewrite the documents of the users a recalculation changed, from their stored lines now
    (a scoped recalculation knows only some of a user's lines); a full recalculation passes `payouts`, every
    user's lines and total as just written (calc.payouts_by_user), instead of reading them back. The caller
    holds the period's calculation lock, so the version taken here follows commit order."""
    if not user_ids:
        return
    status = _statuses(uow, agency_id, period, user_ids)
    readers = queries.earnings_readers(uow, user_ids)
    version = queries.next_earnings_version(uow)
    if payouts is None:
        payouts = queries.stored_payouts(uow, agency_id, period, user_ids=user_ids)
    stored = {str(u): p for u, p in payouts.items()}
    docs = {}
    for u in user_ids:
        payout = stored.get(u)
        docs[u] = (*readers.get(u, (None, None)), [_line(l) for l in payout.lines] if payout else [],
                   payout.total if payout else "0.00")
    uow.after_commit(lambda: _write(agency_id, period, status, version, docs))


def publish_period(uow: UnitOfWork, *, agency_id: uuid.UUID, period: Period) -> int:
    """After commit, rewrite every earnings document of the period with its status now: each stored user's, and
    any earlier one whose user has no lines any more (0.00). Used when a period is closed, and again on each
    repeated close, which heals a write lost after the first one.
    Takes the period's calculation lock, so its version is newer than any recalculation's before it."""
    from .service import calculation_lock  # the service imports this module

    calculation_lock(uow, agency_id, period)
    stored = queries.stored_payouts(uow, agency_id, period)
    user_ids = sorted(str(u) for u in stored)
    status = _statuses(uow, agency_id, period, None)
    readers = queries.earnings_readers(uow, user_ids)
    version = queries.next_earnings_version(uow)
    docs = {}
    for user_id, payout in stored.items():
        docs[str(user_id)] = (*readers.get(str(user_id), (None, None)), [_line(l) for l in payout.lines],
                              payout.total)
    uow.after_commit(lambda: _write(agency_id, period, status, version, docs, whole_period=True))
    return len(docs)


def _statuses(uow: UnitOfWork, agency_id: uuid.UUID, period: Period,
              user_ids: list[str] | None) -> Callable[[str], EarningsStatus]:
    """Each user's earnings status now (earnings_status of the period's status and their payment)."""
    period_status = queries.period_status(uow, agency_id, period)
    paid = set() if period_status != "closed" else {
        str(u) for u in queries.payments_of(uow, agency_id, period, user_ids=user_ids)}
    return lambda user_id: earnings_status(period_status, user_id in paid)


def _write(agency_id: uuid.UUID, period: Period, status: Callable[[str], EarningsStatus], version: int,
           docs: dict[str, tuple[str | None, str | None, list[EarningsLine], object]], *,
           whole_period: bool = False) -> None:
    if not firestore.enabled():
        return
    now = datetime.now(timezone.utc)
    if whole_period:
        # A user whose lines all went away keeps a document saying 0.00: it follows the period's status too.
        for old in firestore.documents_where(f"agencies/{agency_id}/earnings", "period", str(period)):
            if old.get("user_id") not in docs:
                docs = {**docs, old["user_id"]: (old.get("uid"), old.get("manager_uid"), [], "0.00")}
    firestore.write_read_models({path(agency_id, user_id, period): EarningsDocument(
        user_id=user_id, uid=uid, manager_uid=manager_uid, period=str(period), lines=lines, total=total,
        status=status(user_id), updated_at=now, version=version)
        for user_id, (uid, manager_uid, lines, total) in docs.items()})


def _line(line: Line | LineValues) -> EarningsLine:
    """A calculated or a stored payout line as the document shows it (no detail)."""
    return EarningsLine(kind=line.kind, model_id=None if line.model_id is None else str(line.model_id),
                        basis=line.basis, rate=line.rate, amount=line.amount)
