"""Platform eventing: the scheduled outbox relay (one for every service: they share eventing.outbox)."""
from shared_lib.jobs import OUTBOX_RELAY
from shared_lib.registry import Service

svc = Service("eventing")


@svc.scheduled(OUTBOX_RELAY)
def outbox_relay(as_of):
    """Republish what a crash between commit and publish left behind (claims rows with FOR UPDATE SKIP LOCKED)."""
    from shared_lib.events import relay_outbox

    relay_outbox()
