"""Users service use cases."""
from __future__ import annotations

from shared_lib.db import UnitOfWork
from shared_lib.errors import Conflict, Unauthorized
from shared_lib.rbac import Identity

from . import queries
from .schemas import Agency, AgencyCreate, Me


def agency_create(*, uow: UnitOfWork, identity: Identity, cmd: AgencyCreate) -> Agency:
    """Create an agency; the caller becomes its Owner. A user belongs to one agency."""
    agency_id = queries.insert_agency(uow, name=cmd.name, currency=cmd.currency, timezone=cmd.timezone)
    owner_id = queries.insert_owner(uow, agency_id=agency_id, identity=identity)
    if owner_id is None:
        raise Conflict("you already belong to an agency", slug="already-member")
    queries.set_agency_owner(uow, agency_id=agency_id, owner_id=owner_id)
    return Agency(id=agency_id, name=cmd.name, currency=cmd.currency, timezone=cmd.timezone, owner_user_id=owner_id)


def me_get(*, uow: UnitOfWork, identity: Identity) -> Me:
    """Who the token belongs to; agency fields are null until the user creates or joins an agency."""
    row = queries.user_by_uid(uow, identity.uid)
    if row is None:
        return Me(user_id=None, agency_id=None, role=None, display_name=identity.name, email=identity.email)
    if not row.active:
        raise Unauthorized("this account has been deactivated")
    return Me(user_id=row.id, agency_id=row.agency_id, role=row.role, display_name=row.display_name, email=row.email)
