"""Statistics service entry points: parse → call → respond (the registry decorators do auth, parsing, errors)."""
from shared_lib.contracts import (
    CalculationCompleted,
    ExpenseDeleted,
    ExpenseRecorded,
    ExpenseUpdated,
    IncomeDeleted,
    IncomeImported,
    IncomeRegistered,
    IncomeUpdated,
    SalesSettingsUpdated,
    ScraperMessage,
    SubscriberCountUpdated,
)
from shared_lib.periods import Period
from shared_lib.rbac import ANY_ROLE, OWNER, OWNER_MANAGER
from shared_lib.registry import Job, Service

from . import rules, service
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

svc = Service("stats")
svc.publishes("model.subscriber_count.updated")

STATS_SWEEP = Job(
    name="stats-sweep", topic="stats.sweep", schedule="*/15 * * * *", time_zone="UTC",
    description="Catch up every agency whose statistics marks are still pending (a catch-up that ran out of time "
                "or died mid-round)",
)

summary = svc.http("stats_summary", "/api/stats/summary/")
top_earners = svc.http("stats_top_earners", "/api/stats/top-earners/")
afv = svc.http("stats_afv", "/api/stats/afv/")
top_fans = svc.http("stats_top_fans", "/api/stats/top-fans/")
income_trend = svc.http("stats_trends_income", "/api/stats/trends/income/")
afv_trend = svc.http("stats_trends_afv", "/api/stats/trends/afv/")
subscriber_counts = svc.http("stats_subscriber_counts", "/api/stats/subscriber-counts/")
rebuild = svc.http("stats_rebuild", "/api/stats/rebuild/")


@summary.get(query=RangeQuery, response=Summary, roles=ANY_ROLE)
def get_stats_summary(caller, uow, query):
    """Gross, platform fees, net, expenses and chatting sales count (Manager: own team; Chatter: own figures)."""
    return service.stats_summary(uow=uow, caller=caller, q=query)


@top_earners.get(query=TopEarnersQuery, response=TopEarners, roles=ANY_ROLE)
def get_stats_top_earners(caller, uow, query):
    """Employees by net chatting sales, highest first, ties by name (default 5, max 50)."""
    return service.stats_top_earners(uow=uow, caller=caller, q=query)


@afv.get(query=RangeQuery, response=Afv, roles=ANY_ROLE)
def get_stats_afv(caller, uow, query):
    """Average fan value per model and per chatter, with paying fans and average earnings per paying fan."""
    return service.stats_afv(uow=uow, caller=caller, q=query)


@top_fans.get(query=TopFansQuery, response=TopFans, roles=OWNER_MANAGER)
def get_stats_top_fans(caller, uow, query):
    """A model's fans by net in the range (Owner; Manager: the models of them or their team)."""
    return service.stats_top_fans(uow=uow, caller=caller, q=query)


@income_trend.get(query=TrendQuery, response=Trend, roles=ANY_ROLE)
def get_stats_income_trend(caller, uow, query):
    """Net income per day, ISO week or month, with change_pct against the bucket before."""
    return service.stats_income_trend(uow=uow, caller=caller, q=query)


@afv_trend.get(query=AfvTrendQuery, response=Trend, roles=ANY_ROLE)
def get_stats_afv_trend(caller, uow, query):
    """AFV per day, ISO week or month (net / subscribers at the bucket's end), with change_pct."""
    return service.stats_afv_trend(uow=uow, caller=caller, q=query)


@subscriber_counts.post(request=SubscriberCountCreate, response=SubscriberCount, roles=OWNER, status=202,
                        idempotent=True)
def post_subscriber_count(caller, uow, body):
    """Record a model's subscriber count by hand (the scraper's path, for Owners)."""
    return service.subscriber_count_record(uow=uow, caller=caller, cmd=body)


@subscriber_counts.get(query=SubscriberCountsQuery, response=SubscriberCountsPage, roles=OWNER_MANAGER)
def list_subscriber_counts(caller, uow, query):
    """Subscriber count history, newest observation first."""
    return service.subscriber_counts_list(uow=uow, caller=caller, q=query)


@rebuild.post(request=RebuildRequest, response=RebuildResult, roles=OWNER, status=200)
def post_stats_rebuild(caller, uow, body):
    """Recompute the agency's daily statistics for a range from the income and expense records."""
    return service.stats_rebuild_for(uow=uow, caller=caller, cmd=body)


# --- events: income.* and expense.* name the slices that changed (rules.income_slices / expense_slices); those
# are marked and recomputed, coalesced with whatever else is pending for the agency ------------------------------


def _income_changed(uow, event, data) -> None:
    service.stats_slices_changed(uow=uow, agency_id=data.agency_id, kind="income", slices=rules.income_slices(data),
                                 event_id=event.event_id)


def _expense_changed(uow, data) -> None:
    service.stats_slices_changed(uow=uow, agency_id=data.agency_id, kind="expense",
                                 slices=rules.expense_slices(data))


@svc.on_event("income.registered", name="stats_on_income_registered", model=IncomeRegistered)
def stats_on_income_registered(uow, event, data):
    _income_changed(uow, event, data)


@svc.on_event("income.updated", name="stats_on_income_updated", model=IncomeUpdated)
def stats_on_income_updated(uow, event, data):
    _income_changed(uow, event, data)


@svc.on_event("income.deleted", name="stats_on_income_deleted", model=IncomeDeleted)
def stats_on_income_deleted(uow, event, data):
    _income_changed(uow, event, data)


@svc.on_event("income.imported", name="stats_on_income_imported", model=IncomeImported)
def stats_on_income_imported(uow, data):
    """A platform import's one event: its slices marked and recomputed once."""
    service.stats_income_imported(uow=uow, data=data)


@svc.on_event("sales.settings.updated", name="stats_on_sales_settings_updated", model=SalesSettingsUpdated)
def stats_on_sales_settings_updated(uow, data):
    service.stats_after_sales_settings(uow=uow, data=data)


@svc.on_event("expense.recorded", name="stats_on_expense_recorded", model=ExpenseRecorded)
def stats_on_expense_recorded(uow, data):
    _expense_changed(uow, data)


@svc.on_event("expense.updated", name="stats_on_expense_updated", model=ExpenseUpdated)
def stats_on_expense_updated(uow, data):
    _expense_changed(uow, data)


@svc.on_event("expense.deleted", name="stats_on_expense_deleted", model=ExpenseDeleted)
def stats_on_expense_deleted(uow, data):
    _expense_changed(uow, data)


@svc.on_event("financial_calculation.completed", name="stats_on_financial_calculation_completed",
              model=CalculationCompleted)
def stats_on_financial_calculation_completed(uow, data):
    """Rewrite the period's dashboard with the new profit."""
    service.dashboards_for_period(uow=uow, agency_id=data.agency_id, period=Period.parse(data.period))


@svc.on_event("model.subscriber_count.updated", name="stats_on_subscriber_count_updated",
              model=SubscriberCountUpdated)
def stats_on_subscriber_count_updated(uow, data):
    """Rewrite the dashboards whose AFV the new count changes."""
    service.dashboards_after_count(uow=uow, agency_id=data.agency_id, observed_on=data.observed_on)


@svc.on_event("scraper.subscriber_counts", envelope=False, model=ScraperMessage,
              name="stats_scraper_subscriber_counts")
def stats_scraper_subscriber_counts(uow, message):
    """The external scraper's counts: stored (history kept); an unknown model or a bad payload is dead-lettered."""
    service.subscriber_count_ingest(uow=uow, agency_id=message.agency_id, model_id=message.model_id,
                                    subscriber_count=message.subscriber_count, observed_at=message.observed_at)


@svc.scheduled(STATS_SWEEP, name="stats_sweep")
def stats_sweep(uow, as_of):
    """Every 15 minutes: every agency with statistics marks still pending caught up (after this commit)."""
    uow.after_commit(service.stats_sweep)
