"""The audit trail's one seam in code: who the transaction's writes are by (sql/0120_audit.sql writes the entries).

The database records every create, change and delete of an audited table itself (one trigger per table and
statement, see docs/audit.md); what it cannot know is the person. The actor goes, once per transaction, into
transaction-local settings the trigger reads: for a member, the HTTP pipeline's caller look-up sets them in its own
statement (ACTOR_COLUMNS); the registry calls set_actor for every mutating HTTP operation (a statement only when
the look-up did not name that caller: a signed-in person who is no member yet) and set_writer for every
Firestore-triggered function; a transaction that does none of these (the scheduler, Pub/Sub event handlers) is
recorded as the system.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .db import UnitOfWork
    from .rbac import Caller

SYSTEM = "system"
# A signed-in person who is not a member yet (POST /api/agencies/): no user id exists before the transaction.
UNREGISTERED = "unregistered"


# The caller look-up of the HTTP pipeline (shared_lib/http.py) names its user the actor in the same statement, over
# a row `u` of user_service.users: every request of a member has its actor set without a statement of its own.
ACTOR_COLUMNS = ("set_config('om.actor_id', u.id::text, true) AS actor_id, "
                 "set_config('om.actor_role', u.role::text, true) AS actor_role")


def actor_named(uow: "UnitOfWork", caller: "Caller") -> None:
    """Record that `caller` was named the actor of this transaction by a statement selecting ACTOR_COLUMNS."""
    uow.audit_actor = (str(caller.user_id), caller.role.value)


def set_actor(uow: "UnitOfWork", caller: "Caller | None") -> None:
    """The caller (or, without one, an unregistered signed-in person) is the actor of this transaction's writes:
    nothing to send when the caller look-up named them already (actor_named)."""
    actor = ("", UNREGISTERED) if caller is None else (str(caller.user_id), caller.role.value)
    if uow.audit_actor == actor:
        return
    uow.execute(
        "SELECT set_config('om.actor_id', :user_id, true), set_config('om.actor_role', :role, true)",
        {"user_id": actor[0], "role": actor[1]},
    )
    uow.audit_actor = actor


def set_reason(uow: "UnitOfWork", reason: str) -> None:
    """Every entry this transaction writes from now on carries `reason` (1–500 characters: the column's CHECK),
    e.g. a reassignment's (sql/0170_audit_reason.sql); entries carry none unless a use case states one."""
    uow.execute("SELECT set_config('om.reason', :r, true)", {"r": reason})


def set_writer(uow: "UnitOfWork", firebase_uid: str | None) -> None:
    """The member whose Firebase uid wrote a Firestore document is the actor (the system when none is)."""
    uow.execute(
        """
        SELECT set_config('om.actor_id', coalesce(u.id::text, ''), true),
               set_config('om.actor_role', coalesce(u.role, :system), true)
        FROM (SELECT 1) AS one LEFT JOIN user_service.users u ON u.firebase_uid = :uid AND u.active
        """,
        {"uid": firebase_uid, "system": SYSTEM},
    )


def document_writer(change, params: dict[str, str]) -> str | None:
    """Who wrote a Firestore document: its `uid` field (the security rules make it the writer's), else the path's
    {uid} (users/{uid}: a person's own document)."""
    written = change.new if change is not None and isinstance(change.new, dict) else {}
    uid = written.get("uid") or params.get("uid")
    return uid if isinstance(uid, str) and uid else None
