"""The local bus delivers different subscriptions at the same time (emulator/bus.py, issue #13 chain): a handler
of one subscription waits for the other subscription's handler, which only a concurrent delivery can run; each
subscription keeps one batch in flight (its handler never runs twice at once), and drain() waits for batches in
flight."""
from __future__ import annotations

import threading
import time

import pytest

from shared_lib import events
from shared_lib.registry import Service

TOPIC_A, TOPIC_B = "test.concurrent-a", "test.concurrent-b"


@pytest.fixture
def two_subscriptions(platform, db, registry_sandbox):
    state = {"b_ran": threading.Event(), "order": [], "running": 0, "max_running_a": 0, "lock": threading.Lock()}
    svc = Service("payouts")  # a real consumer: its database role may write the inbox

    @svc.on_event(TOPIC_A, name="test_concurrent_waits", envelope=False)
    def waits(uow, message):
        with state["lock"]:
            state["running"] += 1
            state["max_running_a"] = max(state["max_running_a"], state["running"])
        try:
            note = message.data.decode()
            if note == "wait":
                # Only a delivery running beside this one can set it: one thread would wait here forever.
                assert state["b_ran"].wait(timeout=10), "the other subscription was not delivered meanwhile"
            time.sleep(0.01)
            state["order"].append(note)
        finally:
            with state["lock"]:
                state["running"] -= 1

    @svc.on_event(TOPIC_B, name="test_concurrent_releases", envelope=False)
    def releases(uow, message):
        state["b_ran"].set()

    platform.bus.setup()
    yield state
    registry_sandbox.restore()
    platform.bus.setup()


def test_two_subscriptions_are_handled_at_the_same_time(platform, two_subscriptions):
    assert platform.bus.workers >= 2
    before = len(platform.bus.dead_lettered)
    events.publisher().publish_raw(TOPIC_A, b"wait")
    time.sleep(0.05)  # the waiting handler has started (or is about to)
    events.publisher().publish_raw(TOPIC_B, b"release")
    assert platform.bus.drain(timeout=20)
    assert two_subscriptions["order"] == ["wait"]  # handled once, on its first attempt: it did not time out
    assert len(platform.bus.dead_lettered) == before


def test_one_subscription_keeps_one_batch_in_flight(platform, two_subscriptions):
    notes = [f"n{i}" for i in range(12)]
    for note in notes:
        events.publisher().publish_raw(TOPIC_A, note.encode())
    assert platform.bus.drain(timeout=20)
    # Pub/Sub does not order messages without ordering keys (pstest neither): each handled exactly once, and
    # drain returned only after the last batch in flight finished.
    assert sorted(two_subscriptions["order"]) == sorted(notes)
    assert two_subscriptions["max_running_a"] == 1  # never two of the subscription's handlers at once
