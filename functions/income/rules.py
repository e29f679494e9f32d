"""Income registration rules of BUSINESS_RULES.md: who may register what for whom, the fee, the split's user."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from shared_lib import clock
from shared_lib.db import UnitOfWork
from shared_lib.errors import Conflict, Forbidden, Invalid, NotFound
from shared_lib.income_types import CHATTING, REFUNDS
from shared_lib.money import percent_of
from shared_lib.rbac import Caller, Role, model_in_agency

from . import queries
from .schemas import IncomeRefund, IncomeRegister

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Attribution:
    chatter_id: uuid.UUID | None
    manager_id: uuid.UUID | None


def amounts(type: str, gross: Decimal, fee_percent: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """(fee_percent, fee_amount, net_amount): fee = round(gross × fee% / 100), net = gross − fee; other income
    carries no platform fee."""
    if type not in CHATTING:
        return ZERO, ZERO, gross
    fee = percent_of(gross, fee_percent)
    return fee_percent, fee, gross - fee


def named_chatter(caller: Caller, cmd: IncomeRegister) -> uuid.UUID | None:
    """The chatter a chatting sale would credit, as the caller named it (checked by attribute); None otherwise."""
    if not cmd.chatting:
        return None
    return caller.user_id if caller.role is Role.chatter else cmd.chatter_id


def attribute(uow: UnitOfWork, *, caller: Caller, cmd: IncomeRegister, current=None, known=None) -> Attribution:
    """The chatter credited and the manager snapshot, or the 400/403/404 naming the field.

    On a change (`current` given) that keeps the chatter and the model, the attribution stands as registered:
    the assignment, team and active checks held then, and the snapshot manager is kept (a later team move
    never rewrites past ticks). `known`: queries.register_facts for the model and named_chatter, read already
    (a register reads them with its other look-ups in one statement); else they are read here.
    """
    def model_found() -> bool:
        return known.model_found if known is not None else model_in_agency(uow, caller.agency_id, cmd.model_id)

    if not cmd.chatting:
        if caller.role is Role.chatter:
            raise Forbidden("only an Owner or a Manager registers other income", field="type")
        if cmd.model_id is not None and not model_found():
            raise NotFound("model not found", field="model_id")
        return Attribution(None, None)

    if caller.role is Role.chatter:
        if cmd.chatter_id not in (None, caller.user_id):
            raise Forbidden("a chatter registers sales for themselves only", field="chatter_id")
        chatter_id = caller.user_id
    elif cmd.chatter_id is None:
        raise Invalid("required when an Owner or a Manager registers a chatting sale", field="chatter_id")
    else:
        chatter_id = cmd.chatter_id

    if current is not None and current.chatter_id == chatter_id and current.model_id == cmd.model_id:
        return Attribution(chatter_id, current.manager_id)
    if not model_found():
        raise NotFound("model not found", field="model_id")
    if known is not None:
        facts = known if known.user_id is not None else None
    else:
        facts = queries.chatter_facts(uow, caller.agency_id, chatter_id, cmd.model_id)
    if facts is None:
        raise NotFound("chatter not found", field="chatter_id")
    if caller.role is Role.chatter:
        if not facts.assigned:
            raise Forbidden("this model is not assigned to you", field="model_id")
    else:
        check_credited(caller, facts)
    keep_snapshot = current is not None and current.chatter_id == chatter_id
    return Attribution(chatter_id, current.manager_id if keep_snapshot else facts.manager_id)


def check_credited(caller: Caller, facts) -> None:
    """The chatter an Owner or a Manager credits a sale to (queries.chatter_facts): a Manager's team only (403),
    an active user with role chatter assigned to the sale's model (400) — the register's, a change's and a
    reassignment's one rule."""
    if caller.role is Role.manager and facts.manager_id != caller.user_id:
        raise Forbidden("a Manager credits only chatters of their team", field="chatter_id")
    if facts.role != Role.chatter.value:
        raise Invalid("must be a chatter", field="chatter_id")
    if not facts.active:
        raise Invalid("this chatter is deactivated", field="chatter_id")
    if not facts.assigned:
        raise Invalid("this chatter is not assigned to the model", field="chatter_id")


def check_split_user(uow: UnitOfWork, *, caller: Caller, user_id: uuid.UUID | None, current_user_id=None) -> None:
    """The user receiving an other-income split: in the agency (404), active, and for a Manager themselves or
    one of their team (403). Unchanged on an edit: it stands as registered."""
    if user_id is None or user_id == current_user_id:
        return
    facts = queries.user_facts(uow, caller.agency_id, user_id)
    if facts is None:
        raise NotFound("user not found", field="assigned_to_user_id")
    if caller.role is Role.manager and user_id != caller.user_id and facts.manager_id != caller.user_id:
        raise Forbidden("a Manager splits only to themselves or their team", field="assigned_to_user_id")
    if not facts.active:
        raise Invalid("this user is deactivated", field="assigned_to_user_id")


# --- refunds and chargebacks ------------------------------------------------------------------------------------


def refund_amounts(amount: Decimal, fee_percent: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """(gross, fee, net) of a refund of `amount` priced at the sale's fee %: gross = −amount,
    fee = −round(amount × fee% / 100), net = gross − fee (all ≤ 0; a full refund mirrors the sale exactly)."""
    fee = -percent_of(amount, fee_percent)
    return -amount, fee, -amount - fee


def check_refundable(sale, cmd: IncomeRefund) -> None:
    """Only a chatting sale is refunded (409 not-refundable: other income is corrected by editing it, and a refund
    is not refunded again), and not before its own date (400 refund_date)."""
    if sale.type not in CHATTING:
        what = "a refund" if sale.type in REFUNDS else "other income (correct it by editing it)"
        raise Conflict(f"only a chatting sale can be refunded, not {what}", slug="not-refundable")
    if cmd.refund_date < sale.sale_date:
        raise Invalid(f"must not be before the sale's date ({sale.sale_date})", field="refund_date")


def check_chatter_window(uow: UnitOfWork, caller: Caller, current) -> None:
    """A Chatter edits or deletes their own sale only while no platform import has verified it (409
    verified-not-editable) and within the agency's chatter_edit_hours of registering it (409 edit-window-passed;
    the setting in effect on the agency's local today, the clock seam's now). Owners and Managers: no limit."""
    if caller.role is not Role.chatter:
        return
    if current.verified:
        raise Conflict("a sale the platform has verified can't be changed by a chatter", slug="verified-not-editable")
    hours = queries.chatter_edit_hours_on(uow, caller.agency_id, clock.today_in(caller.agency_timezone))
    if clock.now() - current.created_at > timedelta(hours=hours):
        raise Conflict(f"a chatter changes a sale within {hours} hours of registering it; ask a Manager",
                       slug="edit-window-passed")


def check_changeable(caller: Caller, current, *, deleting: bool) -> None:
    """A refund is never edited (409 refund-not-editable), nor an imported record (409 imported-not-editable); a
    refund is deleted by an Owner or a Manager only (a Chatter would take back what was clawed back from them: 403)."""
    if current.origin == "import" and not deleting:
        raise Conflict("an imported record is the platform's: it can't be edited (delete it, or re-attribute it "
                       "once assignment exists)", slug="imported-not-editable")
    if current.type not in REFUNDS:
        return
    if not deleting:
        raise Conflict("a refund can't be edited: delete it and record it again", slug="refund-not-editable")
    if caller.role is Role.chatter:
        raise Forbidden("only an Owner or a Manager deletes a refund")
