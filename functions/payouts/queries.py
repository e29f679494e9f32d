"""Payouts SQL: the calculation's inputs (one set-based read each), its stored result, the period, lists, statements."""
from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any, Callable

from shared_lib.db import UnitOfWork
from shared_lib.periods import Period

from .calc import (FIGURES, Deduction, LineValues, ModelSettings, PayoutValues, Result, Sale, UserSettings,
                   ledger_legs, normalized_lines)


def load_sales(uow: UnitOfWork, agency_id: uuid.UUID, period: Period) -> list[Sale]:
    """Chatting sales summed per (day, model, chatter, manager snapshot, type): settings apply by day, so the
    sums price exactly like the single sales; other income stays one row per record (each has its own split)."""
    rows = uow.execute(
        """
        SELECT type, sum(gross_amount) AS gross, sum(net_amount) AS net, sale_date, model_id, chatter_id,
               manager_id, NULL::uuid AS split_user_id, NULL::numeric AS split_percent,
               NULL::numeric AS split_fixed_amount
        FROM income_service.income_records
        WHERE agency_id = :a AND sale_date BETWEEN :first AND :last AND type <> 'other_income'
        GROUP BY type, sale_date, model_id, chatter_id, manager_id
        UNION ALL
        SELECT type, gross_amount, net_amount, sale_date, model_id, NULL, NULL, assigned_to_user_id,
               split_percent, split_fixed_amount
        FROM income_service.income_records
        WHERE agency_id = :a AND sale_date BETWEEN :first AND :last AND type = 'other_income'
        """,
        {"a": agency_id, "first": period.first_day, "last": period.last_day},
    ).all()
    return [Sale(None, r.type, r.gross, r.net, r.sale_date, r.model_id, r.chatter_id, r.manager_id,
                 r.split_user_id, r.split_percent, r.split_fixed_amount) for r in rows]


def load_user_settings(uow: UnitOfWork, agency_id: uuid.UUID, period: Period) -> dict[uuid.UUID, list[UserSettings]]:
    rows = uow.execute(
        """
        SELECT user_id, effective_from, compensation_type, commission_rate, fixed_salary, manager_tick_rate
        FROM user_service.user_financial_settings
        WHERE agency_id = :a AND effective_from <= :last
        ORDER BY user_id, effective_from
        """,
        {"a": agency_id, "last": period.last_day},
    ).all()
    return _versions_by(rows, lambda r: r.user_id, lambda r: UserSettings(
        r.effective_from, r.compensation_type, r.commission_rate, r.fixed_salary, r.manager_tick_rate))


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


def stored_payouts(uow: UnitOfWork, agency_id: uuid.UUID, period: Period) -> dict[uuid.UUID, PayoutValues]:
    """Each user's stored total and lines, in the shape of calc.payouts_by_user, to tell what a recalculation
    changed."""
    rows = uow.execute(
        """
        SELECT s.user_id, s.total, l.kind, l.model_id, l.basis, l.rate, l.amount, l.detail
        FROM financial_calculations.calculated_payouts_summary s
        LEFT JOIN financial_calculations.payout_lines l
               ON l.agency_id = s.agency_id AND l.period = s.period AND l.user_id = s.user_id
        WHERE s.agency_id = :a AND s.period = :p
        """,
        {"a": agency_id, "p": str(period)},
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


def replace_result(uow: UnitOfWork, agency_id: uuid.UUID, result: Result) -> None:
    """Replace the period's stored result (summary, lines, model payouts, ledger posting) in this transaction."""
    p = str(result.period)
    params = {"a": agency_id, "p": p}
    uow.execute("DELETE FROM financial_calculations.period_results WHERE agency_id = :a AND period = :p", params)
    uow.execute(
        """
        INSERT INTO financial_calculations.period_results
            (agency_id, period, gross_income, platform_fees, net_income, employee_payouts, model_payouts,
             expenses, agency_profit)
        VALUES (:a, :p, :gross_income, :platform_fees, :net_income, :employee_payouts, :model_payouts,
                :expenses, :agency_profit)
        """,
        {**params, **result.figures()},
    )
    totals = result.totals_by_user()
    uow.execute(
        """
        INSERT INTO financial_calculations.calculated_payouts_summary (agency_id, period, user_id, total)
        SELECT :a, :p, r.user_id, r.total FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(user_id uuid, total numeric)
        """,
        {**params, "rows": _json([{"user_id": u, "total": t} for u, t in totals.items()])},
    )
    uow.execute(
        """
        INSERT INTO financial_calculations.payout_lines
            (agency_id, period, user_id, kind, model_id, basis, rate, amount, detail)
        SELECT :a, :p, r.user_id, r.kind, r.model_id, r.basis, r.rate, r.amount, r.detail
        FROM jsonb_to_recordset(CAST(:rows AS jsonb))
             AS r(user_id uuid, kind text, model_id uuid, basis numeric, rate numeric, amount numeric, detail text)
        """,
        {**params, "rows": _json([{"user_id": l.user_id, "kind": l.kind, "model_id": l.model_id, "basis": l.basis,
                                   "rate": l.rate, "amount": l.amount, "detail": l.detail} for l in result.lines])},
    )
    uow.execute(
        """
        INSERT INTO financial_calculations.model_payouts
            (agency_id, period, model_id, effective_from, base, model_share_percent, split_chatting_costs, amount)
        SELECT :a, :p, r.model_id, r.effective_from, r.base, r.share, r.split, r.amount
        FROM jsonb_to_recordset(CAST(:rows AS jsonb))
             AS r(model_id uuid, effective_from date, base numeric, share numeric, split boolean, amount numeric)
        """,
        {**params, "rows": _json([{"model_id": m.model_id, "effective_from": m.effective_from, "base": m.base,
                                   "share": m.model_share_percent, "split": m.split_chatting_costs,
                                   "amount": m.amount} for m in result.model_payouts])},
    )
    _post_ledger(uow, agency_id, result)


def _post_ledger(uow: UnitOfWork, agency_id: uuid.UUID, result: Result) -> None:
    """One balanced posting per calculation (the database re-checks the balance at commit)."""
    legs = [{"account": a, "party": p, "amount": x} for a, p, x in ledger_legs(result)]
    posting_id = uow.execute(
        "INSERT INTO financial_calculations.ledger_postings (agency_id, period, description) "
        "VALUES (:a, :p, :d) RETURNING id",
        {"a": agency_id, "p": str(result.period), "d": f"payout calculation {result.period}"},
    ).scalar_one()
    uow.execute(
        """
        INSERT INTO financial_calculations.transaction_ledger (posting_id, account, party_id, amount)
        SELECT :posting, r.account, r.party, r.amount
        FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(account text, party uuid, amount numeric)
        """,
        {"posting": posting_id, "rows": _json(legs)},
    )


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
