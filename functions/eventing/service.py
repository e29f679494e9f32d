"""Eventing use cases: retention of the platform's own bookkeeping (outbox, inbox, idempotency keys)."""
from __future__ import annotations

import logging

from shared_lib.db import unit_of_work

from . import queries

log = logging.getLogger(__name__)


def retention_prune(*, outbox_hours: int, inbox_hours: int, idempotency_hours: int, batch: int) -> dict[str, int]:
    """Delete what is past its window, table by table, one transaction per batch (no long lock, no huge WAL
    burst); returns the rows deleted per table. Ages are measured against the database clock."""
    windows = {"outbox": outbox_hours, "inbox": inbox_hours, "idempotency_keys": idempotency_hours}
    deleted: dict[str, int] = {}
    for table in queries.TABLES:
        total = 0
        while True:
            with unit_of_work() as uow:
                n = queries.prune_batch(uow, table, hours=windows[table], batch=batch)
            total += n
            if n < batch:
                break
        deleted[table] = total
    log.info("retention-prune: deleted %s", ", ".join(f"{t} {n}" for t, n in deleted.items()))
    return deleted
