"""Payouts use cases: recalculate a period from the truth, close it, and read the stored result."""
from __future__ import annotations

import logging
import uuid
from datetime import date, datetime, timezone

from shared_lib.closing import lock_period_exclusive
from shared_lib.contracts import CalculationCompleted, Contract, PeriodClosed, SettingsChange
from shared_lib.db import UnitOfWork
from shared_lib.errors import Conflict, NotFound
from shared_lib.pagination import cursor_key, page_of
from shared_lib.periods import Period, local_today
from shared_lib.rbac import Caller, can_see_user, user_scope

from . import earnings, queries
from .calc import FIGURES, ZERO, Result, calculate, payouts_by_user
from .schemas import (ModelPayoutItem, ModelPayoutsPage, ModelPayoutsQuery, PayoutLine, PayoutsPage, PayoutsQuery,
                      PeriodClosedReply, Totals, UserPayout)

log = logging.getLogger(__name__)

# A settings change reaches every later period; recalculating more than two years back is never needed.
MAX_PERIODS_PER_EVENT = 24


def period_recalculate(*, uow: UnitOfWork, agency_id: uuid.UUID, period: Period) -> Result | None:
    """Recompute one open period from the truth and replace its stored result; None when the period is closed.

    Concurrent recalculations of one period serialize on a transaction advisory lock; the one that gets the lock
    last reads everything committed before it, so the stored result always reflects all committed data.
    """
    queries.lock_calculation(uow, agency_id, period)
    if queries.period_status(uow, agency_id, period) == "closed":
        return None
    before = queries.stored_payouts(uow, agency_id, period)
    result = calculate(
        period=period,
        sales=queries.load_sales(uow, agency_id, period),
        user_settings=queries.load_user_settings(uow, agency_id, period),
        model_settings=queries.load_model_settings(uow, agency_id, period),
        expenses=queries.load_expenses(uow, agency_id, period),
        deductions=queries.load_deductions(uow, agency_id, period),
    )
    queries.replace_result(uow, agency_id, result)
    after = payouts_by_user(result)
    changed = sorted(str(u) for u in set(before) | set(after) if before.get(u) != after.get(u))
    uow.emit("financial_calculation.completed", agency_id=agency_id, subject=str(period),
             data=CalculationCompleted(agency_id=agency_id, period=str(period), user_ids=changed))
    earnings.publish_changed(uow, agency_id=agency_id, period=period, result=result, user_ids=changed)
    return result


def changed_periods_recalculate(*, uow: UnitOfWork, data: Contract) -> list[str]:
    """After an income, expense, settings or time event: recalculate every open period it touches; returns them."""
    tz = queries.agency_timezone(uow, data.agency_id)
    if tz is None:
        log.warning("%s for unknown agency %s: nothing to recalculate", data.event_type, data.agency_id)
        return []
    done = []
    for period in periods_for_event(data, tz):
        if period_recalculate(uow=uow, agency_id=data.agency_id, period=period) is not None:
            done.append(str(period))
    return done


def periods_for_event(data: Contract, agency_timezone: str) -> list[Period]:
    """Which periods an event touches: the periods of every day it names (old and new); for a settings change,
    every period from its effective date to the current one."""
    if isinstance(data, SettingsChange):
        first, current = Period.of(data.effective_from), Period.of(local_today(agency_timezone))
        periods = []
        p = first
        while p <= current and len(periods) < MAX_PERIODS_PER_EVENT:
            periods.append(p)
            p = p.next()
        return periods
    return sorted({Period.of(d) for d in data.days()})


def financials_calculate(*, uow: UnitOfWork, caller: Caller, period: Period, user_id: uuid.UUID | None) -> Totals:
    """Recalculate the caller's agency's period now and return its totals; a closed period's stored ones."""
    if user_id is not None and not can_see_user(uow, caller, user_id):
        raise NotFound("user not found")
    result = period_recalculate(uow=uow, agency_id=caller.agency_id, period=period)
    if result is None:  # closed: its stored figures are final
        return profit_get(uow=uow, caller=caller, period=period)
    return Totals(period=str(period), status="open", calculated_at=datetime.now(timezone.utc), **result.figures())


def period_close(*, uow: UnitOfWork, caller: Caller, period: Period) -> PeriodClosedReply:
    """Final calculation, then closed for good: later changes dated in it answer 409 period-closed."""
    lock_period_exclusive(uow, caller.agency_id, str(period))
    status = queries.period_status(uow, caller.agency_id, period)
    if status == "closed":
        # Again after commit: a repeated close heals earnings documents whose write was lost the first time.
        earnings.publish_period(uow, agency_id=caller.agency_id, period=period)
        return PeriodClosedReply(period=str(period), status="closed")
    if period > Period.of(local_today(caller.agency_timezone)):
        raise Conflict(f"period {period} has not started yet", slug="period-not-started")
    period_recalculate(uow=uow, agency_id=caller.agency_id, period=period)
    queries.mark_period_closed(uow, caller.agency_id, period, closed_by=caller.user_id)
    uow.emit("financial_period.closed", agency_id=caller.agency_id, subject=str(period),
             data=PeriodClosed(agency_id=caller.agency_id, period=str(period)))
    # After the close commits, every earnings document of the period says so (a newer version than the
    # final calculation's, which wrote `open` just before).
    earnings.publish_period(uow, agency_id=caller.agency_id, period=period)
    return PeriodClosedReply(period=str(period), status="closed")


def profit_get(*, uow: UnitOfWork, caller: Caller, period: Period) -> Totals:
    """The period's stored totals (zeros before its first calculation) and its status."""
    row = queries.period_figures(uow, caller.agency_id, period)
    status = queries.period_status(uow, caller.agency_id, period)
    if row is None:
        return Totals(period=str(period), status=status, calculated_at=None, **dict.fromkeys(FIGURES, ZERO))
    return Totals(period=str(period), status=status, **row._mapping)


def payouts_list(*, uow: UnitOfWork, caller: Caller, query: PayoutsQuery) -> PayoutsPage:
    """Each visible user's lines and total, by name: Owner all, Manager own team and self, Chatter self."""
    if query.user_id is not None and not can_see_user(uow, caller, query.user_id):
        raise NotFound("user not found")
    after = cursor_key(query.cursor, (str, uuid.UUID))
    scope, params = user_scope(caller, "s.user_id")
    rows = queries.payout_summaries_page(uow, agency_id=caller.agency_id, period=query.period, scope=scope,
                                         params=params, user_id=query.user_id, after=after, limit=query.limit + 1)
    status = queries.period_status(uow, caller.agency_id, query.period)
    lines: dict[uuid.UUID, list[PayoutLine]] = {r.user_id: [] for r in rows[: query.limit]}
    for line in queries.payout_lines_of(uow, agency_id=caller.agency_id, period=query.period, user_ids=list(lines)):
        lines[line.user_id].append(PayoutLine.model_validate(line, from_attributes=True))
    items = [UserPayout(user_id=r.user_id, display_name=r.display_name, period=str(query.period),
                        lines=lines.get(r.user_id, []), total=r.total, status=status) for r in rows]
    sort_name = {r.user_id: r.sort_name for r in rows}
    return page_of(items, limit=query.limit, item=UserPayout, page=PayoutsPage,
                   key=lambda i: (sort_name[i.user_id], i.user_id))


def model_payouts_list(*, uow: UnitOfWork, caller: Caller, query: ModelPayoutsQuery) -> ModelPayoutsPage:
    """What each model is paid for the period, one item per model and settings version, by model name."""
    after = cursor_key(query.cursor, (str, uuid.UUID, date))
    rows = queries.model_payouts_page(uow, agency_id=caller.agency_id, period=query.period, after=after,
                                      limit=query.limit + 1)
    sort_name = {r.model_id: r.sort_name for r in rows}
    return page_of(rows, limit=query.limit, item=ModelPayoutItem, page=ModelPayoutsPage,
                   key=lambda i: (sort_name[i.model_id], i.model_id, i.effective_from))
