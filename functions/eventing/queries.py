"""Eventing SQL: age-based deletes for retention-prune, each bounded to one batch (oldest rows first)."""
from __future__ import annotations

from shared_lib.db import UnitOfWork

# Every statement takes at most :batch rows, found through the age index of sql/0091, so a batch is short.
# No FOR UPDATE SKIP LOCKED: it would need UPDATE on tables the eventing role only reads and deletes from, and
# rows this old see no traffic; the one exception, an expired idempotency key being reclaimed right now, makes
# the DELETE wait for that request and then skip the row, which its new created_at no longer matches.
_PRUNE = {
    "outbox": """
        WITH gone AS (
            DELETE FROM eventing.outbox WHERE id IN (
                SELECT id FROM eventing.outbox
                WHERE published_at < now() - make_interval(hours => :hours)
                ORDER BY published_at LIMIT :batch)
            RETURNING 1)
        SELECT count(*) FROM gone
        """,
    "inbox": """
        WITH gone AS (
            DELETE FROM eventing.inbox WHERE (consumer, event_id) IN (
                SELECT consumer, event_id FROM eventing.inbox
                WHERE processed_at < now() - make_interval(hours => :hours)
                ORDER BY processed_at LIMIT :batch)
            RETURNING 1)
        SELECT count(*) FROM gone
        """,
    "idempotency_keys": """
        WITH gone AS (
            DELETE FROM eventing.idempotency_keys WHERE (scope, key) IN (
                SELECT scope, key FROM eventing.idempotency_keys
                WHERE created_at < now() - make_interval(hours => :hours)
                ORDER BY created_at LIMIT :batch)
            RETURNING 1)
        SELECT count(*) FROM gone
        """,
}
TABLES = tuple(_PRUNE)


def prune_batch(uow: UnitOfWork, table: str, *, hours: int, batch: int) -> int:
    """Delete up to `batch` rows of eventing.<table> older than `hours`; returns how many went.

    outbox: only published rows (published_at NULL never compares older), so nothing the relay still owes is lost.
    """
    return uow.execute(_PRUNE[table], {"hours": hours, "batch": batch}).scalar_one()
