"""Roles and the signed-in caller; every query is scoped to the caller's agency."""
from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from typing import Any

from .errors import Forbidden, NotFound


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

    def require(self, roles: frozenset[Role]) -> None:
        if self.role not in roles:
            raise Forbidden(f"role {self.role.value} may not do this")

    def same_agency(self, agency_id: Any, what: str = "resource") -> None:
        """Another agency's data answers 404, never 403 and never data."""
        if agency_id is None or str(agency_id) != str(self.agency_id):
            raise NotFound(f"{what} not found")
