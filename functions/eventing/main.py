"""Platform eventing: the scheduled outbox relay and retention-prune (for every service: they share eventing.*)."""
from shared_lib.jobs import OUTBOX_RELAY, RETENTION_PRUNE
from shared_lib.registry import Service

svc = Service("eventing")


@svc.scheduled(OUTBOX_RELAY)
def outbox_relay(as_of):
    """Republish what a crash between commit and publish left behind (claims rows with FOR UPDATE SKIP LOCKED)."""
    from shared_lib.db import engine
    from shared_lib.outbox import relay_outbox

    relay_outbox(engine())


@svc.scheduled(RETENTION_PRUNE)
def retention_prune(as_of):
    """Delete published outbox rows, inbox rows and idempotency keys past their windows (shared_lib/config.py)."""
    from shared_lib.config import settings

    from . import service

    s = settings()
    service.retention_prune(outbox_hours=s.outbox_retention_hours, inbox_hours=s.inbox_retention_hours,
                            idempotency_hours=s.idempotency_ttl_hours, batch=s.retention_batch)
