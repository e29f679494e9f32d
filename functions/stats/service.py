"""Statistics use cases: the role-scoped answers, subscriber counts, keeping the daily aggregates current, rebuild."""
from __future__ import annotations

import logging
import uuid
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Sequence

from shared_lib import catchup, clock
from shared_lib.contracts import INCOME_CHANGES, IncomeImported, SalesSettingsUpdated, SubscriberCountUpdated
from shared_lib.db import UnitOfWork
from shared_lib.errors import Invalid, NotFound
from shared_lib.income_types import CHATTING_AND_REFUNDS
from shared_lib.isodate import EARLIEST
from shared_lib.pagination import cursor_key, page_of
from shared_lib.periods import Period, local_date_of, local_today
from shared_lib.rbac import Caller, can_see_model, model_in_agency

from . import dashboard, figures, queries, rules
from .queries import Scope
from .rules import Slice
from .schemas import (
    Afv,
    AfvTrendQuery,
    RangeQuery,
    RebuildRequest,
    RebuildResult,
    SubscriberCount,
    SubscriberCountCreate,
    SubscriberCountsPage,
    SubscriberCountsQuery,
    Summary,
    TopEarners,
    TopEarnersQuery,
    TopFans,
    TopFansQuery,
    Trend,
    TrendQuery,
)

log = logging.getLogger(__name__)

# A scraper's or a browser's clock may run a little ahead; further ahead is a wrong timestamp.
CLOCK_SKEW = timedelta(minutes=5)


def _range(caller: Caller, q: RangeQuery) -> tuple[date, date]:
    return rules.resolve_range(q.date_from, q.date_to, local_today(caller.agency_timezone))


# --- the answers -----------------------------------------------------------------------------------------------


def stats_summary(*, uow: UnitOfWork, caller: Caller, q: RangeQuery) -> Summary:
    """Gross, fees, net, sales count (and, for the Owner, other income and expenses) in the range."""
    return figures.summary(uow, Scope.of(caller), *_range(caller, q))


def stats_top_earners(*, uow: UnitOfWork, caller: Caller, q: TopEarnersQuery) -> TopEarners:
    return figures.top_earners(uow, Scope.of(caller), *_range(caller, q), q.limit)


def stats_afv(*, uow: UnitOfWork, caller: Caller, q: RangeQuery) -> Afv:
    return figures.afv_with_fans(uow, Scope.of(caller), *_range(caller, q))


def stats_top_fans(*, uow: UnitOfWork, caller: Caller, q: TopFansQuery) -> TopFans:
    """A model's best fans by net: the Owner any model, a Manager the models of them or their team (the whole
    model's fans: they are the model's customers); another model 404."""
    start, end = _range(caller, q)
    if not can_see_model(uow, caller, q.model_id):
        raise NotFound("model not found", field="model_id", part="query")
    return figures.top_fans(uow, Scope.agency(caller.agency_id), q.model_id, start, end, q.limit)


def stats_income_trend(*, uow: UnitOfWork, caller: Caller, q: TrendQuery) -> Trend:
    start, end = _range(caller, q)
    buckets = figures.income_trend(uow, Scope.of(caller), rules.checked_buckets(start, end, q.granularity))
    return Trend(granularity=q.granularity, date_from=start, date_to=end, buckets=buckets)


def stats_afv_trend(*, uow: UnitOfWork, caller: Caller, q: AfvTrendQuery) -> Trend:
    start, end = _range(caller, q)
    bucket_list = rules.checked_buckets(start, end, q.granularity)
    if q.model_id is not None and not model_in_agency(uow, caller.agency_id, q.model_id):
        raise NotFound("model not found", field="model_id", part="query")
    buckets = figures.afv_trend(uow, Scope.of(caller), bucket_list, q.model_id)
    return Trend(granularity=q.granularity, date_from=start, date_to=end, buckets=buckets)


# --- subscriber counts -----------------------------------------------------------------------------------------


def _store_count(uow: UnitOfWork, *, agency_id: uuid.UUID, model_id: uuid.UUID, subscriber_count: int,
                 observed_at: datetime, source: str, recorded_by: uuid.UUID | None):
    """Store an observation (history kept) and publish model.subscriber_count.updated when it is new or corrects
    the count of the same instant; a resend changes nothing and publishes nothing. An unknown model (404) or a
    future observation (400) is refused, over HTTP and from the scraper alike."""
    tz = queries.model_timezone(uow, agency_id, model_id)
    if tz is None:
        raise NotFound("model not found", field="model_id")
    if observed_at > clock.now() + CLOCK_SKEW:
        raise Invalid("must not be in the future", field="observed_at")
    observed_on = local_date_of(observed_at, tz)
    row = queries.upsert_snapshot(uow, {
        "agency_id": agency_id, "model_id": model_id, "subscriber_count": subscriber_count,
        "observed_at": observed_at, "observed_on": observed_on, "source": source, "recorded_by": recorded_by})
    if row is None:
        return queries.get_snapshot(uow, model_id, observed_at)
    uow.emit("model.subscriber_count.updated", agency_id=agency_id, subject=model_id, data=SubscriberCountUpdated(
        agency_id=agency_id, model_id=model_id, subscriber_count=subscriber_count, observed_at=observed_at,
        observed_on=observed_on, source=source))
    return row


def subscriber_count_record(*, uow: UnitOfWork, caller: Caller, cmd: SubscriberCountCreate) -> SubscriberCount:
    """An Owner's manual entry; dashboards follow asynchronously (hence 202)."""
    row = _store_count(uow, agency_id=caller.agency_id, model_id=cmd.model_id, subscriber_count=cmd.subscriber_count,
                       observed_at=cmd.observed_at, source="manual", recorded_by=caller.user_id)
    return SubscriberCount.model_validate(row, from_attributes=True)


def subscriber_count_ingest(*, uow: UnitOfWork, agency_id: uuid.UUID, model_id: uuid.UUID, subscriber_count: int,
                            observed_at: datetime) -> None:
    """The scraper's message. An unknown model or a future observation is refused (the event edge dead-letters)."""
    _store_count(uow, agency_id=agency_id, model_id=model_id, subscriber_count=subscriber_count,
                 observed_at=observed_at, source="scraper", recorded_by=None)


def subscriber_counts_list(*, uow: UnitOfWork, caller: Caller, q: SubscriberCountsQuery) -> SubscriberCountsPage:
    """The observations of the models the caller may see, newest first (optionally one model's)."""
    after = cursor_key(q.cursor, (datetime, int))
    if q.model_id is not None and not can_see_model(uow, caller, q.model_id):
        raise NotFound("model not found", field="model_id", part="query")
    rows = queries.list_snapshots(uow, caller, model_id=q.model_id, after=after, limit=q.limit + 1)
    return page_of(rows, limit=q.limit, item=SubscriberCount, page=SubscriberCountsPage,
                   key=lambda c: (c.observed_at, c.id))


# --- keeping the aggregates and the dashboards current -----------------------------------------------------------


# How long an owed dashboard may wait while its period's slices keep being marked (a burst): the owner builds it
# when a round leaves no slice of the period pending, or once it has been owed this long (docs/stats.md).
DASHBOARD_STALE_SECONDS = 5.0


# A day with this many slices taken in one round is recomputed whole: one pass over the day's records (10–20 ms
# for the 3,300 sales a day of bench_chain's 100,000-sale month) against ~0.4 ms a slice when thousands are
# recomputed set-based (a burst's round: 10,000 slices took 4.7 s, the 30 days whole 0.6 s).
WHOLE_DAY_SLICES = 20


def catch_up_key(agency_id: uuid.UUID) -> str:
    """The agency's catch-up key: queries.lock_agency's hashtext argument, so blocking holders exclude owners."""
    return f"stats:{agency_id}"


def _catch_up(agency_id: uuid.UUID, anchor: uuid.UUID | None = None) -> dict:
    """The agency's catch-up for shared_lib.catchup: its key, a round, the look for marks left. `anchor`: the
    delivered event; the owner's rounds absorb the income events committed after it."""
    # The income changes an owner's round takes straight from the outbox, each the slices its delivery would
    # mark (rules.income_slices, in stats_catch_up).
    absorber = catchup.Absorber("stats", agency_id, INCOME_CHANGES, anchor)
    return {"key": catch_up_key(agency_id), "service": "stats",
            "step": lambda round_uow: stats_catch_up(uow=round_uow, agency_id=agency_id, absorber=absorber) > 0,
            "pending": lambda look: queries.anything_pending(look, agency_id)}


def drain_after_commit(uow: UnitOfWork, agency_id: uuid.UUID, anchor: uuid.UUID | None = None) -> None:
    """After `uow` commits (an event's marks, or a blocking holder of the agency's lock whose commit a handler's
    try may have failed against), catch the agency up unless another owner is at it (shared_lib.catchup)."""
    catchup.drain_after_commit(uow, **_catch_up(agency_id, anchor))


def stats_sweep() -> int:
    """The scheduled sweep (stats-sweep): drain every agency with marks still pending — an owner that ran out of
    its budget (catchup.BUDGET_SECONDS) or died mid-round leaves them to the next event of that agency, which
    may not come; an agency whose owner is at work is left to it. Returns the agencies with marks."""
    return catchup.sweep("stats", lambda uow: [(a,) for a in queries.agencies_with_pending(uow)], _catch_up)


def stats_slices_changed(*, uow: UnitOfWork, agency_id: uuid.UUID, kind: str, slices: Sequence[Slice],
                         event_id: uuid.UUID | None = None) -> None:
    """An income (or expense) event: mark the slices it touched in the handler's transaction; after commit the
    agency's catch-up owner recomputes them (this delivery, when it gets the lock; else the owner running, which
    looks again after it lets go). In a burst a delivery costs the mark and a failed try. Idempotent and
    order-insensitive: every recomputation reads the truth as committed when its round began. `event_id` (the
    delivered event) lets the owner absorb the income events committed after it (shared_lib.catchup.Absorber)."""
    queries.mark_pending(uow, agency_id, kind, slices)
    drain_after_commit(uow, agency_id, event_id)


def stats_income_imported(*, uow: UnitOfWork, data: IncomeImported) -> None:
    """A platform import (income.imported): its model's slices — each (day, type), with the chatter for a chatting
    sale or a refund — or, for a very large import, its days whole; marked and caught up like any income event."""
    slices = [Slice(s.sale_date, data.model_id, s.type, s.chatter_id if s.type in CHATTING_AND_REFUNDS else None)
              for s in data.slices] + [Slice(d) for d in data.whole_days]
    stats_slices_changed(uow=uow, agency_id=data.agency_id, kind="income", slices=slices)


def stats_catch_up(*, uow: UnitOfWork, agency_id: uuid.UUID, absorber: catchup.Absorber | None = None) -> int:
    """One catch-up round under the agency's lock: take every pending slice at once (with the slices of the
    income events `absorber` takes from the outbox, their deliveries' marks), recompute exactly those from
    the truth, owe their periods' dashboards, then build the owed dashboards that are due (queries.take_dashboards:
    none of the period's slices pending meanwhile, or owed DASHBOARD_STALE_SECONDS) — so a looping owner builds a
    period once when a burst ends, and every few seconds while it lasts, not once a round. Returns the marks
    taken (slices and dashboards)."""
    queries.lock_agency(uow, agency_id)  # the owner's try-lock holds it already (re-entrant); direct callers wait
    absorbed = [] if absorber is None else [s for data in absorber.take(uow) for s in rules.income_slices(data)]
    income, expenses = queries.take_pending(uow, agency_id, absorbed)
    per_day = Counter(s.day for s in income)
    whole_days = sorted({s.day for s in income if s.type is None or per_day[s.day] >= WHOLE_DAY_SLICES})
    if whole_days:
        queries.recompute_income(uow, agency_id, days=whole_days)
    if income:
        queries.recompute_income_slices(uow, agency_id, [s for s in income if s.type is not None
                                                         and s.day not in whole_days])
    if expenses:
        queries.recompute_expenses(uow, agency_id, days=sorted({s.day for s in expenses}))
    queries.mark_dashboards(uow, agency_id, [str(p) for p in rules.periods_of(s.day for s in (*income, *expenses))])
    due = queries.take_dashboards(uow, agency_id, DASHBOARD_STALE_SECONDS)
    dashboard.refresh(uow, agency_id, [Period.parse(p) for p in due])
    return len(income) + len(expenses) + len(due)


def stats_dashboards_owed(*, uow: UnitOfWork, agency_id: uuid.UUID, periods: Sequence[Period]) -> None:
    """Mark these periods' dashboards owed in the handler's transaction and drain after commit: a burst of such
    events (one financial_calculation.completed per payouts round) is one build for many, the last one after the
    last event's commit, so it reads the newest figures."""
    queries.mark_dashboards(uow, agency_id, [str(p) for p in periods])
    drain_after_commit(uow, agency_id)


def dashboards_for_period(*, uow: UnitOfWork, agency_id: uuid.UUID, period: Period) -> None:
    """After a payout calculation: the period's dashboard with its profit (owed, built by the catch-up owner)."""
    stats_dashboards_owed(uow=uow, agency_id=agency_id, periods=[period])


def dashboards_after_count(*, uow: UnitOfWork, agency_id: uuid.UUID, observed_on: date) -> None:
    """A new subscriber count changes the AFV of every period from its date on (until a later snapshot)."""
    tz = queries.agency_timezone(uow, agency_id)
    if tz is None:
        log.warning("subscriber count for unknown agency %s: no dashboard to refresh", agency_id)
        return
    stats_dashboards_owed(uow=uow, agency_id=agency_id, periods=rules.periods_from(observed_on, local_today(tz)))


def stats_after_sales_settings(*, uow: UnitOfWork, data: SalesSettingsUpdated) -> int:
    """A sales-settings version decides which records count (verification, issue #16): every day it reaches
    ([effective_from, effective_to], onwards while no later version) is rebuilt from the truth, then the
    dashboards of those periods up to today (a version never reaches a closed period: users refuses it)."""
    tz = queries.agency_timezone(uow, data.agency_id)
    if tz is None:
        log.warning("sales settings for unknown agency %s: nothing to rebuild", data.agency_id)
        return 0
    stats_rebuild(uow=uow, agency_id=data.agency_id, date_from=data.effective_from, date_to=data.effective_to)
    today = local_today(tz)
    last = min(data.effective_to or today, today)
    return dashboard.refresh(uow, data.agency_id, rules.periods_from(data.effective_from,
                                                                     max(data.effective_from, last)))


def stats_rebuild(*, uow: UnitOfWork, agency_id: uuid.UUID, date_from: date | None = None,
                  date_to: date | None = None) -> RebuildResult:
    """Recompute every slice of the agency in [date_from, date_to] (unbounded ends: all history) from scratch."""
    queries.lock_agency(uow, agency_id)
    drain_after_commit(uow, agency_id)  # a handler's try may fail against this lock: its marks are drained after
    models, chatters = queries.recompute_income(uow, agency_id, date_from=date_from, date_to=date_to)
    expenses = queries.recompute_expenses(uow, agency_id, date_from=date_from, date_to=date_to)
    return RebuildResult(date_from=date_from, date_to=date_to, model_rows=models, chatter_rows=chatters,
                         expense_rows=expenses)


def stats_rebuild_for(*, uow: UnitOfWork, caller: Caller, cmd: RebuildRequest) -> RebuildResult:
    """The Owner's repair button: rebuild the range, then the dashboards of its periods (the latest 24 at most)."""
    if cmd.date_from is not None and cmd.date_to is not None and cmd.date_to < cmd.date_from:
        raise Invalid("must not be before date_from", field="date_to")
    result = stats_rebuild(uow=uow, agency_id=caller.agency_id, date_from=cmd.date_from, date_to=cmd.date_to)
    today = local_today(caller.agency_timezone)
    first = cmd.date_from or EARLIEST
    last = min(cmd.date_to or today, today)
    dashboard.refresh(uow, caller.agency_id, rules.periods_from(first, max(first, last)), force=True)
    return result
