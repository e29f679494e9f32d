"""Payouts service entry points: calculation, payouts, model payouts, profit, period close, recalculation events."""
from shared_lib.contracts import (
    EmployeeTimeEvent,
    ExpenseDeleted,
    ExpenseRecorded,
    ExpenseUpdated,
    IncomeDeleted,
    IncomeImported,
    IncomeRegistered,
    IncomeUpdated,
    ModelSettingsUpdated,
    PlatformSettingsUpdated,
    SalesSettingsUpdated,
    TimetrackingSettingsUpdated,
    UserSettingsUpdated,
)
from shared_lib.periods import Period
from shared_lib.rbac import ANY_ROLE, OWNER
from shared_lib.registry import Job, Service

from . import service
from .schemas import (Adjustment, AdjustmentRequest, AdjustmentsPage, AdjustmentsQuery,  # adjustments (G1)
                      ReverseRequest)
from .schemas import (CalculateRequest, ModelPayoutsPage, ModelPayoutsQuery, Payment, PaymentRequest, PaymentsPage,
                      PaymentsQuery, PayoutsPage, PayoutsQuery, PeriodClosedReply, PeriodQuery, StatementQuery,
                      Totals)

svc = Service("payouts")
svc.publishes("financial_calculation.completed", "financial_period.closed")
svc.publishes("financial_payment.recorded")  # payments (G2)

PAYOUTS_RECONCILE = Job(
    name="payouts-reconcile", topic="payouts.reconcile", schedule="20 2 * * *", time_zone="UTC",
    description="Recompute every open period with data from the truth; log and repair any drift of the stored payouts",
)

PAYOUTS_SWEEP = Job(
    name="payouts-sweep", topic="payouts.sweep", schedule="*/15 * * * *", time_zone="UTC",
    description="Catch up every period whose payout scopes are still pending (a catch-up that ran out of time or "
                "died mid-round)",
)

calculate = svc.http("financials_calculate", "/api/financials/calculate/")
payouts = svc.http("financials_payouts", "/api/financials/payouts/")
model_payouts = svc.http("financials_model_payouts", "/api/financials/model-payouts/")
profit = svc.http("financials_profit", "/api/financials/profit/")
close = svc.http("financials_period_close", "/api/financials/periods/{period}/close/")
statement = svc.http("financials_statement", "/api/financials/payouts/{user_id}/statement/")
model_statement = svc.http("financials_model_statement", "/api/financials/model-payouts/{model_id}/statement/")
# payments and the payroll export (issue #15; G2's section below)
payments = svc.http("financials_payments", "/api/financials/periods/{period}/payments/")
payroll_export = svc.http("financials_payroll_export", "/api/financials/periods/{period}/export.csv/")
# adjustments (issue #15; G1's section below)
adjustments = svc.http("financials_adjustments", "/api/financials/adjustments/")
adjustment_reverse = svc.http("financials_adjustment_reverse", "/api/financials/adjustments/{adjustment_id}/reverse/")


@calculate.post(request=CalculateRequest, response=Totals, roles=OWNER, status=200)
def calculate_period(caller, uow, body: CalculateRequest):
    """Recalculate a period now (synchronously) and return its totals."""
    return service.financials_calculate(uow=uow, caller=caller, period=body.period, user_id=body.user_id)


@payouts.get(query=PayoutsQuery, response=PayoutsPage, roles=ANY_ROLE)
def list_payouts(caller, uow, query: PayoutsQuery):
    """Payout lines and totals by name: Owner all, Manager own team and self, Chatter self."""
    return service.payouts_list(uow=uow, caller=caller, query=query)


@model_payouts.get(query=ModelPayoutsQuery, response=ModelPayoutsPage, roles=OWNER)
def list_model_payouts(caller, uow, query: ModelPayoutsQuery):
    """What each model (creator) is paid for the period, by model name."""
    return service.model_payouts_list(uow=uow, caller=caller, query=query)


@profit.get(query=PeriodQuery, response=Totals, roles=OWNER)
def get_profit(caller, uow, query: PeriodQuery):
    """Net income, payouts, expenses and agency profit of the period."""
    return service.profit_get(uow=uow, caller=caller, period=query.period)


@close.post(response=PeriodClosedReply, roles=OWNER, status=200,
            conflicts=("period-not-ended", "previous-period-open"))
def close_period(caller, uow, period: str):
    """Close a period: a final calculation, then its figures never change again."""
    return service.period_close(uow=uow, caller=caller, period=_period(period))


@statement.get(query=StatementQuery, roles=ANY_ROLE, produces=("text/csv", "application/pdf"))
def get_statement(caller, uow, user_id, query: StatementQuery):
    """One user's payout statement for a period as CSV or PDF (stored for the agency, then returned)."""
    from .statement import user_statement_get

    return user_statement_get(uow=uow, caller=caller, user_id=user_id, period=query.period, fmt=query.format)


@model_statement.get(query=StatementQuery, roles=OWNER, produces=("text/csv", "application/pdf"))
def get_model_statement(caller, uow, model_id, query: StatementQuery):
    """One model's (creator's) payout statement for a period as CSV or PDF: base, share and amount."""
    from .statement import model_statement_get

    return model_statement_get(uow=uow, caller=caller, model_id=model_id, period=query.period, fmt=query.format)


# --- payments and the payroll export (issue #15)


@payments.post(request=PaymentRequest, response=Payment, roles=OWNER, idempotent=True,
               conflicts=("period-open", "nothing-due", "already-paid"))
def record_payment(caller, uow, period: str, body: PaymentRequest):
    """Record that a person or a model was paid the closed period's payout (the amount is the server's)."""
    from .payments import payment_record

    return payment_record(uow=uow, caller=caller, period=_period(period), body=body)


@payments.get(query=PaymentsQuery, response=PaymentsPage, roles=ANY_ROLE)
def list_payments(caller, uow, period: str, query: PaymentsQuery):
    """The period's payments as payouts are seen: Owner all (models too), Manager own team and self, Chatter self."""
    from .payments import payments_list

    return payments_list(uow=uow, caller=caller, period=_period(period), query=query)


@payroll_export.get(roles=OWNER, produces=("text/csv",))
def get_payroll_export(caller, uow, period: str):
    """The period's payroll as CSV: one row per person and per model, sums per line kind, total, payment."""
    from .payments import payroll_export as export

    return export(uow=uow, caller=caller, period=_period(period))


# --- adjustments (issue #15; G1's section)


@adjustments.post(request=AdjustmentRequest, response=Adjustment, roles=OWNER, conflicts=("period-closed",))
def record_adjustment(caller, uow, body: AdjustmentRequest):
    """Record a bonus (> 0), penalty (< 0) or correction for a person's open period: one adjustment line."""
    from .adjustments import adjustment_record

    return adjustment_record(uow=uow, caller=caller, body=body)


@adjustments.get(query=AdjustmentsQuery, response=AdjustmentsPage, roles=ANY_ROLE)
def list_adjustments(caller, uow, query: AdjustmentsQuery):
    """Adjustments as payouts are seen: Owner all, Manager own team and self, Chatter self; newest first."""
    from .adjustments import adjustments_list

    return adjustments_list(uow=uow, caller=caller, query=query)


@adjustment_reverse.post(request=ReverseRequest, response=Adjustment, roles=OWNER,
                         conflicts=("period-closed", "already-reversed"))
def reverse_adjustment(caller, uow, adjustment_id, body: ReverseRequest):
    """Reverse an adjustment: a new one of the opposite amount naming it, in its (open) period; once only."""
    from .adjustments import adjustment_reverse as reverse

    return reverse(uow=uow, caller=caller, adjustment_id=adjustment_id, body=body)


def _period(raw: str) -> Period:
    from shared_lib.errors import Invalid

    try:
        return Period.parse(raw)
    except ValueError:
        raise Invalid("must be YYYY-MM", field="period", part="path") from None


# --- events: each names the days (or the settings' effective date) it changed; those open periods are recalculated
# from the truth. One Cloud Function per trigger topic, all alike; each validates its payload (shared_lib/contracts).


@svc.on_event("income.registered", name="payouts_on_income_registered", model=IncomeRegistered)
def payouts_on_income_registered(uow, event, data):
    service.changed_periods_recalculate(uow=uow, data=data, event_id=event.event_id)


@svc.on_event("income.updated", name="payouts_on_income_updated", model=IncomeUpdated)
def payouts_on_income_updated(uow, event, data):
    service.changed_periods_recalculate(uow=uow, data=data, event_id=event.event_id)


@svc.on_event("income.deleted", name="payouts_on_income_deleted", model=IncomeDeleted)
def payouts_on_income_deleted(uow, event, data):
    service.changed_periods_recalculate(uow=uow, data=data, event_id=event.event_id)


@svc.on_event("income.imported", name="payouts_on_income_imported", model=IncomeImported)
def payouts_on_income_imported(uow, data):
    """A platform import's one event: every period its slices reach, once."""
    service.changed_periods_recalculate(uow=uow, data=data)


@svc.on_event("expense.recorded", name="payouts_on_expense_recorded", model=ExpenseRecorded)
def payouts_on_expense_recorded(uow, data):
    service.changed_periods_recalculate(uow=uow, data=data)


@svc.on_event("expense.updated", name="payouts_on_expense_updated", model=ExpenseUpdated)
def payouts_on_expense_updated(uow, data):
    service.changed_periods_recalculate(uow=uow, data=data)


@svc.on_event("expense.deleted", name="payouts_on_expense_deleted", model=ExpenseDeleted)
def payouts_on_expense_deleted(uow, data):
    service.changed_periods_recalculate(uow=uow, data=data)


@svc.on_event("user.settings.updated", name="payouts_on_user_settings_updated", model=UserSettingsUpdated)
def payouts_on_user_settings_updated(uow, data):
    service.changed_periods_recalculate(uow=uow, data=data)


@svc.on_event("model.settings.updated", name="payouts_on_model_settings_updated", model=ModelSettingsUpdated)
def payouts_on_model_settings_updated(uow, data):
    service.changed_periods_recalculate(uow=uow, data=data)


@svc.on_event("platform.settings.updated", name="payouts_on_platform_settings_updated",
              model=PlatformSettingsUpdated)
def payouts_on_platform_settings_updated(uow, data):
    service.changed_periods_recalculate(uow=uow, data=data)


@svc.on_event("sales.settings.updated", name="payouts_on_sales_settings_updated", model=SalesSettingsUpdated)
def payouts_on_sales_settings_updated(uow, data):
    service.changed_periods_recalculate(uow=uow, data=data)


@svc.on_event("timetracking.settings.updated", name="payouts_on_timetracking_settings_updated",
              model=TimetrackingSettingsUpdated)
def payouts_on_timetracking_settings_updated(uow, data):
    service.changed_periods_recalculate(uow=uow, data=data)


@svc.on_event("employee.time.event", name="payouts_on_employee_time_event", model=EmployeeTimeEvent)
def payouts_on_employee_time_event(uow, data):
    service.changed_periods_recalculate(uow=uow, data=data)


@svc.scheduled(PAYOUTS_RECONCILE, name="payouts_reconcile")
def payouts_reconcile(uow, as_of):
    """Nightly: every open period recomputed fully; each drift logged and repaired (one transaction per period)."""
    service.reconcile(as_of=as_of)


@svc.scheduled(PAYOUTS_SWEEP, name="payouts_sweep")
def payouts_sweep(uow, as_of):
    """Every 15 minutes: every period with payout scopes still pending caught up (after this commit)."""
    uow.after_commit(service.payouts_sweep)
