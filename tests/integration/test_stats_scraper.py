"""Scraper subscriber counts: good ones stored and announced; poison not stored, dead-lettered, acknowledged."""
from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from shared_lib import events, registry
from tests.factories import deliver_raw, make_agency, make_model, scraper_payload, sql

FN = "stats_scraper_subscriber_counts"
TOPIC = "scraper.subscriber_counts"


class Capture:
    """Stands where Pub/Sub would: records what the functions publish (events and dead letters)."""

    def __init__(self):
        self.raw: list[tuple[str, bytes, dict]] = []
        self.events: list = []

    def publish_raw(self, topic, data, attributes=None):
        self.raw.append((topic, data, dict(attributes or {})))
        return uuid.uuid4().hex

    def publish_many(self, evs):
        self.events += evs
        return [e.event_id for e in evs]

    def dead_letters(self):
        return [(t, d, a) for t, d, a in self.raw if t == f"{TOPIC}.dead-letter"]


@pytest.fixture
def bus(db):
    previous = events.publisher()
    capture = Capture()
    events.set_publisher(capture)
    yield capture
    events.set_publisher(previous)


def snapshots():
    return [tuple(r) for r in sql(
        "SELECT model_id, subscriber_count, observed_at, observed_on, source, recorded_by "
        "FROM statistics_service.subscriber_count_snapshots ORDER BY observed_at, id")]


def outbox_types():
    return [r[0] for r in sql("SELECT type FROM eventing.outbox ORDER BY id")]


AT = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)


def test_a_good_message_is_stored_and_announced(bus):
    g = make_agency(prefix="s")
    make_model(g, "A")
    deliver_raw(FN, scraper_payload(g.id, g.models["A"], 1000, AT))
    assert snapshots() == [(g.models["A"], 1000, AT, date(2026, 11, 20), "scraper", None)]
    assert [(e.type, e.data["subscriber_count"], e.data["observed_on"]) for e in bus.events] == \
        [("model.subscriber_count.updated", 1000, "2026-11-20")]
    assert bus.dead_letters() == []


def test_observed_on_is_the_agencys_local_date(bus):
    g = make_agency(prefix="b", timezone="Europe/Berlin")
    make_model(g, "A")
    late = datetime(2026, 10, 31, 23, 30, tzinfo=timezone.utc)   # 00:30 on 1 November in Berlin
    deliver_raw(FN, scraper_payload(g.id, g.models["A"], 7, late.isoformat().replace("+00:00", "Z")))
    assert snapshots()[0][3] == date(2026, 11, 1)


def test_history_is_kept_a_resend_is_a_no_op_and_a_correction_is_announced(bus):
    g = make_agency(prefix="h")
    make_model(g, "A")
    m = g.models["A"]
    deliver_raw(FN, scraper_payload(g.id, m, 1000, AT), message_id="m1")
    deliver_raw(FN, scraper_payload(g.id, m, 1000, AT), message_id="m1")        # Pub/Sub redelivery: inbox
    deliver_raw(FN, scraper_payload(g.id, m, 1000, AT), message_id="m2")        # the scraper sent it twice
    deliver_raw(FN, scraper_payload(g.id, m, 1100, AT + timedelta(days=1)), message_id="m3")
    deliver_raw(FN, scraper_payload(g.id, m, 1150, AT + timedelta(days=1)), message_id="m4")  # a correction
    assert [(s[1], s[3]) for s in snapshots()] == [(1000, date(2026, 11, 20)), (1150, date(2026, 11, 21))]
    assert [e.data["subscriber_count"] for e in bus.events] == [1000, 1100, 1150]
    assert outbox_types() == ["model.subscriber_count.updated"] * 3


def _other_agency_model():
    other = make_agency(prefix="x")
    make_model(other, "Theirs")
    return other.models["Theirs"]


@pytest.mark.parametrize("case", [
    "malformed_json", "not_an_object", "negative_count", "count_as_text", "fractional_count", "boolean_count",
    "missing_field", "naive_timestamp", "unknown_model", "another_agencys_model", "future_observation",
    "count_too_large"])
def test_bad_input_is_not_stored_and_is_dead_lettered_not_retried(bus, case):
    g = make_agency(prefix="p")
    make_model(g, "A")
    good = {"agency_id": str(g.id), "model_id": str(g.models["A"]), "subscriber_count": 10,
            "observed_at": AT.isoformat()}
    payloads = {
        "malformed_json": b'{"agency_id": ',
        "not_an_object": b"[1, 2]",
        "negative_count": {**good, "subscriber_count": -1},
        "count_as_text": {**good, "subscriber_count": "10"},
        "fractional_count": {**good, "subscriber_count": 10.5},
        "boolean_count": {**good, "subscriber_count": True},
        "missing_field": {k: v for k, v in good.items() if k != "model_id"},
        "naive_timestamp": {**good, "observed_at": "2026-11-20T09:30:00"},
        "unknown_model": {**good, "model_id": str(uuid.uuid4())},
        "another_agencys_model": {**good, "model_id": str(_other_agency_model())},
        "future_observation": {**good, "observed_at": (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()},
        "count_too_large": {**good, "subscriber_count": 2 ** 31},
    }
    raw = payloads[case] if isinstance(payloads[case], bytes) else json.dumps(payloads[case]).encode()
    deliver_raw(FN, raw, message_id=f"bad-{case}")   # returns normally: the delivery is acknowledged
    assert snapshots() == []
    assert outbox_types() == [] and bus.events == []
    assert sql("SELECT count(*) FROM eventing.inbox")[0][0] == 0
    (topic, data, attributes), = bus.dead_letters()
    assert data == raw and attributes["function"] == FN and attributes["error"]


def test_through_pubsub_a_poison_message_is_dead_lettered_once_and_good_ones_still_land(platform, db):
    """The whole path (pstest in CI): the bad message is handed to the dead-letter topic and acknowledged."""
    from emulator.bus import Subscription

    g = make_agency(prefix="q")
    make_model(g, "A")
    dead = registry.dead_letter_topic(TOPIC)
    inspector = Subscription(name=f"inspect-{uuid.uuid4().hex[:8]}", topic=dead, function="-")
    platform.bus.transport.ensure([dead], [inspector])
    events.publisher().publish_raw(TOPIC, scraper_payload(g.id, uuid.uuid4(), 5, AT), {})
    events.publisher().publish_raw(TOPIC, scraper_payload(g.id, g.models["A"], 42, AT), {})
    assert platform.drain(20)
    assert [s[1] for s in snapshots()] == [42]
    pulled = platform.bus.transport.pull(inspector, 10)
    assert [(m.attributes["function"], "not found" in m.attributes["error"]) for m in pulled] == [(FN, True)]
    platform.bus.transport.ack(inspector, [m.ack_id for m in pulled])
    # Nothing left to retry: a second drain finds the subscription empty.
    assert platform.drain(5) and platform.bus.transport.pull(inspector, 10) == []
