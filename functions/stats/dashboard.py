"""The live dashboard read model in Firestore (replay rebuilds it): agencies/{agencyId}/dashboards/{period} with the
agency's figures and the top earners, and one document per chatter below it, .../chatters/{userId}, each written
only when its own figures changed."""
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
from .schemas import ModelAfv, TopEarner

log = logging.getLogger(__name__)

TOP_EARNERS = 5
PATH = "agencies/{agencyId}/dashboards/{period}"
CHATTER_PATH = PATH + "/chatters/{userId}"
BATCH = 100  # chatter documents per Firestore transaction (at most 500 writes per commit)


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


class DashboardModels(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[ModelAfv]


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
    afv: DashboardModels = Field(description="per model; each chatter's AFV is in chatters/{userId} below")
    chatters_count: int = Field(description="how many chatter documents the period has (chatters/{userId})")
    profit: DashboardProfit | None = Field(description="null until the payouts service has calculated the period")
    version: int = Field(description="commit order: the newest version wins (shared_lib.firestore)")
    updated_at: datetime


@firestore.document_model("dashboard_chatters", CHATTER_PATH)
class DashboardChatterDocument(BaseModel):
    """One chatter's AFV figures of the period (the list the dashboard used to hold in afv.chatters)."""

    model_config = ConfigDict(extra="forbid")

    agency_id: str
    period: str
    user_id: str
    uid: str | None = Field(description="the chatter's Firebase uid: firestore.rules let them read their own")
    manager_uid: str | None = Field(description="their manager's Firebase uid when written (null: in no team): "
                                                "firestore.rules let that Manager read it")
    display_name: str | None
    net: Money
    subscriber_count: int = Field(description="Σ subscribers of the distinct models sold for (no snapshot adds 0)")
    afv: Money | None
    version: int = Field(description="commit order: the newest version wins")
    updated_at: datetime


def path(agency_id: uuid.UUID, period: Period) -> str:
    return PATH.format(agencyId=agency_id, period=period)


def chatter_path(agency_id: uuid.UUID, period: Period | str, user_id: uuid.UUID | str) -> str:
    return CHATTER_PATH.format(agencyId=agency_id, period=period, userId=user_id)


def build(uow: UnitOfWork, agency_id: uuid.UUID, period: Period) -> tuple[dict[str, Any], dict[str, dict]]:
    """The whole agency's figures for the calendar month (the Owner's view), plus profit once calculated; and each
    chatter's document ({user_id: fields}) with the Firebase uids of the chatter and their manager now."""
    scope, first, last = Scope.agency(agency_id), period.first_day, period.last_day
    afv = figures.afv(uow, scope, first, last)
    profit = queries.period_profit(uow, agency_id, str(period))
    readers = queries.chatter_readers(uow, [c.user_id for c in afv.chatters])
    chatters = {str(c.user_id): {"agency_id": str(agency_id), "period": str(period), "user_id": str(c.user_id),
                                 **dict(zip(("uid", "manager_uid"), readers.get(c.user_id, (None, None)))),
                                 **c.model_dump(mode="json", exclude={"user_id"})}
                for c in afv.chatters}
    return {
        "agency_id": str(agency_id),
        "period": str(period),
        "date_from": first.isoformat(),
        "date_to": last.isoformat(),
        "summary": figures.summary(uow, scope, first, last).model_dump(mode="json", exclude={"date_from", "date_to"}),
        "top_earners": figures.top_earners(uow, scope, first, last, TOP_EARNERS).model_dump(mode="json")["items"],
        "afv": afv.model_dump(mode="json", include={"models"}),
        "chatters_count": len(chatters),
        "profit": None if profit is None else _profit(profit),
    }, chatters


def _profit(row) -> dict[str, Any]:
    money = ("gross_income", "platform_fees", "net_income", "employee_payouts", "model_payouts", "expenses",
             "agency_profit")
    out: dict[str, Any] = {k: format(getattr(row, k), "f") for k in money}
    out["status"] = row.status
    out["calculated_at"] = row.calculated_at
    return out


def digest(doc: DashboardDocument | DashboardChatterDocument) -> str:
    """The document's figures (everything but version and time): equal digests, equal documents."""
    return hashlib.sha256(doc.model_dump_json(exclude={"version", "updated_at"}).encode()).hexdigest()


def refresh(uow: UnitOfWork, agency_id: uuid.UUID, periods: Iterable[Period], *, force: bool = False) -> int:
    """Build the periods' dashboards in this transaction and write, after commit, the documents whose figures
    changed since the last write — the period's document and each chatter's apart; a chatter no longer in the
    period's figures has their document deleted (all written with `force`: the rebuild endpoint). Returns how
    many periods had a document written or deleted.

    Built under the agency's statistics lock with a version from a sequence, so versions follow commit order;
    each write keeps whichever version is newest, whatever order concurrent handlers finish in. A write that
    fails forgets its digest, so the next refresh of that period writes again.
    Nothing is built when Firestore is not configured (local runs without the emulator).
    """
    periods = sorted(set(periods))
    if not periods or not firestore.enabled():
        return 0
    queries.lock_agency(uow, agency_id)
    built = datetime.now(timezone.utc)  # replaced at write time; validated here, inside the transaction
    docs, chatters = {}, {}
    for p in periods:
        main, people = build(uow, agency_id, p)
        docs[str(p)] = DashboardDocument(**main, version=0, updated_at=built)
        chatters.update({(str(p), u): DashboardChatterDocument(**c, version=0, updated_at=built)
                         for u, c in people.items()})
    digests = {p: digest(doc) for p, doc in docs.items()}
    chatter_digests = {key: digest(doc) for key, doc in chatters.items()}
    written = {} if force else queries.dashboard_digests(uow, agency_id, list(docs))
    written_chatters = queries.dashboard_chatter_digests(uow, agency_id, list(docs))  # GONE rows: delete again
    changed = {p: d for p, d in digests.items() if written.get(p) != d}
    changed_chatters = {k: d for k, d in chatter_digests.items() if force or written_chatters.get(k) != d}
    gone = sorted(set(written_chatters) - set(chatter_digests))
    if not changed and not changed_chatters and not gone:
        return 0
    version = queries.next_dashboard_version(uow)
    queries.save_dashboard_digests(uow, agency_id, changed, version)
    queries.save_dashboard_chatter_digests(uow, agency_id, changed_chatters, gone, version)
    out = [(p, path(agency_id, Period.parse(p)), docs[p].model_copy(update={"version": version})) for p in changed]
    chatter_docs = [(k, chatters[k].model_copy(update={"version": version})) for k in changed_chatters]

    def write() -> None:
        now = datetime.now(timezone.utc)
        for period, doc_path, doc in out:
            try:
                firestore.write_read_model(doc_path, doc.model_copy(update={"updated_at": now}))
            except Exception:
                log.exception("dashboard %s not written; the next refresh of it writes again", doc_path)
                with unit_of_work() as again:
                    queries.forget_dashboard_digest(again, agency_id, period, version)
        _write_chatters(agency_id, version, [(k, d.model_copy(update={"updated_at": now})) for k, d in chatter_docs],
                        gone)

    uow.after_commit(write)
    return len(set(changed) | {p for p, _ in (*changed_chatters, *gone)})


def _write_chatters(agency_id: uuid.UUID, version: int, docs: list[tuple[tuple[str, str], DashboardChatterDocument]],
                    gone: list[tuple[str, str]]) -> None:
    """Set the changed chatter documents and delete the gone ones, BATCH per Firestore transaction, each only
    where the stored version is older than this one; a chunk that fails forgets its digests (the next refresh
    writes it again)."""
    from google.cloud.firestore import transactional

    db = firestore.client()
    items = [(key, db.document(chatter_path(agency_id, *key)), firestore.to_fields(doc)) for key, doc in docs]
    items += [(key, db.document(chatter_path(agency_id, *key)), None) for key in gone]
    for start in range(0, len(items), BATCH):
        chunk = items[start:start + BATCH]

        @transactional
        def apply(tx, chunk=chunk) -> None:
            have = {snap.reference.path: (snap.to_dict() or {}).get("version")
                    for snap in tx.get_all([ref for _, ref, _ in chunk]) if snap.exists}
            for _, ref, data in chunk:
                current = have.get(ref.path)
                if isinstance(current, int) and current >= version:
                    continue  # a newer build wrote (or re-created) it
                if data is None:
                    if ref.path in have:
                        tx.delete(ref)
                else:
                    tx.set(ref, data)

        try:
            apply(db.transaction())
            done = [key for key, _, data in chunk if data is None]  # deleted: their GONE rows go
        except Exception:
            log.exception("%d dashboard chatter document(s) not written; the next refresh writes them", len(chunk))
            done = [key for key, _, data in chunk if data is not None]  # their digests go: written again
        if done:
            with unit_of_work() as again:
                queries.forget_dashboard_chatter_digests(again, agency_id, done, version)
