"""shared_lib.catchup: one owner per key drains every mark; a handler that cannot get the lock returns at once and
its marks are still taken (no lost wake-up), however the deliveries interleave. Real PostgreSQL, real threads."""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from shared_lib import catchup
from shared_lib.db import engine, unit_of_work

KEY = "catchup-test:agency"


@pytest.fixture
def marks(db):
    with engine().begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS public.catchup_test_marks (n int PRIMARY KEY)"))
        conn.execute(text("TRUNCATE public.catchup_test_marks"))
    yield
    with engine().begin() as conn:
        conn.execute(text("DROP TABLE public.catchup_test_marks"))


def _mark(n: int) -> None:
    with unit_of_work() as uow:
        uow.execute("INSERT INTO public.catchup_test_marks (n) VALUES (:n)", {"n": n})


def _pending(uow) -> bool:
    return uow.execute("SELECT EXISTS (SELECT 1 FROM public.catchup_test_marks)").scalar()


class Owner:
    """A `step` that takes every mark and (slowly, to widen every race window) 'recomputes' them."""

    def __init__(self, work_seconds: float):
        self.work_seconds, self.taken, self.rounds = work_seconds, [], 0
        self._lock = threading.Lock()

    def step(self, uow) -> bool:
        rows = uow.execute("DELETE FROM public.catchup_test_marks RETURNING n").scalars().all()
        time.sleep(self.work_seconds)
        with self._lock:
            self.taken.extend(rows)
            self.rounds += bool(rows)
        return bool(rows)


def test_a_burst_of_deliveries_is_drained_completely_by_few_rounds(marks):
    owner = Owner(work_seconds=0.02)
    returned_at_once = []

    def delivery(n: int) -> None:
        _mark(n)
        started = time.monotonic()
        rounds = catchup.drain(KEY, owner.step, _pending)
        if rounds == 0:
            returned_at_once.append(time.monotonic() - started)

    threads = [threading.Thread(target=delivery, args=(n,)) for n in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(owner.taken) == list(range(200))  # every mark taken exactly once, none left
    with unit_of_work() as uow:
        assert not _pending(uow)
    assert owner.rounds < 100  # coalesced: far fewer rounds than deliveries
    assert returned_at_once  # most deliveries did not wait for the owner


def test_a_delivery_returns_at_once_while_another_owns_the_key_and_the_owner_takes_its_mark(marks):
    owner = Owner(work_seconds=0.0)
    inside, release = threading.Event(), threading.Event()

    def slow_step(uow) -> bool:
        took = owner.step(uow)
        if took and not release.is_set():
            inside.set()
            release.wait(10)
        return took

    _mark(1)
    first = threading.Thread(target=catchup.drain, args=(KEY, slow_step, _pending))
    first.start()
    assert inside.wait(10)

    _mark(2)  # a second delivery while the first owns the key: marks, fails the try, returns
    started = time.monotonic()
    assert catchup.drain(KEY, owner.step, _pending) == 0
    assert time.monotonic() - started < 1

    release.set()
    first.join(10)
    assert sorted(owner.taken) == [1, 2]  # the owner looked again after letting go and took the second mark


def test_a_mark_committed_while_the_owner_finds_nothing_is_still_taken(marks):
    """The lost wake-up window: the owner's last round took nothing, a delivery marks and fails its try before
    that round ends; the owner's look after letting go finds the mark."""
    owner = Owner(work_seconds=0.0)
    inside, release = threading.Event(), threading.Event()

    def empty_then_wait(uow) -> bool:
        took = owner.step(uow)
        if not took and not release.is_set():
            inside.set()
            release.wait(10)
        return took

    first = threading.Thread(target=catchup.drain, args=(KEY, empty_then_wait, _pending))
    first.start()
    assert inside.wait(10)
    _mark(3)
    assert catchup.drain(KEY, owner.step, _pending) == 0
    release.set()
    first.join(10)
    assert owner.taken == [3]


def test_a_blocking_holder_drains_after_its_commit_what_was_marked_meanwhile(marks):
    owner = Owner(work_seconds=0.0)
    with unit_of_work() as holder:
        holder.execute("SELECT pg_advisory_xact_lock(hashtext(:k))", {"k": KEY})  # e.g. a full recalculation
        _mark(7)
        assert catchup.drain(KEY, owner.step, _pending) == 0  # its try fails against the holder
        catchup.drain_after_commit(holder, KEY, owner.step, _pending)
    assert owner.taken == [7]


def test_the_owner_stops_after_its_budget_leaving_the_rest_to_the_next_drain(marks):
    owner = Owner(work_seconds=0.05)
    feeding = threading.Event()

    def feed():
        n = 100
        while not feeding.is_set():
            _mark(n)
            n += 1
            time.sleep(0.01)

    _mark(1)
    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        rounds = catchup.drain(KEY, owner.step, _pending, budget_seconds=0.3)
    finally:
        feeding.set()
        feeder.join()
    assert rounds >= 2
    catchup.drain(KEY, owner.step, _pending)
    with unit_of_work() as uow:
        assert not _pending(uow)


@pytest.mark.parametrize("key", [KEY, "it's: not a literal"])
def test_the_try_rides_the_ping_for_a_plain_key_and_is_a_statement_for_any_other_and_both_exclude(marks, key):
    """A plain key's try goes with the ping that begins the round (catchup._try_lock_read); any other key is a
    parameter of its own statement. Either way a holder of the key's lock turns the delivery away, and the owner
    afterwards takes its mark."""
    assert (catchup._try_lock_read(key) is None) == ("'" in key)
    owner = Owner(work_seconds=0.0)
    with unit_of_work() as holder:
        holder.execute("SELECT pg_advisory_xact_lock(hashtext(:k))", {"k": key})
        _mark(1)
        assert catchup.drain(key, owner.step, _pending) == 0  # turned away
        assert owner.taken == []
    assert catchup.drain(key, owner.step, _pending) == 1
    assert owner.taken == [1]
