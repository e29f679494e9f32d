"""Roles and the signed-in caller; every query is scoped to the caller's agency."""
from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from typing import Any


class Role(str, enum.Enum):
    owner = "owner"
    manager = "manager"
    chatter = "chatter"


OWNER = frozenset({Role.owner})
OWNER_MANAGER = frozenset({Role.owner, Role.manager})
ANY_ROLE = frozenset(Role)


@dataclass(frozen=True)
class Identity:
    """Who the verified token says the caller is (before any agency membership)."""

    uid: str
    email: str | None = None
    name: str | None = None
    claims: dict[str, Any] | None = None


@dataclass(frozen=True)
class Caller:
    """A signed-in, active member of an agency, loaded from user_service.users."""

    user_id: uuid.UUID
    agency_id: uuid.UUID
    role: Role
    firebase_uid: str
    display_name: str | None
    email: str | None
    agency_timezone: str = "UTC"

    @property
    def is_owner(self) -> bool:
        return self.role is Role.owner


def user_scope(caller: Caller, column: str) -> tuple[str, dict[str, Any]]:
    """SQL predicate limiting `column` (a user id) to what the caller may see, with its parameters.

    Owner: everyone in the agency (the query still filters by agency). Manager: their team (users whose
    manager_id is them) and themselves. Chatter: themselves.
    """
    params = {"_scope_user": caller.user_id, "_scope_agency": caller.agency_id}
    if caller.role is Role.owner:
        return "TRUE", params
    if caller.role is Role.manager:
        return (f"({column} = :_scope_user OR {column} IN (SELECT id FROM user_service.users "
                f"WHERE manager_id = :_scope_user AND agency_id = :_scope_agency))"), params
    return f"{column} = :_scope_user", params


def model_scope(caller: Caller, column: str) -> tuple[str, dict[str, Any]]:
    """SQL predicate limiting `column` (a model id) to the models the caller may see, with its parameters.

    Owner: every model of the agency (the query still filters by agency). Manager: models assigned to them or
    their team. Chatter: models assigned to them. `column` must be qualified by its table's alias: the predicate's
    subquery has a model_id of its own.
    """
    predicate, params = user_scope(caller, "ma.user_id")
    if caller.role is Role.owner:
        return "TRUE", params
    return (f"EXISTS (SELECT 1 FROM user_service.model_assignments ma "
            f"WHERE ma.model_id = {column} AND ma.agency_id = :_scope_agency AND {predicate})"), params


def can_see_user(uow, caller: Caller, user_id: Any) -> bool:
    """Whether `user_id` is in the caller's agency and scope (use for 404 on a single user's resource)."""
    predicate, params = user_scope(caller, "u.id")
    row = uow.execute(
        f"SELECT 1 FROM user_service.users u WHERE u.id = :uid AND u.agency_id = :_scope_agency AND {predicate}",
        {**params, "uid": user_id},
    ).first()
    return row is not None


def can_see_model(uow, caller: Caller, model_id: Any) -> bool:
    """Whether `model_id` is in the caller's agency and scope (use for 404 on a single model's figures)."""
    predicate, params = model_scope(caller, "m.id")
    row = uow.execute(
        f"SELECT 1 FROM user_service.models m WHERE m.id = :mid AND m.agency_id = :_scope_agency AND {predicate}",
        {**params, "mid": model_id},
    ).first()
    return row is not None


def model_in_agency(uow, agency_id: uuid.UUID, model_id: uuid.UUID) -> bool:
    """Whether the model exists in the agency (the users service's table, read by the services that name models)."""
    return uow.execute("SELECT 1 FROM user_service.models WHERE id = :m AND agency_id = :a",
                       {"m": model_id, "a": agency_id}).first() is not None
