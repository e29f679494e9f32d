"""The period lock has one key (shared_lib.closing): every writer's shared lock meets the close's exclusive one."""
from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import text

from shared_lib import closing
from shared_lib.db import UnitOfWork, engine


def _close_could_lock(agency_id: uuid.UUID, period: str) -> bool:
    """Whether a close could take its exclusive lock now; the key spelled here as the docs give it."""
    with engine().begin() as c:
        return c.execute(text("SELECT pg_try_advisory_xact_lock(hashtext(:k))"),
                         {"k": f"period:{agency_id}:{period}"}).scalar()


WRITERS = {
    "ensure_open": lambda uow, a: closing.ensure_open(uow, a, date(2026, 11, 3)),
    "shared SQL fragment": lambda uow, a: uow.execute(
        f"SELECT {closing.period_lock_shared_sql(':a', ':p')}", {"a": a, "p": "2026-11"}),
    "exclusive (a close)": lambda uow, a: closing.lock_period_exclusive(uow, a, "2026-11"),
}


@pytest.mark.parametrize("take", WRITERS.values(), ids=WRITERS.keys())
def test_each_way_of_taking_the_period_lock_holds_off_a_close_until_it_ends(db, take):
    agency_id = uuid.uuid4()
    with engine().connect() as conn:
        with conn.begin() as tx:
            take(UnitOfWork(conn), agency_id)
            assert _close_could_lock(agency_id, "2026-11") is False
            assert _close_could_lock(agency_id, "2026-12") is True  # another period is not held
            tx.rollback()
    assert _close_could_lock(agency_id, "2026-11") is True


def test_the_closed_check_reads_the_periods_table(db):
    agency_id = uuid.uuid4()
    closed = f"SELECT {closing.period_closed_sql('CAST(:a AS uuid)', ':p')}"
    with engine().begin() as c:
        assert c.execute(text(closed), {"a": str(agency_id), "p": "2026-11"}).scalar() is False
        c.execute(text("INSERT INTO user_service.agencies (id, name) VALUES (:a, 'Lock')"), {"a": agency_id})
        c.execute(text("INSERT INTO financial_calculations.periods (agency_id, period, status) "
                       "VALUES (:a, '2026-11', 'closed')"), {"a": agency_id})
        assert c.execute(text(closed), {"a": str(agency_id), "p": "2026-11"}).scalar() is True
        assert c.execute(text(closed), {"a": str(agency_id), "p": "2026-10"}).scalar() is False
