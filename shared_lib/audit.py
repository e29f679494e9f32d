"""The audit trail's one seam in code: who the transaction's writes are by (sql/0120_audit.sql writes the entries).

The database records every create, change and delete of an audited table itself (one trigger per table and
statement, see docs/audit.md); what it cannot know is the person. set_actor tells it, once per transaction, in
transaction-local settings the trigger reads. The registry calls set_actor for every mutating HTTP operation and
set_writer for every Firestore-triggered function; a transaction that calls neither (the scheduler, Pub/Sub event
handlers) is recorded as the system.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .db import UnitOfWork
    from .rbac import Caller

SYSTEM = "system"
# A signed-in person who is not a member yet (POST /api/agencies/): no user id exists before the transaction.
UNREGISTERED = "unregistered"


def set_actor(uow: "UnitOfWork", caller: "Caller | None") -> None:
    """The caller (or, without one, an unregistered signed-in person) is the actor of this transaction's writes."""
    uow.execute(
        "SELECT set_config('om.actor_id', :user_id, true), set_config('om.actor_role', :role, true)",
        {"user_id": "" if caller is None else str(caller.user_id),
         "role": UNREGISTERED if caller is None else caller.role.value},
    )


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
