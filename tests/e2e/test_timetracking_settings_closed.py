"""Time-tracking settings versions and closed periods, through HTTP: refused like the financial, model and platform
settings (409 period-closed whenever the version would apply on a day of a closed period), nothing written."""
from __future__ import annotations

from tests import factories as f
from tests.e2e.test_timetracking_api import API, h, refused, team

__all__ = ["team"]

BODY = {"grace_minutes": 3, "late_event_threshold_minutes": 20, "max_shift_hours": 14,
        "fee_per_late_minute": "0.25", "fee_per_missed_shift": "40.00"}


def _put(client, owner, effective_from, **over):
    return client.put(f"{API}/settings/", headers=h(owner), json={**BODY, **over, "effective_from": effective_from})


def _history(client, owner):
    r = client.get(f"{API}/settings/", headers=h(owner))
    assert r.status_code == 200, r.get_json()
    return [(v["effective_from"], v["grace_minutes"]) for v in r.get_json()["history"]]


def test_a_version_taking_effect_in_a_closed_period_is_409_and_writes_nothing(client, team):
    owner = team[0]
    f.close_period(owner, "2026-10")
    before = f.counts()
    refused(client, "put", f"{API}/settings/", owner, 409, "period-closed",
            json={**BODY, "effective_from": "2026-10-15"})
    assert f.counts() == before and f.outbox_data("timetracking.settings.updated") == []
    r = _put(client, owner, "2026-11-01")   # the first day after the closed period
    assert r.status_code == 200, r.get_json()
    assert _history(client, owner) == [("2026-11-01", 3)]


def test_a_back_dated_version_reaching_into_a_closed_period_is_409_and_writes_nothing(client, team):
    owner = team[0]
    assert _put(client, owner, "2026-11-01").status_code == 200
    f.close_period(owner, "2026-10")
    before = f.counts()
    # From 2026-09-01 the version would apply through 2026-10-31 (the November version follows): the closed
    # October would be re-priced and its lateness graced differently.
    r = refused(client, "put", f"{API}/settings/", owner, 409, "period-closed",
                json={**BODY, "grace_minutes": 10, "effective_from": "2026-09-01"})
    assert "2026-10" in r["detail"]
    # Replacing a version that reaches into it is refused too; so is one with no later version (up to today).
    assert _put(client, owner, "2026-10-01", grace_minutes=10).status_code == 409
    assert f.counts() == before
    assert _history(client, owner) == [("2026-11-01", 3)]
    assert len(f.outbox_data("timetracking.settings.updated")) == 1   # only the accepted November version


def test_a_back_dated_version_that_ends_before_the_closed_period_is_accepted(client, team):
    owner = team[0]
    assert _put(client, owner, "2026-10-01").status_code == 200
    f.close_period(owner, "2026-11")
    # From 2026-09-15 it applies only until 2026-09-30 (the October version follows): November is untouched.
    r = _put(client, owner, "2026-09-15", grace_minutes=7)
    assert r.status_code == 200, r.get_json()
    assert _history(client, owner) == [("2026-10-01", 3), ("2026-09-15", 7)]
    # The October version itself reaches November (no later version): changing it is refused.
    assert _put(client, owner, "2026-10-01", grace_minutes=9).status_code == 409
    assert _history(client, owner) == [("2026-10-01", 3), ("2026-09-15", 7)]


def test_another_agencys_closed_period_does_not_matter(client, team):
    owner = team[0]
    other = f.make_agency().owner
    f.close_period(other, "2026-10")
    assert _put(client, owner, "2026-10-15").status_code == 200
