"""Dead-lettering through the Pub/Sub fake: a message whose handler keeps failing ends on "<topic>.dead-letter".

In the cloud Pub/Sub does it (terraform/pubsub.tf: dead_letter_policy, max_delivery_attempts). Debian's pstest
(cloud.google.com/go 0.56) stores a subscription's dead-letter policy but never applies it (the first test
shows that), so the second tests the platform's own equivalent, emulator/bus.py, over pstest with terraform's
max_delivery_attempts: the same number of deliveries, then the message on the same dead-letter topic.
"""
from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import hcl2
import pytest
from hcl2 import SerializationOptions

from shared_lib import registry
from shared_lib.registry import Service

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "demo-onlymanager"


def _terraform_max_delivery_attempts() -> int:
    with (ROOT / "terraform" / "variables.tf").open() as fh:
        doc = hcl2.load(fh, serialization_options=SerializationOptions(with_comments=False, explicit_blocks=False,
                                                                        strip_string_quotes=True))
    (value,) = [v["max_delivery_attempts"]["default"] for v in doc["variable"] if "max_delivery_attempts" in v]
    return value


@pytest.fixture
def pubsub():
    if not os.environ.get("PUBSUB_EMULATOR_HOST"):
        pytest.fail("these tests run against the Pub/Sub fake: source .local/services.env (PUBSUB_EMULATOR_HOST)")
    from google.cloud import pubsub_v1

    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    created: list[tuple[str, str]] = []
    yield publisher, subscriber, created
    for kind, name in reversed(created):
        if kind == "subscription":
            subscriber.delete_subscription(subscription=name)
        else:
            publisher.delete_topic(topic=name)


def _pull(subscriber, subscription: str, attempts: int = 20):
    """pstest may need a moment to hand back a nacked message."""
    for _ in range(attempts):
        resp = subscriber.pull(request={"subscription": subscription, "max_messages": 10, "return_immediately": True},
                               timeout=10)
        if resp.received_messages:
            return list(resp.received_messages)
        time.sleep(0.05)
    return []


def test_pstest_stores_but_does_not_apply_a_dead_letter_policy(pubsub):
    """Why the bus is what is tested below: the fake redelivers forever and never counts delivery attempts."""
    publisher, subscriber, created = pubsub
    name = f"dl-probe-{uuid.uuid4().hex[:8]}"
    topic, dead = publisher.topic_path(PROJECT, name), publisher.topic_path(PROJECT, f"{name}.dead-letter")
    for t in (topic, dead):
        publisher.create_topic(name=t)
        created.append(("topic", t))
    source = subscriber.subscription_path(PROJECT, name)
    inspect = subscriber.subscription_path(PROJECT, f"{name}.dead-letter.inspect")
    subscriber.create_subscription(request={"name": source, "topic": topic, "ack_deadline_seconds": 10,
                                            "dead_letter_policy": {"dead_letter_topic": dead,
                                                                   "max_delivery_attempts": 5}})
    created.append(("subscription", source))
    subscriber.create_subscription(request={"name": inspect, "topic": dead, "ack_deadline_seconds": 10})
    created.append(("subscription", inspect))
    assert subscriber.get_subscription(subscription=source).dead_letter_policy.max_delivery_attempts == 5

    publisher.publish(topic, b"never handled").result(timeout=30)
    for _ in range(6):  # one past the policy's maximum
        (received,) = _pull(subscriber, source)
        assert received.delivery_attempt == 0  # not counted
        subscriber.modify_ack_deadline(request={"subscription": source, "ack_ids": [received.ack_id],
                                                "ack_deadline_seconds": 0})
    assert _pull(subscriber, inspect, attempts=5) == []  # nothing was dead-lettered


def test_a_message_that_keeps_failing_is_dead_lettered_after_terraforms_max_attempts(pubsub, db,
                                                                                     registry_sandbox):
    from emulator.bus import EventBus, PubSubTransport, Subscription

    publisher, subscriber, created = pubsub
    attempts = _terraform_max_delivery_attempts()
    assert attempts == 10

    name = f"dl_always_fails_{uuid.uuid4().hex[:8]}"
    topic = f"test.dead-letter-{uuid.uuid4().hex[:8]}"
    dead_letters = registry.dead_letter_topic(topic)
    deliveries: list[bytes] = []
    svc = Service("payouts")  # a real consumer: its database role may write the inbox (the dispatcher runs as it)

    @svc.on_event(topic, name=name, envelope=False)
    def always_fails(uow, message):
        deliveries.append(message.data)
        raise RuntimeError("the database is down")  # transient: raised, so retried

    bus = EventBus(PubSubTransport(PROJECT), PROJECT, max_attempts=attempts)
    sub = Subscription(name=name, topic=topic, function=name)
    inspector = Subscription(name=f"{dead_letters}.inspect-{uuid.uuid4().hex[:6]}", topic=dead_letters,
                             function="-")
    bus.transport.ensure([topic, dead_letters], [sub, inspector])
    created += [("topic", publisher.topic_path(PROJECT, topic)),
                ("topic", publisher.topic_path(PROJECT, dead_letters)),
                ("subscription", subscriber.subscription_path(PROJECT, sub.name)),
                ("subscription", subscriber.subscription_path(PROJECT, inspector.name))]
    bus.subscriptions = [sub]

    bus.publish_raw(topic, b'{"income_id": "42"}', {"source": "test"})
    for attempt in range(1, attempts + 1):
        assert bus.transport.pull(inspector, 10) == [], f"dead-lettered early, at delivery {attempt}"
        handled = 0
        for _ in range(20):  # pstest hands a nacked message back after a moment
            handled = bus._deliver_batch(sub)
            if handled:
                break
            time.sleep(0.05)
        assert handled == 1, f"delivery {attempt} did not happen"
        assert len(deliveries) == attempt

    # Exactly `attempts` deliveries, then the message is on the dead-letter topic, acknowledged at the source.
    assert deliveries == [b'{"income_id": "42"}'] * attempts
    dead = _pull(subscriber, subscriber.subscription_path(PROJECT, inspector.name))
    assert len(dead) == 1
    assert dead[0].message.data == b'{"income_id": "42"}'
    attrs = dict(dead[0].message.attributes)
    assert attrs == {"source": "test", "function": name, "error": "the database is down"}
    assert bus.dead_lettered == [(name, bus.dead_lettered[0][1])]
    assert bus.transport.pull(sub, 10) == []  # not redelivered any more
    assert len(deliveries) == attempts
