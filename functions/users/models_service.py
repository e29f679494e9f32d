"""Use cases for models (the creator accounts an agency runs) and their assigned chatters and managers."""
from __future__ import annotations

import uuid
from datetime import datetime

from shared_lib.db import UnitOfWork
from shared_lib.errors import NotFound, field_error
from shared_lib.pagination import cursor_key, page_of
from shared_lib.rbac import Caller

from . import queries
from .errors import invalid_fields
from .schemas import Assignments, AssignmentsPut, Model, ModelCreate, ModelPage, ModelPatch, ModelsQuery


def _model(row, user_ids: list[uuid.UUID]) -> Model:
    return Model(id=row.id, name=row.name, active=row.active, user_ids=user_ids, created_at=row.created_at,
                 updated_at=row.updated_at)


def model_create(*, uow: UnitOfWork, caller: Caller, cmd: ModelCreate) -> Model:
    return _model(queries.insert_model(uow, agency_id=caller.agency_id, name=cmd.name), [])


def model_list(*, uow: UnitOfWork, caller: Caller, query: ModelsQuery) -> ModelPage:
    """Models the caller may see (Owner: all; Manager: assigned to them or their team; Chatter: theirs)."""
    after = cursor_key(query.cursor, (datetime, uuid.UUID))
    rows = queries.list_models(uow, caller, limit=query.limit + 1, after=after, active=query.active,
                               user_id=query.user_id)
    assigned = queries.assigned_user_ids(uow, caller, [r.id for r in rows[: query.limit]])
    # The row beyond the page (if any) only tells page_of there is a next page: no assignments looked up for it.
    items = [_model(r, assigned.get(r.id, [])) for r in rows]
    return page_of(items, limit=query.limit, item=Model, page=ModelPage, key=lambda m: (m.created_at, m.id))


def model_get(*, uow: UnitOfWork, caller: Caller, model_id: uuid.UUID) -> Model:
    row = queries.visible_model(uow, caller, model_id)
    if row is None:
        raise NotFound("model not found")
    return _model(row, queries.assigned_user_ids(uow, caller, [row.id])[row.id])


def model_update(*, uow: UnitOfWork, caller: Caller, model_id: uuid.UUID, cmd: ModelPatch) -> Model:
    row = queries.get_model(uow, agency_id=caller.agency_id, model_id=model_id, for_update=True)
    if row is None:
        raise NotFound("model not found")
    changes = {f: getattr(cmd, f) for f in cmd.model_fields_set if getattr(row, f) != getattr(cmd, f)}
    if changes:
        row = queries.update_model(uow, agency_id=caller.agency_id, model_id=model_id, changes=changes)
    return _model(row, queries.assigned_user_ids(uow, caller, [row.id])[row.id])


def assignments_get(*, uow: UnitOfWork, caller: Caller, model_id: uuid.UUID) -> Assignments:
    row = queries.visible_model(uow, caller, model_id)
    if row is None:
        raise NotFound("model not found")
    return Assignments(model_id=row.id, user_ids=queries.assigned_user_ids(uow, caller, [row.id])[row.id])


def assignments_replace(*, uow: UnitOfWork, caller: Caller, model_id: uuid.UUID, cmd: AssignmentsPut) -> Assignments:
    """Replace the set of users assigned to the model: active chatters and managers of this agency.

    A deactivated user may stay in the set (their past work is still theirs) but cannot be added. Every bad
    id is listed by its index; nothing is written unless all are good.
    """
    model = queries.get_model(uow, agency_id=caller.agency_id, model_id=model_id, for_update=True)
    if model is None:
        raise NotFound("model not found")
    queries.lock_teams(uow, caller.agency_id)  # roles and activity checked below cannot change under us
    wanted = list(dict.fromkeys(cmd.user_ids))
    users = queries.users_by_ids(uow, agency_id=caller.agency_id, user_ids=wanted)
    current = queries.current_assignees(uow, model_id=model_id)
    errors = []
    for i, user_id in enumerate(cmd.user_ids):
        u = users.get(user_id)
        loc = ["body", "user_ids", i]
        if u is None:
            errors.append(field_error(loc, "no such user in this agency"))
        elif u.role not in ("chatter", "manager"):
            errors.append(field_error(loc, f"only chatters and managers can be assigned (role is {u.role})"))
        elif not u.active and user_id not in current:
            errors.append(field_error(loc, "this user is deactivated"))
    if errors:
        raise invalid_fields(errors)
    queries.replace_assignments(uow, agency_id=caller.agency_id, model_id=model_id, user_ids=wanted)
    return Assignments(model_id=model_id, user_ids=wanted)
