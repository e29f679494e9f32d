"""Users service use cases: agencies (create, read, change), membership (me), users and teams, the profile sync."""
from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from shared_lib.db import UnitOfWork
from shared_lib.errors import Conflict, NotFound, Unauthorized, field_error
from shared_lib.pagination import cursor_key, page_of
from shared_lib.periods import local_today
from shared_lib.rbac import Caller, Identity

from . import directory, queries
from .errors import invalid_fields
from .schemas import (
    EMAIL_RE,
    Agency,
    AgencyBrief,
    AgencyCreate,
    AgencyPatch,
    AgencySettings,
    AgencyView,
    Me,
    User,
    UserCreate,
    UserPage,
    UserPatch,
    UsersQuery,
)

log = logging.getLogger(__name__)


# --- agency and me ---------------------------------------------------------------------------------------------


def agency_create(*, uow: UnitOfWork, identity: Identity, cmd: AgencyCreate) -> Agency:
    """Create an agency; the caller becomes its Owner. A user belongs to one agency."""
    agency_id = queries.insert_agency(uow, name=cmd.name, currency=cmd.currency, timezone=cmd.timezone)
    owner_id = queries.insert_owner(uow, agency_id=agency_id, identity=identity)
    if owner_id is None:
        raise Conflict("you already belong to an agency", slug="already-member")
    queries.set_agency_owner(uow, agency_id=agency_id, owner_id=owner_id)
    directory.sync_claims_after_commit(uow, identity.uid)
    return Agency(id=agency_id, name=cmd.name, currency=cmd.currency, timezone=cmd.timezone, owner_user_id=owner_id)


def _agency_view(uow: UnitOfWork, caller: Caller, row) -> AgencyView:
    settings = None
    if caller.is_owner:  # the versioned settings are Owner-only reads at their own endpoints too
        today = local_today(row.timezone)
        settings = AgencySettings.model_validate(
            {"on": today, **queries.agency_settings_on(uow, row.id, today)._mapping})
    return AgencyView.model_validate({**row._mapping, "settings": settings})


def agency_get(*, uow: UnitOfWork, caller: Caller) -> AgencyView:
    """The caller's own agency: there is no agency id to name, so no other agency can be addressed."""
    return _agency_view(uow, caller, queries.get_agency(uow, caller.agency_id))


def agency_update(*, uow: UnitOfWork, caller: Caller, cmd: AgencyPatch) -> AgencyView:
    """Rename the agency; change its currency or time zone only while nothing is booked in them.

    Amounts carry no currency of their own and periods are local months, so a change after the first record
    would relabel every amount, or move sales, expenses and shifts into other days and other (maybe closed)
    periods: 409 agency-has-records. The row lock makes two concurrent changes apply one after the other.
    """
    row = queries.get_agency(uow, caller.agency_id, for_update=True)
    changes = {f: getattr(cmd, f) for f in cmd.model_fields_set if getattr(row, f) != getattr(cmd, f)}
    if not changes:
        return _agency_view(uow, caller, row)
    bound = [f for f in ("currency", "timezone") if f in changes]
    if bound and (recorded := queries.agency_recorded(uow, caller.agency_id)):
        raise Conflict(f"the agency already has {', '.join(recorded)}; its {' and '.join(bound)} can no longer "
                       "change (they would relabel amounts and move records between days and periods)",
                       slug="agency-has-records",
                       fields=[(f, "cannot change once records exist") for f in bound])
    return _agency_view(uow, caller, queries.update_agency(uow, agency_id=caller.agency_id, changes=changes))


def me_get(*, uow: UnitOfWork, identity: Identity) -> Me:
    """Who the token belongs to; agency fields are null until the user creates or joins an agency.

    When the token's {agency_id, role} claims disagree with the row (a claims update after an earlier commit
    failed), they are set again after this request; the frontend sees them on its next token refresh.
    """
    row = queries.user_by_uid(uow, identity.uid)
    if row is not None and not row.active:
        raise Unauthorized("this account has been deactivated")
    if directory.claims_differ(identity.claims, row):
        directory.sync_claims_after_commit(uow, identity.uid)
    if row is None:
        return Me(user_id=None, agency_id=None, role=None, display_name=identity.name, email=identity.email,
                  agency=None)
    agency = AgencyBrief.model_validate(queries.get_agency(uow, row.agency_id), from_attributes=True)
    return Me(user_id=row.id, agency_id=row.agency_id, role=row.role, display_name=row.display_name, email=row.email,
              agency=agency)


# --- users and teams -------------------------------------------------------------------------------------------


def _user(row) -> User:
    return User.model_validate(row, from_attributes=True)


def _team_errors(uow: UnitOfWork, *, agency_id: uuid.UUID, user_id: uuid.UUID | None, role: str,
                 manager_id: uuid.UUID | None, owner_field: str = "manager_id") -> list[dict[str, Any]]:
    """The team rules for a user who will have `role` and `manager_id` (user_id None: not created yet).

    Only a manager can have a team; the manager is an active user of this agency; no one is in their own
    chain of managers (no loops); an owner is in nobody's team. Call with the agency's team lock held.
    """
    if manager_id is None:
        return []
    loc = ["body", "manager_id"]
    if role == "owner":
        return [field_error(["body", owner_field], "an owner cannot be in a team (set manager_id to null)")]
    manager = queries.get_user(uow, agency_id=agency_id, user_id=manager_id)
    if manager is None:
        return [field_error(loc, "no such user in this agency")]
    if manager.role != "manager":
        return [field_error(loc, f"must be a manager (this user's role is {manager.role})")]
    if not manager.active:
        return [field_error(loc, "this manager is deactivated")]
    if user_id is not None and queries.manages_transitively(uow, user_id=user_id, candidate_manager_id=manager_id):
        return [field_error(loc, "would make a team loop (the user manages this manager, or is them)")]
    return []


def user_create(*, uow: UnitOfWork, caller: Caller, cmd: UserCreate) -> User:
    """Add a member: create or link their Firebase Auth account, insert the row, mirror the claims after commit."""
    if cmd.manager_id is not None:
        queries.lock_teams(uow, caller.agency_id)
    errors = _team_errors(uow, agency_id=caller.agency_id, user_id=None, role=cmd.role, manager_id=cmd.manager_id,
                          owner_field="role")
    if errors:
        raise invalid_fields(errors)
    # Every check that can refuse the request runs before the account is created: bad input writes nothing.
    account = directory.create_or_link(email=cmd.email, display_name=cmd.display_name, firebase_uid=cmd.firebase_uid)
    row = queries.insert_user(uow, agency_id=caller.agency_id, firebase_uid=account.uid, email=cmd.email,
                              display_name=cmd.display_name, role=cmd.role, manager_id=cmd.manager_id)
    if row is None:
        raise Conflict("this Firebase Auth account already belongs to an agency", slug="already-member",
                       fields=[("firebase_uid" if cmd.firebase_uid else "email", "already a member of an agency")])
    directory.sync_claims_after_commit(uow, account.uid)
    return _user(row)


def user_list(*, uow: UnitOfWork, caller: Caller, query: UsersQuery) -> UserPage:
    """Users the caller may see (Owner: agency; Manager: self and team; Chatter: self), newest first."""
    after = cursor_key(query.cursor, (datetime, uuid.UUID))
    rows = queries.list_users(uow, caller, limit=query.limit + 1, after=after, role=query.role,
                              active=query.active, manager_id=query.manager_id)
    return page_of(rows, limit=query.limit, item=User, page=UserPage, key=lambda u: (u.created_at, u.id))


def user_get(*, uow: UnitOfWork, caller: Caller, user_id: uuid.UUID) -> User:
    row = queries.visible_user(uow, caller, user_id)
    if row is None:
        raise NotFound("user not found")
    return _user(row)


def user_update(*, uow: UnitOfWork, caller: Caller, user_id: uuid.UUID, cmd: UserPatch) -> User:
    """Change display name, role, manager (team) or active. Role and activity changes are mirrored into the
    Firebase custom claims after commit; deactivation also ends the user's sessions."""
    sent = {f: getattr(cmd, f) for f in cmd.model_fields_set}
    if sent.keys() & {"role", "manager_id", "active"}:
        queries.lock_teams(uow, caller.agency_id)
    row = queries.get_user(uow, agency_id=caller.agency_id, user_id=user_id)
    if row is None:
        raise NotFound("user not found")
    changes = {k: v for k, v in sent.items() if getattr(row, k) != v}
    if not changes:
        return _user(row)
    role = changes.get("role", row.role)
    manager_id = changes.get("manager_id", row.manager_id)
    active = changes.get("active", row.active)

    errors: list[dict[str, Any]] = []
    if "role" in changes or "manager_id" in changes:
        errors += _team_errors(uow, agency_id=caller.agency_id, user_id=user_id, role=role, manager_id=manager_id,
                               owner_field="role" if "manager_id" not in changes else "manager_id")
    if errors:
        raise invalid_fields(errors)
    _check_conflicts(uow, caller=caller, row=row, role=role, active=active)

    updated = queries.update_user(uow, agency_id=caller.agency_id, user_id=user_id, changes=changes)
    if "role" in changes or "active" in changes:
        directory.sync_claims_after_commit(uow, row.firebase_uid, revoke=not active)
    return _user(updated)


def _check_conflicts(uow: UnitOfWork, *, caller: Caller, row, role: str, active: bool) -> None:
    """State rules (409): a manager with a team stays an active manager; an agency keeps an active owner."""
    leaves_management = row.role == "manager" and (role != "manager" or not active)
    if leaves_management and (n := queries.team_size(uow, manager_id=row.id)):
        field = "role" if role != "manager" else "active"
        raise Conflict(f"this manager still has {n} team member(s); move them to another manager first",
                       slug="team-not-empty", fields=[(field, "manager still has a team")])
    leaves_ownership = row.role == "owner" and row.active and (role != "owner" or not active)
    if leaves_ownership and queries.other_active_owners(uow, agency_id=caller.agency_id, user_id=row.id) == 0:
        field = "role" if role != "owner" else "active"
        raise Conflict("the agency must keep at least one active owner", slug="last-owner",
                       fields=[(field, "last active owner")])


def user_deactivate(*, uow: UnitOfWork, caller: Caller, user_id: uuid.UUID) -> User:
    """DELETE: the user can no longer sign in (their token gets 401); their history stays."""
    return user_update(uow=uow, caller=caller, user_id=user_id, cmd=UserPatch(active=False))


# --- Firestore profile sync ------------------------------------------------------------------------------------

def _profile_value(name: str, value: Any) -> tuple[bool, Any]:
    """(acceptable, normalized) for one field of the frontend's users/{uid} document."""
    if name == "display_name":
        if value is None:
            return True, None
        ok = isinstance(value, str) and 1 <= len(value.strip()) <= 200
        return ok, value.strip() if ok else None
    if name == "email":
        ok = isinstance(value, str) and len(value) <= 320 and EMAIL_RE.fullmatch(value.strip()) is not None
        return ok, value.strip().lower() if ok else None
    if name == "photo_url":
        if value is None:
            return True, None
        ok = isinstance(value, str) and len(value) <= 2048 and value.startswith(("https://", "http://"))
        return ok, value if ok else None
    return False, None


PROFILE_FIELDS = ("display_name", "email", "photo_url")


def profile_sync(*, uow: UnitOfWork, firebase_uid: str, old: dict[str, Any] | None,
                 new: dict[str, Any] | None) -> bool:
    """The frontend wrote users/{uid}: copy display_name, email and photo_url into the user row.

    Everything else in the document (role, agency_id, …) is ignored: membership is decided here, never by a
    document the user can write. A deleted document changes nothing; a write that changed none of the three
    fields, or sets them to what the row already holds, writes nothing. Returns whether the row changed.
    """
    if new is None:
        return False
    if old is not None and all(old.get(f) == new.get(f) and (f in old) == (f in new) for f in PROFILE_FIELDS):
        return False
    fields = {}
    for name in PROFILE_FIELDS:
        if name not in new:
            continue
        ok, value = _profile_value(name, new[name])
        if ok:
            fields[name] = value
        else:
            log.warning("users/%s: ignoring invalid %s in the profile document", firebase_uid, name)
    return queries.sync_profile(uow, firebase_uid=firebase_uid, fields=fields) is not None
