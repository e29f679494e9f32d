"""Local event delivery: Pub/Sub messages → Eventarc-shaped CloudEvents → the registry's handlers, with retry and dead-letter.

Two transports behind one delivery loop: the pstest Pub/Sub fake through google-cloud-pubsub (when
PUBSUB_EMULATOR_HOST is set) or in-memory queues. One poller thread pulls every subscription in turn and hands a
batch to a small pool of delivery threads (`workers`, env BUS_WORKERS, default 2): different subscriptions are
handled at the same time, as Cloud Run's independent functions are, while each subscription has at most one batch
in flight, so its own order, acknowledgement, retry and dead-letter are as with one thread. `drain()` can tell
when nothing is left: a whole pass over every subscription, begun after the drain call, during which no batch was
in flight, every pull found nothing and nothing was published or handled.

Threads are bounded by the database pool too: a handler may hold two connections (statistics: its marks, then its
catch-up) and the process shares one pool (DB_POOL_SIZE + DB_MAX_OVERFLOW, 4 by default) with the HTTP requests,
so more workers need a larger pool (the chain benchmark sets both).

Outbox rows: on pstest an event is published (the outbox row marked) once the fake has it, as on Pub/Sub. The
memory transport dies with the process, so there the bus marks a row published only when every subscription's
handler finished with it (acknowledged or dead-lettered); after a crash the relay sends the rest again.
"""
from __future__ import annotations

import base64
import collections
import logging
import os
import threading
import time
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol

from shared_lib import registry

log = logging.getLogger(__name__)

HANDLED_MEMORY = 100_000  # outbox event ids the memory transport remembers as handled
OUTAGE_BACKOFF = (0.1, 2.0)  # first and longest pause of delivery while the database is unreachable (seconds)
MAX_WORKERS = 8


def default_workers() -> int:
    """BUS_WORKERS (1 … 8), default 2: what the default database pool leaves room for beside the HTTP thread."""
    return min(max(int(os.environ.get("BUS_WORKERS", "2")), 1), MAX_WORKERS)


@dataclass
class Message:
    ack_id: str
    message_id: str
    data: bytes
    attributes: dict[str, str]
    publish_time: datetime


@dataclass(frozen=True)
class Subscription:
    name: str  # <function>
    topic: str
    function: str


class Transport(Protocol):
    durable: bool  # whether a published message outlives this process (then publish = delivered, for the outbox)

    def ensure(self, topics: list[str], subscriptions: list[Subscription]) -> None: ...
    def publish(self, topic: str, data: bytes, attributes: dict[str, str]) -> str: ...
    def pull(self, sub: Subscription, max_messages: int) -> list[Message]: ...
    def ack(self, sub: Subscription, ack_ids: list[str]) -> None: ...
    def nack(self, sub: Subscription, ack_ids: list[str]) -> None: ...


class MemoryTransport:
    """In-process queues with Pub/Sub's fan-out: every subscription of a topic gets its own copy."""

    durable = False  # the queues die with the process

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs_by_topic: dict[str, list[Subscription]] = collections.defaultdict(list)
        self._queues: dict[str, collections.deque[Message]] = {}
        self._outstanding: dict[str, dict[str, Message]] = {}

    def ensure(self, topics, subscriptions) -> None:
        with self._lock:
            for sub in subscriptions:
                if sub.name not in self._queues:
                    self._queues[sub.name] = collections.deque()
                    self._outstanding[sub.name] = {}
                    self._subs_by_topic[sub.topic].append(sub)

    def publish(self, topic, data, attributes) -> str:
        message_id = uuid.uuid4().hex
        now = datetime.now(timezone.utc)
        with self._lock:
            for sub in self._subs_by_topic.get(topic, []):
                self._queues[sub.name].append(Message(uuid.uuid4().hex, message_id, data, dict(attributes), now))
        return message_id

    def pull(self, sub, max_messages) -> list[Message]:
        with self._lock:
            q, out = self._queues[sub.name], []
            while q and len(out) < max_messages:
                m = q.popleft()
                self._outstanding[sub.name][m.ack_id] = m
                out.append(m)
            return out

    def ack(self, sub, ack_ids) -> None:
        with self._lock:
            for a in ack_ids:
                self._outstanding[sub.name].pop(a, None)

    def nack(self, sub, ack_ids) -> None:
        with self._lock:
            for a in ack_ids:
                m = self._outstanding[sub.name].pop(a, None)
                if m is not None:
                    self._queues[sub.name].append(m)


class PubSubTransport:
    """The pstest fake (or any Pub/Sub endpoint) through the official google-cloud-pubsub client."""

    durable = True  # the fake (a process of its own) keeps a message until every subscription acknowledged it

    def __init__(self, project: str) -> None:
        from google.cloud import pubsub_v1

        self.project = project
        self.publisher = pubsub_v1.PublisherClient()
        self.subscriber = pubsub_v1.SubscriberClient()

    def _topic(self, t: str) -> str:
        return self.publisher.topic_path(self.project, t)

    def _sub(self, s: Subscription) -> str:
        return self.subscriber.subscription_path(self.project, s.name)

    def ensure(self, topics, subscriptions) -> None:
        from google.api_core.exceptions import AlreadyExists

        for t in topics:
            try:
                self.publisher.create_topic(request={"name": self._topic(t)})
            except AlreadyExists:
                pass
        for s in subscriptions:
            try:
                # pstest refuses a subscription without an ack deadline (10 s or more).
                self.subscriber.create_subscription(
                    request={"name": self._sub(s), "topic": self._topic(s.topic), "ack_deadline_seconds": 10})
            except AlreadyExists:
                pass

    def publish(self, topic, data, attributes) -> str:
        return self.publisher.publish(self._topic(topic), data, **attributes).result(timeout=30)

    def pull(self, sub, max_messages) -> list[Message]:
        # return_immediately is deprecated for the real service but is what lets one poller serve every
        # subscription of the fake without waiting pstest's fixed 500 ms on each empty one.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            resp = self._pull(sub, max_messages)
        return self._messages(resp)

    def _pull(self, sub, max_messages):
        return self.subscriber.pull(
            request={"subscription": self._sub(sub), "max_messages": max_messages, "return_immediately": True},
            timeout=10)

    @staticmethod
    def _messages(resp) -> list[Message]:
        out = []
        for rm in resp.received_messages:
            m = rm.message
            pt = m.publish_time
            publish_time = datetime.fromtimestamp(pt.timestamp(), tz=timezone.utc) if pt else datetime.now(timezone.utc)
            out.append(Message(rm.ack_id, m.message_id, bytes(m.data), dict(m.attributes), publish_time))
        return out

    def ack(self, sub, ack_ids) -> None:
        if ack_ids:
            self.subscriber.acknowledge(request={"subscription": self._sub(sub), "ack_ids": ack_ids})

    def nack(self, sub, ack_ids) -> None:
        if ack_ids:
            self.subscriber.modify_ack_deadline(
                request={"subscription": self._sub(sub), "ack_ids": ack_ids, "ack_deadline_seconds": 0})


def cloud_event_for(project: str, sub: Subscription, m: Message):
    """Exactly what Eventarc delivers for google.cloud.pubsub.topic.v1.messagePublished."""
    from cloudevents.http import CloudEvent

    publish_time = m.publish_time.isoformat().replace("+00:00", "Z")
    attributes = {
        "specversion": "1.0",
        "id": m.message_id,
        "source": f"//pubsub.googleapis.com/projects/{project}/topics/{sub.topic}",
        "type": "google.cloud.pubsub.topic.v1.messagePublished",
        "datacontenttype": "application/json",
        "time": publish_time,
    }
    data = {
        "message": {
            "data": base64.b64encode(m.data).decode(),
            "attributes": m.attributes,
            "messageId": m.message_id,
            "message_id": m.message_id,
            "publishTime": publish_time,
            "publish_time": publish_time,
        },
        "subscription": f"projects/{project}/subscriptions/{sub.name}",
    }
    return CloudEvent(attributes, data)


class EventBus:
    """Delivers every subscription's messages to its registry function; also the platform's Publisher."""

    def __init__(self, transport: Transport, project: str, *, max_attempts: int = 5, batch: int = 50,
                 workers: int | None = None):
        self.transport = transport
        self.workers = default_workers() if workers is None else min(max(workers, 1), MAX_WORKERS)
        self._pool: ThreadPoolExecutor | None = None
        self._busy: set[str] = set()  # subscriptions with a batch in flight (guarded by _cv)
        self._count_lock = threading.Lock()
        self.project = project
        self.max_attempts = max_attempts
        self.batch = batch
        self.subscriptions: list[Subscription] = []
        self._attempts: dict[tuple[str, str], int] = {}
        self._seq = 0
        self._clean_through = -1  # highest sequence number a whole empty, quiet pass began at
        self._cv = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.delivered = 0
        self.dead_lettered: list[tuple[str, str]] = []
        # Outbox events on a transport that is not durable, until every subscription finished with them:
        # message id → (event id, subscriptions still owing a handled or dead-lettered delivery), and event id →
        # message id (so a relay republishing a row that is still queued here adds no second copy).
        self._owed: dict[str, tuple[uuid.UUID, set[str]]] = {}
        self._in_flight: dict[uuid.UUID, str] = {}
        # Events already handled here: a relay that claimed the row just before we marked it gets it marked
        # again instead of a second delivery (bounded: older ids fall out; the inbox still dedupes those).
        self._handled: collections.OrderedDict[uuid.UUID, None] = collections.OrderedDict()
        self._owed_lock = threading.Lock()
        self._outage_backoff = 0.0  # seconds delivery pauses while the database is unreachable (0: it is not)

    @property
    def marks_when_handled(self) -> bool:
        """The outbox rows' published_at is ours to set, once handled, when a crash would lose the queue."""
        return not self.transport.durable

    # --- setup -----------------------------------------------------------------------------------------------
    def setup(self) -> None:
        subs = [Subscription(name=spec.name, topic=spec.topic, function=spec.name)
                for spec in registry.REGISTRY.values() if spec.topic]
        topics = registry.topics()
        self.transport.ensure(topics, subs)
        self.subscriptions = sorted(subs, key=lambda s: s.name)
        with self._owed_lock:
            gone = {name for _, owing in self._owed.values() for name in owing} - {s.name for s in subs}
        for name in gone:  # a function removed (a test's): its copies are never pulled, so it owes nothing
            self._finished(name, list(self._owed))

    def start(self) -> "EventBus":
        self.setup()
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="event-bus-delivery")
        self._thread = threading.Thread(target=self._run, name="event-bus", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._bump()
        if self._thread:
            self._thread.join(timeout=10)
        if self._pool:
            self._pool.shutdown(wait=True)  # batches in flight finish (acknowledged or put back)

    # --- Publisher protocol (shared_lib.events) -------------------------------------------------------------
    def publish_raw(self, topic: str, data: bytes, attributes: dict[str, str] | None = None) -> str:
        message_id = self.transport.publish(topic, data, attributes or {})
        self._bump()
        return message_id

    def publish_many(self, events) -> list:
        """Hand outbox events to the transport; returns the ids accepted. On a durable transport the caller then
        marks them published; on the memory transport `_finished` does, once every subscriber handled them."""
        done, owed_by_nobody = [], []
        for e in events:
            try:
                if self.transport.durable:
                    self.publish_raw(e.type, e.payload(), e.attributes())
                elif not self._publish_owed(e):
                    owed_by_nobody.append(e.event_id)
                done.append(e.event_id)
            except Exception:
                log.exception("publish of %s failed; the outbox relay will retry", e.event_id)
        if owed_by_nobody:
            self._mark_published(owed_by_nobody)
        return done

    def _publish_owed(self, e) -> bool:
        """Queue one event on the memory transport and remember who owes it. False: nobody owes it — no
        subscription (as on Pub/Sub, such a topic delivers nothing), or already handled here."""
        owing = {s.name for s in self.subscriptions if s.topic == e.type}
        if not owing:
            return False
        with self._owed_lock:
            if e.event_id in self._in_flight:
                return True  # the relay found a row that is still queued here: one copy is enough
            if e.event_id in self._handled:
                return False  # the relay claimed it just before we marked it published
            # Under the lock: no delivery of this message can be booked before it is owed.
            message_id = self.transport.publish(e.type, e.payload(), e.attributes())
            self._owed[message_id] = (e.event_id, owing)
            self._in_flight[e.event_id] = message_id
        self._bump()
        return True

    def _finished(self, subscription: str, message_ids: list[str]) -> None:
        """These deliveries are acknowledged (handled, duplicate, or dead-lettered): an outbox event every
        subscription has finished with is marked published."""
        if self.transport.durable or not message_ids:
            return
        done = []
        with self._owed_lock:
            for message_id in message_ids:
                entry = self._owed.get(message_id)
                if entry is None:
                    continue  # a raw publish (a job, a dead letter), not an outbox event
                event_id, owing = entry
                owing.discard(subscription)
                if not owing:
                    del self._owed[message_id]
                    self._in_flight.pop(event_id, None)
                    self._handled[event_id] = None
                    done.append(event_id)
            while len(self._handled) > HANDLED_MEMORY:
                self._handled.popitem(last=False)
        if done:
            self._mark_published(done)

    @staticmethod
    def _mark_published(event_ids: list) -> None:
        from shared_lib.db import engine
        from shared_lib.outbox import mark_published

        try:
            mark_published(event_ids, engine())
        except Exception:  # the rows stay unpublished: the relay sends them again, the inbox skips the repeat
            log.exception("could not mark %d handled event(s) published; the outbox relay will resend them",
                          len(event_ids))

    # --- delivery --------------------------------------------------------------------------------------------
    def _bump(self) -> None:
        with self._cv:
            self._seq += 1
            self._cv.notify_all()

    def _run(self) -> None:
        idle_sleep, rotation = 0.005, 0
        while not self._stop.is_set():
            with self._cv:
                pass_began_at = self._seq
            submitted = busy = 0
            if self._outage_backoff:  # the database was down at the last failure: wait before trying again
                self._stop.wait(self._outage_backoff)
            # Each pass starts one subscription further on: with every worker taken, no subscription waits
            # behind the same ones every time.
            start, rotation = rotation, (rotation + 1) % max(len(self.subscriptions), 1)
            for sub in self.subscriptions[start:] + self.subscriptions[:start]:
                if self._stop.is_set():
                    return
                with self._cv:
                    # In flight, or no worker free to take a batch now (a pulled batch would wait, and on
                    # Pub/Sub its ack deadline would run): not pulled this pass, and the pass is not clean.
                    if sub.name in self._busy or len(self._busy) >= self.workers:
                        busy += 1
                        continue
                try:
                    messages = self.transport.pull(sub, self.batch)
                except Exception:
                    log.exception("delivery loop error on %s", sub.name)
                    busy += 1
                    continue
                if messages:
                    with self._cv:
                        self._busy.add(sub.name)
                    self._pool.submit(self._deliver_in_worker, sub, messages)
                    submitted += 1
            with self._cv:
                if submitted == 0 and busy == 0 and not self._busy and self._seq == pass_began_at:
                    self._clean_through = pass_began_at
                    self._cv.notify_all()
                if submitted:
                    idle_sleep = 0.005
                    continue
                # Sleep until something is published or handled here (or a drain asks), else poll again soon
                # for messages published by other processes (the scraper, a test's own client).
                self._cv.wait(timeout=idle_sleep)
                idle_sleep = min(idle_sleep * 2, 0.2) if not busy else 0.005

    def _deliver_in_worker(self, sub: Subscription, messages: list[Message]) -> None:
        try:
            self._deliver_batch(sub, messages)
        except Exception:
            log.exception("delivery error on %s", sub.name)
            try:
                self.transport.nack(sub, [m.ack_id for m in messages])
            except Exception:
                log.exception("could not put back %d message(s) of %s", len(messages), sub.name)
        finally:
            with self._cv:
                self._busy.discard(sub.name)
                self._seq += 1  # handling is activity: what a handler published must be seen by a later pass
                self._cv.notify_all()

    def _deliver_batch(self, sub: Subscription, messages: list[Message] | None = None) -> int:
        """Run one subscription's batch in order (one batch per subscription at a time); pulled here when not
        given. How many messages it held."""
        if messages is None:
            messages = self.transport.pull(sub, self.batch)
        if not messages:
            return 0
        spec = registry.REGISTRY[sub.function]
        acks, nacks, finished = [], [], []
        for index, m in enumerate(messages):
            key = (sub.name, m.message_id)
            try:
                spec.entry_point(cloud_event_for(self.project, sub, m))
                acks.append(m.ack_id)
                finished.append(m.message_id)
                self._attempts.pop(key, None)
                with self._count_lock:
                    self.delivered += 1
                self._outage_backoff = 0.0
            except Exception as exc:
                if self._database_down():
                    # Not the message's fault: this and the batch's rest go back uncounted, delivery pauses.
                    # (Pub/Sub's backoff, 10 s doubling to 600 s over 10 attempts, outlasts such an outage too;
                    # the local bus redelivers at once and would otherwise dead-letter within milliseconds.)
                    log.warning("%s: %s failed while the database is unreachable; retrying later: %s",
                                sub.name, m.message_id, exc)
                    nacks.extend(x.ack_id for x in messages[index:])
                    self._outage_backoff = min(max(self._outage_backoff * 2, OUTAGE_BACKOFF[0]), OUTAGE_BACKOFF[1])
                    break
                self._outage_backoff = 0.0
                n = self._attempts.get(key, 0) + 1
                self._attempts[key] = n
                if n >= self.max_attempts:
                    log.error("%s: giving up on %s after %d attempts: %s", sub.name, m.message_id, n, exc)
                    self.transport.publish(registry.dead_letter_topic(sub.topic), m.data,
                                           {**m.attributes, "error": str(exc)[:1000], "function": sub.function})
                    with self._count_lock:
                        self.dead_lettered.append((sub.function, m.message_id))
                    self._attempts.pop(key, None)
                    acks.append(m.ack_id)
                    finished.append(m.message_id)
                else:
                    log.warning("%s: attempt %d for %s failed: %s", sub.name, n, m.message_id, exc)
                    nacks.append(m.ack_id)
        self.transport.ack(sub, acks)
        self.transport.nack(sub, nacks)
        self._finished(sub.name, finished)  # before the pass counts as done: drain() returns with the rows marked
        return len(messages)

    @staticmethod
    def _database_down() -> bool:
        """Asked after a handler failed: can the database be reached at all right now?"""
        from sqlalchemy import text

        from shared_lib.db import engine

        try:
            with engine().connect() as conn:
                conn.execute(text("SELECT 1"))
            return False
        except Exception:
            return True

    def drain(self, timeout: float = 30.0) -> bool:
        """Block until every message published so far (by anyone) has been handled; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cv:
            self._seq += 1
            target = self._seq
            self._cv.notify_all()
            while self._clean_through < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(timeout=min(left, 0.05))
        return True
