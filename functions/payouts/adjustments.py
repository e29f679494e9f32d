"""Adjustments use cases (issue #15): an Owner's bonus, penalty or correction for one person's open period, its
reversal, and the list. Each adjustment is one `adjustment` payout line of exactly its amount (calc.calculate);
the person's user scope is recomputed in the same transaction, so the reply's adjustment is already in the
payouts (and `financial_calculation.completed` names the person). Never edited or deleted (sql/0135)."""
from __future__ import annotations

import uuid
from datetime import datetime

from shared_lib.closing import ensure_open
from shared_lib.db import UnitOfWork
from shared_lib.errors import Conflict, Invalid, NotFound
from shared_lib.pagination import cursor_key, page_of
from shared_lib.periods import Period, local_today
from shared_lib.rbac import Caller, can_see_user, user_scope

from . import queries
from .calc import Scope
from .schemas import Adjustment, AdjustmentRequest, AdjustmentsPage, AdjustmentsQuery, ReverseRequest
from .service import scope_recalculate


def adjustment_record(*, uow: UnitOfWork, caller: Caller, body: AdjustmentRequest) -> Adjustment:
    """Record an adjustment for a person of the agency (else 404) in an open period (else 409 period-closed) that
    has begun in the agency's time zone (else 400 on `period`: a bonus for a month not yet begun is recorded once
    it has, so a typo'd 2062-11 does not create a payout for a month no one works in; docs/payouts.md)."""
    if not can_see_user(uow, caller, body.user_id):
        raise NotFound("user not found")
    today = local_today(caller.agency_timezone)
    if body.period.first_day > today:
        raise Invalid(f"must not be after the current month ({Period.of(today)})", field="period")
    ensure_open(uow, caller.agency_id, body.period.first_day)
    row = queries.insert_adjustment(uow, agency_id=caller.agency_id, user_id=body.user_id, period=body.period,
                                    amount=body.amount, reason=body.reason, created_by=caller.user_id)
    return _recorded(uow, caller, row)


def adjustment_reverse(*, uow: UnitOfWork, caller: Caller, adjustment_id: uuid.UUID,
                       body: ReverseRequest) -> Adjustment:
    """Add the opposite adjustment, naming the one it reverses, in the original's period (which must still be
    open: 409 period-closed). A reversal can't be reversed, and an adjustment is reversed once: 409
    already-reversed (the UNIQUE constraint on `reverses` decides between concurrent reversals)."""
    original = queries.adjustment(uow, caller.agency_id, adjustment_id)
    if original is None:
        raise NotFound("adjustment not found")
    if original.reverses is not None:
        raise Conflict(f"adjustment {adjustment_id} is a reversal; it can't be reversed", slug="already-reversed")
    period = Period.parse(original.period)
    ensure_open(uow, caller.agency_id, period.first_day)
    reason = body.reason or f"reversal of: {original.reason}"[:500]
    row = queries.insert_adjustment(uow, agency_id=caller.agency_id, user_id=original.user_id, period=period,
                                    amount=-original.amount, reason=reason, created_by=caller.user_id,
                                    reverses=original.id)
    if row is None:
        raise Conflict(f"adjustment {adjustment_id} is already reversed", slug="already-reversed")
    return _recorded(uow, caller, row)


def _recorded(uow: UnitOfWork, caller: Caller, row) -> Adjustment:
    scope_recalculate(uow=uow, agency_id=caller.agency_id, period=Period.parse(row.period),
                      scope=Scope(frozenset(), frozenset({row.user_id})))
    return Adjustment.model_validate(row, from_attributes=True)


def adjustments_list(*, uow: UnitOfWork, caller: Caller, query: AdjustmentsQuery) -> AdjustmentsPage:
    """The adjustments the caller may see as they see payouts (Owner all, Manager own team and self, Chatter
    self), newest first; `user_id` outside that scope → 404."""
    if query.user_id is not None and not can_see_user(uow, caller, query.user_id):
        raise NotFound("user not found")
    after = cursor_key(query.cursor, (datetime, uuid.UUID))
    scope, params = user_scope(caller, "a.user_id")
    rows = queries.adjustments_page(uow, agency_id=caller.agency_id, scope=scope, params=params,
                                    period=query.period, user_id=query.user_id, after=after, limit=query.limit + 1)
    return page_of(rows, limit=query.limit, item=Adjustment, page=AdjustmentsPage,
                   key=lambda i: (i.created_at, i.id))
