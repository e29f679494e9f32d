"""The closed-period rule in one place: the period lock, the closed check, and 409 period-closed for changes in it."""
from __future__ import annotations

from datetime import date
from typing import Any

from .errors import PeriodClosed


# The set-based writers (income fee recompute, recurring generation) lock and check whole sets of periods inside
# their own statements, so the key and the check are given to them as SQL over their own columns: one spelling.


def period_lock_key_sql(agency_sql: str, period_sql: str) -> str:
    """SQL for the advisory-lock key of an (agency, 'YYYY-MM' period), from SQL expressions for the two."""
    return f"hashtext('period:' || CAST({agency_sql} AS text) || ':' || {period_sql})"


def period_lock_shared_sql(agency_sql: str, period_sql: str) -> str:
    """SQL taking the period's lock shared for this transaction (what every change dated in it takes)."""
    return f"pg_advisory_xact_lock_shared({period_lock_key_sql(agency_sql, period_sql)})"


def period_closed_sql(agency_sql: str, period_sql: str) -> str:
    """SQL true when the agency's period is closed."""
    return (f"EXISTS (SELECT 1 FROM financial_calculations.periods closed_p WHERE closed_p.agency_id = {agency_sql}"
            f" AND closed_p.period = {period_sql} AND closed_p.status = 'closed')")


def ensure_open(uow, agency_id: Any, *days: date | None) -> None:
    """Raise PeriodClosed if any of `days` falls in a closed period of the agency.

    The check takes the shared period lock per period first (in period order), so a concurrent close (which
    takes it exclusive) waits for this change to commit, or this change sees the period closed: no change slips in.
    """
    periods = sorted({d.strftime("%Y-%m") for d in days if d is not None})
    if not periods:
        return
    uow.execute(f"SELECT {period_lock_shared_sql(':a', 'p')} FROM unnest(CAST(:ps AS text[])) p",
                {"a": str(agency_id), "ps": periods})
    closed = uow.execute(
        f"SELECT p FROM unnest(CAST(:ps AS text[])) p WHERE {period_closed_sql('CAST(:a AS uuid)', 'p')} ORDER BY p",
        {"a": str(agency_id), "ps": periods},
    ).scalars().all()
    if closed:
        raise period_closed(closed)


def period_closed(periods: list[str]) -> PeriodClosed:
    """The 409 period-closed of a change dated in these closed periods ('YYYY-MM', in order)."""
    return PeriodClosed(f"period {', '.join(periods)} is closed; its figures can no longer change")


def lock_period_exclusive(uow, agency_id: Any, period: str) -> None:
    """Taken by the payouts service when it closes a period (recalculations serialize on their own lock)."""
    uow.execute(f"SELECT pg_advisory_xact_lock({period_lock_key_sql(':a', ':p')})", {"a": str(agency_id), "p": period})
