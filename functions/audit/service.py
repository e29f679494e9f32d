"""Audit service use cases: read the agency's audit trail."""
from __future__ import annotations

from shared_lib.db import UnitOfWork
from shared_lib.pagination import cursor_key, page_of
from shared_lib.rbac import Caller

from . import queries
from .schemas import AuditEntry, AuditPage, AuditQuery


def audit_list(*, uow: UnitOfWork, caller: Caller, q: AuditQuery) -> AuditPage:
    after = cursor_key(q.cursor, (int,))
    rows = queries.list_entries(uow, caller.agency_id, timezone=caller.agency_timezone, entity=q.entity,
                                entity_id=q.entity_id, actor_user_id=q.actor_user_id, date_from=q.date_from,
                                date_to=q.date_to, after=after, limit=q.limit + 1)
    return page_of(rows, limit=q.limit, item=AuditEntry, page=AuditPage, key=lambda e: (e.id,))
