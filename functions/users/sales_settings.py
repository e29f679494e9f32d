"""Use cases for the agency's sales settings (issue #16; docs/users.md "Sales settings"): commission types,
attribution rules, verification mode and the chatter edit window, effective-dated through the same machinery as
the platform settings (versions, the closed-period check, history, an event), and the per-model sender names
that attribution `sender` reads."""
from __future__ import annotations

import uuid

from shared_lib.contracts import SalesSettingsUpdated
from shared_lib.db import UnitOfWork
from shared_lib.errors import NotFound, field_error
from shared_lib.rbac import Caller

from . import queries
from .errors import invalid_fields
from .schemas import Sender, Senders, SendersPut, SalesSettings, SalesSettingsPut, SalesSettingsView, SettingsOnQuery
from .settings_service import _default_until, _on, agency_settings_put


def sales_settings_put(*, uow: UnitOfWork, caller: Caller, cmd: SalesSettingsPut) -> SalesSettings:
    """A new version (or the version of that effective_from replaced); 409 period-closed when it would reach a
    closed period. Payouts and statistics recompute the open periods it reaches (sales.settings.updated)."""
    return agency_settings_put(uow, caller, kind="sales", cmd=cmd, event=SalesSettingsUpdated, answer=SalesSettings)


def sales_settings_get(*, uow: UnitOfWork, caller: Caller, query: SettingsOnQuery | None = None) -> SalesSettingsView:
    """The version in effect on `on` (default today; the defaults before any version) and every version."""
    on = _on(caller, query)
    versions = [SalesSettings.model_validate(r, from_attributes=True)
                for r in queries.history(uow, kind="sales", subject_id=caller.agency_id)]
    current = queries.settings_on(uow, kind="sales", subject_id=caller.agency_id, day=on)
    chosen = next((v for v in versions if v.id == current.version_id), None)
    return SalesSettingsView(
        on=on, id=current.version_id, commission_types=sorted(current.commission_types),
        attribution_rules=current.attribution_rules, verification=current.verification,
        chatter_edit_hours=current.chatter_edit_hours, effective_from=current.effective_from,
        effective_to=chosen.effective_to if chosen else _default_until(versions), history=versions)


# --- sender names ----------------------------------------------------------------------------------------------


def _senders(uow: UnitOfWork, model_id: uuid.UUID) -> Senders:
    return Senders(model_id=model_id, senders=[Sender(sender=r.sender, chatter_id=r.chatter_id)
                                               for r in queries.model_senders(uow, model_id=model_id)])


def senders_get(*, uow: UnitOfWork, caller: Caller, model_id: uuid.UUID) -> Senders:
    if queries.get_model(uow, agency_id=caller.agency_id, model_id=model_id) is None:
        raise NotFound("model not found")
    return _senders(uow, model_id)


def senders_put(*, uow: UnitOfWork, caller: Caller, model_id: uuid.UUID, cmd: SendersPut) -> Senders:
    """Replace the model's mapping. Every fault is reported at once (400 naming senders[i].sender for a name given
    twice, ignoring case; senders[i].chatter_id for anyone not a chatter of the agency assigned to the model)."""
    if queries.get_model(uow, agency_id=caller.agency_id, model_id=model_id, for_update=True) is None:
        raise NotFound("model not found")
    chatters = queries.assigned_chatters(uow, agency_id=caller.agency_id, model_id=model_id,
                                         user_ids=sorted({s.chatter_id for s in cmd.senders}))
    errors, seen = [], {}
    for i, s in enumerate(cmd.senders):
        key = s.sender.casefold()
        if key in seen:
            errors.append(field_error(["body", "senders", i, "sender"], f"repeats senders[{seen[key]}].sender"))
        seen.setdefault(key, i)
        if s.chatter_id not in chatters:
            errors.append(field_error(["body", "senders", i, "chatter_id"],
                                      "must be a chatter of the agency assigned to this model"))
    if errors:
        raise invalid_fields(errors)
    queries.replace_model_senders(uow, agency_id=caller.agency_id, model_id=model_id,
                                  senders=[(s.sender, s.chatter_id) for s in cmd.senders])
    return _senders(uow, model_id)
