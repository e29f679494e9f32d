"""firestore.rules (Google's rules-aware emulator): the chatter app creates a time event but can never write or
forge the outcome fields the backend writes back (status, reason, detail, entry_id, processed_at)."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from tests.integration.test_stats_firestore_rules import (A, CHATTER_A, CHATTER_A2, MANAGER_A, OWNER_A, _event,
                                                          admin_set, create, get, rules_emulator, token, update)

__all__ = ["rules_emulator"]  # the module-scoped fixture, shared with the other rules tests

OUTCOME = {"status": "recorded", "reason": "no-shift", "detail": "made up", "entry_id": str(uuid.uuid4()),
           "processed_at": datetime.now(timezone.utc), "manager_uid": "manager-a"}


@pytest.mark.parametrize("field", sorted(OUTCOME))
def test_the_app_cannot_create_a_time_event_with_an_outcome_field(rules_emulator, field):
    path = f"agencies/{A}/time_events/{uuid.uuid4()}"
    assert create(rules_emulator, path, _event(**{field: OUTCOME[field]}), CHATTER_A) == 403
    assert create(rules_emulator, path, _event(), CHATTER_A) == 200  # the same document without it is fine


def test_the_app_reads_the_written_back_outcome_but_cannot_change_it(rules_emulator):
    base = rules_emulator
    path = f"agencies/{A}/time_events/{uuid.uuid4()}"
    assert create(base, path, _event(), CHATTER_A) == 200
    admin_set(base, path, {**_event(), "status": "rejected", "reason": "future-time", "detail": "in the future",
                           "manager_uid": "manager-a"})
    for tok in (CHATTER_A, MANAGER_A, OWNER_A):
        assert get(base, path, tok) == 200
    assert get(base, path, CHATTER_A2) == 403
    assert get(base, path, token("manager-a2", agency_id=A, role="manager")) == 403  # another team's manager
    for tok in (CHATTER_A, MANAGER_A, OWNER_A):
        assert update(base, path, {"status": "recorded"}, tok) == 403
        assert update(base, path, {"reason": "none"}, tok) == 403
