"""The Firestore documents the backend writes, after the real flows, match docs/firestore/<collection>.schema.json
(generated from the writers' pydantic models by `python -m emulator generate`)."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from shared_lib import clock, firestore
from tests.e2e.test_payouts_golden import AFTER_NOVEMBER, _ok, golden  # noqa: F401  (the fixture: BUSINESS_RULES' example via HTTP)

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "firestore"


def as_json(value):
    """A Firestore document as JSON: timestamps as RFC 3339 strings (what the schemas say they are)."""
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    if isinstance(value, datetime):
        assert value.tzinfo is not None
        return value.isoformat()
    return value


def validator(collection: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{collection}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def check(collection: str, docs: list[dict]) -> None:
    v = validator(collection)
    assert docs, f"no {collection} document was written"
    for d in docs:
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(as_json(d))]
        assert not errors, (collection, errors, d)


def collection_docs(agency: str, collection: str) -> list[dict]:
    return [s.to_dict() for s in firestore.client().collection(f"agencies/{agency}/{collection}").stream()]


def test_every_collection_the_backend_writes_has_a_schema_file():
    from shared_lib import registry

    registry.load_all()
    assert sorted(firestore.DOCUMENTS) == ["dashboard_chatters", "dashboards", "earnings", "time_events"]
    assert sorted(p.name for p in SCHEMAS.glob("*.schema.json")) == \
        ["dashboard_chatters.schema.json", "dashboards.schema.json", "earnings.schema.json",
         "time_events.schema.json"]


def test_documents_written_by_the_real_flows_match_their_schemas(client, golden, platform):  # noqa: F811
    ids, heads = golden
    owner = heads["owner"]
    agency = _ok(client.get("/api/me/", headers=owner))["agency_id"]
    earnings = collection_docs(agency, "earnings")
    assert {d["status"] for d in earnings} == {"open"}
    check("earnings", earnings)
    dashboards = collection_docs(agency, "dashboards")
    assert "2026-11" in {d["period"] for d in dashboards}  # its figures: tests/integration/test_stats_dashboard.py
    check("dashboards", dashboards)
    check("dashboard_chatters", collection_docs(agency, "dashboards/2026-11/chatters"))

    with clock.frozen(AFTER_NOVEMBER):  # a period is closed once it has ended
        _ok(client.post("/api/financials/periods/2026-11/close/", headers=owner))
    assert _ok(client.post("/_emulator/drain"))["drained"] is True
    closed = collection_docs(agency, "earnings")
    # November is closed; the later months the settings reach (up to today) stay open.
    assert {d["status"] for d in closed if d["period"] == "2026-11"} == {"closed"}
    assert {d["status"] for d in closed if d["period"] != "2026-11"} <= {"open"} and len(closed) == len(earnings)
    check("earnings", closed)
    check("dashboards", collection_docs(agency, "dashboards"))

    # The chatter app's time events: one recorded on a shift, one rejected (in the future), one pending (a second
    # check-in while the first is open; the app's `at` counts only within 5 minutes of the server's time).
    c1 = _ok(client.get(f"/api/users/{ids['C1']}/", headers=owner))
    now = datetime.now(UTC).replace(microsecond=0)
    _ok(client.post("/api/timetracking/shifts/", headers=owner, json={
        "user_id": ids["C1"], "starts_at": (now - timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat()}), 201)
    sent = {"recorded": now - timedelta(minutes=1), "rejected": now + timedelta(hours=1),
            "pending": now + timedelta(minutes=2)}
    for expected, at in sent.items():
        path = f"agencies/{agency}/time_events/{expected}-{uuid.uuid4().hex[:6]}"
        document = {"uid": c1["firebase_uid"], "user_id": ids["C1"], "kind": "check_in", "at": at,
                    "note": "from the app"}
        firestore.client().document(path).set(document)
        assert platform.deliver_document(path, document) == ["timetracking_time_event"]
    assert _ok(client.post("/_emulator/drain"))["drained"] is True
    events = collection_docs(agency, "time_events")
    assert sorted(d["status"] for d in events) == ["pending", "recorded", "rejected"]
    check("time_events", events)


@pytest.mark.parametrize("collection, bad", [
    ("earnings", {"status": "settled"}),         # open, closed or paid (issue #15) only
    ("earnings", {"total": 1550.22}),            # money is a decimal string, never a float
    ("time_events", {"status": "done"}),
    ("dashboards", {"extra": 1}),
    ("dashboard_chatters", {"afv": 4.67}),       # money is a decimal string, never a float
])
def test_the_schemas_refuse_what_the_writers_never_write(collection, bad):
    base = {"earnings": {"user_id": "u", "uid": None, "manager_uid": None, "period": "2026-11", "lines": [],
                         "total": "0.00", "status": "open", "updated_at": "2026-11-30T10:00:00+00:00", "version": 1},
            "time_events": {"uid": "x", "user_id": "u", "kind": "check_in", "at": "2026-11-30T10:00:00+00:00",
                            "status": "recorded", "reason": None, "detail": None, "entry_id": "e",
                            "processed_at": "2026-11-30T10:00:01+00:00", "manager_uid": None},
            "dashboard_chatters": {"agency_id": "a", "period": "2026-11", "user_id": "u", "uid": None,
                                   "manager_uid": None, "display_name": "C1", "net": "14000.00",
                                   "subscriber_count": 3000, "afv": "4.67", "version": 1,
                                   "updated_at": "2026-11-30T10:00:00+00:00"},
            "dashboards": None}[collection]
    v = validator(collection)
    if base is not None:
        assert v.is_valid(base)
        assert not v.is_valid({**base, **bad})
    else:
        assert not v.is_valid(bad)
