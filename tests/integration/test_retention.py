"""retention-prune: published outbox rows, inbox rows and idempotency keys go once past their windows, nothing
earlier, never an unpublished event; in batches; fired as the scheduled job through the platform."""
from __future__ import annotations

import json
import uuid

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from shared_lib.config import Settings
from shared_lib.db import engine


def sql(statement: str, params: dict | None = None):
    with engine().begin() as conn:
        result = conn.execute(text(statement), params or {})
        return result.all() if result.returns_rows else []


def outbox_row(name: str, *, created_hours_ago: float, published_hours_ago: float | None) -> None:
    """An outbox row; an unpublished one is leased to a relay that is still publishing it (claimed_until ahead),
    so the platform's own relay leaves it where it is."""
    event_id = uuid.uuid4()
    sql("""
        INSERT INTO eventing.outbox (event_id, type, subject, payload, occurred_at, created_at, published_at,
                                     claimed_until)
        VALUES (:id, 'test.retention', :name, CAST(:p AS jsonb), now() - make_interval(secs => :c * 3600),
                now() - make_interval(secs => :c * 3600),
                now() - make_interval(secs => CAST(:pub AS float8) * 3600),
                CASE WHEN CAST(:pub AS float8) IS NULL THEN now() + interval '1 hour' END)
        """, {"id": event_id, "name": name, "p": json.dumps({"event_id": str(event_id)}), "c": created_hours_ago,
              "pub": published_hours_ago})


def inbox_row(name: str, hours_ago: float) -> None:
    sql("INSERT INTO eventing.inbox (consumer, event_id, processed_at) "
        "VALUES ('test_consumer', :e, now() - make_interval(secs => :h * 3600))", {"e": name, "h": hours_ago})


def key_row(name: str, hours_ago: float) -> None:
    sql("INSERT INTO eventing.idempotency_keys (scope, key, fingerprint, status, body, created_at) "
        "VALUES ('uid-1', :k, 'f', 201, '{}', now() - make_interval(secs => :h * 3600))", {"k": name, "h": hours_ago})


def remaining() -> dict[str, list[str]]:
    return {
        "outbox": [r[0] for r in sql("SELECT subject FROM eventing.outbox WHERE type = 'test.retention' "
                                     "ORDER BY subject")],
        "inbox": [r[0] for r in sql("SELECT event_id FROM eventing.inbox WHERE consumer = 'test_consumer' "
                                    "ORDER BY event_id")],
        "idempotency_keys": [r[0] for r in sql("SELECT key FROM eventing.idempotency_keys ORDER BY key")],
    }


def backdated_rows() -> None:
    """Both sides of each default window (outbox 168 h after publishing, inbox 192 h, keys 24 h), an hour apart."""
    for i in range(5):  # more than one batch of 2
        outbox_row(f"old-published-{i}", created_hours_ago=400, published_hours_ago=169)
    outbox_row("recent-published", created_hours_ago=400, published_hours_ago=167)
    outbox_row("unpublished-ancient", created_hours_ago=2000, published_hours_ago=None)
    outbox_row("just-published", created_hours_ago=0, published_hours_ago=0)
    for i in range(3):
        inbox_row(f"old-{i}", 193)
    inbox_row("recent", 191)
    key_row("old", 25)
    key_row("recent", 23)


KEPT = {"outbox": ["just-published", "recent-published", "unpublished-ancient"], "inbox": ["recent"],
        "idempotency_keys": ["recent"]}


def test_pruning_removes_only_what_is_past_its_window(db):
    from functions.eventing.service import retention_prune

    backdated_rows()
    deleted = retention_prune(outbox_hours=168, inbox_hours=192, idempotency_hours=24, batch=2)
    assert deleted == {"outbox": 5, "inbox": 3, "idempotency_keys": 1}
    assert remaining() == KEPT
    # Nothing else is old enough: a second run deletes nothing.
    assert retention_prune(outbox_hours=168, inbox_hours=192, idempotency_hours=24, batch=2) == \
        {"outbox": 0, "inbox": 0, "idempotency_keys": 0}


def test_the_scheduled_job_prunes_through_the_platform(app, platform):
    backdated_rows()
    assert platform.run_job("retention-prune", None) == 1
    assert platform.drain(30)
    assert remaining() == KEPT


@pytest.mark.parametrize("table, index", [("outbox", "outbox_published_at"), ("inbox", "inbox_processed_at"),
                                          ("idempotency_keys", "idempotency_keys_created_at")])
def test_each_batch_can_find_its_rows_through_an_age_index(db, table, index):
    from functions.eventing.queries import _PRUNE

    with engine().begin() as conn:
        # The tables are tiny here, so a sequential scan would win; forbid it to see that the index serves.
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(conn.execute(text("EXPLAIN " + _PRUNE[table]), {"hours": 24, "batch": 100}).scalars())
    assert index in plan


def test_an_inbox_window_shorter_than_the_redelivery_window_is_refused(monkeypatch):
    monkeypatch.setenv("EVENT_MAX_AGE_SECONDS", str(7 * 24 * 3600))
    monkeypatch.setenv("INBOX_RETENTION_HOURS", "167")
    with pytest.raises(ValidationError, match="INBOX_RETENTION_HOURS=167 is shorter than EVENT_MAX_AGE_SECONDS"):
        Settings()
    monkeypatch.setenv("INBOX_RETENTION_HOURS", "168")
    assert Settings().inbox_retention_hours == 168
