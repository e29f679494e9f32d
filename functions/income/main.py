"""Income service entry points: parse → call → respond (the registry decorators do auth, parsing, errors)."""
from shared_lib.contracts import PlatformSettingsUpdated, ScraperTransactions
from shared_lib.http import Reply
from shared_lib.jobs import RECURRING_GENERATE
from shared_lib.rbac import ANY_ROLE, OWNER_MANAGER
from shared_lib.registry import CsvBody, Service

from . import imports, reassign, recurring, service
from .schemas import (
    IncomeRecord,
    IncomeRegister,
    IncomeSchedule,
    IncomeScheduleCreate,
    IncomeRecordsPage,
    IncomeRecordsQuery,
    IncomeReassign,
    IncomeRefund,
    IncomeSchedulePatch,
    IncomeSchedulesPage,
    IncomeSchedulesQuery,
    IMPORT_MAX_BODY_BYTES,
    PlatformImport,
    PlatformImportQuery,
    PlatformImportResult,
)

svc = Service("income")
svc.publishes("income.registered", "income.updated", "income.deleted", "income.imported")

register = svc.http("income_register", "/api/income/register/")
records = svc.http("income_records", "/api/income/records/")
record = svc.http("income_record", "/api/income/records/{income_id}/")
refunds = svc.http("income_refunds", "/api/income/records/{income_id}/refunds/")
schedules = svc.http("income_recurring", "/api/income/recurring/")
schedule = svc.http("income_recurring_schedule", "/api/income/recurring/{schedule_id}/")
platform_imports = svc.http("income_imports", "/api/income/imports/")
reassignment = svc.http("income_reassign", "/api/income/records/{income_id}/reassign/")


@register.post(request=IncomeRegister, response=IncomeRecord, roles=ANY_ROLE, idempotent=True,
               conflicts=("period-closed",), generic_plans=True)  # point look-ups: docs/income.md "Register path"
def register_income(uow, caller, body):
    """Register a chatting sale or other income (fee % on the sale date; Idempotency-Key honoured)."""
    return service.income_register(uow=uow, caller=caller, cmd=body)


@refunds.post(request=IncomeRefund, response=IncomeRecord, roles=OWNER_MANAGER, idempotent=True,
              conflicts=("period-closed", "not-refundable", "refund-exceeds-sale"))
def refund_income_record(uow, caller, income_id, body):
    """Refund or charge back a chatting sale, in full or in part (Idempotency-Key honoured)."""
    return service.income_refund(uow=uow, caller=caller, income_id=income_id, cmd=body)


@reassignment.post(request=IncomeReassign, response=IncomeRecord, roles=OWNER_MANAGER, status=200,
                   conflicts=("period-closed", "not-reassignable"))
def reassign_income_record(uow, caller, income_id, body):
    """Credit a sale and its refunds to another chatter (or, imported, to nobody), with a reason, in open periods."""
    return reassign.income_reassign(uow=uow, caller=caller, income_id=income_id, cmd=body)


@platform_imports.post(request=PlatformImport, query=PlatformImportQuery, response=PlatformImportResult,
                       roles=OWNER_MANAGER, status=200, max_body_bytes=IMPORT_MAX_BODY_BYTES,
                       csv=CsvBody(rows="transactions", from_query=("model_id",)))
def import_platform_transactions(uow, caller, query, body):
    """Import a model's platform transactions: stored once, matched or recorded, reversals charged back once
    (?dry_run=true: the counts only); JSON, or a text/csv file with ?model_id= (up to 50,000 rows, 24 MiB)."""
    return imports.income_import(uow=uow, caller=caller, cmd=body, dry_run=query.dry_run)


@records.get(query=IncomeRecordsQuery, response=IncomeRecordsPage, roles=ANY_ROLE)
def list_income_records(uow, caller, query):
    """Income records the caller may see, newest sale first."""
    return service.income_list(uow=uow, caller=caller, q=query)


@record.get(response=IncomeRecord, roles=ANY_ROLE)
def get_income_record(uow, caller, income_id):
    """One income record."""
    return service.income_get(uow=uow, caller=caller, income_id=income_id)


@record.put(request=IncomeRegister, response=IncomeRecord, roles=ANY_ROLE,
            conflicts=("period-closed", "has-refunds", "refund-not-editable", "imported-not-editable",
                       "verified-not-editable", "edit-window-passed"))
def update_income_record(uow, caller, income_id, body):
    """Replace an income record dated in an open period (the register body); not a refund, nor a refunded sale."""
    return service.income_update(uow=uow, caller=caller, income_id=income_id, cmd=body)


@record.delete(roles=ANY_ROLE, status=204, conflicts=("period-closed", "has-refunds", "verified-not-editable",
                                                      "edit-window-passed"))
def delete_income_record(uow, caller, income_id):
    """Delete an income record dated in an open period (a sale with refunds: delete those first)."""
    service.income_delete(uow=uow, caller=caller, income_id=income_id)
    return Reply(status=204)


@schedules.post(request=IncomeScheduleCreate, response=IncomeSchedule, roles=OWNER_MANAGER, idempotent=True)
def create_income_schedule(uow, caller, body):
    """Create a recurring other income."""
    return recurring.income_schedule_create(uow=uow, caller=caller, cmd=body)


@schedules.get(query=IncomeSchedulesQuery, response=IncomeSchedulesPage, roles=OWNER_MANAGER)
def list_income_schedules(uow, caller, query):
    """Recurring other income schedules, newest first."""
    return recurring.income_schedule_list(uow=uow, caller=caller, q=query)


@schedule.get(response=IncomeSchedule, roles=OWNER_MANAGER)
def get_income_schedule(uow, caller, schedule_id):
    """One recurring other income schedule."""
    return recurring.income_schedule_get(uow=uow, caller=caller, schedule_id=schedule_id)


@schedule.patch(request=IncomeSchedulePatch, response=IncomeSchedule, roles=OWNER_MANAGER)
def end_income_schedule(uow, caller, schedule_id, body):
    """End or pause a schedule (end_date); generated occurrences are kept."""
    return recurring.income_schedule_end(uow=uow, caller=caller, schedule_id=schedule_id, cmd=body)


@svc.scheduled(RECURRING_GENERATE, name="income_recurring_generate")
def income_recurring_generate(uow, as_of):
    """Generate every recurring income occurrence due up to as_of, exactly once."""
    recurring.income_recurring_generate(uow=uow, as_of=as_of)


@svc.on_event("platform.settings.updated", name="income_platform_fee_changed", model=PlatformSettingsUpdated)
def income_platform_fee_changed(uow, data):
    """Recompute stored fee and net of the records a platform-fee version covers, in open periods."""
    service.income_fees_recompute(uow=uow, agency_id=data.agency_id, effective_from=data.effective_from)


@svc.on_event("scraper.transactions", envelope=False, model=ScraperTransactions, name="income_scraper_transactions")
def income_scraper_transactions(uow, message):
    """The scraper's platform transactions, imported as POST /api/income/imports/ does; redeliveries change nothing."""
    imports.income_import_scraped(uow=uow, message=message)
