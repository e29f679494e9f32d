"""Payouts SQL: the calculation's inputs (one set-based read each), its stored result, the period, lists, statements."""
from __future__ import annotations

import json
import uuid
from datetime import date
from decimal import Decimal
from typing import Any, Callable, Sequence

from shared_lib.closing import period_closed_sql
from shared_lib.db import UnitOfWork
from shared_lib.income_types import CHATTING_SQL, SALES_AND_REFUNDS_SQL
from shared_lib.periods import Period
from shared_lib.sales_settings import SalesSettings, counted

from .calc import (EVERYTHING, FIGURES, MODEL_KINDS, ZERO, Adjustment, Carry, Deduction, LineValues, ModelPayout,
                   ModelSettings, PayoutValues, Result, Sale, Scope, UserSettings, WorkedDay, normalized_lines)


def _scope_params(scope: Scope) -> dict[str, Any]:
    return {"all_models": scope.models is None, "models": [str(m) for m in scope.models or ()],
            "all_users": scope.users is None, "users": [str(u) for u in scope.users or ()]}


# A scope's filters, in the names _scope_params binds.
_IN_MODELS = "(CAST(:all_models AS boolean) OR model_id = ANY(CAST(:models AS uuid[])))"
_IN_USERS = "(CAST(:all_users AS boolean) OR {col} = ANY(CAST(:users AS uuid[])))"


# A record's original sale (a refund's refund_of), looked up for refunds only: a plain join to the income records
# was planned as a hash of the whole table, every month ever kept (0.6 s at 1,000,000 records).
_ORIGINAL = ("LEFT JOIN LATERAL (SELECT o.sale_date, o.type FROM income_service.income_records o "
             "WHERE o.id = i.refund_of OFFSET 0) o ON i.refund_of IS NOT NULL")


def tune_calculation(uow: UnitOfWork) -> None:
    """For the rest of the transaction (SET LOCAL): the month's sums aggregate by hash in memory — with the
    default 4 MB work_mem PostgreSQL sorted the month's rows on disk first — and without JIT, whose compilation
    of the scan's plan took 0.4 s of 0.8 s at 200,000 sales (docs/payouts.md "Measured")."""
    uow.execute("SELECT set_config('work_mem', '64MB', true), set_config('jit', 'off', true)")


def load_sales(uow: UnitOfWork, agency_id: uuid.UUID, period: Period, scope: Scope = EVERYTHING, *,
               bounds: Sequence[date]) -> list[Sale]:
    """What the scope's lines are computed from, summed in SQL: the sales (chatting and platform sales, issue
    #16) and refunds of its models per (pricing bucket, model, chatter, manager snapshot, type, sale type) — a
    bucket is the pricing days between two `bounds` (calc.pricing_bounds: no settings version takes effect
    inside one), so the sums price exactly like the single records; each sum carries its earliest day and
    pricing day — and its users' other income one row per record (each has its own split). The pricing day is a
    sale's own date and a refund's original sale's date (refund_of, looked up for refunds only); the sale type a
    sale's own type and a refund's original's (what decides commission and tick: a refund follows its sale).

    The full scope reads every record of the period once, other income without a split summed alike (it pays
    no line): the result's gross and net are then the period's, and the caller stores them instead of scanning
    the month again (refresh_figures' `income`)."""
    params = {"a": agency_id, "first": period.first_day, "last": period.last_day, "bounds": [str(d) for d in bounds],
              **_scope_params(scope)}
    which = ("NOT (i.type = 'other_income' AND i.assigned_to_user_id IS NOT NULL)" if scope == EVERYTHING else
             f"i.type IN {SALES_AND_REFUNDS_SQL} AND i.model_id IS NOT NULL"
             " AND (CAST(:all_models AS boolean) OR i.model_id = ANY(CAST(:models AS uuid[])))")
    rows = []
    if scope.models != frozenset():
        # Summed by hash: guessing ~100k groups in the month's 1,000,000 rows (there are ~4k), the planner sorted
        # them on disk first (4–9 s instead of 1.3–2.2 s); so no sort for this one statement.
        uow.execute("SELECT set_config('enable_sort', 'off', true)")
        rows += uow.execute(
            f"""
            SELECT i.type, sum(i.gross_amount) AS gross, sum(i.net_amount) AS net, min(i.sale_date) AS sale_date,
                   min(o.sale_date) AS priced_on, i.model_id, i.chatter_id, i.manager_id,
                   NULL::uuid AS split_user_id, NULL::numeric AS split_percent, NULL::numeric AS split_fixed_amount,
                   coalesce(o.type, i.type) AS sale_type
            FROM income_service.income_records i {_ORIGINAL}
            WHERE i.agency_id = :a AND i.sale_date BETWEEN :first AND :last AND {which}
              AND {counted(uow, agency_id, "i")}
            GROUP BY i.type, width_bucket(coalesce(o.sale_date, i.sale_date), CAST(:bounds AS date[])), i.model_id,
                     i.chatter_id, i.manager_id, coalesce(o.type, i.type)
            """, params).all()
        uow.execute("SELECT set_config('enable_sort', 'on', true)")
    if scope.users != frozenset():
        rows += uow.execute(
            f"""
            SELECT type, gross_amount AS gross, net_amount AS net, sale_date, NULL::date AS priced_on, model_id,
                   NULL::uuid AS chatter_id, NULL::uuid AS manager_id, assigned_to_user_id AS split_user_id,
                   split_percent, split_fixed_amount, type AS sale_type
            FROM income_service.income_records
            WHERE agency_id = :a AND sale_date BETWEEN :first AND :last AND type = 'other_income'
              AND assigned_to_user_id IS NOT NULL AND {_IN_USERS.format(col="assigned_to_user_id")}
            """, params).all()
    return [Sale(None, r.type, r.gross, r.net, r.sale_date, r.model_id, r.chatter_id, r.manager_id,
                 r.split_user_id, r.split_percent, r.split_fixed_amount, r.priced_on, r.sale_type) for r in rows]


def models_of_users(uow: UnitOfWork, agency_id: uuid.UUID, period: Period, user_ids: list[uuid.UUID]) -> set:
    """The models whose lines a user's settings reach: those of their sales and refunds (as chatter or manager
    snapshot) in the period, and those of their stored commission/tick lines (a line whose sales went away)."""
    if not user_ids:
        return set()
    return set(uow.execute(
        f"""
        SELECT model_id FROM income_service.income_records
        WHERE agency_id = :a AND sale_date BETWEEN :first AND :last AND type IN {SALES_AND_REFUNDS_SQL}
          AND chatter_id = ANY(CAST(:u AS uuid[])) AND model_id IS NOT NULL
        UNION
        SELECT model_id FROM income_service.income_records
        WHERE agency_id = :a AND sale_date BETWEEN :first AND :last AND type IN {SALES_AND_REFUNDS_SQL}
          AND manager_id = ANY(CAST(:u AS uuid[])) AND model_id IS NOT NULL
        UNION
        SELECT model_id FROM financial_calculations.payout_lines
        WHERE agency_id = :a AND period = :p AND user_id = ANY(CAST(:u AS uuid[])) AND model_id IS NOT NULL
          AND kind IN ('commission', 'manager_tick')
        """,
        {"a": agency_id, "first": period.first_day, "last": period.last_day, "p": str(period),
         "u": [str(u) for u in user_ids]},
    ).scalars())


def load_user_settings(uow: UnitOfWork, agency_id: uuid.UUID, period: Period) -> dict[uuid.UUID, list[UserSettings]]:
    rows = uow.execute(
        """
        SELECT user_id, effective_from, compensation_type, commission_rate, fixed_salary, manager_tick_rate,
               hourly_rate, bonus_bands
        FROM user_service.user_financial_settings
        WHERE agency_id = :a AND effective_from <= :last
        ORDER BY user_id, effective_from
        """,
        {"a": agency_id, "last": period.last_day},
    ).all()
    return _versions_by(rows, lambda r: r.user_id, lambda r: UserSettings(
        r.effective_from, r.compensation_type, r.commission_rate, r.fixed_salary, r.manager_tick_rate,
        r.hourly_rate, _bands(r.bonus_bands)))


def load_sales_settings(uow: UnitOfWork, agency_id: uuid.UUID, period: Period) -> list[SalesSettings]:
    """The agency's sales-settings versions that can apply in the period (commission types), by effective_from."""
    rows = uow.execute(
        "SELECT effective_from, commission_types FROM user_service.sales_settings "
        "WHERE agency_id = :a AND effective_from <= :last ORDER BY effective_from",
        {"a": agency_id, "last": period.last_day}).all()
    return [SalesSettings(r.effective_from, frozenset(r.commission_types)) for r in rows]


def _bands(raw) -> tuple[tuple[Decimal, Decimal], ...]:
    """bonus_bands jsonb ([{"from_net": "5000.00", "bonus": "150.00"}], from_net increasing) as (from_net, bonus)."""
    bands = json.loads(raw) if isinstance(raw, str) else raw or []
    return tuple(sorted((Decimal(str(b["from_net"])), Decimal(str(b["bonus"]))) for b in bands))


def load_model_settings(uow: UnitOfWork, agency_id: uuid.UUID, period: Period) -> dict[uuid.UUID, list[ModelSettings]]:
    rows = uow.execute(
        """
        SELECT model_id, effective_from, model_share_percent, split_chatting_costs
        FROM user_service.model_settings
        WHERE agency_id = :a AND effective_from <= :last
        ORDER BY model_id, effective_from
        """,
        {"a": agency_id, "last": period.last_day},
    ).all()
    return _versions_by(rows, lambda r: r.model_id,
                        lambda r: ModelSettings(r.effective_from, r.model_share_percent, r.split_chatting_costs))


def _versions_by(rows, owner: Callable[[Any], uuid.UUID], version: Callable[[Any], Any]) -> dict[uuid.UUID, list]:
    """Settings versions grouped by whose they are, in the rows' (effective_from) order."""
    out: dict[uuid.UUID, list] = {}
    for r in rows:
        out.setdefault(owner(r), []).append(version(r))
    return out


def load_expenses(uow: UnitOfWork, agency_id: uuid.UUID, period: Period) -> Decimal:
    return uow.execute(
        "SELECT coalesce(sum(amount), 0) FROM expense_service.expenses "
        "WHERE agency_id = :a AND expense_date BETWEEN :first AND :last",
        {"a": agency_id, "first": period.first_day, "last": period.last_day},
    ).scalar_one()


def load_deductions(uow: UnitOfWork, agency_id: uuid.UUID, period: Period) -> list[Deduction]:
    """Time-tracking deductions, through the read function that service publishes (sql/0060)."""
    rows = uow.execute(
        "SELECT user_id, kind, quantity, rate, amount FROM timetracking_service.deductions_for(:a, :p)",
        {"a": agency_id, "p": str(period)},
    ).all()
    return [Deduction(r.user_id, r.kind, r.quantity, r.rate, r.amount) for r in rows]


# --- second release inputs (user scope): bonus bands' net, worked minutes, adjustments, carries ---------------


def load_chatting_net(uow: UnitOfWork, agency_id: uuid.UUID, period: Period,
                      scope: Scope) -> dict[uuid.UUID, Decimal]:
    """The scope's users' own net chatting sales of the period, refunds of them included (what the bonus bands
    measure): a refund counts when its original sale is a chatting one (a chargeback of a platform sale does not)."""
    if scope.users == frozenset():
        return {}
    return dict(uow.execute(
        f"""
        SELECT i.chatter_id, sum(i.net_amount) FROM income_service.income_records i {_ORIGINAL}
        WHERE i.agency_id = :a AND i.sale_date BETWEEN :first AND :last
          AND coalesce(o.type, i.type) IN {CHATTING_SQL}
          AND i.chatter_id IS NOT NULL AND {_IN_USERS.format(col="i.chatter_id")}
          AND {counted(uow, agency_id, "i")}
        GROUP BY i.chatter_id
        """,
        {"a": agency_id, "first": period.first_day, "last": period.last_day, **_scope_params(scope)},
    ).all())


def load_worked(uow: UnitOfWork, agency_id: uuid.UUID, period: Period, scope: Scope) -> list[WorkedDay]:
    """The scope's users' worked minutes per local shift day, through time tracking's read function (sql/0113)."""
    if scope.users == frozenset():
        return []
    rows = uow.execute(
        f"SELECT user_id, shift_day, minutes FROM timetracking_service.worked_minutes_for(:a, :p) "
        f"WHERE {_IN_USERS.format(col='user_id')}",
        {"a": agency_id, "p": str(period), **_scope_params(scope)},
    ).all()
    return [WorkedDay(r.user_id, r.shift_day, r.minutes) for r in rows]


def load_adjustments(uow: UnitOfWork, agency_id: uuid.UUID, period: Period, scope: Scope) -> list[Adjustment]:
    if scope.users == frozenset():
        return []
    rows = uow.execute(
        f"SELECT user_id, amount, reason FROM financial_calculations.adjustments "
        f"WHERE agency_id = :a AND period = :p AND {_IN_USERS.format(col='user_id')}",
        {"a": agency_id, "p": str(period), **_scope_params(scope)},
    ).all()
    return [Adjustment(r.user_id, r.amount, r.reason) for r in rows]


def load_carries(uow: UnitOfWork, agency_id: uuid.UUID, period: Period, scope: Scope) -> list[Carry]:
    """The carries into and out of the period (G2's close writes them), of the scope's users."""
    if scope.users == frozenset():
        return []
    rows = uow.execute(
        f"SELECT user_id, from_period, to_period, amount FROM financial_calculations.carries "
        f"WHERE agency_id = :a AND (from_period = :p OR to_period = :p) AND {_IN_USERS.format(col='user_id')}",
        {"a": agency_id, "p": str(period), **_scope_params(scope)},
    ).all()
    return [Carry(r.user_id, r.from_period, r.to_period, r.amount) for r in rows]


# --- the agency and the period --------------------------------------------------------------------------------


def agency_timezone(uow: UnitOfWork, agency_id: uuid.UUID) -> str | None:
    """The agency's time zone (its periods are local months); None for an unknown agency."""
    return uow.execute("SELECT timezone FROM user_service.agencies WHERE id = :a", {"a": agency_id}).scalar()


def period_status(uow: UnitOfWork, agency_id: uuid.UUID, period: Period) -> str:
    return uow.execute(
        "SELECT coalesce((SELECT status FROM financial_calculations.periods WHERE agency_id = :a AND period = :p),"
        " 'open')", {"a": agency_id, "p": str(period)},
    ).scalar_one()


def mark_period_closed(uow: UnitOfWork, agency_id: uuid.UUID, period: Period, closed_by: uuid.UUID) -> None:
    uow.execute(
        """
        INSERT INTO financial_calculations.periods (agency_id, period, status, closed_at, closed_by)
        VALUES (:a, :p, 'closed', now(), :u)
        ON CONFLICT (agency_id, period) DO UPDATE SET status = 'closed', closed_at = now(), closed_by = :u
        """,
        {"a": agency_id, "p": str(period), "u": closed_by},
    )


def lock_calculation(uow: UnitOfWork, agency_id: uuid.UUID, period: Period) -> None:
    """The period's calculation lock (transaction advisory): recalculations and earnings versions serialize on it."""
    uow.execute("SELECT pg_advisory_xact_lock(hashtext('calc:' || :a || ':' || :p))",
                {"a": str(agency_id), "p": str(period)})


# --- the stored result ---------------------------------------------------------------------------------------


def period_figures(uow: UnitOfWork, agency_id: uuid.UUID, period: Period):
    """The period's stored totals (FIGURES) and calculated_at; None before its first calculation."""
    return uow.execute(
        f"SELECT {', '.join(FIGURES)}, calculated_at FROM financial_calculations.period_results "
        "WHERE agency_id = :a AND period = :p",
        {"a": agency_id, "p": str(period)},
    ).one_or_none()


def stored_payouts(uow: UnitOfWork, agency_id: uuid.UUID, period: Period,
                   user_ids: list[str] | None = None) -> dict[uuid.UUID, PayoutValues]:
    """Each user's stored total and lines (of `user_ids` only, when given), in the shape of calc.payouts_by_user."""
    rows = uow.execute(
        """
        SELECT s.user_id, s.total, l.kind, l.model_id, l.basis, l.rate, l.amount, l.detail
        FROM financial_calculations.calculated_payouts_summary s
        LEFT JOIN financial_calculations.payout_lines l
               ON l.agency_id = s.agency_id AND l.period = s.period AND l.user_id = s.user_id
        WHERE s.agency_id = :a AND s.period = :p
          AND (CAST(:all AS boolean) OR s.user_id = ANY(CAST(:u AS uuid[])))
        """,
        {"a": agency_id, "p": str(period), "all": user_ids is None, "u": [str(u) for u in user_ids or ()]},
    ).all()
    out: dict[uuid.UUID, tuple[Decimal, list[LineValues]]] = {}
    for r in rows:
        total, lines = out.setdefault(r.user_id, (r.total, []))
        if r.kind is not None:
            lines.append(LineValues(r.kind, r.model_id, r.basis, r.rate, r.amount, r.detail))
    return {u: PayoutValues(total, normalized_lines(lines)) for u, (total, lines) in out.items()}


def next_earnings_version(uow: UnitOfWork) -> int:
    return uow.execute("SELECT nextval('financial_calculations.earnings_version')").scalar_one()


def _json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, default=str)


# --- writing only what changed ---------------------------------------------------------------------------------
# A recalculation of a scope reads the scope's stored lines and model payouts, deletes the rows it no longer has
# and inserts the ones it gained (nothing else is touched), then refreshes the changed users' totals, the
# period's figures (SQL sums over the truth and the stored rows) and posts the ledger's difference.


def ensure_period_row(uow: UnitOfWork, agency_id: uuid.UUID, period: Period) -> bool:
    """The period_results row every stored line and posting hangs on (zeros until the figures are refreshed);
    True when it is new (the period's first calculation)."""
    return uow.execute(
        f"INSERT INTO financial_calculations.period_results (agency_id, period, {', '.join(FIGURES)}) "
        f"VALUES (:a, :p, {', '.join('0' for _ in FIGURES)}) ON CONFLICT (agency_id, period) DO NOTHING "
        "RETURNING 1",
        {"a": agency_id, "p": str(period)},
    ).first() is not None


def scope_lines(uow: UnitOfWork, agency_id: uuid.UUID, period: Period, scope: Scope) -> list:
    """The stored lines the scope owns (calc.Scope.owns), with their ids."""
    return uow.execute(
        f"""
        SELECT id, user_id, kind, model_id, basis, rate, amount, detail
        FROM financial_calculations.payout_lines
        WHERE agency_id = :a AND period = :p
          AND CASE WHEN kind = ANY(CAST(:model_kinds AS text[])) THEN {_IN_MODELS}
                   ELSE {_IN_USERS.format(col="user_id")} END
        """,
        {"a": agency_id, "p": str(period), "model_kinds": sorted(MODEL_KINDS), **_scope_params(scope)},
    ).all()


def scope_model_payouts(uow: UnitOfWork, agency_id: uuid.UUID, period: Period, scope: Scope) -> list[ModelPayout]:
    rows = uow.execute(
        f"""
        SELECT model_id, base, model_share_percent, split_chatting_costs, amount, effective_from
        FROM financial_calculations.model_payouts
        WHERE agency_id = :a AND period = :p AND {_IN_MODELS}
        """,
        {"a": agency_id, "p": str(period), **_scope_params(scope)},
    ).all()
    return [ModelPayout(r.model_id, r.base, r.model_share_percent, r.split_chatting_costs, r.amount,
                        r.effective_from) for r in rows]


def write_lines(uow: UnitOfWork, agency_id: uuid.UUID, period: Period, *, delete_ids: list[int],
                insert: list) -> None:
    """Delete the lines by id and insert the new ones (calc.Line), each user's summary row first."""
    params = {"a": agency_id, "p": str(period)}
    if insert:
        uow.execute(
            """
            INSERT INTO financial_calculations.calculated_payouts_summary (agency_id, period, user_id, total)
            SELECT DISTINCT CAST(:a AS uuid), :p, u, 0 FROM unnest(CAST(:users AS uuid[])) AS u
            ON CONFLICT (agency_id, period, user_id) DO NOTHING
            """, {**params, "users": sorted({str(l.user_id) for l in insert})})
    if delete_ids:
        uow.execute("DELETE FROM financial_calculations.payout_lines WHERE id = ANY(CAST(:ids AS bigint[]))",
                    {"ids": delete_ids})
    if insert:
        uow.execute(
            """
            INSERT INTO financial_calculations.payout_lines
                (agency_id, period, user_id, kind, model_id, basis, rate, amount, detail)
            SELECT :a, :p, r.user_id, r.kind, r.model_id, r.basis, r.rate, r.amount, r.detail
            FROM jsonb_to_recordset(CAST(:rows AS jsonb))
                 AS r(user_id uuid, kind text, model_id uuid, basis numeric, rate numeric, amount numeric,
                      detail text)
            """,
            {**params, "rows": _json([{"user_id": l.user_id, "kind": l.kind, "model_id": l.model_id,
                                       "basis": l.basis, "rate": l.rate, "amount": l.amount, "detail": l.detail}
                                      for l in insert])},
        )


def refresh_summaries(uow: UnitOfWork, agency_id: uuid.UUID, period: Period,
                      user_ids: list[uuid.UUID] | None) -> set[uuid.UUID]:
    """Each given user's total (None: every user's) made the sum of their stored lines; a summary left without
    lines goes (the user has no payout). Returns the users whose summary changed."""
    params = {"a": agency_id, "p": str(period), "all": user_ids is None, "u": [str(u) for u in user_ids or ()]}
    # Each summary row's sum of lines as a sub-select on payout_lines_summary (agency, period, user): one index
    # lookup per row, whatever the statistics. Fresh tables have none yet: a join of the sums (or NOT EXISTS) to
    # the summaries was planned as a nested loop over 1,000 × 1,000 rows (0.3–0.8 s at 1,000 users).
    lines_sum = ("(SELECT sum(l.amount) FROM financial_calculations.payout_lines l "
                 "WHERE l.agency_id = s.agency_id AND l.period = s.period AND l.user_id = s.user_id)")
    where = "s.agency_id = :a AND s.period = :p AND (CAST(:all AS boolean) OR s.user_id = ANY(CAST(:u AS uuid[])))"
    updated = uow.execute(
        f"""
        UPDATE financial_calculations.calculated_payouts_summary s
        SET total = {lines_sum}, calculated_at = clock_timestamp()
        WHERE {where} AND coalesce({lines_sum}, s.total) <> s.total  -- without lines: the DELETE's
        RETURNING s.user_id
        """, params).scalars().all()
    deleted = uow.execute(
        f"""
        DELETE FROM financial_calculations.calculated_payouts_summary s
        WHERE {where} AND {lines_sum} IS NULL
        RETURNING s.user_id
        """, params).scalars().all()
    return set(updated) | set(deleted)


def write_model_payouts(uow: UnitOfWork, agency_id: uuid.UUID, period: Period, *,
                        delete: list[ModelPayout], insert: list[ModelPayout]) -> None:
    params = {"a": agency_id, "p": str(period)}
    if delete:
        uow.execute(
            """
            DELETE FROM financial_calculations.model_payouts mp
            USING jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(model_id uuid, effective_from date)
            WHERE mp.agency_id = :a AND mp.period = :p AND mp.model_id = r.model_id
              AND mp.effective_from = r.effective_from
            """, {**params, "rows": _json([{"model_id": m.model_id, "effective_from": m.effective_from}
                                           for m in delete])})
    if insert:
        uow.execute(
            """
            INSERT INTO financial_calculations.model_payouts
                (agency_id, period, model_id, effective_from, base, model_share_percent, split_chatting_costs,
                 amount)
            SELECT :a, :p, r.model_id, r.effective_from, r.base, r.share, r.split, r.amount
            FROM jsonb_to_recordset(CAST(:rows AS jsonb))
                 AS r(model_id uuid, effective_from date, base numeric, share numeric, split boolean, amount numeric)
            """,
            {**params, "rows": _json([{"model_id": m.model_id, "effective_from": m.effective_from, "base": m.base,
                                       "share": m.model_share_percent, "split": m.split_chatting_costs,
                                       "amount": m.amount} for m in insert])},
        )


def refresh_figures(uow: UnitOfWork, agency_id: uuid.UUID, period: Period,
                    income: tuple[Decimal, Decimal] | None = None) -> dict[str, Decimal]:
    """The period's figures recomputed in SQL (income and expenses from the truth, payouts from the stored
    lines and model payouts) and stored; returns them. `income`: the period's (gross, net) when the caller has
    just summed every counted record of it (a full recalculation's load_sales), instead of a scan of the month."""
    sums = "SELECT CAST(:gross AS numeric) AS gross, CAST(:net AS numeric) AS net" if income is not None else f"""
            SELECT coalesce(sum(r.gross_amount), 0) AS gross, coalesce(sum(r.net_amount), 0) AS net
            FROM income_service.income_records r
            WHERE r.agency_id = :a AND r.sale_date BETWEEN :first AND :last AND {counted(uow, agency_id, "r")}"""
    row = uow.execute(
        f"""
        WITH i AS (  -- one scan of the period's income for both sums (what counts: verification, issue #16)
            {sums}
        ), f AS (
            SELECT i.gross AS gross_income, i.net AS net_income,
                   coalesce((SELECT sum(amount) FROM financial_calculations.payout_lines
                             WHERE agency_id = :a AND period = :p), 0) AS employee_payouts,
                   coalesce((SELECT sum(amount) FROM financial_calculations.model_payouts
                             WHERE agency_id = :a AND period = :p), 0) AS model_payouts,
                   coalesce((SELECT sum(amount) FROM expense_service.expenses
                             WHERE agency_id = :a AND expense_date BETWEEN :first AND :last), 0) AS expenses
            FROM i
        )
        UPDATE financial_calculations.period_results r
        SET gross_income = f.gross_income, platform_fees = f.gross_income - f.net_income, net_income = f.net_income,
            employee_payouts = f.employee_payouts, model_payouts = f.model_payouts, expenses = f.expenses,
            agency_profit = f.net_income - f.employee_payouts - f.model_payouts - f.expenses,
            calculated_at = clock_timestamp()
        FROM f WHERE r.agency_id = :a AND r.period = :p
        RETURNING r.gross_income, r.platform_fees, r.net_income, r.employee_payouts, r.model_payouts, r.expenses,
                  r.agency_profit
        """,
        {"a": agency_id, "p": str(period), "first": period.first_day, "last": period.last_day,
         **dict(zip(("gross", "net"), income or ()))},
    ).one()
    return dict(row._mapping)


def post_ledger_difference(uow: UnitOfWork, agency_id: uuid.UUID, period: Period) -> list[tuple]:
    """Post what the ledger lacks to match the stored result: one posting whose legs are the differences per
    (account, party) between the period's result and the sum of its postings so far; none when they agree.
    The postings of a period thus show how its figures moved (the database re-checks the balance at commit)."""
    params = {"a": agency_id, "p": str(period)}
    legs = uow.execute(
        """
        SELECT account, party_id, sum(amount) AS amount FROM (
            SELECT 'revenue:net_income' AS account, NULL::uuid AS party_id, -net_income AS amount
            FROM financial_calculations.period_results WHERE agency_id = :a AND period = :p
            UNION ALL SELECT 'expense:operating', NULL, expenses
            FROM financial_calculations.period_results WHERE agency_id = :a AND period = :p
            UNION ALL SELECT 'equity:agency_profit', NULL, agency_profit
            FROM financial_calculations.period_results WHERE agency_id = :a AND period = :p
            UNION ALL SELECT 'payable:employee', user_id, total
            FROM financial_calculations.calculated_payouts_summary WHERE agency_id = :a AND period = :p
            UNION ALL SELECT 'payable:model', model_id, amount
            FROM financial_calculations.model_payouts WHERE agency_id = :a AND period = :p
            UNION ALL SELECT t.account, t.party_id, -t.amount
            FROM financial_calculations.ledger_postings lp
            JOIN financial_calculations.transaction_ledger t ON t.posting_id = lp.id
            WHERE lp.agency_id = :a AND lp.period = :p
        ) d
        GROUP BY account, party_id HAVING sum(amount) <> 0
        ORDER BY account, party_id
        """, params).all()
    if not legs:
        return []
    posting_id = uow.execute(
        "INSERT INTO financial_calculations.ledger_postings (agency_id, period, description) "
        "VALUES (:a, :p, :d) RETURNING id", {**params, "d": f"payout calculation {period}"},
    ).scalar_one()
    uow.execute(
        """
        INSERT INTO financial_calculations.transaction_ledger (posting_id, account, party_id, amount)
        SELECT :posting, r.account, r.party, r.amount
        FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(account text, party uuid, amount numeric)
        """,
        {"posting": posting_id, "rows": _json([{"account": l.account, "party": l.party_id, "amount": l.amount}
                                               for l in legs])},
    )
    return [tuple(l) for l in legs]


# --- pending scopes (coalescing) -------------------------------------------------------------------------------
NIL = uuid.UUID(int=0)


def mark_pending(uow: UnitOfWork, agency_id: uuid.UUID, marks: list[tuple[Period, str, uuid.UUID | None]]) -> bool:
    """Record dirty scopes (period, kind, id), appended: never waits for a round taking the same scope (sql/0195);
    the round takes repeated marks together. One statement, which also answers whether the agency exists
    (nothing is marked for an unknown one)."""
    if not marks:
        return True
    return uow.execute(
        """
        WITH agency AS (SELECT id FROM user_service.agencies WHERE id = :a), marked AS (
            INSERT INTO financial_calculations.pending_scopes (agency_id, period, kind, scope_id)
            SELECT agency.id, r.period, r.kind, r.scope_id
            FROM agency, jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(period text, kind text, scope_id uuid)
        )
        SELECT EXISTS (SELECT 1 FROM agency)
        """,
        {"a": agency_id, "rows": _json([{"period": str(p), "kind": k, "scope_id": i or NIL} for p, k, i in marks])},
    ).scalar_one()


def take_pending(uow: UnitOfWork, agency_id: uuid.UUID, period: Period) -> list[tuple[str, uuid.UUID]]:
    """Every pending scope of the period, removed (the caller holds the calculation lock and recomputes them)."""
    return [tuple(r) for r in uow.execute(
        "DELETE FROM financial_calculations.pending_scopes WHERE agency_id = :a AND period = :p "
        "RETURNING kind, scope_id", {"a": agency_id, "p": str(period)}).all()]


def has_pending(uow: UnitOfWork, agency_id: uuid.UUID, period: Period) -> bool:
    return uow.execute("SELECT EXISTS (SELECT 1 FROM financial_calculations.pending_scopes "
                       "WHERE agency_id = :a AND period = :p)", {"a": agency_id, "p": str(period)}).scalar_one()


def periods_with_pending(uow: UnitOfWork) -> list[tuple[uuid.UUID, Period]]:
    """Every (agency, period) with a scope still marked (the scheduled sweep's list)."""
    return [(r.agency_id, Period.parse(r.period)) for r in uow.execute(
        "SELECT DISTINCT agency_id, period FROM financial_calculations.pending_scopes ORDER BY 1, 2").all()]


def pending_periods(uow: UnitOfWork, agency_id: uuid.UUID) -> list[str]:
    return list(uow.execute("SELECT DISTINCT period FROM financial_calculations.pending_scopes "
                            "WHERE agency_id = :a ORDER BY 1", {"a": agency_id}).scalars())


def _months_with(table: str, day: str, cte: str) -> str:
    """A recursive CTE `cte` (agency_id, period) of the months in which each agency has a row of `table`, found
    month by month through the (agency_id, `day`) index — one min() per agency and month, not a scan of every
    row ever stored (the DISTINCT over income_records read all of it: 0.8 s at 1,000,000 records, and it grows
    with every month kept)."""
    first = f"(SELECT min(t.{day}) FROM {table} t WHERE t.agency_id = {{agency}} AND t.{day} >= {{since}})"
    return f"""{cte}_days (agency_id, day) AS (
            SELECT a.id, {first.format(agency="a.id", since="DATE '-infinity'")} FROM user_service.agencies a
            UNION ALL
            SELECT m.agency_id, {first.format(agency="m.agency_id",
                                              since="CAST(date_trunc('month', m.day) + interval '1 month' AS date)")}
            FROM {cte}_days m WHERE m.day IS NOT NULL
        ), {cte} AS (SELECT agency_id, to_char(day, 'YYYY-MM') AS period FROM {cte}_days WHERE day IS NOT NULL)"""


def open_periods_with_data(uow: UnitOfWork) -> list[tuple[uuid.UUID, str]]:
    """Every (agency, period) that has income, expenses or a stored result and is not closed."""
    return [tuple(r) for r in uow.execute(
        f"""
        WITH RECURSIVE {_months_with("income_service.income_records", "sale_date", "income")},
             {_months_with("expense_service.expenses", "expense_date", "spent")}
        SELECT d.agency_id, d.period FROM (
            SELECT agency_id, period FROM income
            UNION SELECT agency_id, period FROM spent
            UNION SELECT agency_id, period FROM financial_calculations.period_results
        ) d
        JOIN user_service.agencies a ON a.id = d.agency_id
        WHERE NOT EXISTS (SELECT 1 FROM financial_calculations.periods c
                          WHERE c.agency_id = d.agency_id AND c.period = d.period AND c.status = 'closed')
        ORDER BY 1, 2
        """).all()]


def earnings_readers(uow: UnitOfWork, user_ids: list[str]) -> dict[str, tuple[str | None, str | None]]:
    """Each user's Firebase uid and their manager's, now (the earnings documents carry both for firestore.rules:
    the user reads their own, the manager their team's)."""
    rows = uow.execute("SELECT u.id::text AS id, u.firebase_uid, m.firebase_uid AS manager_uid "
                       "FROM user_service.users u LEFT JOIN user_service.users m ON m.id = u.manager_id "
                       "WHERE u.id = ANY(CAST(:ids AS uuid[]))", {"ids": list(user_ids)}).all()
    return {r.id: (r.firebase_uid, r.manager_uid) for r in rows}


# --- lists (keyset pages ordered by name) ------------------------------------------------------------------------
# The sort key is computed here, once, and handed back with each row (sort_name): the cursor carries the value
# PostgreSQL compared, never a Python re-computation of lower() that could disagree with it.


def payout_summaries_page(uow: UnitOfWork, *, agency_id: uuid.UUID, period: Period, scope: str, params: dict[str, Any],
                          user_id: uuid.UUID | None, after: tuple[str, uuid.UUID] | None, limit: int) -> list:
    """The visible users' totals of the period, by (lower(display_name), user_id), from after `after`."""
    return uow.execute(
        f"""
        SELECT s.user_id, s.total, u.display_name, lower(coalesce(u.display_name, '')) AS sort_name
        FROM financial_calculations.calculated_payouts_summary s
        JOIN user_service.users u ON u.agency_id = s.agency_id AND u.id = s.user_id
        WHERE s.agency_id = :a AND s.period = :p AND {scope}
          AND (CAST(:u AS uuid) IS NULL OR s.user_id = CAST(:u AS uuid))
          AND (CAST(:c_name AS text) IS NULL
               OR (lower(coalesce(u.display_name, '')), s.user_id) > (CAST(:c_name AS text), CAST(:c_id AS uuid)))
        ORDER BY sort_name, s.user_id
        LIMIT :limit
        """,
        {**params, "a": agency_id, "p": str(period), "u": None if user_id is None else str(user_id),
         "c_name": after[0] if after else None, "c_id": str(after[1]) if after else None, "limit": limit},
    ).all()


def payout_lines_of(uow: UnitOfWork, *, agency_id: uuid.UUID, period: Period, user_ids: list[uuid.UUID]) -> list:
    return uow.execute(
        """
        SELECT user_id, kind, model_id, basis, rate, amount, detail
        FROM financial_calculations.payout_lines
        WHERE agency_id = :a AND period = :p AND user_id = ANY(CAST(:ids AS uuid[]))
        ORDER BY user_id, kind, model_id, rate, id
        """,
        {"a": agency_id, "p": str(period), "ids": [str(u) for u in user_ids]},
    ).all()


def model_payouts_page(uow: UnitOfWork, *, agency_id: uuid.UUID, period: Period,
                       after: tuple[str, uuid.UUID, Any] | None, limit: int) -> list:
    """The period's model payouts by (lower(model name), model_id, effective_from), from after `after`."""
    return uow.execute(
        """
        SELECT mp.model_id, m.name, mp.effective_from, mp.base, mp.model_share_percent, mp.split_chatting_costs,
               mp.amount, lower(m.name) AS sort_name
        FROM financial_calculations.model_payouts mp
        JOIN user_service.models m ON m.agency_id = mp.agency_id AND m.id = mp.model_id
        WHERE mp.agency_id = :a AND mp.period = :p
          AND (CAST(:c_name AS text) IS NULL
               OR (lower(m.name), mp.model_id, mp.effective_from)
                  > (CAST(:c_name AS text), CAST(:c_id AS uuid), CAST(:c_from AS date)))
        ORDER BY sort_name, mp.model_id, mp.effective_from
        LIMIT :limit
        """,
        {"a": agency_id, "p": str(period), "c_name": after[0] if after else None,
         "c_id": str(after[1]) if after else None, "c_from": after[2] if after else None, "limit": limit},
    ).all()


# --- statements ----------------------------------------------------------------------------------------------


def statement_person(uow: UnitOfWork, agency_id: uuid.UUID, user_id: uuid.UUID):
    """Who a statement is for, and the agency it is from; None outside the agency."""
    return uow.execute(
        """
        SELECT u.display_name, u.email, u.role, a.name AS agency, a.currency
        FROM user_service.users u JOIN user_service.agencies a ON a.id = u.agency_id
        WHERE u.id = :u AND u.agency_id = :a
        """,
        {"u": user_id, "a": agency_id},
    ).one_or_none()


def user_total(uow: UnitOfWork, agency_id: uuid.UUID, period: Period, user_id: uuid.UUID) -> Decimal | None:
    return uow.execute(
        "SELECT total FROM financial_calculations.calculated_payouts_summary "
        "WHERE agency_id = :a AND period = :p AND user_id = :u",
        {"a": agency_id, "p": str(period), "u": user_id},
    ).scalar_one_or_none()


def agency_models(uow: UnitOfWork, agency_id: uuid.UUID) -> frozenset[uuid.UUID]:
    return frozenset(uow.execute("SELECT id FROM user_service.models WHERE agency_id = :a",
                                 {"a": agency_id}).scalars())


def model_names(uow: UnitOfWork, agency_id: uuid.UUID) -> dict[uuid.UUID, str]:
    return dict(uow.execute("SELECT id, name FROM user_service.models WHERE agency_id = :a",
                            {"a": agency_id}).all())


def statement_model(uow: UnitOfWork, agency_id: uuid.UUID, model_id: uuid.UUID):
    """The model (creator) a statement is for, and the agency; None outside the agency."""
    return uow.execute(
        """
        SELECT m.name, a.name AS agency, a.currency
        FROM user_service.models m JOIN user_service.agencies a ON a.id = m.agency_id
        WHERE m.id = :m AND m.agency_id = :a
        """,
        {"m": model_id, "a": agency_id},
    ).one_or_none()


def model_payouts_of(uow: UnitOfWork, agency_id: uuid.UUID, period: Period, model_id: uuid.UUID) -> list:
    """One model's payout items of the period, one per settings version in effect."""
    return uow.execute(
        """
        SELECT effective_from, base, model_share_percent, split_chatting_costs, amount
        FROM financial_calculations.model_payouts
        WHERE agency_id = :a AND period = :p AND model_id = :m
        ORDER BY effective_from
        """,
        {"a": agency_id, "p": str(period), "m": model_id},
    ).all()


# --- closing in order, carries and payments (issue #15; G2's section) -------------------------------------------


def open_periods_before(uow: UnitOfWork, agency_id: uuid.UUID, period: Period) -> list[str]:
    """The earlier periods that have income, expenses or a payout and are not closed (closing goes in order)."""
    return list(uow.execute(
        f"""
        SELECT d.period FROM (
            SELECT DISTINCT to_char(sale_date, 'YYYY-MM') AS period FROM income_service.income_records
            WHERE agency_id = :a AND sale_date < :first
            UNION SELECT DISTINCT to_char(expense_date, 'YYYY-MM') FROM expense_service.expenses
            WHERE agency_id = :a AND expense_date < :first
            UNION SELECT DISTINCT period FROM financial_calculations.calculated_payouts_summary
            WHERE agency_id = :a AND period < :p
            UNION SELECT DISTINCT period FROM financial_calculations.model_payouts
            WHERE agency_id = :a AND period < :p
        ) d
        WHERE NOT {period_closed_sql("CAST(:a AS uuid)", "d.period")}
        ORDER BY 1
        """, {"a": agency_id, "p": str(period), "first": period.first_day}).scalars())


def insert_carries(uow: UnitOfWork, agency_id: uuid.UUID, period: Period) -> list[uuid.UUID]:
    """A carry (the sql/0135 table calc reads) of |total| to the next period for every user whose stored total
    is below zero; the users carried."""
    return list(uow.execute(
        """
        INSERT INTO financial_calculations.carries (agency_id, from_period, to_period, user_id, amount)
        SELECT agency_id, period, :next, user_id, -total FROM financial_calculations.calculated_payouts_summary
        WHERE agency_id = :a AND period = :p AND total < 0
        ON CONFLICT DO NOTHING
        RETURNING user_id
        """, {"a": agency_id, "p": str(period), "next": str(period.next())}).scalars())


def user_payee(uow: UnitOfWork, agency_id: uuid.UUID, period: Period, user_id: uuid.UUID):
    """(total,) of a person of the agency in the period (total None: no payout); None outside the agency."""
    return uow.execute(
        """
        SELECT s.total FROM user_service.users u
        LEFT JOIN financial_calculations.calculated_payouts_summary s
               ON s.agency_id = u.agency_id AND s.period = :p AND s.user_id = u.id
        WHERE u.id = :u AND u.agency_id = :a
        """, {"a": agency_id, "p": str(period), "u": user_id}).one_or_none()


def model_payee(uow: UnitOfWork, agency_id: uuid.UUID, period: Period, model_id: uuid.UUID):
    """(total,) of a model of the agency in the period: the sum of its payout items (None: none); None outside."""
    return uow.execute(
        """
        SELECT (SELECT sum(amount) FROM financial_calculations.model_payouts mp
                WHERE mp.agency_id = m.agency_id AND mp.period = :p AND mp.model_id = m.id) AS total
        FROM user_service.models m WHERE m.id = :m AND m.agency_id = :a
        """, {"a": agency_id, "p": str(period), "m": model_id}).one_or_none()


_PAYMENT_COLUMNS = "id, period, user_id, model_id, amount, paid_at, method, reference, created_at"


def insert_payment(uow: UnitOfWork, *, agency_id: uuid.UUID, period: Period, user_id: uuid.UUID | None,
                   model_id: uuid.UUID | None, amount: Decimal, paid_at, method: str, reference: str,
                   created_by: uuid.UUID):
    """The payment row; None when the payee already has one for the period (the UNIQUE constraint decides)."""
    return uow.execute(
        f"""
        INSERT INTO financial_calculations.payments
            (agency_id, period, user_id, model_id, amount, paid_at, method, reference, created_by)
        VALUES (:a, :p, :u, :m, :amount, :paid_at, :method, :reference, :by)
        ON CONFLICT ON CONSTRAINT payments_once DO NOTHING
        RETURNING {_PAYMENT_COLUMNS}
        """, {"a": agency_id, "p": str(period), "u": user_id, "m": model_id, "amount": amount, "paid_at": paid_at,
              "method": method, "reference": reference, "by": created_by}).one_or_none()


def payments_page(uow: UnitOfWork, *, agency_id: uuid.UUID, period: Period, scope: str, params: dict[str, Any],
                  models: bool, after: tuple | None, limit: int) -> list:
    """The period's payments the caller may see (people by `scope` over user_id; models only when `models`),
    by (created_at, id), from after `after`."""
    return uow.execute(
        f"""
        SELECT {_PAYMENT_COLUMNS} FROM financial_calculations.payments
        WHERE agency_id = :a AND period = :p
          AND ((user_id IS NOT NULL AND {scope}) OR (model_id IS NOT NULL AND CAST(:models AS boolean)))
          AND (CAST(:c_at AS timestamptz) IS NULL
               OR (created_at, id) > (CAST(:c_at AS timestamptz), CAST(:c_id AS uuid)))
        ORDER BY created_at, id
        LIMIT :limit
        """, {**params, "a": agency_id, "p": str(period), "models": models,
              "c_at": after[0] if after else None, "c_id": str(after[1]) if after else None,
              "limit": limit}).all()


def payments_of(uow: UnitOfWork, agency_id: uuid.UUID, period: Period, *, user_ids=None, model_ids=None) -> dict:
    """The period's payments by payee id (a user's or a model's), of the given payees (None: every one)."""
    rows = uow.execute(
        f"""
        SELECT {_PAYMENT_COLUMNS} FROM financial_calculations.payments
        WHERE agency_id = :a AND period = :p
          AND (CAST(:all AS boolean) OR user_id = ANY(CAST(:u AS uuid[])) OR model_id = ANY(CAST(:m AS uuid[])))
        """, {"a": agency_id, "p": str(period), "all": user_ids is None and model_ids is None,
              "u": [str(u) for u in user_ids or ()], "m": [str(m) for m in model_ids or ()]}).all()
    return {r.user_id or r.model_id: r for r in rows}


def payroll_people(uow: UnitOfWork, agency_id: uuid.UUID, period: Period) -> list:
    """The export's people: each user with a payout in the period, their total and their line sums per kind
    (`kinds`: {kind: amount}), by name."""
    return uow.execute(
        """
        SELECT s.user_id, u.display_name, u.email, u.role, s.total,
               coalesce((SELECT jsonb_object_agg(k.kind, k.amount) FROM (
                   SELECT kind, sum(amount)::text AS amount FROM financial_calculations.payout_lines l
                   WHERE l.agency_id = s.agency_id AND l.period = s.period AND l.user_id = s.user_id
                   GROUP BY kind) k), '{}') AS kinds
        FROM financial_calculations.calculated_payouts_summary s
        JOIN user_service.users u ON u.agency_id = s.agency_id AND u.id = s.user_id
        WHERE s.agency_id = :a AND s.period = :p
        ORDER BY lower(coalesce(u.display_name, '')), s.user_id
        """, {"a": agency_id, "p": str(period)}).all()


def payroll_models(uow: UnitOfWork, agency_id: uuid.UUID, period: Period) -> list:
    """The export's models: each model with payout items in the period and their sum, by name."""
    return uow.execute(
        """
        SELECT mp.model_id, m.name, sum(mp.amount) AS total
        FROM financial_calculations.model_payouts mp
        JOIN user_service.models m ON m.agency_id = mp.agency_id AND m.id = mp.model_id
        WHERE mp.agency_id = :a AND mp.period = :p
        GROUP BY mp.model_id, m.name
        ORDER BY lower(m.name), mp.model_id
        """, {"a": agency_id, "p": str(period)}).all()


def model_totals(uow: UnitOfWork, agency_id: uuid.UUID, period: Period, model_ids: list[uuid.UUID]) -> dict:
    """Each given model's payout in the period: the sum of its items (one per settings version)."""
    return dict(uow.execute(
        "SELECT model_id, sum(amount) FROM financial_calculations.model_payouts "
        "WHERE agency_id = :a AND period = :p AND model_id = ANY(CAST(:m AS uuid[])) GROUP BY model_id",
        {"a": agency_id, "p": str(period), "m": [str(m) for m in model_ids]}).all())


# --- adjustments (issue #15; G1's section) ------------------------------------------------------------------------
_ADJUSTMENT_COLUMNS = "id, user_id, period, amount, reason, reverses, created_by, created_at"


def insert_adjustment(uow: UnitOfWork, *, agency_id: uuid.UUID, user_id: uuid.UUID, period: Period,
                      amount: Decimal, reason: str, created_by: uuid.UUID, reverses: uuid.UUID | None = None):
    """The new adjustment row; None when `reverses` is already reversed (its UNIQUE constraint decides, so two
    concurrent reversals can't both land)."""
    return uow.execute(
        f"""
        INSERT INTO financial_calculations.adjustments
            (agency_id, user_id, period, amount, reason, reverses, created_by)
        VALUES (:a, :u, :p, :amount, :reason, :reverses, :by)
        ON CONFLICT (reverses) DO NOTHING
        RETURNING {_ADJUSTMENT_COLUMNS}
        """,
        {"a": agency_id, "u": user_id, "p": str(period), "amount": amount, "reason": reason, "reverses": reverses,
         "by": created_by},
    ).one_or_none()


def adjustment(uow: UnitOfWork, agency_id: uuid.UUID, adjustment_id: uuid.UUID):
    return uow.execute(
        f"SELECT {_ADJUSTMENT_COLUMNS} FROM financial_calculations.adjustments WHERE agency_id = :a AND id = :id",
        {"a": agency_id, "id": adjustment_id},
    ).one_or_none()


def adjustments_page(uow: UnitOfWork, *, agency_id: uuid.UUID, scope: str, params: dict[str, Any],
                     period: Period | None, user_id: uuid.UUID | None, after: tuple | None, limit: int) -> list:
    """The visible adjustments, newest first by (created_at, id), from after `after`."""
    return uow.execute(
        f"""
        SELECT {', '.join('a.' + c for c in _ADJUSTMENT_COLUMNS.split(', '))}
        FROM financial_calculations.adjustments a
        WHERE a.agency_id = :a AND {scope}
          AND (CAST(:p AS text) IS NULL OR a.period = CAST(:p AS text))
          AND (CAST(:u AS uuid) IS NULL OR a.user_id = CAST(:u AS uuid))
          AND (CAST(:c_at AS timestamptz) IS NULL
               OR (a.created_at, a.id) < (CAST(:c_at AS timestamptz), CAST(:c_id AS uuid)))
        ORDER BY a.created_at DESC, a.id DESC
        LIMIT :limit
        """,
        {**params, "a": agency_id, "p": None if period is None else str(period),
         "u": None if user_id is None else str(user_id), "c_at": after[0] if after else None,
         "c_id": str(after[1]) if after else None, "limit": limit},
    ).all()
