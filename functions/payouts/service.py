"""Payouts use cases: recalculate a period from the truth, close it, and read the stored result."""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone
from typing import Any, Iterable

from shared_lib.closing import lock_period_exclusive
from shared_lib.db import UnitOfWork
from shared_lib.errors import Conflict, NotFound
from shared_lib.events import named_dates
from shared_lib.periods import Period, local_today
from shared_lib.rbac import Caller, can_see_user, user_scope

from . import queries
from .calc import Result, calculate, payouts_by_user

log = logging.getLogger(__name__)

# A settings change reaches every later period; recalculating more than two years back is never needed.
MAX_PERIODS_PER_EVENT = 24


def recalculate(uow: UnitOfWork, *, agency_id: uuid.UUID, period: Period) -> Result | None:
    """Recompute one open period from the truth and replace its stored result; None when the period is closed.

    Concurrent recalculations of one period serialize on a transaction advisory lock; the one that gets the lock
    last reads everything committed before it, so the stored result always reflects all committed data.
    """
    uow.execute("SELECT pg_advisory_xact_lock(hashtext('calc:' || :a || ':' || :p))",
                {"a": str(agency_id), "p": str(period)})
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
             data={"agency_id": str(agency_id), "period": str(period), "user_ids": changed})
    if changed:
        uids = dict(uow.execute("SELECT id::text, firebase_uid FROM user_service.users "
                                "WHERE id = ANY(CAST(:ids AS uuid[]))", {"ids": changed}).all())
        version = queries.next_earnings_version(uow)  # under the calculation lock: follows commit order
        uow.after_commit(lambda: _publish_earnings(agency_id, period, result, changed, uids, version))
    return result


def _publish_earnings(agency_id: uuid.UUID, period: Period, result: Result, user_ids: list[str],
                      firebase_uids: dict[str, str], version: int) -> None:
    """Each changed user's running payout, for the chatter app to show live (a projection: replay rebuilds it)."""
    from shared_lib import firestore

    if not firestore.enabled():
        return
    by_user: dict[str, list[dict[str, Any]]] = {u: [] for u in user_ids}
    for line in result.lines:
        if str(line.user_id) in by_user:
            by_user[str(line.user_id)].append({"kind": line.kind, "model_id": _s(line.model_id),
                                               "basis": str(line.basis), "rate": _s(line.rate),
                                               "amount": str(line.amount)})
    totals = {str(u): t for u, t in result.totals_by_user().items()}
    now = datetime.now(timezone.utc)
    for user_id, lines in by_user.items():
        firestore.write_read_model(
            f"agencies/{agency_id}/earnings/{user_id}_{period}",
            # uid: firestore.rules lets the user read their own document by their Firebase uid.
            {"user_id": user_id, "uid": firebase_uids.get(user_id), "period": str(period), "lines": lines,
             "total": str(totals.get(user_id, "0.00")), "status": "open", "updated_at": now, "version": version})


def _s(x) -> str | None:
    return None if x is None else str(x)


def periods_for_event(event_type: str, data: dict[str, Any], agency_timezone: str) -> list[Period]:
    """Which periods an event touches: the periods of every date it names (old and new); for a settings change,
    every period from its effective date to the current one."""
    dates = sorted(named_dates(data))
    if event_type.endswith("settings.updated"):
        if not dates:
            return []
        first, current = Period.of(dates[0]), Period.of(local_today(agency_timezone))
        periods = []
        p = first
        while p <= current and len(periods) < MAX_PERIODS_PER_EVENT:
            periods.append(p)
            p = p.next()
        return periods
    return sorted({Period.of(d) for d in dates} | set(_named_periods(data)))


def _named_periods(data: dict[str, Any]) -> Iterable[Period]:
    p = data.get("period")
    if isinstance(p, str):
        try:
            yield Period.parse(p)
        except ValueError:
            return


def on_change(uow: UnitOfWork, *, event_type: str, agency_id: uuid.UUID, data: dict[str, Any]) -> list[str]:
    """Recompute every open period the event touches; returns the periods recalculated."""
    tz = uow.execute("SELECT timezone FROM user_service.agencies WHERE id = :a", {"a": agency_id}).scalar()
    if tz is None:
        log.warning("%s for unknown agency %s: nothing to recalculate", event_type, agency_id)
        return []
    done = []
    for period in periods_for_event(event_type, data, tz):
        if recalculate(uow, agency_id=agency_id, period=period) is not None:
            done.append(str(period))
    return done


def calculate_now(*, uow: UnitOfWork, caller: Caller, period: Period, user_id: uuid.UUID | None) -> dict[str, Any]:
    if user_id is not None and not can_see_user(uow, caller, user_id):
        raise NotFound("user not found")
    result = recalculate(uow, agency_id=caller.agency_id, period=period)
    if result is None:  # closed: its stored figures are final
        return profit_get(uow=uow, caller=caller, period=period)
    return {"period": str(period), "status": "open", "gross_income": result.gross_income,
            "platform_fees": result.platform_fees, "net_income": result.net_income,
            "employee_payouts": result.employee_payouts, "model_payouts": result.model_payouts_total,
            "expenses": result.expenses, "agency_profit": result.agency_profit,
            "calculated_at": datetime.now(timezone.utc)}


def period_close(*, uow: UnitOfWork, caller: Caller, period: Period) -> dict[str, Any]:
    """Final calculation, then closed for good: later changes dated in it answer 409 period-closed."""
    lock_period_exclusive(uow, caller.agency_id, str(period))
    status = queries.period_status(uow, caller.agency_id, period)
    if status == "closed":
        return {"period": str(period), "status": "closed"}
    if period > Period.of(local_today(caller.agency_timezone)):
        raise Conflict(f"period {period} has not started yet", slug="period-not-started")
    recalculate(uow, agency_id=caller.agency_id, period=period)
    uow.execute(
        """
        INSERT INTO financial_calculations.periods (agency_id, period, status, closed_at, closed_by)
        VALUES (:a, :p, 'closed', now(), :u)
        ON CONFLICT (agency_id, period) DO UPDATE SET status = 'closed', closed_at = now(), closed_by = :u
        """,
        {"a": caller.agency_id, "p": str(period), "u": caller.user_id},
    )
    uow.emit("financial_period.closed", agency_id=caller.agency_id, subject=str(period),
             data={"agency_id": str(caller.agency_id), "period": str(period)})
    return {"period": str(period), "status": "closed"}


def profit_get(*, uow: UnitOfWork, caller: Caller, period: Period) -> dict[str, Any]:
    row = uow.execute(
        "SELECT * FROM financial_calculations.period_results WHERE agency_id = :a AND period = :p",
        {"a": caller.agency_id, "p": str(period)},
    ).one_or_none()
    status = queries.period_status(uow, caller.agency_id, period)
    if row is None:
        zero = "0.00"
        return {"period": str(period), "gross_income": zero, "platform_fees": zero, "net_income": zero,
                "employee_payouts": zero, "model_payouts": zero, "expenses": zero, "agency_profit": zero,
                "status": status, "calculated_at": None}
    return {"period": str(period), "gross_income": row.gross_income, "platform_fees": row.platform_fees,
            "net_income": row.net_income, "employee_payouts": row.employee_payouts,
            "model_payouts": row.model_payouts, "expenses": row.expenses, "agency_profit": row.agency_profit,
            "status": status, "calculated_at": row.calculated_at}


def payouts_list(*, uow: UnitOfWork, caller: Caller, period: Period, user_id: uuid.UUID | None) -> dict[str, Any]:
    """Each visible user's lines and total: Owner all, Manager own team and self, Chatter self."""
    if user_id is not None and not can_see_user(uow, caller, user_id):
        raise NotFound("user not found")
    scope, params = user_scope(caller, "s.user_id")
    rows = uow.execute(
        f"""
        SELECT s.user_id, s.total, l.kind, l.model_id, l.basis, l.rate, l.amount, l.detail
        FROM financial_calculations.calculated_payouts_summary s
        LEFT JOIN financial_calculations.payout_lines l
               ON l.agency_id = s.agency_id AND l.period = s.period AND l.user_id = s.user_id
        WHERE s.agency_id = :a AND s.period = :p AND {scope}
          AND (CAST(:u AS uuid) IS NULL OR s.user_id = CAST(:u AS uuid))
        ORDER BY s.user_id, l.kind, l.model_id, l.rate, l.id
        """,
        {**params, "a": caller.agency_id, "p": str(period), "u": None if user_id is None else str(user_id)},
    ).all()
    status = queries.period_status(uow, caller.agency_id, period)
    items: dict[uuid.UUID, dict[str, Any]] = {}
    for r in rows:
        item = items.setdefault(r.user_id, {"user_id": r.user_id, "period": str(period), "lines": [],
                                            "total": r.total, "status": status})
        if r.kind is not None:
            item["lines"].append({"kind": r.kind, "model_id": r.model_id, "basis": r.basis, "rate": r.rate,
                                  "amount": r.amount, "detail": r.detail})
    return {"items": list(items.values())}


def model_payouts_list(*, uow: UnitOfWork, caller: Caller, period: Period) -> dict[str, Any]:
    rows = uow.execute(
        """
        SELECT model_id, effective_from, base, model_share_percent, split_chatting_costs, amount
        FROM financial_calculations.model_payouts WHERE agency_id = :a AND period = :p
        ORDER BY model_id, effective_from
        """,
        {"a": caller.agency_id, "p": str(period)},
    ).all()
    return {"items": [dict(r._mapping) for r in rows]}
