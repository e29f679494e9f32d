"""Income service SQL: records, the caller's scope, and the read-only look-ups into user_service."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from shared_lib import outbox
from shared_lib.closing import period_closed_sql, period_lock_shared_sql
from shared_lib.dated_records import date_window
from shared_lib.db import UnitOfWork
from shared_lib.events import Event
from shared_lib.income_types import CHATTING_SQL
from shared_lib.rbac import Caller, Role, user_scope

RECORD_COLUMNS = """
    r.id, r.agency_id, r.type, r.gross_amount, r.fee_percent, r.fee_amount, r.net_amount, r.sale_date, r.model_id,
    r.chatter_id, r.manager_id, r.registered_by_user_id, r.customer_username, r.notes, r.source,
    r.assigned_to_user_id, r.split_percent, r.split_fixed_amount, r.schedule_id, r.refund_of, r.origin,
    r.verified, r.created_at, r.updated_at
"""
_RETURNING = RECORD_COLUMNS.replace("r.", "")
# The columns of a registered record its INSERT does not give: the defaults the table sets.
INSERTED_COLUMNS = "origin, verified, created_at, updated_at"


def record_scope(caller: Caller) -> tuple[str, dict[str, Any]]:
    """What the caller may read, change and delete (BUSINESS_RULES.md): Owner all; Manager the sales of their
    current team and their own, the sales whose snapshot manager is them (their ticks), and what they registered;
    Chatter their own sales."""
    predicate, params = user_scope(caller, "r.chatter_id")
    if caller.role is Role.manager:
        predicate = f"({predicate} OR r.manager_id = :_scope_user OR r.registered_by_user_id = :_scope_user)"
    return predicate, params


# The record's model is assigned to a chatter of the caller's team (the caller: record_scope's :_scope_user).
_TEAM_MODEL = """EXISTS (SELECT 1 FROM user_service.model_assignments ma
                       JOIN user_service.users tu ON tu.id = ma.user_id
                       WHERE ma.model_id = r.model_id AND tu.manager_id = :_scope_user)"""


def read_scope(caller: Caller) -> tuple[str, dict[str, Any]]:
    """What the caller may read: record_scope, and for a Manager also the unattributed sales of their team's
    models — the ones they may assign (POST …/reassign/), so the list `?unattributed=true` shows them."""
    predicate, params = record_scope(caller)
    if caller.role is Role.manager:
        predicate = f"({predicate} OR (r.chatter_id IS NULL AND r.model_id IS NOT NULL AND {_TEAM_MODEL}))"
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


def chatter_edit_hours_on(uow: UnitOfWork, agency_id: uuid.UUID, day: date) -> int:
    """The agency's chatter edit window (sales settings, issue #16) in effect on `day` (default 24)."""
    return uow.execute("SELECT chatter_edit_hours FROM user_service.sales_settings_on(:a, :d)",
                       {"a": agency_id, "d": day}).scalar_one()


# --- records ---------------------------------------------------------------------------------------------------


def get_record(uow: UnitOfWork, caller: Caller, income_id: uuid.UUID, *, for_update: bool = False):
    """The record the caller may read (read_scope), or for a change (for_update: record_scope, locked)."""
    predicate, params = record_scope(caller) if for_update else read_scope(caller)
    lock = " FOR UPDATE OF r" if for_update else ""
    return uow.execute(
        f"SELECT {RECORD_COLUMNS} FROM income_service.income_records r "
        f"WHERE r.id = :id AND r.agency_id = :_scope_agency AND {predicate}{lock}",
        {**params, "id": income_id},
    ).one_or_none()


def insert_record_if_open(uow: UnitOfWork, values: dict[str, Any], period: str, events: list[Event]):
    """The new record (`values` with its `id`) and its outbox row (`events`, built before: shared_lib/outbox.py
    insert_sql) in one statement, or None and neither written when its period is closed: the closed check of
    shared_lib/closing.py as the INSERT's condition, read after register_facts took the period's lock shared.
    The row back has what the database set (INSERTED_COLUMNS); the rest is `values`, stored as given."""
    event_sql, event_params = outbox.insert_sql(events, when="EXISTS (SELECT 1 FROM rec)")
    return uow.execute(
        f"""
        WITH rec AS (
            INSERT INTO income_service.income_records
                (id, agency_id, type, gross_amount, fee_percent, fee_amount, net_amount, sale_date, model_id,
                 chatter_id, manager_id, registered_by_user_id, customer_username, notes, source,
                 assigned_to_user_id, split_percent, split_fixed_amount)
            SELECT :id, :agency_id, :type, :gross_amount, :fee_percent, :fee_amount, :net_amount, :sale_date,
                   :model_id, :chatter_id, :manager_id, :registered_by_user_id, :customer_username, :notes, :source,
                   :assigned_to_user_id, :split_percent, :split_fixed_amount
            WHERE NOT {period_closed_sql("CAST(:agency_id AS uuid)", ":_period")}
            RETURNING {INSERTED_COLUMNS}),
        ev AS ({event_sql})
        SELECT {INSERTED_COLUMNS} FROM rec
        """,
        {**values, **event_params, "_period": period},
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
                 after: tuple[date, datetime, uuid.UUID] | None, limit: int, unattributed: bool | None = None):
    """One page, newest sale first; the keyset (sale_date, created_at, id) matches the list indexes."""
    predicate, params = read_scope(caller)
    where = ["r.agency_id = :_scope_agency", predicate]
    if unattributed is not None:
        where.append(f"{'' if unattributed else 'NOT '}(r.chatter_id IS NULL AND r.type <> 'other_income')")
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


# --- platform imports (issue #16; docs/income.md "Platform imports") ------------------------------------------------
# An import is a fixed number of set-based statements whatever its size: the rows go in as one jsonb parameter into a
# transaction-local table (pt_incoming), every decision is an UPDATE of that table, and each write is one statement.

# A new positive row records or matches a sale (first seen as reversed too: it is then charged back at once).
_ELIGIBLE = "i.kind = 'new' AND i.gross_amount > 0 AND NOT i.closed"


def import_model_facts(uow: UnitOfWork, agency_id: uuid.UUID, model_id: uuid.UUID, *,
                       manager_id: uuid.UUID | None = None):
    """The agency's time zone, and whether a chatter of `manager_id`'s team is assigned to the model; None when the
    model is not the agency's."""
    return uow.execute(
        """
        SELECT a.timezone,
               EXISTS (SELECT 1 FROM user_service.model_assignments ma
                       JOIN user_service.users u ON u.id = ma.user_id
                       WHERE ma.model_id = m.id AND u.agency_id = a.id AND u.manager_id = :u) AS team_model
        FROM user_service.models m JOIN user_service.agencies a ON a.id = m.agency_id
        WHERE m.id = :m AND m.agency_id = :a
        """,
        {"m": model_id, "a": agency_id, "u": manager_id},
    ).one_or_none()


def import_classify(uow: UnitOfWork, agency_id: uuid.UUID, model_id: uuid.UUID, rows_json: str, *, tz: str,
                    today: date) -> None:
    """pt_incoming: each row and what it is against what is stored — new, duplicate (nothing to change), conflict
    (another amount, type, time or original: never applied) or status (pending → cleared, anything → reversed) —
    its local date, and the day its money lands (the sale's date; a reversal's: today)."""
    uow.execute(
        """
        CREATE TEMP TABLE pt_incoming (
            transaction_id text PRIMARY KEY, occurred_at timestamptz NOT NULL, type text NOT NULL,
            gross_amount numeric(14,2) NOT NULL, fee_amount numeric(14,2), net_amount numeric(14,2),
            status text NOT NULL, reverses text, fan_id text, fan_username text, sender text,
            local_date date NOT NULL, kind text NOT NULL, money_day date, closed boolean NOT NULL DEFAULT false,
            fee_percent numeric(5,2), fee numeric(14,2), income_id uuid, matched boolean NOT NULL DEFAULT false,
            chatter_id uuid, manager_id uuid, applied boolean NOT NULL DEFAULT false
        ) ON COMMIT DROP
        """)
    uow.execute(
        """
        INSERT INTO pt_incoming (transaction_id, occurred_at, type, gross_amount, fee_amount, net_amount, status,
                                 reverses, fan_id, fan_username, sender, local_date, kind, money_day)
        SELECT t.transaction_id, t.occurred_at, t.type, t.gross_amount, t.fee_amount, t.net_amount, t.status,
               t.reverses, t.fan_id, t.fan_username, t.sender, c.local_date, c.kind,
               CASE WHEN c.kind = 'new' AND t.gross_amount > 0 THEN c.local_date
                    WHEN (c.kind = 'new' AND t.gross_amount < 0) OR (c.kind = 'status' AND t.status = 'reversed')
                    THEN CAST(:today AS date) END
        FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS t(
                 transaction_id text, occurred_at timestamptz, type text, gross_amount numeric(14,2),
                 fee_amount numeric(14,2), net_amount numeric(14,2), status text, reverses text, fan_id text,
                 fan_username text, sender text)
        LEFT JOIN income_service.platform_transactions p
               ON p.agency_id = :a AND p.model_id = :m AND p.transaction_id = t.transaction_id
        CROSS JOIN LATERAL (SELECT
            (t.occurred_at AT TIME ZONE CAST(:tz AS text))::date AS local_date,
            CASE WHEN p.transaction_id IS NULL THEN 'new'
                 WHEN p.gross_amount <> t.gross_amount OR p.type <> t.type OR p.occurred_at <> t.occurred_at
                      OR p.reverses IS DISTINCT FROM t.reverses THEN 'conflict'
                 WHEN (p.status = 'pending' AND t.status = 'cleared')
                      OR (p.status <> 'reversed' AND t.status = 'reversed') THEN 'status'
                 ELSE 'duplicate' END AS kind) c
        """,
        {"a": agency_id, "m": model_id, "rows": rows_json, "tz": tz, "today": today},
    )


def import_lock_periods(uow: UnitOfWork, agency_id: uuid.UUID) -> None:
    """The shared period lock on every period the import's money lands in, in order (a close waits for it)."""
    uow.execute(
        f"""
        SELECT {period_lock_shared_sql(":a", "p.period")}
        FROM (SELECT DISTINCT to_char(money_day, 'YYYY-MM') AS period FROM pt_incoming
              WHERE money_day IS NOT NULL ORDER BY 1) p
        """,
        {"a": str(agency_id)},
    )


def import_decide(uow: UnitOfWork, agency_id: uuid.UUID, model_id: uuid.UUID) -> None:
    """After the locks (a statement of its own: its snapshot sees a close committed meanwhile): closed periods,
    the agency's fee on each sale's date, then the match of each new sale to an unmatched self-reported sale, then
    attribution of the rest by the agency's attribution rules (shift, sender or none per type)."""
    a = "CAST(:a AS uuid)"
    uow.execute(
        f"""
        UPDATE pt_incoming i SET
            closed = i.money_day IS NOT NULL AND {period_closed_sql(a, "to_char(i.money_day, 'YYYY-MM')")},
            fee_percent = CASE WHEN i.gross_amount > 0 THEN user_service.fee_percent_on({a}, i.local_date) END
        WHERE i.kind IN ('new', 'status')
        """,
        {"a": str(agency_id)},
    )
    uow.execute("UPDATE pt_incoming SET fee = round(gross_amount * fee_percent / 100, 2) "
                "WHERE fee_percent IS NOT NULL")
    # A transaction matches an unmatched self-reported sale of the same model, type, gross and local date: the
    # n-th transaction of a (type, gross, date) by time to the n-th sale by registration (earliest first).
    uow.execute(
        f"""
        UPDATE pt_incoming i SET income_id = m.sale_id, matched = true
        FROM (SELECT t.transaction_id, s.id AS sale_id
              FROM (SELECT i.transaction_id, i.type || '_sale' AS type, i.gross_amount, i.local_date,
                           row_number() OVER (PARTITION BY i.type, i.gross_amount, i.local_date
                                              ORDER BY i.occurred_at, i.transaction_id) AS n
                    FROM pt_incoming i WHERE {_ELIGIBLE} AND i.type IN ('message', 'tip')) t
              JOIN (SELECT r.id, r.type, r.gross_amount, r.sale_date,
                           row_number() OVER (PARTITION BY r.type, r.gross_amount, r.sale_date
                                              ORDER BY r.created_at, r.id) AS n
                    FROM income_service.income_records r
                    WHERE r.agency_id = :a AND r.model_id = :m AND r.type IN {CHATTING_SQL}
                      AND r.origin = 'self' AND NOT r.verified AND r.refund_of IS NULL
                      AND r.sale_date IN (SELECT local_date FROM pt_incoming)
                      AND NOT EXISTS (SELECT 1 FROM income_service.platform_transactions p
                                      WHERE p.income_id = r.id)) s
                ON s.type = t.type AND s.gross_amount = t.gross_amount AND s.sale_date = t.local_date
               AND s.n = t.n) m
        WHERE i.transaction_id = m.transaction_id
        """,
        {"a": agency_id, "m": model_id},
    )
    # Attribution by the agency's attribution_rules for the transaction's type (the sales settings in effect on
    # its local date; a type not listed: shift). shift: the chatter assigned to the model whose time entry was
    # open at occurred_at; several: who checked in first, then the lowest user id. sender: the chatter the
    # model's sender mapping names for the row's sender (trimmed, ignoring case), while still assigned to the
    # model. none — or no one found — unattributed. The manager snapshot is the chatter's manager now.
    uow.execute(
        f"""
        UPDATE pt_incoming i SET income_id = gen_random_uuid(),
            (chatter_id, manager_id) = (
                SELECT u.id, u.manager_id FROM user_service.users u
                WHERE u.agency_id = :a AND u.role = 'chatter' AND u.id = CASE rule.name
                    WHEN 'shift' THEN (
                        SELECT e.user_id
                        FROM timetracking_service.time_entries e
                        JOIN user_service.model_assignments ma ON ma.user_id = e.user_id AND ma.model_id = :m
                        JOIN user_service.users c ON c.id = e.user_id AND c.agency_id = :a AND c.role = 'chatter'
                        WHERE e.agency_id = :a AND e.checked_in_at <= i.occurred_at
                          AND (e.checked_out_at IS NULL OR e.checked_out_at > i.occurred_at)
                        ORDER BY e.checked_in_at, e.user_id LIMIT 1)
                    WHEN 'sender' THEN (
                        SELECT s.chatter_id FROM user_service.model_senders s
                        JOIN user_service.model_assignments ma ON ma.user_id = s.chatter_id AND ma.model_id = :m
                        WHERE s.model_id = :m AND lower(s.sender) = lower(btrim(i.sender)))
                    END)
        FROM (SELECT t.transaction_id, coalesce(d.rules ->> t.type, 'shift') AS name
              FROM pt_incoming t
              LEFT JOIN (  -- the settings once per local date of the export, not once per row
                  SELECT day.local_date,
                         (SELECT st.attribution_rules
                          FROM user_service.sales_settings_on(CAST(:a AS uuid), day.local_date) st) AS rules
                  FROM (SELECT DISTINCT local_date FROM pt_incoming) day) d
                ON d.local_date IS NOT DISTINCT FROM t.local_date) rule
        WHERE rule.transaction_id = i.transaction_id AND {_ELIGIBLE} AND NOT i.matched
        """,
        {"a": agency_id, "m": model_id},
    )


def import_lock_model(uow: UnitOfWork, agency_id: uuid.UUID, model_id: uuid.UUID) -> None:
    """Imports of one (agency, model) take turns (a transaction advisory lock, the import's first statement): the
    next one classifies and matches after the previous committed, so two never match one sale nor claim one row."""
    uow.execute("SELECT pg_advisory_xact_lock(hashtext('import:' || :a || ':' || :m))",
                {"a": str(agency_id), "m": str(model_id)})


# The originals this import charges back, and the chargeback's date: a stored transaction re-sent as reversed and a
# new negative row (today); an original first seen as reversed (its own local date: the money never arrived, so its
# period nets to zero); an original arriving after its negative row, which an earlier import stored (today).
_REVERSAL_TARGETS = """
    target AS (
        SELECT t.original, min(t.on_day) AS on_day FROM (
            SELECT CASE WHEN i.gross_amount < 0 THEN i.reverses ELSE i.transaction_id END AS original,
                   CASE WHEN i.kind = 'new' AND i.gross_amount > 0 THEN i.local_date ELSE CAST(:today AS date) END
                       AS on_day
            FROM pt_incoming i
            WHERE i.applied AND ((i.kind = 'status' AND i.status = 'reversed')
                                 OR (i.kind = 'new' AND (i.gross_amount < 0 OR i.status = 'reversed')))
            UNION ALL
            SELECT i.transaction_id, CAST(:today AS date) FROM pt_incoming i
            WHERE i.applied AND i.kind = 'new' AND i.gross_amount > 0 AND i.status <> 'reversed'
              AND EXISTS (SELECT 1 FROM income_service.platform_transactions n
                          WHERE n.agency_id = :a AND n.model_id = :m AND n.reverses = i.transaction_id
                            AND n.gross_amount < 0)) t
        GROUP BY t.original)
"""


def import_apply(uow: UnitOfWork, agency_id: uuid.UUID, model_id: uuid.UUID, user_id: uuid.UUID | None,
                 today: date) -> tuple[dict[tuple, list[int]], int]:
    """Write what import_decide decided; returns what changed — {(sale_date, type, chatter_id): [records created,
    sales matched]} — and how many chargebacks it made.

    The transactions are claimed first (INSERT … ON CONFLICT DO NOTHING: a concurrent import of the same rows
    waits on the uncommitted keys, then skips them), and only claimed rows write records; the records' ids were
    drawn beforehand, so the (deferred) foreign keys hold at commit. Each write returns its rows grouped by slice."""
    p = {"a": agency_id, "m": model_id, "u": user_id, "today": today}
    changed: dict[tuple, list[int]] = {}

    def add(rows, at: int) -> None:
        for r in rows:
            changed.setdefault((r.sale_date, r.type, r.chatter_id), [0, 0])[at] += r.n

    uow.execute(
        """
        WITH claimed AS (
            INSERT INTO income_service.platform_transactions
                (agency_id, model_id, transaction_id, occurred_at, type, gross_amount, platform_fee_amount,
                 platform_net_amount, status, reverses, fan_id, fan_username, sender, income_id, imported_by)
            SELECT :a, :m, i.transaction_id, i.occurred_at, i.type, i.gross_amount, i.fee_amount, i.net_amount,
                   i.status, i.reverses, i.fan_id, i.fan_username, i.sender, i.income_id, :u
            FROM pt_incoming i WHERE i.kind = 'new' AND NOT i.closed ORDER BY i.transaction_id
            ON CONFLICT (agency_id, model_id, transaction_id) DO NOTHING
            RETURNING transaction_id)
        UPDATE pt_incoming i SET applied = true FROM claimed c WHERE i.transaction_id = c.transaction_id
        """, p)
    add(uow.execute(
        """
        WITH v AS (
            UPDATE income_service.income_records r SET verified = true, updated_at = clock_timestamp()
            FROM pt_incoming i WHERE i.matched AND i.applied AND r.id = i.income_id
            RETURNING r.id, r.sale_date, r.type, r.chatter_id),
        -- under verification `required` a matched sale's refunds start to count with it: their slices too (n 0)
        touched AS (
            SELECT sale_date, type, chatter_id, 1 AS n FROM v
            UNION ALL
            SELECT x.sale_date, x.type, x.chatter_id, 0 FROM income_service.income_records x JOIN v ON x.refund_of = v.id)
        SELECT sale_date, type, chatter_id, sum(n) AS n FROM touched GROUP BY 1, 2, 3
        """).all(), 1)
    add(uow.execute(
        """
        WITH made AS (
            INSERT INTO income_service.income_records
                (id, agency_id, type, gross_amount, fee_percent, fee_amount, net_amount, sale_date, model_id,
                 chatter_id, manager_id, registered_by_user_id, customer_username, origin, verified)
            SELECT i.income_id, :a, i.type || '_sale', i.gross_amount, i.fee_percent, i.fee, i.gross_amount - i.fee,
                   i.local_date, :m, i.chatter_id, i.manager_id, :u, i.fan_username, 'import', true
            FROM pt_incoming i WHERE i.applied AND NOT i.matched AND i.income_id IS NOT NULL
            ORDER BY i.occurred_at, i.transaction_id
            RETURNING sale_date, type, chatter_id)
        SELECT sale_date, type, chatter_id, count(*) AS n FROM made GROUP BY 1, 2, 3
        """, p).all(), 0)
    uow.execute(
        """
        WITH changed AS (
            UPDATE income_service.platform_transactions t SET status = i.status, updated_at = clock_timestamp()
            FROM pt_incoming i
            WHERE i.kind = 'status' AND NOT i.closed
              AND t.agency_id = :a AND t.model_id = :m AND t.transaction_id = i.transaction_id
              AND ((t.status = 'pending' AND i.status = 'cleared') OR (t.status <> 'reversed' AND i.status = 'reversed'))
            RETURNING t.transaction_id)
        UPDATE pt_incoming i SET applied = true FROM changed c WHERE i.transaction_id = c.transaction_id
        """, p)
    # The sales to charge back are locked first, in id order, as a manual refund locks its sale (refund_target):
    # a refund and this chargeback take turns, and the next statement's snapshot sees every refund committed.
    uow.execute(
        f"""
        WITH {_REVERSAL_TARGETS}
        SELECT s.id FROM target t
        JOIN income_service.platform_transactions o
          ON o.agency_id = :a AND o.model_id = :m AND o.transaction_id = t.original AND o.chargeback_id IS NULL
        JOIN income_service.income_records s ON s.id = o.income_id
        ORDER BY s.id FOR UPDATE OF s
        """, p)
    # A reversal charges back the record its original produced or matched, once: the original's chargeback_id is
    # claimed (`IS NULL`, under its row lock), and the chargeback gives back what the sale's refunds left, at the
    # sale's fee %, dated its target's day.
    chargebacks = uow.execute(
        f"""
        WITH {_REVERSAL_TARGETS},
        claim AS (
            UPDATE income_service.platform_transactions o
               SET chargeback_id = gen_random_uuid(), status = 'reversed', updated_at = clock_timestamp()
            FROM target t, income_service.income_records s
            WHERE o.agency_id = :a AND o.model_id = :m AND o.transaction_id = t.original AND o.chargeback_id IS NULL
              AND s.id = o.income_id
              AND s.gross_amount + (SELECT coalesce(sum(x.gross_amount), 0) FROM income_service.income_records x
                                    WHERE x.refund_of = s.id) > 0
            RETURNING o.chargeback_id, o.income_id, t.on_day),
        made AS (
            INSERT INTO income_service.income_records
                (id, agency_id, type, gross_amount, fee_percent, fee_amount, net_amount, sale_date, model_id,
                 chatter_id, manager_id, registered_by_user_id, customer_username, notes, refund_of, origin, verified)
            SELECT c.chargeback_id, s.agency_id, 'chargeback', -v.left_, v.pct, -round(v.left_ * v.pct / 100, 2),
                   -v.left_ + round(v.left_ * v.pct / 100, 2), c.on_day, s.model_id, s.chatter_id, s.manager_id, :u,
                   s.customer_username, 'platform reversal', s.id, 'import', true
            FROM claim c JOIN income_service.income_records s ON s.id = c.income_id
            CROSS JOIN LATERAL (
                SELECT s.gross_amount + (SELECT coalesce(sum(x.gross_amount), 0) FROM income_service.income_records x
                                         WHERE x.refund_of = s.id) AS left_,
                       user_service.fee_percent_on(s.agency_id, s.sale_date) AS pct) v
            RETURNING sale_date, type, chatter_id)
        SELECT sale_date, type, chatter_id, count(*) AS n FROM made GROUP BY 1, 2, 3
        """, p).all()
    add(chargebacks, 0)
    return changed, sum(r.n for r in chargebacks)


def import_counts(uow: UnitOfWork, listed: int):
    """The import's counts, and the first `listed` conflicts and fee mismatches (the platform's fee: fee_amount,
    else gross − net_amount)."""
    return uow.execute(
        """
        SELECT count(*) FILTER (WHERE kind = 'new' AND applied AND income_id IS NOT NULL AND NOT matched) AS new,
               count(*) FILTER (WHERE kind = 'new' AND applied AND matched) AS matched,
               count(*) FILTER (WHERE kind = 'duplicate' OR (kind IN ('new', 'status') AND NOT closed AND NOT applied))
                   AS duplicate,
               count(*) FILTER (WHERE kind = 'conflict') AS conflict,
               count(*) FILTER (WHERE kind = 'status' AND applied) AS status_changed,
               count(*) FILTER (WHERE kind = 'new' AND applied AND income_id IS NOT NULL AND NOT matched
                                AND chatter_id IS NULL) AS unattributed,
               count(*) FILTER (WHERE closed) AS closed,
               (SELECT coalesce(jsonb_agg(transaction_id), '[]') FROM (
                    SELECT transaction_id FROM pt_incoming WHERE kind = 'conflict'
                    ORDER BY transaction_id LIMIT :n) c) AS conflicts
        FROM pt_incoming
        """, {"n": listed}).one(), uow.execute(
        """
        SELECT transaction_id, platform_fee_amount, fee AS fee_amount, count(*) OVER () AS total
        FROM (SELECT i.*, coalesce(i.fee_amount, i.gross_amount - i.net_amount) AS platform_fee_amount
              FROM pt_incoming i WHERE i.applied AND i.income_id IS NOT NULL) f
        WHERE abs(platform_fee_amount - fee) > 0.01
        ORDER BY transaction_id LIMIT :n
        """, {"n": listed}).all()


# --- reassignment (docs/income.md "Reassignment") ----------------------------------------------------------------


def reassign_target(uow: UnitOfWork, caller: Caller, income_id: uuid.UUID):
    """The record to reassign, locked (FOR UPDATE: its refunds, which lock it first, wait for the move and then copy
    the new chatter), with what the caller's rights turn on: in_scope (record_scope), team_model (the model is
    assigned to a chatter of the caller's team), the current chatter's manager now, and its refunds' dates; None
    when it is not the agency's."""
    predicate, params = record_scope(caller)
    return uow.execute(
        f"""
        SELECT {RECORD_COLUMNS}, {predicate} AS in_scope,
               {_TEAM_MODEL} AS team_model,
               (SELECT cu.manager_id FROM user_service.users cu WHERE cu.id = r.chatter_id) AS chatter_manager_id,
               ARRAY(SELECT DISTINCT x.sale_date FROM income_service.income_records x WHERE x.refund_of = r.id)
                   AS refund_dates
        FROM income_service.income_records r
        WHERE r.id = :id AND r.agency_id = :_scope_agency FOR UPDATE OF r
        """,
        {**params, "id": income_id},
    ).one_or_none()


def reassign_records(uow: UnitOfWork, income_id: uuid.UUID, chatter_id: uuid.UUID | None,
                     manager_id: uuid.UUID | None):
    """Credit the sale and its refunds to `chatter_id` with the manager snapshot `manager_id`, in one UPDATE; the
    changed rows (the sale first) with their chatter and manager before (o_chatter_id, o_manager_id)."""
    return uow.execute(
        f"""
        UPDATE income_service.income_records r
           SET chatter_id = :c, manager_id = :mgr, updated_at = clock_timestamp()
        FROM income_service.income_records o
        WHERE o.id = r.id AND (r.id = :id OR r.refund_of = :id)
        RETURNING {RECORD_COLUMNS}, o.chatter_id AS o_chatter_id, o.manager_id AS o_manager_id
        """,
        {"id": income_id, "c": chatter_id, "mgr": manager_id},
    ).all()
