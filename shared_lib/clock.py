"""The one place for "now": every rule that depends on the time of day (future-date checks, check-in matching, the
sweep, closing, "today" in an agency's time zone) asks `now()` or `today_in(tz)`.

The seam, for the local platform and the tests only (shared_lib/config.py refuses it on Cloud Run, like the Auth
emulator):
- `OM_CLOCK` in the environment: an instant with its zone (`2026-11-05T12:00:00Z`, fixed: the clock does not move)
  or an offset from the real time (`+3d`, `-12h`, `+90m`);
- `frozen(at)` / `frozen(offset=...)` in a test: a fixed or shifted clock for the `with` block, in every thread of
  the process (an in-process server sees it too). It wins over `OM_CLOCK`. Blocks nest and may overlap (threads):
  the newest block still open sets the clock, and each block's exit removes only its own setting, so once every
  block has ended the clock is the real one (or OM_CLOCK's) again, whatever order they ended in. A test freezes
  once around a race in its main thread, not in each racing thread; tests/conftest.py fails a test that leaves
  the clock frozen (`is_frozen()`).
Timestamps that only record when something happened (created_at, logs, a PDF's creation date) stay real time.
"""
from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

ENV = "OM_CLOCK"
_OFFSET = re.compile(r"([+-])([0-9]{1,6})([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


@dataclass(frozen=True, slots=True)
class Seam:
    """A fixed instant (`at`) or a shift of the real time (`offset`)."""

    at: datetime | None = None
    offset: timedelta = timedelta(0)

    def now(self) -> datetime:
        return self.at if self.at is not None else datetime.now(UTC) + self.offset


# The open frozen() blocks, oldest first, each under its own token (a Seam may be frozen twice). The list is only
# replaced, never changed in place, so now() reads it without the lock.
_frozen: tuple[tuple[object, Seam], ...] = ()
_frozen_lock = threading.Lock()


@lru_cache(maxsize=8)
def parse(value: str) -> Seam:
    """OM_CLOCK's value as a Seam; ValueError (saying what is accepted) for anything else."""
    text = value.strip()
    m = _OFFSET.fullmatch(text)
    if m:
        sign = -1 if m.group(1) == "-" else 1
        return Seam(offset=sign * timedelta(**{_UNITS[m.group(3)]: int(m.group(2))}))
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        at = None
    if at is None or at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{ENV}={value!r}: give an instant with its zone (2026-11-05T12:00:00Z) or an offset "
                         "from the real time (+3d, -12h, +90m)")
    return Seam(at=at.astimezone(UTC))


def _configured() -> Seam | None:
    from .config import settings

    value = settings().om_clock
    return parse(value) if value else None


def now() -> datetime:
    """The current instant, aware, in UTC."""
    blocks = _frozen
    seam = blocks[-1][1] if blocks else _configured()
    return seam.now() if seam is not None else datetime.now(UTC)


def today_in(tz_name: str) -> date:
    """Today's date in a time zone (IANA name), e.g. the agency's."""
    return now().astimezone(ZoneInfo(tz_name)).date()


@contextmanager
def frozen(at: datetime | None = None, *, offset: timedelta | None = None) -> Iterator[Seam]:
    """Tests: the clock stands at `at` (aware), or runs `offset` away from the real time, inside the block."""
    global _frozen
    if (at is None) == (offset is None):
        raise TypeError("frozen() takes an instant or an offset")
    if at is not None and (at.tzinfo is None or at.utcoffset() is None):
        raise ValueError("frozen() needs an aware datetime")
    seam = Seam(at=at.astimezone(UTC)) if at is not None else Seam(offset=offset)
    token = object()
    with _frozen_lock:
        _frozen = (*_frozen, (token, seam))
    try:
        yield seam
    finally:
        with _frozen_lock:
            _frozen = tuple(block for block in _frozen if block[0] is not token)


def is_frozen() -> bool:
    """Whether a frozen() block is open (in any thread)."""
    return bool(_frozen)


def unfreeze_all() -> int:
    """Tests only: end every open frozen() block (their exits then change nothing); how many there were."""
    global _frozen
    with _frozen_lock:
        count, _frozen = len(_frozen), ()
    return count
