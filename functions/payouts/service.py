"""Payouts use cases: recalculate a period (incrementally by scope, coalesced, or fully) from the truth, close
it, reconcile it nightly, and read the stored result."""
from __future__ import annotations

import json
import logging
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal

from shared_lib import catchup
from shared_lib.closing import lock_period_exclusive
from shared_lib.contracts import (INCOME_CHANGES, CalculationCompleted, Contract, EmployeeTimeEvent, IncomeChange,
                                  IncomeImported, ModelSettingsUpdated, PeriodClosed, PlatformSettingsUpdated,
                                  SalesSettingsUpdated, SettingsChange, TimetrackingSettingsUpdated,
                                  UserSettingsUpdated)
from shared_lib.db import UnitOfWork, unit_of_work
from shared_lib.errors import Conflict, NotFound
from shared_lib.income_types import SALES_AND_REFUNDS
from shared_lib.pagination import cursor_key, page_of
from shared_lib.periods import Period, local_today
from shared_lib.rbac import Caller, can_see_user, user_scope

from . import earnings, queries
from .calc import (EVERYTHING, FIGURES, ZERO, LineValues, Result, Scope, calculate, payouts_by_user,
                   pricing_bounds)
from .payments import payment_fields
from .schemas import (ModelPayoutItem, ModelPayoutsPage, ModelPayoutsQuery, PayoutLine, PayoutsPage, PayoutsQuery,
                      PeriodClosedReply, Totals, UserPayout)

log = logging.getLogger(__name__)

# A settings change reaches every later period; recalculating more than two years back is never needed.
MAX_PERIODS_PER_EVENT = 24


@dataclass
class Recalculation:
    """What one recalculation of a scope found and wrote: `drift` names every stored row that differed from the
    truth (in an incremental run that is the event's own effect; in the nightly reconciliation, drift)."""

    result: Result  # the scope's lines and model payouts (all of them for a full recalculation)
    figures: dict[str, Decimal]
    changed_users: list[str]
    drift: dict[str, object] = field(default_factory=dict)


def period_recalculate(*, uow: UnitOfWork, agency_id: uuid.UUID, period: Period) -> Result | None:
    """Recompute one open period fully from the truth, writing only what changed; None when it is closed."""
    recalculation = full_recalculate(uow=uow, agency_id=agency_id, period=period)
    return None if recalculation is None else recalculation.result


def full_recalculate(*, uow: UnitOfWork, agency_id: uuid.UUID, period: Period) -> Recalculation | None:
    """The full recalculation (POST calculate, close, reconciliation): every scope, pending ones included.

    Recalculations of one period serialize on a transaction advisory lock; the one that gets the lock last reads
    everything committed before it, so the stored result always reflects all committed data."""
    calculation_lock(uow, agency_id, period)
    queries.take_pending(uow, agency_id, period)  # a full recalculation covers them
    if queries.period_status(uow, agency_id, period) == "closed":
        return None
    return _recalculate(uow, agency_id, period, EVERYTHING)


def pending_recalculate(*, uow: UnitOfWork, agency_id: uuid.UUID, period: Period) -> Recalculation | None:
    """Take every pending scope of the period (waiting for its calculation lock) and recompute their union once;
    None when another recalculation already took them, or the period is closed."""
    calculation_lock(uow, agency_id, period)
    return _recalculate_taken(uow, agency_id, period, queries.take_pending(uow, agency_id, period))


def _recalculate_taken(uow: UnitOfWork, agency_id: uuid.UUID, period: Period,
                       taken: list[tuple[str, uuid.UUID]]) -> Recalculation | None:
    """Recompute the union of the scopes just taken (the caller holds the period's lock); a closed period's are
    dropped. financial_calculation.completed only when the stored result moved: a round that finds the truth
    already stored (a redelivery, a scope another round covered) announces nothing."""
    if not taken or queries.period_status(uow, agency_id, period) == "closed":
        return None
    return _recalculate(uow, agency_id, period, _scope_of(uow, agency_id, period, taken), announce_unchanged=False)


def calculation_lock(uow: UnitOfWork, agency_id: uuid.UUID, period: Period) -> None:
    """The period's blocking calculation lock, and after `uow` commits a catch-up of the period: while it was held
    an event handler's try for the catch-up may have failed, and that handler's marks are this holder's to
    drain (shared_lib.catchup)."""
    queries.lock_calculation(uow, agency_id, period)
    catch_up_after_commit(uow, agency_id, period)


def catch_up_after_commit(uow: UnitOfWork, agency_id: uuid.UUID, period: Period,
                          anchor: uuid.UUID | None = None) -> None:
    """After `uow` commits, drain the period's pending scopes (issue #13): whoever gets the period's lock without
    waiting recomputes every pending scope, a transaction per round, until none is left; anyone else returns at
    once. The key is the one `queries.lock_calculation` hashes, so a full recalculation excludes a round.
    `anchor`: the delivered event; the owner's rounds absorb the income events committed after it."""
    catchup.drain_after_commit(uow, **_catch_up(agency_id, period, anchor))


def _catch_up(agency_id: uuid.UUID, period: Period, anchor: uuid.UUID | None = None) -> dict:
    """The period's catch-up for shared_lib.catchup: its key, a round, the look for marks left."""
    # The income changes an owner's round takes straight from the outbox; each marks what its delivery would
    # (scopes_for_event, in _catch_up_round).
    absorber = catchup.Absorber("payouts", agency_id, INCOME_CHANGES, anchor)
    return {"key": f"calc:{agency_id}:{period}", "service": "payouts",
            "step": lambda round_uow: _catch_up_round(round_uow, agency_id, period, absorber),
            "pending": lambda check: queries.has_pending(check, agency_id, period)}


def payouts_sweep() -> int:
    """The scheduled sweep (payouts-sweep): drain every period with scopes still pending (shared_lib.catchup.sweep:
    an owner out of its budget, or dead mid-round, in a burst whose other deliveries it had absorbed). Returns the
    periods that had marks."""
    return catchup.sweep("payouts", queries.periods_with_pending, _catch_up)


def _catch_up_round(uow: UnitOfWork, agency_id: uuid.UUID, period: Period, absorber: catchup.Absorber) -> bool:
    """One catch-up round (the period's lock held): the events absorbed marked, then every pending scope taken
    and recomputed; whether any was. An absorbed event of another period is marked there and that period caught
    up after this round commits (its delivery will find it handled)."""
    marks = sorted({m for data in absorber.take(uow) for m in scopes_for_event(data, None)}, key=str)
    if marks:
        queries.mark_pending(uow, agency_id, marks)
        for other in sorted({p for p, _, _ in marks} - {period}):
            catch_up_after_commit(uow, agency_id, other)
    taken = queries.take_pending(uow, agency_id, period)
    _recalculate_taken(uow, agency_id, period, taken)
    return bool(taken)


def _scope_of(uow: UnitOfWork, agency_id: uuid.UUID, period: Period, pending: list[tuple[str, uuid.UUID]]) -> Scope:
    """The union of pending scopes; a user's settings (user_sales) reach the model scopes of their sales."""
    by_kind: dict[str, set[uuid.UUID]] = defaultdict(set)
    for kind, scope_id in pending:
        by_kind[kind].add(scope_id)
    if "all" in by_kind:
        return EVERYTHING
    models = by_kind["model"] | queries.models_of_users(uow, agency_id, period, sorted(by_kind["user_sales"]))
    users = None if "users" in by_kind else frozenset(by_kind["user"] | by_kind["user_sales"])
    return Scope(frozenset(models), users)


def _recalculate(uow: UnitOfWork, agency_id: uuid.UUID, period: Period, scope: Scope, *,
                 announce_unchanged: bool = True) -> Recalculation:
    """Compute the scope's groups from the truth with calc.calculate and write only the rows that differ;
    financial_calculation.completed follows, unless nothing moved and not `announce_unchanged` (a full
    recalculation someone asked for announces itself; a catch-up round that changed nothing does not).
    A period's first calculation is a full one: salaries are owed before any event names their user. So is one
    whose scope holds every model of the agency (coalesced marks): it reads the month's sales anyway, and the
    full calculation reads them once where the scoped one scans the month twice more (bonus net, figures)."""
    if queries.ensure_period_row(uow, agency_id, period):
        scope = EVERYTHING
    elif scope.models and scope.models >= queries.agency_models(uow, agency_id):
        scope = EVERYTHING
    queries.tune_calculation(uow)
    deductions = queries.load_deductions(uow, agency_id, period) if scope.users != frozenset() else []
    user_settings = queries.load_user_settings(uow, agency_id, period)
    model_settings = queries.load_model_settings(uow, agency_id, period)
    sales_settings = queries.load_sales_settings(uow, agency_id, period)
    result = calculate(
        period=period,
        sales=queries.load_sales(uow, agency_id, period, scope,
                                 bounds=pricing_bounds(user_settings, model_settings, sales_settings)),
        user_settings=user_settings,
        model_settings=model_settings,
        expenses=queries.load_expenses(uow, agency_id, period),
        deductions=[d for d in deductions if scope.has_user(d.user_id)],
        # All the models' sales read: each chatter's whole-period net is summed from them (no second scan).
        chatting_net=None if scope.models is None else queries.load_chatting_net(uow, agency_id, period, scope),
        sales_settings=sales_settings,
        worked=queries.load_worked(uow, agency_id, period, scope),
        adjustments=queries.load_adjustments(uow, agency_id, period, scope),
        carries=queries.load_carries(uow, agency_id, period, scope),
        scope=scope,
    )
    drift: dict[str, object] = {}

    # Lines: a multiset difference, so equal lines (two identical other-income shares) count.
    stored: dict[tuple, list[int]] = defaultdict(list)
    for r in queries.scope_lines(uow, agency_id, period, scope):
        stored[(r.user_id, LineValues(r.kind, r.model_id, r.basis, r.rate, r.amount, r.detail))].append(r.id)
    wanted = Counter((l.user_id, LineValues(l.kind, l.model_id, l.basis, l.rate, l.amount, l.detail))
                     for l in result.lines)
    new_line = {(l.user_id, LineValues(l.kind, l.model_id, l.basis, l.rate, l.amount, l.detail)): l
                for l in result.lines}
    delete_ids = [i for key, ids in stored.items() for i in ids[wanted.get(key, 0):]]
    insert = [new_line[key] for key, n in wanted.items() for _ in range(n - len(stored.get(key, ())))]
    queries.write_lines(uow, agency_id, period, delete_ids=delete_ids, insert=insert)
    line_users = {key[0] for key, ids in stored.items() if len(ids) > wanted.get(key, 0)} | {l.user_id for l in insert}
    summary_users = queries.refresh_summaries(uow, agency_id, period,
                                              None if scope == EVERYTHING else sorted(line_users))
    if delete_ids or insert:
        drift["lines"] = {"removed": len(delete_ids), "added": len(insert)}
    if summary_users - line_users:
        drift["summaries"] = sorted(str(u) for u in summary_users - line_users)

    # Model payouts, one per (model, settings version).
    have = {(m.model_id, m.effective_from): m for m in queries.scope_model_payouts(uow, agency_id, period, scope)}
    want = {(m.model_id, m.effective_from): m for m in result.model_payouts}
    gone = [m for k, m in have.items() if want.get(k) != m]
    came = [m for k, m in want.items() if have.get(k) != m]
    queries.write_model_payouts(uow, agency_id, period, delete=gone, insert=came)
    if gone or came:
        drift["model_payouts"] = sorted({str(m.model_id) for m in gone + came})

    before = queries.period_figures(uow, agency_id, period)
    # A full recalculation read every record of the month once (load_sales): its gross and net are the period's.
    figures = queries.refresh_figures(uow, agency_id, period, (result.gross_income, result.net_income)
                                      if scope == EVERYTHING else None)
    moved = {k: [str(before._mapping[k]), str(v)] for k, v in figures.items() if before._mapping[k] != v}
    if moved:
        drift["figures"] = moved
    legs = queries.post_ledger_difference(uow, agency_id, period)
    if legs:
        drift["ledger_legs"] = len(legs)

    changed = sorted(str(u) for u in line_users | summary_users)
    if drift or announce_unchanged:
            uow.emit("financial_calculation.completed", agency_id=agency_id, subject=str(period),
                 data=CalculationCompleted(agency_id=agency_id, period=str(period), user_ids=changed))
    earnings.publish_changed(uow, agency_id=agency_id, period=period, user_ids=changed,
                             payouts=payouts_by_user(result) if scope == EVERYTHING else None)
    return Recalculation(result, figures, changed, drift)


def changed_periods_recalculate(*, uow: UnitOfWork, data: Contract, event_id: uuid.UUID | None = None) -> list[str]:
    """After an income, expense, settings or time event: mark the scopes it dirtied in the handler's own
    transaction, and after it commits catch up each period it touched (`catch_up_after_commit`): the first
    handler to get the period's lock recomputes every pending scope, coalesced with whatever other events
    marked, round after round; the others return at once; `event_id` (the delivered event) lets the owner absorb
    the income events committed after it (shared_lib.catchup.Absorber). Returns the periods marked.

    Only a settings change needs the agency's time zone (the periods it reaches end at the agency's today); it is
    read in this transaction, never cached, so a time zone change counts at once. Every other event names its
    dates, and the mark statement itself finds an unknown agency (one statement per delivery)."""
    tz = None
    if isinstance(data, SettingsChange):
        tz = queries.agency_timezone(uow, data.agency_id)
        if tz is None:
            log.warning("%s for unknown agency %s: nothing to recalculate", data.event_type, data.agency_id)
            return []
    marks = scopes_for_event(data, tz)
    if not marks:
        return []
    if not queries.mark_pending(uow, data.agency_id, marks):
        log.warning("%s for unknown agency %s: nothing to recalculate", data.event_type, data.agency_id)
        return []
    periods = sorted({p for p, _, _ in marks})
    for period in periods:
        catch_up_after_commit(uow, data.agency_id, period, event_id)
    return [str(p) for p in periods]


def scopes_for_event(data: Contract, agency_timezone: str | None) -> list[tuple[Period, str, uuid.UUID | None]]:
    """The (period, scope kind, id) an event dirties. A sale: its model's scope and its chatter's user scope (a
    chatting or platform sale or refund, issue #16: the bonus bands measure the chatter's whole-period net; an
    unattributed one marks its model alone) or its split user's
    (other income), for the old and the new values, and the period's totals; an expense: the totals; a
    user's settings: their own lines and the model scopes of their sales; a model's settings: its scope;
    timetracking settings: every user's own lines; a time event: that user's. Platform settings mark nothing:
    income recomputes the fees and sends income.updated for every record it changed."""
    if isinstance(data, IncomeChange):
        marks = []
        for snap in (data.old, data.new):
            if snap is None:
                continue
            period = Period.of(snap.sale_date)
            marks.append((period, "totals", None))
            if snap.type in SALES_AND_REFUNDS and snap.model_id is not None:
                marks.append((period, "model", snap.model_id))
            if snap.type in SALES_AND_REFUNDS and snap.chatter_id is not None:
                marks.append((period, "user", snap.chatter_id))  # the bonus bands' whole-period net
            elif snap.type == "other_income" and snap.assigned_to_user_id is not None:
                marks.append((period, "user", snap.assigned_to_user_id))
        return marks or [(p, "all", None) for p in periods_for_event(data, agency_timezone)]
    if isinstance(data, IncomeImported):  # sales and chargebacks of one model: its scope, each chatter's, totals
        return sorted({m for s in data.slices for m in _import_marks(Period.of(s.sale_date), data.model_id,
                                                                      [s.chatter_id])}
                      | {m for p in periods_for_event(data, agency_timezone) if data.whole_days
                         for m in _import_marks(p, data.model_id, data.chatter_ids)}, key=str)
    if isinstance(data, UserSettingsUpdated):
        return [(p, k, data.user_id) for p in periods_for_event(data, agency_timezone) for k in ("user", "user_sales")]
    if isinstance(data, ModelSettingsUpdated):
        return [(p, "model", data.model_id) for p in periods_for_event(data, agency_timezone)]
    if isinstance(data, PlatformSettingsUpdated):
        return []
    if isinstance(data, SalesSettingsUpdated):  # commission types and verification reach every line and figure
        return [(p, "all", None) for p in periods_for_event(data, agency_timezone)]
    if isinstance(data, TimetrackingSettingsUpdated):
        return [(p, "users", None) for p in periods_for_event(data, agency_timezone)]
    if isinstance(data, EmployeeTimeEvent):
        return [(p, "user", data.user_id) for p in periods_for_event(data, agency_timezone)]
    return [(p, "totals", None) for p in periods_for_event(data, agency_timezone)]  # expenses


def _import_marks(period: Period, model_id: uuid.UUID, chatters) -> list[tuple[Period, str, uuid.UUID | None]]:
    return [(period, "totals", None), (period, "model", model_id)] + [(period, "user", c) for c in chatters
                                                                      if c is not None]


def periods_for_event(data: Contract, agency_timezone: str | None) -> list[Period]:
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


def reconcile(*, as_of: date | None = None) -> dict[str, object]:
    """Nightly: every open period with data recomputed fully from the truth, one transaction each; each drift
    found (a stored row that differed) is logged and repaired through the same write-only-what-changed path,
    the ledger getting the difference. Scopes still pending are applied first (that is no drift)."""
    with unit_of_work("payouts") as uow:
        queries.tune_calculation(uow)  # no JIT: compiling this sub-millisecond plan took 1.4 s
        todo = queries.open_periods_with_data(uow)
    drifted = []
    for agency_id, raw in todo:
        period = Period.parse(raw)
        with unit_of_work("payouts") as uow:
            pending_recalculate(uow=uow, agency_id=agency_id, period=period)
            recalculation = full_recalculate(uow=uow, agency_id=agency_id, period=period)
        if recalculation is not None and recalculation.drift:
            drifted.append({"agency_id": str(agency_id), "period": raw, "drift": recalculation.drift})
            log.warning("payout drift repaired: %s", json.dumps(drifted[-1]))
    summary = {"as_of": str(as_of) if as_of else None, "periods_checked": len(todo), "drifted": drifted}
    log.info("payouts reconciliation: %d periods checked, %d drifted", len(todo), len(drifted))
    return summary


def financials_calculate(*, uow: UnitOfWork, caller: Caller, period: Period, user_id: uuid.UUID | None) -> Totals:
    """Recalculate the caller's agency's period now and return its totals; a closed period's stored ones."""
    if user_id is not None and not can_see_user(uow, caller, user_id):
        raise NotFound("user not found")
    recalculation = full_recalculate(uow=uow, agency_id=caller.agency_id, period=period)
    if recalculation is None:  # closed: its stored figures are final
        return profit_get(uow=uow, caller=caller, period=period)
    return Totals(period=str(period), status="open", calculated_at=datetime.now(timezone.utc),
                  **recalculation.figures)


def period_close(*, uow: UnitOfWork, caller: Caller, period: Period) -> PeriodClosedReply:
    """Final calculation, negative totals carried to the next period, then closed for good: later changes dated
    in it answer 409 period-closed. Closed in order, once ended (docs/payouts.md "Closing")."""
    lock_period_exclusive(uow, caller.agency_id, str(period))
    status = queries.period_status(uow, caller.agency_id, period)
    if status == "closed":
        # Again after commit: a repeated close heals earnings documents whose write was lost the first time.
        earnings.publish_period(uow, agency_id=caller.agency_id, period=period)
        return PeriodClosedReply(period=str(period), status="closed")
    # --- closing rules (G2, issue #15): refused before anything is written
    if period.last_day >= local_today(caller.agency_timezone):
        raise Conflict(f"period {period} has not ended yet (its last day is {period.last_day})",
                       slug="period-not-ended")
    still_open = queries.open_periods_before(uow, caller.agency_id, period)
    if still_open:
        raise Conflict(f"close the earlier periods first: {', '.join(still_open)} still open",
                       slug="previous-period-open")
    period_recalculate(uow=uow, agency_id=caller.agency_id, period=period)
    _carry_negative_totals(uow, caller.agency_id, period)
    queries.mark_period_closed(uow, caller.agency_id, period, closed_by=caller.user_id)
    uow.emit("financial_period.closed", agency_id=caller.agency_id, subject=str(period),
             data=PeriodClosed(agency_id=caller.agency_id, period=str(period)))
    # After the close commits, every earnings document of the period says so (a newer version than the
    # final calculation's, which wrote `open` just before).
    earnings.publish_period(uow, agency_id=caller.agency_id, period=period)
    return PeriodClosedReply(period=str(period), status="closed")


def _carry_negative_totals(uow: UnitOfWork, agency_id: uuid.UUID, period: Period) -> None:
    """Each employee whose final total is below zero: a carry row (the closing period gets a carried_forward
    line of +|total|, its total 0.00; the next one a carried_balance line of -|total|, calc reads the rows), then
    those users' scopes recomputed in both periods in this transaction (the ledger gets the difference)."""
    users = queries.insert_carries(uow, agency_id, period)
    if not users:
        return
    scope = Scope(frozenset(), frozenset(users))
    _recalculate(uow, agency_id, period, scope)
    following = period.next()
    calculation_lock(uow, agency_id, following)
    if queries.period_status(uow, agency_id, following) != "closed":
        _recalculate(uow, agency_id, following, scope)


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
    paid = queries.payments_of(uow, caller.agency_id, query.period, user_ids=list(lines))  # payments (G2)
    items = [UserPayout(user_id=r.user_id, display_name=r.display_name, period=str(query.period),
                        lines=lines.get(r.user_id, []), total=r.total, status=status,
                        **payment_fields(r.total, paid.get(r.user_id))) for r in rows]
    sort_name = {r.user_id: r.sort_name for r in rows}
    return page_of(items, limit=query.limit, item=UserPayout, page=PayoutsPage,
                   key=lambda i: (sort_name[i.user_id], i.user_id))


def model_payouts_list(*, uow: UnitOfWork, caller: Caller, query: ModelPayoutsQuery) -> ModelPayoutsPage:
    """What each model is paid for the period, one item per model and settings version, by model name."""
    after = cursor_key(query.cursor, (str, uuid.UUID, date))
    rows = queries.model_payouts_page(uow, agency_id=caller.agency_id, period=query.period, after=after,
                                      limit=query.limit + 1)
    sort_name = {r.model_id: r.sort_name for r in rows}
    # payments (G2): a model is paid (or owed nothing) as a whole, over its items of every settings version
    models = sorted({r.model_id for r in rows}, key=str)
    paid = queries.payments_of(uow, caller.agency_id, query.period, model_ids=models)
    totals = queries.model_totals(uow, caller.agency_id, query.period, models)
    rows = [{**r._mapping, **payment_fields(totals[r.model_id], paid.get(r.model_id))} for r in rows]
    return page_of(rows, limit=query.limit, item=ModelPayoutItem, page=ModelPayoutsPage,
                   key=lambda i: (sort_name[i.model_id], i.model_id, i.effective_from))


# --- adjustments (issue #15; G1's section) ------------------------------------------------------------------------


def scope_recalculate(*, uow: UnitOfWork, agency_id: uuid.UUID, period: Period, scope: Scope) -> Recalculation | None:
    """Recompute `scope` of one open period now, in the caller's transaction (after it wrote that scope's input,
    e.g. an adjustment): under the calculation lock, writing only what changed; None when the period is closed."""
    calculation_lock(uow, agency_id, period)
    if queries.period_status(uow, agency_id, period) == "closed":
        return None
    return _recalculate(uow, agency_id, period, scope)
