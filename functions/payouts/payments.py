"""Payments of a closed period (record, list), what a payout item says about its payment, and the payroll export."""
from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from shared_lib.contracts import PaymentRecorded
from shared_lib.csvfile import csv_bytes
from shared_lib.db import UnitOfWork
from shared_lib.errors import Conflict, Invalid, NotFound
from shared_lib.http import FileReply
from shared_lib.pagination import cursor_key, page_of
from shared_lib.periods import Period, local_today
from shared_lib.rbac import Caller, user_scope

from . import earnings, queries
from .calc import ZERO
from .schemas import Payment, PaymentRequest, PaymentsPage, PaymentsQuery, PaymentStatus

# The export's columns per line kind, in the order a bookkeeper reads a payslip; a model row has its payout.
EXPORT_KINDS = ("commission", "fixed_salary", "manager_tick", "other_income_share", "deduction", "bonus", "hourly",
                "adjustment", "carried_forward", "carried_balance")
EXPORT_HEADER = ("id", "name", "role", *EXPORT_KINDS, "model_payout", "total", "payment_status", "paid_at",
                 "method", "reference")


def payment_status(total: Decimal, payment) -> PaymentStatus:
    """A payout's payment status: paid once recorded; nothing_due when nothing is owed (0.00, or a debt the
    close carries forward); unpaid otherwise."""
    if payment is not None:
        return "paid"
    return "nothing_due" if total <= ZERO else "unpaid"


def payment_fields(total: Decimal, payment) -> dict[str, object]:
    """The payment fields of a payout or model-payout item."""
    return {"payment_status": payment_status(total, payment),
            "paid_at": payment.paid_at if payment is not None else None,
            "method": payment.method if payment is not None else None,
            "reference": payment.reference if payment is not None else None}


def payment_record(*, uow: UnitOfWork, caller: Caller, period: Period, body: PaymentRequest) -> Payment:
    """Record that a person or a model was paid the closed period's payout (Owner): the amount is the stored
    total, once per payee and period, never changed afterwards."""
    if body.user_id is not None:
        payee = queries.user_payee(uow, caller.agency_id, period, body.user_id)
        field, what = "user_id", "user"
    else:
        payee = queries.model_payee(uow, caller.agency_id, period, body.model_id)
        field, what = "model_id", "model"
    if payee is None:
        raise NotFound(f"{what} not found", field=field)
    if body.paid_at > local_today(caller.agency_timezone):
        raise Invalid("must not be in the future", field="paid_at")
    if body.paid_at < period.first_day:
        raise Invalid(f"must not be before the period's first day ({period.first_day})", field="paid_at")
    if queries.period_status(uow, caller.agency_id, period) != "closed":
        raise Conflict(f"period {period} is open: a payout is paid once its period is closed", slug="period-open")
    total = payee.total if payee.total is not None else ZERO
    if total <= ZERO:
        raise Conflict(f"nothing is due to this {what} for {period} (total {total})", slug="nothing-due")
    row = queries.insert_payment(uow, agency_id=caller.agency_id, period=period, user_id=body.user_id,
                                 model_id=body.model_id, amount=total, paid_at=body.paid_at, method=body.method,
                                 reference=body.reference, created_by=caller.user_id)
    if row is None:
        raise Conflict(f"this {what} is already paid for {period}", slug="already-paid")
    payment = Payment.model_validate(row, from_attributes=True)
    uow.emit("financial_payment.recorded", agency_id=caller.agency_id, subject=str(period),
             data=PaymentRecorded(agency_id=caller.agency_id, payment_id=payment.id, period=str(period),
                                  user_id=payment.user_id, model_id=payment.model_id, amount=payment.amount,
                                  paid_at=payment.paid_at, method=payment.method))
    if payment.user_id is not None:
        # After commit the person's earnings document says `paid` (its version taken under the calculation lock).
        from .service import calculation_lock  # the service imports this module

        calculation_lock(uow, caller.agency_id, period)
        earnings.publish_changed(uow, agency_id=caller.agency_id, period=period, user_ids=[str(payment.user_id)])
    return payment


def payments_list(*, uow: UnitOfWork, caller: Caller, period: Period, query: PaymentsQuery) -> PaymentsPage:
    """The period's payments in the order recorded, scoped like payouts: Owner all (models' too), Manager their
    team's and their own, Chatter their own."""
    after = cursor_key(query.cursor, (datetime, uuid.UUID))
    scope, params = user_scope(caller, "user_id")
    rows = queries.payments_page(uow, agency_id=caller.agency_id, period=period, scope=scope, params=params,
                                 models=caller.is_owner, after=after, limit=query.limit + 1)
    created = {r.id: r.created_at for r in rows}
    return page_of(rows, limit=query.limit, item=Payment, page=PaymentsPage, key=lambda p: (created[p.id], p.id))


def payroll_export(*, uow: UnitOfWork, caller: Caller, period: Period) -> FileReply:
    """The period's payroll as one CSV (Owner): a row per person (their line sums per kind) and per model (its
    payout), each with the total and the payment. Amounts are the stored cents, summed, never rounded here."""
    paid = queries.payments_of(uow, caller.agency_id, period)
    rows: list[list[object]] = [list(EXPORT_HEADER)]
    for p in queries.payroll_people(uow, caller.agency_id, period):
        kinds = [Decimal(p.kinds.get(k, "0.00")) for k in EXPORT_KINDS]
        rows.append([p.user_id, p.display_name or p.email, p.role, *kinds, None, p.total,
                     *_payment_cells(p.total, paid.get(p.user_id))])
    for m in queries.payroll_models(uow, caller.agency_id, period):
        rows.append([m.model_id, m.name, "model", *(None for _ in EXPORT_KINDS), m.total, m.total,
                     *_payment_cells(m.total, paid.get(m.model_id))])
    return FileReply(csv_bytes(rows), content_type="text/csv; charset=utf-8", filename=f"payroll-{period}.csv")


def _payment_cells(total: Decimal, payment) -> list[object]:
    f = payment_fields(total, payment)
    return [f["payment_status"], f["paid_at"].isoformat() if f["paid_at"] else None, f["method"], f["reference"]]
