"""Reassignment (issue #16; docs/income.md "Reassignment"): a sale credited to another chatter, or to nobody, with a
reason — its refunds follow it, the manager snapshot becomes the new chatter's manager, payouts and statistics
recalculate both chatters' lines from the income.updated events, and the audit entries carry the reason."""
from __future__ import annotations

import uuid
from types import SimpleNamespace

from shared_lib.audit import set_reason
from shared_lib.closing import ensure_open
from shared_lib.contracts import IncomeUpdated
from shared_lib.db import UnitOfWork
from shared_lib.errors import Conflict, Forbidden, Invalid, NotFound
from shared_lib.income_types import SALES
from shared_lib.rbac import Caller, Role

from . import queries, rules
from .schemas import IncomeReassign, IncomeRecord
from .service import event_data


def income_reassign(*, uow: UnitOfWork, caller: Caller, income_id: uuid.UUID, cmd: IncomeReassign) -> IncomeRecord:
    """POST /api/income/records/{id}/reassign/ (Owner; Manager within their team): the sale, now credited to
    cmd.chatter_id; the same chatter again is a no-op answering the sale as it is."""
    sale = queries.reassign_target(uow, caller, income_id)
    if sale is None or not _may_see(caller, sale):
        raise NotFound("income record not found")
    if sale.type not in SALES:
        what = "a refund follows its sale: reassign the sale" if sale.refund_of else "other income has no chatter"
        raise Conflict(f"only a sale is reassigned; {what}", slug="not-reassignable")
    if caller.role is Role.manager and sale.chatter_id is not None and sale.chatter_manager_id != caller.user_id:
        raise Forbidden("a Manager reassigns only sales credited to a chatter of their team")
    if cmd.chatter_id == sale.chatter_id:
        return IncomeRecord.model_validate(sale, from_attributes=True)
    manager_id = _new_manager(uow, caller, sale, cmd.chatter_id)
    ensure_open(uow, caller.agency_id, sale.sale_date, *sale.refund_dates)
    set_reason(uow, cmd.reason)
    rows = sorted(queries.reassign_records(uow, income_id, cmd.chatter_id, manager_id), key=lambda r: r.id != sale.id)
    uow.emit_many("income.updated", [
        (r.agency_id, r.id, event_data(IncomeUpdated, r, reason="reassigned", new=r, old=SimpleNamespace(
            _mapping={**r._mapping, "chatter_id": r.o_chatter_id, "manager_id": r.o_manager_id})))
        for r in rows])
    return IncomeRecord.model_validate(rows[0], from_attributes=True)


def _may_see(caller: Caller, sale) -> bool:
    """Owner: the agency's records. Manager: those in their scope (team, own ticks, registered by them), and the
    unattributed sales of their team's models (assigning those is their job)."""
    return caller.role is Role.owner or sale.in_scope or (sale.chatter_id is None and sale.team_model)


def _new_manager(uow: UnitOfWork, caller: Caller, sale, chatter_id: uuid.UUID | None) -> uuid.UUID | None:
    """The manager snapshot the sale takes: the new chatter's manager now (checked as a register checks the chatter
    it credits); none for an unattributed sale, which only an imported one may be."""
    if chatter_id is None:
        if sale.origin != "import":
            raise Invalid("a self-reported sale is credited to a chatter; only an imported sale may be unattributed",
                          field="chatter_id")
        return None
    facts = queries.chatter_facts(uow, caller.agency_id, chatter_id, sale.model_id)
    if facts is None:
        raise NotFound("chatter not found", field="chatter_id")
    rules.check_credited(caller, facts)
    return facts.manager_id
