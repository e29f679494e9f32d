"""Use cases for the effective-dated settings: user financial, model and platform (Owner only, except that a
user may read their own financial settings). Every save is a version; the change goes out as an event."""
from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from shared_lib.closing import ensure_open
from shared_lib.contracts import ModelSettingsUpdated, PlatformSettingsUpdated, UserSettingsUpdated
from shared_lib.db import UnitOfWork
from shared_lib.errors import Forbidden, NotFound, field_error
from shared_lib.periods import Period, local_today
from shared_lib.rbac import Caller

from . import queries
from .errors import invalid_fields
from .schemas import (
    FinancialSettings,
    FinancialSettingsHistory,
    FinancialSettingsPut,
    ModelSettings,
    ModelSettingsHistory,
    ModelSettingsPut,
    PlatformSettings,
    PlatformSettingsPut,
    PlatformSettingsView,
    SettingsOnQuery,
)

EVENT_TYPES = {"user_financial": "user.settings.updated", "model": "model.settings.updated",
               "platform": "platform.settings.updated", "sales": "sales.settings.updated"}


def _ensure_range_open(uow: UnitOfWork, *, caller: Caller, kind: str, subject_id: uuid.UUID,
                       effective_from: date) -> None:
    """409 period-closed when the version would change what applies on any day of a closed period.

    A version applies from effective_from until the next version starts, so a back-dated version can reach a
    closed period even when it takes effect in an open one. Every period it reaches, up to the current month
    (no later period can be closed yet), goes through the one closed-period check, ensure_open.
    """
    nxt = queries.next_effective_from(uow, kind=kind, subject_id=subject_id, after=effective_from)
    last = nxt - timedelta(days=1) if nxt else max(effective_from, local_today(caller.agency_timezone))
    days, p = [], Period.of(effective_from)
    while p <= Period.of(last):
        days.append(p.first_day)
        p = p.next()
    ensure_open(uow, caller.agency_id, effective_from, *days)


def _save(uow: UnitOfWork, *, caller: Caller, kind: str, subject_id: uuid.UUID, effective_from: date,
          values: dict[str, Any]):
    queries.lock_settings(uow, kind=kind, subject_id=subject_id)
    _ensure_range_open(uow, caller=caller, kind=kind, subject_id=subject_id, effective_from=effective_from)
    version, replaced = queries.save_version(uow, kind=kind, agency_id=caller.agency_id, subject_id=subject_id,
                                             effective_from=effective_from, values=values, by=caller.user_id)
    return version, replaced


def _event_data(version, replaced: bool) -> dict[str, Any]:
    return {"version_id": version.id, "effective_from": version.effective_from,
            "effective_to": version.effective_to, "replaced": replaced}


def _default_until(versions) -> date | None:
    """Before its first version a default applies; it ends the day before that version (None: no versions)."""
    first = min((v.effective_from for v in versions), default=None)
    return first - timedelta(days=1) if first else None


def _on(caller: Caller, query: SettingsOnQuery | None) -> date:
    return (query.on if query is not None else None) or local_today(caller.agency_timezone)


# --- user financial settings -----------------------------------------------------------------------------------


# The parts of pay each compensation type has; a part it does not have must be 0.00 (hourly_rate: absent or 0.00).
_PAY_PARTS = {"commission": {"commission_rate"}, "fixed": {"fixed_salary"},
              "fixed_plus_commission": {"fixed_salary", "commission_rate"}, "hourly": {"hourly_rate"},
              "hourly_plus_commission": {"hourly_rate", "commission_rate"}}


def _pay_errors(cmd: FinancialSettingsPut) -> list[dict[str, Any]]:
    """Every field at fault: a pay part the type does not have that is not 0.00, an hourly type without its rate,
    and a bonus band whose from_net does not rise above the band before it."""
    kind, parts, errors = cmd.compensation_type, _PAY_PARTS[cmd.compensation_type], []
    for name in ("commission_rate", "fixed_salary", "hourly_rate"):
        if name not in parts and getattr(cmd, name) not in (None, 0):
            errors.append(field_error(["body", name], f"must be 0.00 when compensation_type is {kind}"))
    if "hourly_rate" in parts and cmd.hourly_rate is None:
        errors.append(field_error(["body", "hourly_rate"], f"is required when compensation_type is {kind}"))
    for i, (before, band) in enumerate(zip(cmd.bonus_bands, cmd.bonus_bands[1:]), start=1):
        if band.from_net <= before.from_net:
            errors.append(field_error(["body", "bonus_bands", i, "from_net"],
                                      f"must be greater than bonus_bands[{i - 1}].from_net ({before.from_net})"))
    return errors


def financial_settings_put(*, uow: UnitOfWork, caller: Caller, user_id: uuid.UUID,
                           cmd: FinancialSettingsPut) -> FinancialSettings:
    """A new version of the user's pay (or the version of that effective_from replaced)."""
    if queries.get_user(uow, agency_id=caller.agency_id, user_id=user_id) is None:
        raise NotFound("user not found")
    errors = _pay_errors(cmd)
    if errors:
        raise invalid_fields(errors)
    values = cmd.model_dump(exclude={"effective_from"})
    values["hourly_rate"] = cmd.hourly_rate or Decimal("0.00")  # absent: no hourly pay
    version, replaced = _save(uow, caller=caller, kind="user_financial", subject_id=user_id,
                              effective_from=cmd.effective_from, values=values)
    data = UserSettingsUpdated(agency_id=caller.agency_id, user_id=user_id, **_event_data(version, replaced))
    uow.emit(EVENT_TYPES["user_financial"], agency_id=caller.agency_id, subject=user_id, data=data)
    return FinancialSettings.model_validate(version, from_attributes=True)


def financial_settings_get(*, uow: UnitOfWork, caller: Caller, user_id: uuid.UUID,
                           query: SettingsOnQuery | None = None) -> FinancialSettingsHistory:
    """Owner: anyone's; everyone else: their own (a team member's answers 403, anyone else's 404)."""
    if queries.visible_user(uow, caller, user_id) is None:
        raise NotFound("user not found")
    if not caller.is_owner and user_id != caller.user_id:
        raise Forbidden("only an owner reads another user's financial settings")
    on = _on(caller, query)
    versions = [FinancialSettings.model_validate(r, from_attributes=True)
                for r in queries.history(uow, kind="user_financial", subject_id=user_id)]
    current = queries.settings_on(uow, kind="user_financial", subject_id=user_id, day=on)
    chosen = next((v for v in versions if current is not None and v.id == current.version_id), None)
    return FinancialSettingsHistory(on=on, current=chosen, history=versions)


# --- model settings --------------------------------------------------------------------------------------------


def model_settings_put(*, uow: UnitOfWork, caller: Caller, model_id: uuid.UUID, cmd: ModelSettingsPut) -> ModelSettings:
    if queries.get_model(uow, agency_id=caller.agency_id, model_id=model_id) is None:
        raise NotFound("model not found")
    values = cmd.model_dump(exclude={"effective_from"})
    version, replaced = _save(uow, caller=caller, kind="model", subject_id=model_id,
                              effective_from=cmd.effective_from, values=values)
    data = ModelSettingsUpdated(agency_id=caller.agency_id, model_id=model_id, **_event_data(version, replaced))
    uow.emit(EVENT_TYPES["model"], agency_id=caller.agency_id, subject=model_id, data=data)
    return ModelSettings.model_validate(version, from_attributes=True)


def model_settings_get(*, uow: UnitOfWork, caller: Caller, model_id: uuid.UUID,
                       query: SettingsOnQuery | None = None) -> ModelSettingsHistory:
    if queries.get_model(uow, agency_id=caller.agency_id, model_id=model_id) is None:
        raise NotFound("model not found")
    on = _on(caller, query)
    versions = [ModelSettings.model_validate(r, from_attributes=True)
                for r in queries.history(uow, kind="model", subject_id=model_id)]
    current = queries.settings_on(uow, kind="model", subject_id=model_id, day=on)
    chosen = next((v for v in versions if v.id == current.version_id), None) or ModelSettings(
        id=None, model_id=model_id, model_share_percent=current.model_share_percent,
        split_chatting_costs=current.split_chatting_costs, effective_from=None,
        effective_to=_default_until(versions), created_at=None, updated_at=None)
    return ModelSettingsHistory(on=on, current=chosen, history=versions)


# --- platform settings -----------------------------------------------------------------------------------------


def agency_settings_put(uow: UnitOfWork, caller: Caller, *, kind: str, cmd: Any, event: type, answer: type):
    """A new version of an agency-wide setting (platform, sales), or the version of that effective_from replaced;
    its event (`event`, the kind's type in EVENT_TYPES) goes out, and the version answers as `answer`."""
    values = cmd.model_dump(exclude={"effective_from"})
    version, replaced = _save(uow, caller=caller, kind=kind, subject_id=caller.agency_id,
                              effective_from=cmd.effective_from, values=values)
    data = event(agency_id=caller.agency_id, **_event_data(version, replaced))
    uow.emit(EVENT_TYPES[kind], agency_id=caller.agency_id, subject=caller.agency_id, data=data)
    return answer.model_validate(version, from_attributes=True)


def platform_settings_put(*, uow: UnitOfWork, caller: Caller, cmd: PlatformSettingsPut) -> PlatformSettings:
    return agency_settings_put(uow, caller, kind="platform", cmd=cmd, event=PlatformSettingsUpdated,
                               answer=PlatformSettings)


def platform_settings_get(*, uow: UnitOfWork, caller: Caller,
                          query: SettingsOnQuery | None = None) -> PlatformSettingsView:
    on = _on(caller, query)
    versions = [PlatformSettings.model_validate(r, from_attributes=True)
                for r in queries.history(uow, kind="platform", subject_id=caller.agency_id)]
    current = queries.settings_on(uow, kind="platform", subject_id=caller.agency_id, day=on)
    chosen = next((v for v in versions if v.id == current.version_id), None)
    return PlatformSettingsView(
        on=on, id=current.version_id, onlyfans_fee_percent=current.onlyfans_fee_percent,
        effective_from=current.effective_from,
        effective_to=chosen.effective_to if chosen else _default_until(versions), history=versions)
