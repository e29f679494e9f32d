"""The health answer: process up, database reachable (else 503 problem+json with Retry-After)."""
from __future__ import annotations

import logging

from .config import settings
from .errors import ServiceUnavailable
from .http import Reply

log = logging.getLogger(__name__)


def check() -> Reply:
    from sqlalchemy import text

    from .db import engine

    try:
        with engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        log.warning("health: database unavailable: %s", exc)
        # problem+json like every other 503 ("status" is the problem's: 503); "database" and "version" ride along.
        raise ServiceUnavailable("the database is unreachable",
                                 extensions={"database": "unavailable",
                                             "version": settings().version}) from None
    return Reply({"status": "ok", "database": "ok", "version": settings().version}, status=200)
