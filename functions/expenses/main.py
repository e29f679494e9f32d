"""Expenses service entry points: parse → call → respond (the registry decorators do auth, parsing, errors)."""
from shared_lib.http import Reply
from shared_lib.jobs import RECURRING_GENERATE
from shared_lib.rbac import OWNER, OWNER_MANAGER
from shared_lib.registry import Service

from . import recurring, service
from .schemas import (
    Expense,
    ExpenseSchedule,
    ExpenseScheduleCreate,
    ExpenseSchedulePatch,
    ExpenseSchedulesPage,
    ExpenseSchedulesQuery,
    ExpensesPage,
    ExpensesQuery,
    ExpenseWrite,
)

svc = Service("expenses")
svc.publishes("expense.recorded", "expense.updated", "expense.deleted")

expenses = svc.http("expenses", "/api/expenses/")
expense = svc.http("expense", "/api/expenses/{expense_id}/")
schedules = svc.http("expenses_recurring", "/api/expenses/recurring/")
schedule = svc.http("expenses_recurring_schedule", "/api/expenses/recurring/{schedule_id}/")


@expenses.post(request=ExpenseWrite, response=Expense, roles=OWNER, idempotent=True, conflicts=("period-closed",))
def record_expense(uow, caller, body):
    """Record a one-off expense (Idempotency-Key honoured)."""
    return service.expense_record(uow=uow, caller=caller, cmd=body)


@expenses.get(query=ExpensesQuery, response=ExpensesPage, roles=OWNER_MANAGER)
def list_expenses(uow, caller, query):
    """The agency's expenses, newest first."""
    return service.expense_list(uow=uow, caller=caller, q=query)


@expense.get(response=Expense, roles=OWNER_MANAGER)
def get_expense(uow, caller, expense_id):
    """One expense."""
    return service.expense_get(uow=uow, caller=caller, expense_id=expense_id)


@expense.put(request=ExpenseWrite, response=Expense, roles=OWNER, conflicts=("period-closed",))
def update_expense(uow, caller, expense_id, body):
    """Replace an expense dated in an open period."""
    return service.expense_update(uow=uow, caller=caller, expense_id=expense_id, cmd=body)


@expense.delete(roles=OWNER, status=204, conflicts=("period-closed",))
def delete_expense(uow, caller, expense_id):
    """Delete an expense dated in an open period."""
    service.expense_delete(uow=uow, caller=caller, expense_id=expense_id)
    return Reply(status=204)


@schedules.post(request=ExpenseScheduleCreate, response=ExpenseSchedule, roles=OWNER, idempotent=True)
def create_expense_schedule(uow, caller, body):
    """Create a recurring expense."""
    return recurring.expense_schedule_create(uow=uow, caller=caller, cmd=body)


@schedules.get(query=ExpenseSchedulesQuery, response=ExpenseSchedulesPage, roles=OWNER_MANAGER)
def list_expense_schedules(uow, caller, query):
    """Recurring expense schedules, newest first."""
    return recurring.expense_schedule_list(uow=uow, caller=caller, q=query)


@schedule.get(response=ExpenseSchedule, roles=OWNER_MANAGER)
def get_expense_schedule(uow, caller, schedule_id):
    """One recurring expense schedule."""
    return recurring.expense_schedule_get(uow=uow, caller=caller, schedule_id=schedule_id)


@schedule.patch(request=ExpenseSchedulePatch, response=ExpenseSchedule, roles=OWNER)
def end_expense_schedule(uow, caller, schedule_id, body):
    """End or pause a recurring expense (end_date); generated expenses are kept."""
    return recurring.expense_schedule_end(uow=uow, caller=caller, schedule_id=schedule_id, cmd=body)


@svc.scheduled(RECURRING_GENERATE, name="expenses_recurring_generate")
def expenses_recurring_generate(uow, as_of):
    """Generate every recurring expense occurrence due up to as_of, exactly once."""
    recurring.expenses_recurring_generate(uow=uow, as_of=as_of)
