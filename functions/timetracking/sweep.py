"""The timetracking-sweep job: missed shifts, missed check-outs, auto clock-out, expired Firestore documents."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from shared_lib.clock import now as clock_now
from shared_lib.db import UnitOfWork

from . import clock, queries, rules, time_events

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepResult:
    cutoff: datetime
    missed_shifts: int
    missed_check_outs: int
    auto_closed: int
    expired_time_events: int


def sweep(*, uow: UnitOfWork, as_of: date, now: datetime | None = None) -> SweepResult:
    """Everything due up to the end of the UTC date as_of, never beyond now. Idempotent: each statement
    changes only rows not yet changed, and events go out only for those."""
    now = now or clock_now()
    cutoff = rules.sweep_cutoff(as_of, now)

    missed = queries.mark_missed_shifts(uow, cutoff=cutoff, now=now)
    events = [clock.event_item(agency_id=r.agency_id, user_id=r.user_id, shift_id=r.id, entry_id=None,
                               local_date=r.local_date, kind="missed_shift",
                               minutes=rules.whole_minutes(r.starts_at, r.ends_at)) for r in missed]

    flagged = queries.flag_missed_check_outs(uow, cutoff=cutoff, now=now)
    events += [clock.entry_event_item(r, "missed_check_out", 0) for r in flagged]

    due = queries.due_auto_close(uow, cutoff=cutoff)
    closes = []
    for r in due:
        out_at = rules.auto_close_at(shift_end=r.ends_at, checked_in_at=r.checked_in_at,
                                     max_shift_hours=r.max_shift_hours)
        closes.append((r.id, out_at, rules.worked_minutes(r.checked_in_at, out_at),
                       rules.overtime_minutes(r.ends_at, out_at)))
    queries.apply_auto_close(uow, now=now, closes=closes)
    # An auto-closed entry is a missed check-out too, announced once.
    events += [clock.entry_event_item(r, "missed_check_out", 0) for r in due if not r.missed_check_out]
    uow.emit_many(clock.EVENT, events)  # one outbox INSERT for the whole sweep

    expired = queries.expire_time_events(uow, received_before=now - timedelta(hours=24))
    time_events.write_back_expired(uow, expired)
    result = SweepResult(cutoff, len(missed), len(flagged) + sum(not r.missed_check_out for r in due), len(due),
                         len(expired))
    log.info("timetracking sweep: %s", result)
    return result
