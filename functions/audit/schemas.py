"""Audit service request and response models."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from shared_lib.record_fields import DatedPageQuery


class AuditQuery(DatedPageQuery):
    """GET /api/audit/: every filter optional; date_from and date_to are the agency's local dates, inclusive."""

    entity: str | None = Field(None, pattern=r"^[a-z][a-z_]{0,63}$",
                               description="e.g. income, expense, user, model_settings (docs/audit.md lists them)")
    entity_id: str | None = Field(None, min_length=1, max_length=200,
                                  description="the entity's id; a model assignment's is <model_id>:<user_id>")
    actor_user_id: uuid.UUID | None = None


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor_user_id: uuid.UUID | None = Field(description="null: the system (scheduler, event handlers) or a signup")
    actor_role: str = Field(description="owner, manager, chatter; system; unregistered (creating an agency)")
    action: Literal["create", "update", "delete"]
    entity: str
    entity_id: str
    before: dict[str, Any] | None = Field(description="the row before the change; null for a create")
    after: dict[str, Any] | None = Field(description="the row after the change; null for a delete")
    reason: str | None = Field(description="why, when the change required a reason (e.g. a reassignment); else null")


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_cursor: str | None
