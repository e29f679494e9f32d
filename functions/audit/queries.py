"""Audit service SQL."""
from __future__ import annotations

import json
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from shared_lib.db import UnitOfWork


def list_entries(uow: UnitOfWork, agency_id: uuid.UUID, *, timezone: str, entity: str | None,
                 entity_id: str | None, actor_user_id: uuid.UUID | None, date_from: date | None,
                 date_to: date | None, after: tuple[int] | None, limit: int) -> list[dict[str, Any]]:
    """One page of the agency's entries, newest first (by id); the dates are local days in `timezone`."""
    terms, params = ["agency_id = :a"], {"a": agency_id, "tz": timezone, "limit": limit}
    for column, value in (("entity", entity), ("entity_id", entity_id), ("actor_user_id", actor_user_id)):
        if value is not None:
            terms.append(f"{column} = :{column}")
            params[column] = value
    if date_from is not None:
        terms.append("at >= CAST(:date_from AS date)::timestamp AT TIME ZONE :tz")
        params["date_from"] = date_from
    if date_to is not None:
        terms.append("at < (CAST(:date_to AS date) + 1)::timestamp AT TIME ZONE :tz")
        params["date_to"] = date_to
    if after is not None:
        terms.append("id < :after_id")
        params["after_id"] = after[0]
    rows = uow.execute(
        "SELECT id, at, actor_user_id, actor_role, action, entity, entity_id, before::text AS before, "
        f"after::text AS after, reason FROM audit.entries WHERE {' AND '.join(terms)} ORDER BY id DESC LIMIT :limit",
        params,
    ).mappings().all()
    return [{**r, "before": _values(r["before"]), "after": _values(r["after"])} for r in rows]


def _values(raw: str | None) -> dict[str, Any] | None:
    # As text, parsed here: the driver's jsonb decoding would turn amounts into floats.
    return None if raw is None else json.loads(raw, parse_float=Decimal)
