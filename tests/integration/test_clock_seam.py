"""The clock seam (shared_lib/clock.py): frozen in tests, OM_CLOCK for the local platform, refused on Cloud Run."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from functions.timetracking import service
from functions.timetracking.schemas import ClockCommand
from shared_lib import clock
from shared_lib.dated_records import ensure_not_future
from shared_lib.db import unit_of_work
from shared_lib.errors import BadRequest, Invalid
from shared_lib.periods import local_today
from shared_lib.rbac import Caller, Role
from tests import factories as f

REPO_ROOT = Path(__file__).resolve().parents[2]
# Left out of the subprocesses' environment: each would refuse a cloud start on its own.
SEAMS = ("K_SERVICE", "OM_CLOCK", "PYTHONPATH", "FIREBASE_AUTH_EMULATOR_HOST", "FIREBASE_CERT_URL")


def _caller(timezone: str = "UTC") -> Caller:
    return Caller(user_id=uuid.uuid4(), agency_id=uuid.uuid4(), role=Role.owner, firebase_uid="u",
                  display_name=None, email=None, agency_timezone=timezone)


def test_a_future_date_check_follows_the_frozen_clock_to_the_minute():
    with clock.frozen(datetime(2026, 10, 31, 23, 59, tzinfo=UTC)):
        with pytest.raises(Invalid) as refused:
            ensure_not_future(_caller(), date(2026, 11, 1), "sale_date")
        assert refused.value.errors[0]["loc"] == ["body", "sale_date"]
        ensure_not_future(_caller(), date(2026, 10, 31), "sale_date")
    with clock.frozen(datetime(2026, 11, 1, 0, 0, tzinfo=UTC)):
        ensure_not_future(_caller(), date(2026, 11, 1), "sale_date")


def test_today_is_the_agency_s_today_of_the_frozen_instant():
    with clock.frozen(datetime(2026, 10, 31, 23, 59, tzinfo=UTC)):
        assert clock.now() == datetime(2026, 10, 31, 23, 59, tzinfo=UTC)
        assert local_today("UTC") == clock.today_in("UTC") == date(2026, 10, 31)
        assert local_today("Pacific/Auckland") == date(2026, 11, 1)
        assert local_today("America/Los_Angeles") == date(2026, 10, 31)
    with clock.frozen(offset=timedelta(days=-400)):
        assert abs(clock.now() - (datetime.now(UTC) - timedelta(days=400))) < timedelta(seconds=5)
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)  # the block is over: real time again


def test_a_check_in_recorded_after_the_frozen_now_is_in_the_future(db):
    owner = f.make_agency().owner
    chatter = f.make_user(owner)
    f.shift(chatter, datetime(2026, 10, 12, 9, tzinfo=UTC), datetime(2026, 10, 12, 19, tzinfo=UTC))
    at = datetime(2026, 10, 12, 9, 5, tzinfo=UTC)
    with clock.frozen(datetime(2026, 10, 12, 9, 0, tzinfo=UTC)), unit_of_work() as uow:
        with pytest.raises(BadRequest) as refused:
            service.clock_in(uow=uow, caller=owner.caller(), cmd=ClockCommand(user_id=chatter.id, at=at))
    assert refused.value.errors[0]["loc"] == ["body", "at"]
    with clock.frozen(datetime(2026, 10, 12, 9, 5, tzinfo=UTC)), unit_of_work() as uow:
        entry = service.clock_in(uow=uow, caller=owner.caller(), cmd=ClockCommand(user_id=chatter.id, at=at))
    assert entry.checked_in_at == at
    # A chatter's own check-in takes the clock's now as its time.
    with clock.frozen(datetime(2026, 10, 12, 19, 30, tzinfo=UTC)), unit_of_work() as uow:
        closed = service.clock_out(uow=uow, caller=chatter.caller(), cmd=ClockCommand())
    assert (closed.checked_out_at, closed.worked_minutes) == (datetime(2026, 10, 12, 19, 30, tzinfo=UTC), 625)


def test_frozen_takes_one_aware_instant_or_an_offset():
    with pytest.raises(ValueError):
        clock.frozen(datetime(2026, 11, 1)).__enter__()
    with pytest.raises(TypeError):
        clock.frozen().__enter__()


@pytest.mark.parametrize("value", ["2026-11-05T12:00:00", "tomorrow", "+3w", "3d", "+1.5h"])
def test_om_clock_accepts_an_instant_with_its_zone_or_an_offset_only(value):
    with pytest.raises(ValueError, match="OM_CLOCK"):
        clock.parse(value)


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in SEAMS}
    return subprocess.run([sys.executable, "-c", code], env={**base, "PYTHONPATH": str(REPO_ROOT), **env},
                          capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)


# Loads a packaged function's entry module (its declarations check the environment) and then asks the clock.
PACKAGED = ("import functions.timetracking.main; from shared_lib import clock; from shared_lib.periods import "
            "local_today; print(clock.now().isoformat(), local_today('Pacific/Auckland'))")


def test_om_clock_sets_the_time_of_a_locally_loaded_function():
    fixed = _python(PACKAGED, OM_CLOCK="2026-11-05T12:00:00Z")
    assert fixed.returncode == 0, fixed.stderr
    assert fixed.stdout.split() == ["2026-11-05T12:00:00+00:00", "2026-11-06"]
    shifted = _python(PACKAGED, OM_CLOCK="-3d")
    assert shifted.returncode == 0, shifted.stderr
    then = datetime.fromisoformat(shifted.stdout.split()[0])
    assert abs(then - (datetime.now(UTC) - timedelta(days=3))) < timedelta(minutes=1)


def test_om_clock_is_refused_on_cloud_run():
    for code in ("from shared_lib.config import settings; settings()", PACKAGED):
        refused = _python(code, K_SERVICE="timetracking", OM_CLOCK="2026-11-05T12:00:00Z")
        assert refused.returncode != 0
        assert "EmulatorInCloudError" in refused.stderr and "OM_CLOCK" in refused.stderr
        assert "refusing to start" in refused.stderr
    # The control: the same cloud marker without the seam starts.
    assert _python("from shared_lib.config import settings; settings()", K_SERVICE="timetracking").returncode == 0


def test_a_misspelt_om_clock_fails_at_startup():
    refused = _python("from shared_lib.config import settings; settings()", OM_CLOCK="next tuesday")
    assert refused.returncode != 0 and "OM_CLOCK='next tuesday'" in refused.stderr
