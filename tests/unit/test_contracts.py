"""Event contracts (shared_lib/contracts.py): one model per event type, declared by every consumer, enforced."""
from __future__ import annotations

import base64
import json
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from cloudevents.http import CloudEvent

from shared_lib import contracts, events, registry
from shared_lib.contracts import CONTRACTS, Contract
from shared_lib.eventfn import dispatch

AGENCY = uuid.uuid4()


def _deployed() -> list[registry.FunctionSpec]:
    registry.load_all()
    services = set(registry.service_names())
    return [s for s in registry.REGISTRY.values() if s.service in services]


def _declared_contracts(cls=Contract) -> list[type[Contract]]:
    """Every Contract subclass that names an event type itself (not inherited)."""
    found = []
    for sub in cls.__subclasses__():
        if "event_type" in sub.__dict__:
            found.append(sub)
        found += _declared_contracts(sub)
    return found


def test_every_event_type_published_or_consumed_has_exactly_one_contract():
    specs = _deployed()
    services = {s.service for s in specs}
    published = {t for t, by in registry.PUBLISHED.items() if by & services}
    consumed = {s.topic for s in specs if s.trigger == "pubsub"}
    assert published | consumed == set(CONTRACTS)
    types = [m.event_type for m in _declared_contracts()]
    assert sorted(types) == sorted(set(types)) == sorted(CONTRACTS)  # one model per type, no second one anywhere
    assert all(CONTRACTS[m.event_type] is m for m in _declared_contracts())


def test_every_consumer_declares_its_topics_contract():
    for spec in (s for s in _deployed() if s.trigger == "pubsub"):
        contract = CONTRACTS[spec.topic]
        assert spec.message_model is contract, spec.name
        assert spec.envelope is contract.envelope, spec.name


def test_every_contract_names_its_agency():
    for model in CONTRACTS.values():
        field = model.model_fields["agency_id"]
        assert field.is_required() and field.annotation is uuid.UUID, model.__name__


def test_payloads_keep_their_encoding():
    """What consumers already parse: ISO dates, money strings with two places, string ids, the UTC offset."""
    at = datetime(2026, 11, 10, 12, 30, tzinfo=timezone.utc)
    count = contracts.SubscriberCountUpdated(agency_id=AGENCY, model_id=AGENCY, subscriber_count=500, observed_at=at,
                                             observed_on=date(2026, 11, 10), source="manual")
    assert contracts.payload("model.subscriber_count.updated", count) == {
        "agency_id": str(AGENCY), "model_id": str(AGENCY), "subscriber_count": 500,
        "observed_at": "2026-11-10T12:30:00+00:00", "observed_on": "2026-11-10", "source": "manual"}
    snap = contracts.IncomeSnapshot(type="tip_sale", sale_date=date(2026, 11, 5), model_id=None, chatter_id=None,
                                    manager_id=None, assigned_to_user_id=None, gross_amount=Decimal("100"),
                                    fee_amount=Decimal("20.0"), net_amount=Decimal("80.00"))
    sale = contracts.IncomeRegistered(income_id=AGENCY, agency_id=AGENCY, schedule_id=None, reason="registered",
                                      sale_date=date(2026, 11, 5), old_sale_date=None, model_id=None, chatter_id=None,
                                      old=None, new=snap)
    data = contracts.payload("income.registered", sale)
    assert list(data) == ["income_id", "agency_id", "schedule_id", "reason", "sale_date", "old_sale_date", "model_id",
                          "chatter_id", "old", "new"]
    assert (data["new"]["gross_amount"], data["new"]["fee_amount"], data["new"]["sale_date"]) == \
        ("100.00", "20.00", "2026-11-05")
    settings = contracts.UserSettingsUpdated(version_id=AGENCY, effective_from=date(2026, 11, 1), effective_to=None,
                                             replaced=False, agency_id=AGENCY, user_id=AGENCY)
    assert list(contracts.payload("user.settings.updated", settings)) == \
        ["version_id", "effective_from", "effective_to", "replaced", "agency_id", "user_id"]


def test_a_model_of_another_type_is_refused_at_emit():
    closed = contracts.PeriodClosed(agency_id=AGENCY, period="2026-11")
    with pytest.raises(TypeError, match="not the contract"):
        contracts.payload("financial_calculation.completed", closed)


class _Recorder:
    """Publisher double: what dispatch dead-letters."""

    marks_when_handled = False

    def __init__(self):
        self.raw: list[tuple[str, bytes, dict]] = []

    def publish_raw(self, topic, data, attributes=None):
        self.raw.append((topic, data, attributes or {}))
        return "m"

    def publish_many(self, evs):
        return []


@pytest.fixture
def dead_letters():
    recorder = _Recorder()
    events.set_publisher(recorder)
    yield recorder
    events.set_publisher(None)


def _delivery(type: str, data: dict, *, agency_id) -> CloudEvent:
    envelope = {"event_id": str(uuid.uuid4()), "type": type, "occurred_at": datetime.now(timezone.utc).isoformat(),
                "agency_id": None if agency_id is None else str(agency_id), "subject": "s", "data": data}
    return CloudEvent({"specversion": "1.0", "id": uuid.uuid4().hex, "source": "//pubsub.googleapis.com/test",
                       "type": "google.cloud.pubsub.topic.v1.messagePublished"},
                      {"message": {"data": base64.b64encode(json.dumps(envelope).encode()).decode(),
                                   "messageId": uuid.uuid4().hex,
                                   "publishTime": datetime.now(timezone.utc).isoformat()}})


def _expense(**changes) -> dict:
    data = {"expense_id": str(uuid.uuid4()), "agency_id": str(AGENCY), "schedule_id": None, "reason": "recorded",
            "expense_date": "2026-11-10", "old_expense_date": None, "old": None,
            "new": {"expense_date": "2026-11-10", "amount": "10.00", "source": "ads"}}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not _MISSING}


_MISSING = object()
POISON = {
    "a field missing": (_expense(expense_date=_MISSING), AGENCY),
    "a wrong type": (_expense(expense_date=20261110), AGENCY),
    "money as a float": (_expense(new={"expense_date": "2026-11-10", "amount": 10.5, "source": "ads"}), AGENCY),
    "no agency in the payload": (_expense(agency_id=_MISSING), AGENCY),
    "no agency on the envelope": (_expense(), None),
    "another agency on the envelope": (_expense(), uuid.uuid4()),
}


@pytest.mark.parametrize("function", ["payouts_on_expense_recorded", "stats_on_expense_recorded"])
@pytest.mark.parametrize("case", sorted(POISON))
def test_a_payload_off_its_contract_is_dead_lettered_not_retried_nor_handled(dead_letters, function, case):
    registry.load_all()
    spec = registry.REGISTRY[function]
    data, agency_id = POISON[case]
    calls = []
    dispatch(spec, lambda uow, data: calls.append(data), _delivery("expense.recorded", data, agency_id=agency_id))
    # Returned (acknowledged: not retried) without running the handler, and the message is on the dead-letter topic.
    assert calls == []
    assert [(t, a["function"]) for t, _, a in dead_letters.raw] == [("expense.recorded.dead-letter", function)]


def test_a_payload_on_its_contract_is_handed_over_typed():
    event = events.Event(event_id=uuid.uuid4(), type="expense.recorded", occurred_at=datetime.now(timezone.utc),
                         agency_id=AGENCY, subject="s", data=_expense())
    data = contracts.payload_of(event, contracts.ExpenseRecorded)
    assert isinstance(data, contracts.ExpenseRecorded) and data.days() == {date(2026, 11, 10)}
    assert data.agency_id == AGENCY
