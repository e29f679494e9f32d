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

An owner need not wait for the deliveries of a burst to mark it: its rounds *absorb* (`Absorber`) the events
committed to the outbox after the one that made it the owner and not yet claimed by their own delivery, claiming
them in the consumer's inbox and marking what they changed in the round's transaction. Their deliveries then find
them handled (one statement each), and the read models are current as soon as the owner's rounds are, not once
every delivery has come: that is what makes 50,000 sales current in seconds rather than minutes.
"""
from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import TYPE_CHECKING, Callable, Sequence

from .db import UnitOfWork, unit_of_work

if TYPE_CHECKING:
    from .contracts import Contract

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


def sweep(service: str, marked: Callable[[UnitOfWork], Sequence[tuple]], catch_up: Callable[..., dict]) -> int:
    """A scheduled sweep: drain every key with marks still pending, `marked` listing them (each a tuple of the
    arguments of `catch_up`, which describes its drain: key, step, pending, service). Marks are left behind by an owner
    that ran out of its budget or died mid-round, or by an after-commit drain that failed; the next event of that
    key would take them, but it may not come — and the deliveries of a burst an owner absorbed are duplicates
    that drain nothing. A key whose owner is at work is left to it. Returns the keys that had marks."""
    with unit_of_work(service) as uow:
        keys = marked(uow)
    for k in keys:
        drain(**catch_up(*k))
    return len(keys)


# What one round of an owner looks at in the outbox: at most ABSORB_LIMIT events of its agency not yet claimed,
# among the ABSORB_SPAN outbox rows past its cursor (the outbox of every agency goes by the same ids: a
# redelivery of an old event never makes a round read hours of other agencies' rows).
ABSORB_LIMIT = 25_000
ABSORB_SPAN = 200_000


class Absorber:
    """An owner's look into the outbox (module doc): each `take` claims, in the consumers' inbox and in the round's
    transaction, the events of `topics` for `agency_id` that were committed after `anchor` (the event whose
    delivery made this handler the owner) and that no delivery has claimed yet, and returns their payloads as the
    consumers' contracts, for the round to mark and recompute with the rest. Its cursor moves with every take,
    so a looping owner follows a burst as it is written.

    Safe by the inbox: an event is claimed by exactly one of its delivery and an owner's round (the primary key;
    a twin waits for the other's commit, then sees the claim). A rolled-back round claimed nothing, and an event
    the cursor passed before it was committed is left to its delivery, as every event was before."""

    def __init__(self, service: str, agency_id: uuid.UUID, topics: Sequence[str], anchor: uuid.UUID | None):
        from .registry import subscribers

        self.agency_id, self.anchor, self.cursor = agency_id, anchor, None
        self.consumers = {spec.topic: spec for topic in topics for spec in subscribers(topic)
                          if spec.service == service and spec.envelope and spec.message_model is not None}

    def take(self, uow: UnitOfWork) -> list["Contract"]:
        if self.cursor is None and self.anchor is None or not self.consumers:
            return []
        rows = uow.execute(_CANDIDATES, {
            "cursor": self.cursor, "anchor": None if self.anchor is None else str(self.anchor), "a": self.agency_id,
            "consumers": json.dumps([{"type": t, "consumer": s.name} for t, s in self.consumers.items()]),
            "span": ABSORB_SPAN, "limit": ABSORB_LIMIT}).all()
        events = [r for r in rows if r.consumer is not None]
        ends = [r.id for r in rows if r.consumer is None]
        if not ends:  # the anchor is not in the outbox (pruned, or an event that never went through one)
            self.anchor = None
            return []
        # Where the next take starts: after the last candidate when the limit cut the look short, else the end
        # of what it looked at (the span's, or the outbox's newest row).
        self.cursor = max(r.id for r in events) if len(events) == ABSORB_LIMIT else ends[0]
        wanted = self._contracts(events)
        if not wanted:
            return []
        claimed = set(uow.execute(_CLAIM, {"rows": json.dumps(
            [{"consumer": c, "event_id": e} for c, e in sorted(wanted)])}).scalars())
        return [data for (_, event_id), data in wanted.items() if event_id in claimed]

    def _contracts(self, rows) -> dict[tuple[str, str], "Contract"]:
        """Each candidate's data as its consumer's handler would get it (its contract, naming the envelope's
        agency: contracts.payload_of's rule), validated from the JSON text itself; one that does not validate is
        left unclaimed, for its own delivery to dead-letter."""
        from pydantic import ValidationError

        from .contracts import names_agency

        models = {spec.name: spec.message_model for spec in self.consumers.values()}
        out = {}
        for r in rows:
            try:
                data = models[r.consumer].model_validate_json(r.data)
            except ValidationError as exc:
                log.warning("catch-up: outbox row %s left to its delivery: %s", r.id, exc)
                continue
            if not names_agency(data, self.agency_id):
                log.warning("catch-up: outbox row %s names another agency in its data; left to its delivery", r.id)
                continue
            out[(r.consumer, r.event_id)] = data
        return out


# The candidates past the cursor (the anchor's outbox row at first), oldest first, and a last row whose id is
# where the look ended: the span's end or the outbox's newest row, whichever is first.
_CANDIDATES = """
    WITH start AS (
        SELECT COALESCE(CAST(:cursor AS bigint),
                        (SELECT id FROM eventing.outbox WHERE event_id = CAST(:anchor AS uuid))) AS after
    ), consumer AS (
        SELECT * FROM jsonb_to_recordset(CAST(:consumers AS jsonb)) AS c(type text, consumer text)
    ), candidate AS (
        SELECT o.id, c.consumer, CAST(o.event_id AS text) AS event_id, CAST(o.payload -> 'data' AS text) AS data
        FROM start s
        JOIN eventing.outbox o ON o.id > s.after AND o.id <= s.after + :span
        JOIN consumer c ON c.type = o.type
        WHERE o.agency_id = :a
          AND NOT EXISTS (SELECT 1 FROM eventing.inbox i
                          WHERE i.consumer = c.consumer AND i.event_id = CAST(o.event_id AS text))
        ORDER BY o.id
        LIMIT :limit
    )
    SELECT id, consumer, event_id, data FROM candidate
    UNION ALL
    SELECT LEAST(s.after + :span, (SELECT max(id) FROM eventing.outbox)), NULL, NULL, NULL FROM start s
    WHERE s.after IS NOT NULL
    """

# The claims, in one order for every claimer (two owners claiming overlapping events never deadlock).
_CLAIM = """
    INSERT INTO eventing.inbox (consumer, event_id)
    SELECT r.consumer, r.event_id FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(consumer text, event_id text)
    ORDER BY r.consumer, r.event_id
    ON CONFLICT DO NOTHING
    RETURNING event_id
    """
