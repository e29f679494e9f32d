"""The closed-period rule in one place: changes dated in a closed period answer 409 period-closed."""
from __future__ import annotations

from datetime import date
from typing import Any

from .errors import PeriodClosed


def ensure_open(uow, agency_id: Any, *days: date | None, lock: bool = True) -> None:
    """Raise PeriodClosed if any of `days` falls in a closed period of the agency.

    With lock=True the check takes a shared advisory lock per period, so a concurrent close (which takes the
    exclusive one) waits for this change to commit, or this change sees the period closed: no change slips in.
    """
    periods = sorted({d.strftime("%Y-%m") for d in days if d is not None})
    if not periods:
        return
    if lock:
        uow.execute(
            "SELECT pg_advisory_xact_lock_shared(hashtext('period:' || :a || ':' || p)) FROM unnest(CAST(:ps AS text[])) p",
            {"a": str(agency_id), "ps": periods},
        )
    closed = uow.execute(
        "SELECT period FROM financial_calculations.periods "
        "WHERE agency_id = :a AND period = ANY(CAST(:ps AS text[])) AND status = 'closed' ORDER BY period",
        {"a": agency_id, "ps": periods},
    ).scalars().all()
    if closed:
        raise PeriodClosed(f"period {', '.join(closed)} is closed; its figures can no longer change")


def lock_period_exclusive(uow, agency_id: Any, period: str) -> None:
    """Taken by the payouts service when it closes a period (recalculations serialize on their own lock)."""
    uow.execute("SELECT pg_advisory_xact_lock(hashtext('period:' || :a || ':' || :p))",
                {"a": str(agency_id), "p": period})
