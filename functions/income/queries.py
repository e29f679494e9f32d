"""Income service SQL: records, the caller's scope, and the read-only look-ups into user_service."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from shared_lib.closing import period_closed_sql, period_lock_shared_sql
from shared_lib.dated_records import date_window
from shared_lib.db import UnitOfWork
from shared_lib.rbac import Caller, Role, user_scope

RECORD_COLUMNS = """
    r.id, r.agency_id, r.type, r.gross_amount, r.fee_percent, r.fee_amount, r.net_amount, r.sale_date, r.model_id,
    r.chatter_id, r.manager_id, r.registered_by_user_id, r.customer_username, r.notes, r.source,
    r.assigned_to_user_id, r.split_percent, r.split_fixed_amount, r.schedule_id, r.refund_of, r.created_at,
    r.updated_at
"""
_RETURNING = RECORD_COLUMNS.replace("r.", "")


def record_scope(caller: Caller) -> tuple[str, dict[str, Any]]:
    """What the caller may read, change and delete (BUSINESS_RULES.md): Owner all; Manager the sales of their
    current team and their own, the sales whose snapshot manager is them (their ticks), and what they registered;
    Chatter their own sales."""
    predicate, params = user_scope(caller, "r.chatter_id")
    if caller.role is Role.manager:
        predicate = f"({predicate} OR r.manager_id = :_scope_user OR r.registered_by_user_id = :_scope_user)"
    return predicate, params


# --- user_service look-ups (read-only) -------------------------------------------------------------------------


def chatter_facts(uow: UnitOfWork, agency_id: uuid.UUID, user_id: uuid.UUID, model_id: uuid.UUID):
    """The user's role, active flag and manager, and whether the model is assigned to them; None if not in
    the agency."""
    return uow.execute(
        """
        SELECT u.role, u.active, u.manager_id,
               EXISTS (SELECT 1 FROM user_service.model_assignments ma
                       WHERE ma.model_id = :m AND ma.user_id = u.id) AS assigned
        FROM user_service.users u WHERE u.id = :u AND u.agency_id = :a
        """,
        {"u": user_id, "a": agency_id, "m": model_id},
    ).one_or_none()


def register_facts(uow: UnitOfWork, agency_id: uuid.UUID, period: str, *, day: date, model_id: uuid.UUID | None,
                   chatter_id: uuid.UUID | None):
    """What a register reads, in one round trip, after taking the period's lock shared (shared_lib/closing.py):
    whether the model is the agency's (model_found), the chatter's facts (user_id None if not in the agency:
    role, active, manager_id, assigned to the model) and the fee % on the day.

    The closed check is not here: it must read after the lock is held, with a snapshot of its own, so it is the
    INSERT's condition (insert_record_if_open), the next statement."""
    return uow.execute(
        f"""
        SELECT {period_lock_shared_sql(":a", ":p")} AS locked,
               EXISTS (SELECT 1 FROM user_service.models m
                       WHERE m.id = CAST(:m AS uuid) AND m.agency_id = CAST(:a AS uuid)) AS model_found,
               u.id AS user_id, u.role, u.active, u.manager_id,
               EXISTS (SELECT 1 FROM user_service.model_assignments ma
                       WHERE ma.model_id = CAST(:m AS uuid) AND ma.user_id = u.id) AS assigned,
               user_service.fee_percent_on(CAST(:a AS uuid), CAST(:d AS date)) AS fee_percent
        FROM (SELECT 1) one
        LEFT JOIN user_service.users u ON u.id = CAST(:u AS uuid) AND u.agency_id = CAST(:a AS uuid)
        """,
        {"a": str(agency_id), "p": period, "m": model_id, "u": chatter_id, "d": day},
    ).one()


def user_facts(uow: UnitOfWork, agency_id: uuid.UUID, user_id: uuid.UUID):
    return uow.execute("SELECT role, active, manager_id FROM user_service.users WHERE id = :u AND agency_id = :a",
                       {"u": user_id, "a": agency_id}).one_or_none()


def fee_percent_on(uow: UnitOfWork, agency_id: uuid.UUID, day: date) -> Decimal:
    return uow.execute("SELECT user_service.fee_percent_on(:a, :d)", {"a": agency_id, "d": day}).scalar_one()


# --- records ---------------------------------------------------------------------------------------------------


def get_record(uow: UnitOfWork, caller: Caller, income_id: uuid.UUID, *, for_update: bool = False):
    predicate, params = record_scope(caller)
    lock = " FOR UPDATE OF r" if for_update else ""
    return uow.execute(
        f"SELECT {RECORD_COLUMNS} FROM income_service.income_records r "
        f"WHERE r.id = :id AND r.agency_id = :_scope_agency AND {predicate}{lock}",
        {**params, "id": income_id},
    ).one_or_none()


def insert_record_if_open(uow: UnitOfWork, values: dict[str, Any], period: str):
    """The new record, or None when its period is closed: the closed check of shared_lib/closing.py as the
    INSERT's condition, read after register_facts took the period's lock shared."""
    return uow.execute(
        f"""
        INSERT INTO income_service.income_records
            (agency_id, type, gross_amount, fee_percent, fee_amount, net_amount, sale_date, model_id, chatter_id,
             manager_id, registered_by_user_id, customer_username, notes, source, assigned_to_user_id,
             split_percent, split_fixed_amount)
        SELECT :agency_id, :type, :gross_amount, :fee_percent, :fee_amount, :net_amount, :sale_date, :model_id,
               :chatter_id, :manager_id, :registered_by_user_id, :customer_username, :notes, :source,
               :assigned_to_user_id, :split_percent, :split_fixed_amount
        WHERE NOT {period_closed_sql("CAST(:agency_id AS uuid)", ":_period")}
        RETURNING {_RETURNING}
        """,
        {**values, "_period": period},
    ).one_or_none()


def update_record(uow: UnitOfWork, income_id: uuid.UUID, values: dict[str, Any]):
    """The changed record, or None when the sale has refunds (409 has-refunds): checked in the UPDATE itself,
    under the row lock a refund also takes first (get_record / refund_target FOR UPDATE)."""
    return uow.execute(
        f"""
        UPDATE income_service.income_records SET
            type = :type, gross_amount = :gross_amount, fee_percent = :fee_percent, fee_amount = :fee_amount,
            net_amount = :net_amount, sale_date = :sale_date, model_id = :model_id, chatter_id = :chatter_id,
            manager_id = :manager_id, customer_username = :customer_username, notes = :notes, source = :source,
            assigned_to_user_id = :assigned_to_user_id, split_percent = :split_percent,
            split_fixed_amount = :split_fixed_amount, updated_at = clock_timestamp()
        WHERE id = :id AND {_NO_REFUNDS}
        RETURNING {_RETURNING}
        """,
        {**values, "id": income_id},
    ).one_or_none()


def delete_record(uow: UnitOfWork, income_id: uuid.UUID) -> bool:
    """Delete the record unless it is a sale with refunds (False: 409 has-refunds), under its row lock."""
    return uow.execute(f"DELETE FROM income_service.income_records WHERE id = :id AND {_NO_REFUNDS} RETURNING id",
                       {"id": income_id}).one_or_none() is not None


_NO_REFUNDS = "NOT EXISTS (SELECT 1 FROM income_service.income_records x WHERE x.refund_of = :id)"


# --- refunds ---------------------------------------------------------------------------------------------------


def refund_target(uow: UnitOfWork, caller: Caller, income_id: uuid.UUID):
    """The sale to refund, locked (FOR UPDATE: refunds of one sale, and its change or deletion, take turns), in
    the caller's scope, with the fee % in effect on its date (what it was priced at); None when not visible."""
    predicate, params = record_scope(caller)
    return uow.execute(
        f"SELECT {RECORD_COLUMNS}, user_service.fee_percent_on(r.agency_id, r.sale_date) AS pricing_fee_percent "
        f"FROM income_service.income_records r "
        f"WHERE r.id = :id AND r.agency_id = :_scope_agency AND {predicate} FOR UPDATE OF r",
        {**params, "id": income_id},
    ).one_or_none()


def insert_refund_within_gross(uow: UnitOfWork, values: dict[str, Any]):
    """The refund record, or None when it and the sale's other refunds would give back more than its gross.

    Not check-then-act: the sale's row is locked (refund_target), and this statement's own snapshot, taken after
    the lock was granted, sees every refund committed before it (READ COMMITTED)."""
    return uow.execute(
        f"""
        INSERT INTO income_service.income_records
            (agency_id, type, gross_amount, fee_percent, fee_amount, net_amount, sale_date, model_id, chatter_id,
             manager_id, registered_by_user_id, customer_username, notes, refund_of)
        SELECT :agency_id, :type, :gross_amount, :fee_percent, :fee_amount, :net_amount, :sale_date, :model_id,
               :chatter_id, :manager_id, :registered_by_user_id, :customer_username, :notes, s.id
        FROM income_service.income_records s
        WHERE s.id = :refund_of
          AND s.gross_amount + :gross_amount + (SELECT coalesce(sum(x.gross_amount), 0)
                                                FROM income_service.income_records x
                                                WHERE x.refund_of = :refund_of) >= 0
        RETURNING {_RETURNING}
        """,
        values,
    ).one_or_none()


def refunded_amount(uow: UnitOfWork, income_id: uuid.UUID):
    """Σ of the sale's refunds so far (positive): the 409's detail."""
    return uow.execute("SELECT coalesce(-sum(gross_amount), 0) FROM income_service.income_records "
                       "WHERE refund_of = :id", {"id": income_id}).scalar_one()


def list_records(uow: UnitOfWork, caller: Caller, *, chatter_id, model_id, type, date_from, date_to,
                 after: tuple[date, datetime, uuid.UUID] | None, limit: int):
    """One page, newest sale first; the keyset (sale_date, created_at, id) matches the list indexes."""
    predicate, params = record_scope(caller)
    where = ["r.agency_id = :_scope_agency", predicate]
    for column, value in (("chatter_id", chatter_id), ("model_id", model_id), ("type", type)):
        if value is not None:
            where.append(f"r.{column} = :{column}")
            params[column] = value
    terms, window, order = date_window("r.", "sale_date", date_from=date_from, date_to=date_to, after=after)
    return uow.execute(
        f"SELECT {RECORD_COLUMNS} FROM income_service.income_records r WHERE {' AND '.join(where + terms)} "
        f"{order} LIMIT :limit",
        {**params, **window, "limit": limit},
    ).all()


def recompute_fees(uow: UnitOfWork, agency_id: uuid.UUID, effective_from: date):
    """Set the fee % in effect on each chatting sale dated >= effective_from in an open period, and its fee and
    net, in one UPDATE; returns the changed rows with old (o_*) and new values. A refund takes the fee % of its
    sale's date (the sale is never after it, so it is in the set whenever its sale's fee can have changed).

    The fee % is read per date from user_service.fee_percent_on, so a later version bounds this change by
    itself, and an event replayed out of order recomputes to the same truth. Rounding: round(numeric, 2) is
    half away from zero, i.e. half up for positive amounts, like shared_lib.money.percent_of, and for a refund's
    negative gross −percent_of(amount), as rules.refund_amounts.
    """
    uow.execute(  # the shared period lock on each period touched, in order
        f"""
        SELECT {period_lock_shared_sql(":a", "p.period")}
        FROM (SELECT DISTINCT to_char(sale_date, 'YYYY-MM') AS period FROM income_service.income_records
              WHERE agency_id = :a AND sale_date >= :ef AND type <> 'other_income' ORDER BY 1) p
        """,
        {"a": agency_id, "ef": effective_from},
    )
    return uow.execute(
        f"""
        UPDATE income_service.income_records r
           SET fee_percent = o.pct, fee_amount = o.fee, net_amount = r.gross_amount - o.fee,
               updated_at = clock_timestamp()
        FROM (SELECT x.*, round(x.gross_amount * x.pct / 100, 2) AS fee
              FROM (SELECT i.*, user_service.fee_percent_on(i.agency_id, coalesce(s.sale_date, i.sale_date)) AS pct
                    FROM income_service.income_records i
                    LEFT JOIN income_service.income_records s ON s.id = i.refund_of
                    WHERE i.agency_id = :a AND i.sale_date >= :ef AND i.type <> 'other_income'
                      AND NOT {period_closed_sql("i.agency_id", "to_char(i.sale_date, 'YYYY-MM')")}) x) o
        WHERE r.id = o.id AND (r.fee_percent <> o.pct OR r.fee_amount <> o.fee)
        RETURNING {RECORD_COLUMNS}, o.fee_amount AS o_fee_amount, o.net_amount AS o_net_amount
        """,
        {"a": agency_id, "ef": effective_from},
    ).all()
