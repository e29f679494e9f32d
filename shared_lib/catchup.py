"""One catch-up at a time per key, and never a lost mark: how event handlers coalesce a burst (issue #13).

An event handler only *marks* what its event changed (in its own transaction) and, after commit, calls
`drain`. Whoever gets the key's transaction advisory lock (`pg_try_advisory_xact_lock`, the same key the
service's blocking lock takes) becomes the catch-up owner: it runs `step` — take every pending mark, recompute
them from the truth — one transaction per round, until nothing is pending. A handler that does not get the lock
returns at once: the holder looks for pending marks again after it lets go, and sees that handler's marks,
which were committed before it tried the lock. So in a burst one owner recomputes in large batches while the
other deliveries cost a mark and a failed try each.

Why this is safe (no mark is ever left behind by a returning handler): a handler H commits its marks, then tries
the lock. If the try fails, some owner O held the lock at that moment; O's `step` may have run before H's
commit, but O, after its transaction ends (lock released), either loops (it took something) or checks for
pending marks in a new transaction — both after H's commit — and loops if there are any. When O's next try
fails in turn, the new holder is bound by the same rule. A transaction-level lock is released on commit,
rollback or a dropped connection: an owner that dies strands nothing that the next event's drain (or the
nightly reconciliation) does not take.

A holder of the *blocking* lock that takes pending marks (a full recalculation, a rebuild) must call
`drain_after_commit` for the same reason: a handler's try may have failed against it.
"""
from __future__ import annotations

import logging
import re
import time
from typing import Callable

from .db import UnitOfWork, unit_of_work

log = logging.getLogger(__name__)

# An owner stops starting rounds after this long (event functions time out after 300 s by default): what is still
# pending is taken by the next event's drain or the nightly reconciliation.
BUDGET_SECONDS = 240.0


def try_lock(uow: UnitOfWork, key: str) -> bool:
    """The key's transaction advisory lock, without waiting (the key is hashed as the blocking lock hashes it)."""
    if uow.first_read is not None:  # asked with the pool's ping (_try_lock_read): no statement of its own
        return bool(uow.first_read.row[0])
    return bool(uow.execute("SELECT pg_try_advisory_xact_lock(hashtext(:k))", {"k": key}).scalar())


# A key that can stand in the SQL text as a literal: the services' keys are a prefix, UUIDs and a period.
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_:.-]{1,200}")


def _try_lock_read(key: str) -> str | None:
    """The try as a complete statement for unit_of_work(first_read=...): sent with the ping that begins the round's
    transaction, one round trip less for every delivery that finds an owner at work; None for any other key."""
    return f"SELECT pg_try_advisory_xact_lock(hashtext('{key}'))" if _PLAIN_KEY.fullmatch(key) else None


def drain(key: str, step: Callable[[UnitOfWork], bool], pending: Callable[[UnitOfWork], bool], *,
          service: str | None = None, budget_seconds: float = BUDGET_SECONDS) -> int:
    """Run `step` under the key's lock, a transaction per round, until a round takes nothing and nothing is
    pending after the lock is released; return at once (0) when another owner holds the lock. `step` returns
    whether it took anything; `pending` whether anything is marked. Returns the rounds that took something."""
    rounds, started = 0, time.monotonic()
    first_read = _try_lock_read(key)
    while True:
        with unit_of_work(service, first_read=first_read) as uow:
            if not try_lock(uow, key):
                return rounds  # the holder looks again after it lets go
            took = step(uow)
        if took:
            rounds += 1
        else:
            with unit_of_work(service) as uow:
                if not pending(uow):
                    return rounds
        if time.monotonic() - started > budget_seconds:
            log.warning("catch-up %s: still pending after %d rounds in %.0f s; left to the next drain",
                        key, rounds, time.monotonic() - started)
            return rounds


def drain_after_commit(uow: UnitOfWork, key: str, step: Callable[[UnitOfWork], bool],
                       pending: Callable[[UnitOfWork], bool], *, service: str | None = None) -> None:
    """After `uow` commits (its marks, or a blocking lock holder's work), drain the key."""
    uow.after_commit(lambda: drain(key, step, pending, service=service))
