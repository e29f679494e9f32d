"""Eventing SQL: age-based deletes for retention-prune, each bounded to one batch (oldest rows first)."""
from __future__ import annotations

from shared_lib.db import UnitOfWork

# Every statement takes at most :batch rows, found through the age index of sql/0091, so a batch is short.
# No FOR UPDATE SKIP LOCKED: it would need UPDATE on tables the eventing role only reads and deletes from, and
# rows this old see no traffic; the one exception, an expired idempotency key being reclaimed right now, makes
# the DELETE wait for that request and then skip the row, which its new created_at no longer matches.
# table -> (its key, the age column the sql/0091 index serves)
_AGED = {
    "outbox": ("id", "published_at"),
    "inbox": ("consumer, event_id", "processed_at"),
    "idempotency_keys": ("scope, key", "created_at"),
}
_PRUNE = {
    table: f"""
        WITH gone AS (
            DELETE FROM eventing.{table} WHERE ({key}) IN (
                SELECT {key} FROM eventing.{table}
                WHERE {age} < now() - make_interval(hours => :hours)
                ORDER BY {age} LIMIT :batch)
            RETURNING 1)
        SELECT count(*) FROM gone
        """
    for table, (key, age) in _AGED.items()
}
TABLES = tuple(_PRUNE)


def prune_batch(uow: UnitOfWork, table: str, *, hours: int, batch: int) -> int:
    """Delete up to `batch` rows of eventing.<table> older than `hours`; returns how many went.

    outbox: only published rows (published_at NULL never compares older), so nothing the relay still owes is lost.
    """
    return uow.execute(_PRUNE[table], {"hours": hours, "batch": batch}).scalar_one()
