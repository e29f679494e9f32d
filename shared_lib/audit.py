"""The audit trail's one seam in code: who the transaction's writes are by (sql/0120_audit.sql writes the entries).

The database records every create, change and delete of an audited table itself (one trigger per table and
statement, see docs/audit.md); what it cannot know is the person. set_actor tells it, once per transaction, in
transaction-local settings the trigger reads. The registry calls it for every mutating HTTP operation; a
transaction that never calls it (the scheduler, event handlers) is recorded as the system.
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
