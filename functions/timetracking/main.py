"""Time tracking entry points: parse → call → respond (the registry decorators do auth, parsing, errors)."""
from shared_lib.jobs import TIMETRACKING_SWEEP
from shared_lib.rbac import ANY_ROLE, OWNER, OWNER_MANAGER
from shared_lib.registry import Service

from . import service, sweep, time_events
from .schemas import (
    ClockCommand,
    Entry,
    EntryCorrection,
    EntryPage,
    RangeQuery,
    Settings,
    SettingsPut,
    SettingsVersion,
    Shift,
    ShiftCreate,
    ShiftPage,
    Summary,
    SummaryQuery,
)

svc = Service("timetracking")
svc.publishes("employee.time.event", service.SETTINGS_EVENT)

timetracking_shifts = svc.http("timetracking_shifts", "/api/timetracking/shifts/")
timetracking_check_in = svc.http("timetracking_check_in", "/api/timetracking/check-in/")
timetracking_check_out = svc.http("timetracking_check_out", "/api/timetracking/check-out/")
timetracking_entries = svc.http("timetracking_entries", "/api/timetracking/entries/")
timetracking_entry = svc.http("timetracking_entry", "/api/timetracking/entries/{entry_id}/")
timetracking_summary = svc.http("timetracking_summary", "/api/timetracking/summary/{user_id}/")
timetracking_settings = svc.http("timetracking_settings", "/api/timetracking/settings/")


@timetracking_shifts.post(request=ShiftCreate, response=Shift, roles=OWNER_MANAGER, idempotent=True,
                          conflicts=("shift-overlap", "period-closed"))
def create_shift(caller, body, uow):
    """Plan a shift (Owner; Manager for their team)."""
    return service.shift_create(uow=uow, caller=caller, cmd=body)


@timetracking_shifts.get(query=RangeQuery, response=ShiftPage, roles=ANY_ROLE)
def list_shifts(caller, query, uow):
    """Shifts, newest first (Owner all, Manager their team, Chatter their own)."""
    return service.shift_list(uow=uow, caller=caller, q=query)


@timetracking_check_in.post(request=ClockCommand, response=Entry, roles=ANY_ROLE, idempotent=True,
                            conflicts=("open-check-in", "shift-already-checked-in", "no-shift", "period-closed"))
def check_in(caller, body, uow):
    """Check in now; Owner/Manager may record for a user (user_id) at a past time (at)."""
    return service.clock_in(uow=uow, caller=caller, cmd=body)


@timetracking_check_out.post(request=ClockCommand, response=Entry, roles=ANY_ROLE, idempotent=True, status=200,
                             conflicts=("no-open-check-in", "period-closed"))
def check_out(caller, body, uow):
    """Check out now; Owner/Manager may record for a user (user_id) at a past time (at)."""
    return service.clock_out(uow=uow, caller=caller, cmd=body)


@timetracking_entries.get(query=RangeQuery, response=EntryPage, roles=ANY_ROLE)
def list_entries(caller, query, uow):
    """Time entries, newest check-in first (role-scoped like shifts)."""
    return service.entry_list(uow=uow, caller=caller, q=query)


@timetracking_entry.patch(request=EntryCorrection, response=Entry, roles=OWNER_MANAGER, conflicts=("period-closed",))
def correct_entry(caller, body, uow, entry_id):
    """Correct an entry's check-in/check-out times (Owner; Manager for their team, not themselves)."""
    return service.entry_correct(uow=uow, caller=caller, entry_id=entry_id, cmd=body)


@timetracking_summary.get(query=SummaryQuery, response=Summary, roles=ANY_ROLE)
def get_time_summary(caller, query, uow, user_id):
    """A user's worked, late and overtime minutes, missed shifts and check-outs over inclusive local dates."""
    return service.summary_get(uow=uow, caller=caller, user_id=user_id, q=query)


@timetracking_settings.get(response=Settings, roles=OWNER)
def get_timetracking_settings(caller, uow):
    """The agency's time-tracking settings in effect today, and every version."""
    return service.settings_get(uow=uow, caller=caller)


@timetracking_settings.put(request=SettingsPut, response=SettingsVersion, roles=OWNER, conflicts=("period-closed",))
def put_timetracking_settings(caller, body, uow):
    """Save grace, lateness threshold, max shift hours and deduction fees from effective_from (default today)."""
    return service.settings_put(uow=uow, caller=caller, cmd=body)


@svc.on_document("agencies/{agencyId}/time_events/{eventId}", event="created", name="timetracking_time_event")
def timetracking_time_event(uow, change, params):
    """A check-in/out document from the chatter app, recorded like the HTTP one."""
    time_events.time_event_record(uow=uow, agency_ref=params["agencyId"], event_id=params["eventId"],
                                  document=change.new, received_at=change.update_time)


@svc.scheduled(TIMETRACKING_SWEEP, name="timetracking_sweep")
def timetracking_sweep(uow, as_of):
    """Mark missed shifts and check-outs, close entries open too long, publish employee.time.event."""
    sweep.sweep(uow=uow, as_of=as_of)
