"""The health answer: process up, database reachable."""
from __future__ import annotations

import logging

from .config import settings
from .http import Reply

log = logging.getLogger(__name__)


def check() -> Reply:
    from sqlalchemy import text

    from .db import engine

    try:
        with engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:
        log.warning("health: database unavailable: %s", exc)
        database = "unavailable"
    ok = database == "ok"
    return Reply({"status": "ok" if ok else "degraded", "database": database, "version": settings().version},
                 status=200 if ok else 503)
