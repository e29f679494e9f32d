"""Income service use cases: register, read, change and delete records; recompute fees after a fee change."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from shared_lib.closing import ensure_open, period_closed
from shared_lib import outbox
from shared_lib.contracts import IncomeChange, IncomeRegistered, IncomeSnapshot, IncomeUpdated
from shared_lib.dated_records import DatedRecords, ensure_not_future
from shared_lib.db import UnitOfWork
from shared_lib.errors import Conflict, NotFound
from shared_lib.pagination import cursor_key, page_of
from shared_lib.rbac import Caller

from . import queries, rules
from .schemas import IncomeRecord, IncomeRecordsPage, IncomeRecordsQuery, IncomeRefund, IncomeRegister


def income_register(*, uow: UnitOfWork, caller: Caller, cmd: IncomeRegister) -> IncomeRecord:
    """Register a sale or other income for the caller's agency; publishes income.registered."""
    ensure_not_future(caller, cmd.sale_date, "sale_date")
    period = cmd.sale_date.strftime("%Y-%m")
    # Two statements (docs/income.md "Register path"): the period lock with every look-up, then the INSERT that
    # checks the period is open with its outbox row (the event is built first: every field of it is known).
    known = queries.register_facts(uow, caller.agency_id, period, day=cmd.sale_date, model_id=cmd.model_id,
                                   chatter_id=rules.named_chatter(caller, cmd))
    who = rules.attribute(uow, caller=caller, cmd=cmd, known=known)
    rules.check_split_user(uow, caller=caller, user_id=cmd.assigned_to_user_id)
    values = _values(caller, cmd, who, known.fee_percent if cmd.chatting else None)
    record = _Unsaved({**values, "id": uuid.uuid4(), "registered_by_user_id": caller.user_id})
    events = outbox.events_for("income.registered", [
        (caller.agency_id, record.id, event_data(IncomeRegistered, record, reason="registered", old=None, new=record))])
    row = queries.insert_record_if_open(uow, record._mapping, period, events)
    if row is None:
        raise period_closed([period])
    uow.emitted(events)
    return IncomeRecord.model_validate({**record._mapping, **row._mapping})  # the values, and what the table set


def income_get(*, uow: UnitOfWork, caller: Caller, income_id: uuid.UUID) -> IncomeRecord:
    return IncomeRecord.model_validate(RECORDS.get(uow, caller, income_id), from_attributes=True)


def income_update(*, uow: UnitOfWork, caller: Caller, income_id: uuid.UUID, cmd: IncomeRegister) -> IncomeRecord:
    """Replace a record (the register body); fee and net recomputed; income.updated carries old and new."""
    current = RECORDS.get(uow, caller, income_id, for_update=True)
    rules.check_changeable(caller, current, deleting=False)
    rules.check_chatter_window(uow, caller, current)
    ensure_not_future(caller, cmd.sale_date, "sale_date")
    who = rules.attribute(uow, caller=caller, cmd=cmd, current=current)
    rules.check_split_user(uow, caller=caller, user_id=cmd.assigned_to_user_id,
                           current_user_id=current.assigned_to_user_id)
    ensure_open(uow, caller.agency_id, current.sale_date, cmd.sale_date)
    pct = queries.fee_percent_on(uow, caller.agency_id, cmd.sale_date) if cmd.chatting else None
    row = queries.update_record(uow, income_id, _values(caller, cmd, who, pct))
    if row is None:
        raise _has_refunds()
    RECORDS.emit(uow, caller, "updated", reason="edited", old=current, new=row)
    return IncomeRecord.model_validate(row, from_attributes=True)


def income_delete(*, uow: UnitOfWork, caller: Caller, income_id: uuid.UUID) -> None:
    """Delete a record dated in an open period (a sale without refunds, or a refund); income.deleted carries what
    it was."""
    current = RECORDS.get(uow, caller, income_id, for_update=True)
    rules.check_changeable(caller, current, deleting=True)
    rules.check_chatter_window(uow, caller, current)
    ensure_open(uow, caller.agency_id, current.sale_date)
    if not queries.delete_record(uow, income_id):
        raise _has_refunds()
    RECORDS.emit(uow, caller, "deleted", reason="deleted", old=current, new=None)


def income_refund(*, uow: UnitOfWork, caller: Caller, income_id: uuid.UUID, cmd: IncomeRefund) -> IncomeRecord:
    """Refund or charge back a chatting sale, in full or in part: a record of type `kind` dated refund_date with
    the sale's model, chatter and manager snapshot, negative amounts priced at the sale's fee %, refund_of the
    sale; publishes income.registered. The sale's refunds never exceed its gross, however many arrive at once."""
    ensure_not_future(caller, cmd.refund_date, "refund_date")
    sale = queries.refund_target(uow, caller, income_id)  # locked: this sale's refunds take turns
    if sale is None:
        raise NotFound("income record not found")
    rules.check_refundable(sale, cmd)
    ensure_open(uow, caller.agency_id, cmd.refund_date)
    gross, fee, net = rules.refund_amounts(cmd.amount, sale.pricing_fee_percent)
    row = queries.insert_refund_within_gross(uow, {
        "agency_id": caller.agency_id, "type": cmd.kind, "gross_amount": gross,
        "fee_percent": sale.pricing_fee_percent, "fee_amount": fee, "net_amount": net,
        "sale_date": cmd.refund_date, "model_id": sale.model_id, "chatter_id": sale.chatter_id,
        "manager_id": sale.manager_id, "registered_by_user_id": caller.user_id,
        "customer_username": sale.customer_username, "notes": cmd.reason, "refund_of": sale.id})
    if row is None:
        left = sale.gross_amount - queries.refunded_amount(uow, sale.id)
        raise Conflict(f"the sale's refunds would exceed its gross {sale.gross_amount}: at most {left} is left "
                       "to refund", slug="refund-exceeds-sale")
    RECORDS.emit(uow, caller, "registered", reason="registered", old=None, new=row)
    return IncomeRecord.model_validate(row, from_attributes=True)


def income_list(*, uow: UnitOfWork, caller: Caller, q: IncomeRecordsQuery) -> IncomeRecordsPage:
    """The caller's visible records, newest sale first, filtered as API.md lists."""
    after = cursor_key(q.cursor, (date, datetime, uuid.UUID))
    rows = queries.list_records(uow, caller, chatter_id=q.chatter_id, model_id=q.model_id, type=q.type,
                                date_from=q.date_from, date_to=q.date_to, after=after, limit=q.limit + 1,
                                unattributed=q.unattributed)
    return page_of(rows, limit=q.limit, item=IncomeRecord, page=IncomeRecordsPage,
                   key=lambda r: (r.sale_date, r.created_at, r.id))


def income_fees_recompute(*, uow: UnitOfWork, agency_id: uuid.UUID, effective_from: date) -> int:
    """After a platform-fee change: stored fee and net of the covered records in open periods follow the fee %
    in effect on their date; one income.updated per changed record. Returns how many changed."""
    rows = queries.recompute_fees(uow, agency_id, effective_from)
    uow.emit_many("income.updated", [
        (r.agency_id, r.id,
         event_data(IncomeUpdated, r, reason="platform_fee_changed", old=_Before(r), new=r)) for r in rows])
    return len(rows)


# --- helpers ---------------------------------------------------------------------------------------------------


def _has_refunds() -> Conflict:
    return Conflict("this sale has refunds: delete them first to change or delete it", slug="has-refunds")


def _values(caller: Caller, cmd: IncomeRegister, who: rules.Attribution, pct: Decimal | None) -> dict:
    fee_percent, fee_amount, net_amount = rules.amounts(cmd.type, cmd.gross_amount, pct)
    return {"agency_id": caller.agency_id, "type": cmd.type, "gross_amount": cmd.gross_amount,
            "fee_percent": fee_percent, "fee_amount": fee_amount, "net_amount": net_amount,
            "sale_date": cmd.sale_date, "model_id": cmd.model_id, "chatter_id": who.chatter_id,
            "manager_id": who.manager_id, "customer_username": cmd.customer_username, "notes": cmd.notes,
            "source": cmd.source, "assigned_to_user_id": cmd.assigned_to_user_id,
            "split_percent": cmd.split_percent, "split_fixed_amount": cmd.split_fixed_amount}


def event_data(contract: type[IncomeChange], row, *, reason: str, old, new) -> IncomeChange:
    """The income.* payload (`contract`: IncomeRegistered, IncomeUpdated or IncomeDeleted): the record's date,
    model and chatter, its previous date, and old and new snapshots (date, model, chatter, manager, amounts)."""
    before = None if old is None else IncomeSnapshot.model_validate(dict(old._mapping))
    after = None if new is None else IncomeSnapshot.model_validate(dict(new._mapping))
    last = after or before
    return contract(
        income_id=row.id, agency_id=row.agency_id, schedule_id=row.schedule_id, reason=reason,
        sale_date=last.sale_date, old_sale_date=None if before is None else before.sale_date,
        model_id=last.model_id, chatter_id=last.chatter_id, old=before, new=after,
    )


class _Unsaved:
    """A record about to be registered, as its event reads it: the values with its id, no schedule, no refund_of."""

    def __init__(self, values: dict):
        self.id, self.agency_id, self.schedule_id = values["id"], values["agency_id"], None
        self._mapping = {**values, "schedule_id": None, "refund_of": None}


class _Before:
    """A recomputed row as it was before: the same record with its previous fee and net."""

    def __init__(self, row):
        self.id, self.agency_id, self.schedule_id = row.id, row.agency_id, row.schedule_id
        self._mapping = {**row._mapping, "fee_amount": row.o_fee_amount, "net_amount": row.o_net_amount}


RECORDS = DatedRecords(noun="income record", date_field="sale_date", events="income",
                       find=queries.get_record, remove=queries.delete_record, event_data=event_data)
