"""Outbox → Pub/Sub (pstest in CI) → handler, exactly once: duplicates, retries, poison messages, crash + relay."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from shared_lib import events, outbox, registry
from shared_lib.db import engine, unit_of_work
from shared_lib.eventfn import PermanentError
from shared_lib.registry import Service

ROOT = Path(__file__).resolve().parents[2]
TOPIC = "test.ping"


def _handled() -> list[tuple[str, str]]:
    with engine().connect() as c:
        return [tuple(r) for r in c.execute(text("SELECT event_id, note FROM eventing.test_received ORDER BY id"))]


@pytest.fixture
def ping_service(platform, db, registry_sandbox):
    """A test-only service with one subscriber on test.ping, removed again afterwards."""
    with engine().begin() as c:
        c.execute(text("CREATE TABLE IF NOT EXISTS eventing.test_received "
                       "(id serial PRIMARY KEY, event_id text NOT NULL, note text)"))
        c.execute(text("TRUNCATE eventing.test_received"))
    state = {"fail_times": 0, "calls": 0}
    svc = Service("testsvc")
    svc.publishes(TOPIC)

    @svc.on_event(TOPIC, name="ping_recorder")
    def ping_recorder(uow, event):
        state["calls"] += 1
        if event.data.get("poison"):
            raise PermanentError("this payload can never succeed")
        if state["fail_times"] > 0:
            state["fail_times"] -= 1
            raise RuntimeError("transient failure")
        uow.execute("INSERT INTO eventing.test_received (event_id, note) VALUES (:e, :n)",
                    {"e": str(event.event_id), "n": event.data.get("note")})

    platform.bus.setup()
    yield state
    registry_sandbox.restore()  # first, so the bus is set up again without this subscriber
    platform.bus.setup()


def _emit(note: str) -> uuid.UUID:
    with unit_of_work() as uow:
        event = uow.emit(TOPIC, agency_id=None, subject="s", data={"note": note})
    return event.event_id


def test_event_emitted_in_a_transaction_reaches_its_handler_once(platform, ping_service):
    event_id = _emit("hello")
    assert platform.drain(20)
    assert _handled() == [(str(event_id), "hello")]
    with engine().connect() as c:
        assert c.execute(text("SELECT published_at IS NOT NULL FROM eventing.outbox WHERE event_id = :e"),
                         {"e": event_id}).scalar() is True


def test_rolled_back_transaction_publishes_nothing(platform, ping_service):
    with pytest.raises(RuntimeError):
        with unit_of_work() as uow:
            uow.emit(TOPIC, agency_id=None, subject="s", data={"note": "never"})
            raise RuntimeError("use case failed")
    assert platform.drain(20)
    assert _handled() == []
    with engine().connect() as c:
        assert c.execute(text("SELECT count(*) FROM eventing.outbox")).scalar() == 0


def test_a_message_delivered_twice_is_handled_once(platform, ping_service):
    event_id = _emit("dup")
    assert platform.drain(20)
    with engine().connect() as c:
        payload = c.execute(text("SELECT payload FROM eventing.outbox WHERE event_id = :e"), {"e": event_id}).scalar()
    raw = json.dumps(payload).encode()
    delivered_before = platform.bus.delivered
    # Pub/Sub is at-least-once: the same event arrives again as a new message (new messageId).
    events.publisher().publish_raw(TOPIC, raw, {"event_id": str(event_id)})
    events.publisher().publish_raw(TOPIC, raw, {"event_id": str(event_id)})
    assert platform.drain(20)
    assert _handled() == [(str(event_id), "dup")]
    assert platform.bus.delivered - delivered_before == 2  # both copies delivered and acknowledged...
    assert ping_service["calls"] == 1  # ...but the inbox let the handler run for the first delivery only


def test_a_failing_handler_is_retried_until_it_succeeds(platform, ping_service):
    ping_service["fail_times"] = 2
    event_id = _emit("retry")
    assert platform.drain(20)
    assert _handled() == [(str(event_id), "retry")]
    assert ping_service["calls"] == 3


def test_poison_message_is_dead_lettered_not_retried(platform, ping_service):
    from emulator.bus import Subscription

    dead_letters = registry.dead_letter_topic(TOPIC)
    inspector = Subscription(name=f"inspect-{uuid.uuid4().hex[:8]}", topic=dead_letters, function="-")
    platform.bus.transport.ensure([dead_letters], [inspector])
    events.publisher().publish_raw(TOPIC, b"{not json", {})
    with unit_of_work() as uow:
        uow.emit(TOPIC, agency_id=None, subject="s", data={"poison": True})
    assert platform.drain(20)
    assert _handled() == []
    assert ping_service["calls"] == 1  # the malformed one never reaches the handler; the poison one once
    pulled = platform.bus.transport.pull(inspector, 10)
    assert sorted(m.attributes["function"] for m in pulled) == ["ping_recorder", "ping_recorder"]
    assert b"{not json" in [m.data for m in pulled]
    platform.bus.transport.ack(inspector, [m.ack_id for m in pulled])


def test_crash_between_commit_and_publish_is_recovered_by_the_relay(platform, ping_service, database_url):
    script = (
        "import os, shared_lib.outbox as ob\n"
        "from shared_lib.db import unit_of_work\n"
        "ob.publish_pending = lambda *args, **kwargs: os._exit(9)  # the process dies right after COMMIT\n"
        "with unit_of_work() as uow:\n"
        "    uow.emit('test.ping', agency_id=None, subject='s', data={'note': 'survived'})\n"
        "print('not reached')\n"
    )
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 9, proc.stderr
    assert "not reached" not in proc.stdout
    with engine().connect() as c:
        unpublished = c.execute(text("SELECT event_id FROM eventing.outbox WHERE published_at IS NULL")).scalars().all()
    assert len(unpublished) == 1
    assert _handled() == []  # nothing was delivered: the publish never happened
    # The scheduled relay (Cloud Scheduler → outbox-relay function) republishes it.
    client = platform.wsgi_app().test_client()
    r = client.post("/_emulator/scheduler/outbox-relay")
    assert r.status_code == 200 and r.get_json()["drained"] is True
    assert _handled() == [(str(unpublished[0]), "survived")]


def test_concurrent_relays_publish_each_row_once(platform, ping_service):
    events.set_publisher(events.NullPublisher())  # as if every publish after commit had been lost
    try:
        with unit_of_work() as uow:
            for i in range(200):
                uow.emit(TOPIC, agency_id=None, subject=str(i), data={"note": str(i)})
        events.set_publisher(_Counting())
        counts = []
        threads = [threading.Thread(
            target=lambda: counts.append(outbox.relay_outbox(engine(), min_age_seconds=0, batch=17)))
            for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        published = events.publisher().ids
    finally:
        events.set_publisher(platform.bus)
    assert sum(counts) == 200
    assert len(published) == 200 and len(set(published)) == 200
    with engine().connect() as c:
        assert c.execute(text("SELECT count(*) FROM eventing.outbox WHERE published_at IS NULL")).scalar() == 0


class _Counting:
    """Counts what the relay hands over (the publisher it would use in the cloud is Pub/Sub)."""

    def __init__(self):
        self.ids: list = []
        self._lock = threading.Lock()

    def publish_many(self, evs):
        with self._lock:
            self.ids += [e.event_id for e in evs]
        return [e.event_id for e in evs]
