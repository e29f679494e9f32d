"""PubSubPublisher.publish_many: a publish that fails, even before it gives a future, leaves that event to the
outbox relay and never raises to the caller (whose transaction has committed)."""
from __future__ import annotations

import uuid
from concurrent.futures import Future
from datetime import datetime, timezone

from shared_lib.events import Event, PubSubPublisher


class _Client:
    """A publisher client that refuses the events named in `refuse` the way google-cloud-pubsub does once stopped."""

    def __init__(self, refuse: set[str], fail_future: set[str] = frozenset()):
        self.refuse, self.fail_future, self.sent = refuse, fail_future, []

    def topic_path(self, project, topic):
        return f"projects/{project}/topics/{topic}"

    def publish(self, topic, data, **attributes):
        if attributes["subject"] in self.refuse:
            raise AssertionError("Publish after stop() or publish error.")
        fut = Future()
        if attributes["subject"] in self.fail_future:
            fut.set_exception(RuntimeError("deadline exceeded"))
        else:
            self.sent.append(attributes["subject"])
            fut.set_result("1")
        return fut


def _publisher(client) -> PubSubPublisher:
    p = PubSubPublisher.__new__(PubSubPublisher)  # no real client: the test's double
    p.project, p.client = "demo", client
    return p


def _event(subject: str) -> Event:
    return Event(event_id=uuid.uuid4(), type="income.registered", occurred_at=datetime.now(timezone.utc),
                 subject=subject)


def test_a_publish_raising_before_its_future_leaves_that_event_to_the_relay_and_sends_the_others():
    events = [_event("a"), _event("b"), _event("c")]
    client = _Client(refuse={"b"})
    assert _publisher(client).publish_many(events) == [events[0].event_id, events[2].event_id]
    assert client.sent == ["a", "c"]


def test_every_publish_refused_returns_nothing_and_raises_nothing():
    events = [_event("a"), _event("b")]
    assert _publisher(_Client(refuse={"a", "b"})).publish_many(events) == []


def test_a_failed_future_leaves_only_that_event_unpublished():
    events = [_event("a"), _event("b")]
    client = _Client(refuse=set(), fail_future={"a"})
    assert _publisher(client).publish_many(events) == [events[1].event_id]
