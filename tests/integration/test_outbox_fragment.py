"""outbox.insert_sql: the outbox row as a SQL fragment inside a statement of the caller's (a data-modifying CTE
beside the change it records), written only when the change was, published after commit like uow.emit's."""
from __future__ import annotations

import pytest

from shared_lib import events, outbox
from shared_lib.db import unit_of_work
from tests.factories import DurablePublisher
from tests.factories import outbox as outbox_rows
from tests.factories import scalar

TYPE = "test.fragment"


@pytest.fixture
def published(db):
    p = DurablePublisher()
    events.set_publisher(p)
    yield p.sent
    events.set_publisher(None)


def _change_with_its_event(uow, *, write: bool, n: int = 1):
    evs = outbox.events_for(TYPE, [(None, f"s{k}", {"k": k}) for k in range(n)])
    sql, params = outbox.insert_sql(evs, when="EXISTS (SELECT 1 FROM change)")
    rows = uow.execute(f"WITH change AS (SELECT 1 AS one WHERE :write), ev AS ({sql}) SELECT one FROM change",
                       {**params, "write": write}).all()
    if rows:
        uow.emitted(evs)
    return evs, rows


def test_the_events_go_with_the_change_in_one_statement_and_out_after_commit(published):
    with unit_of_work() as uow:
        evs, rows = _change_with_its_event(uow, write=True, n=3)
    assert rows == [(1,)]
    assert [e["subject"] for e in outbox_rows(TYPE)] == ["s0", "s1", "s2"]  # in order
    assert [e.event_id for e in published] == [e.event_id for e in evs]
    assert scalar("SELECT count(*) FROM eventing.outbox WHERE type = :t AND published_at IS NULL", t=TYPE) == 0


def test_no_change_no_outbox_row_and_nothing_published(published):
    with unit_of_work() as uow:
        _, rows = _change_with_its_event(uow, write=False)
    assert rows == [] and outbox_rows(TYPE) == [] and published == []


def test_a_rolled_back_change_leaves_no_event(published):
    with pytest.raises(RuntimeError):
        with unit_of_work() as uow:
            _change_with_its_event(uow, write=True)
            raise RuntimeError("the use case fails after the statement")
    assert outbox_rows(TYPE) == [] and published == []


def test_insert_sql_takes_events_of_one_type_and_a_plain_prefix():
    a, b = outbox.events_for(TYPE, [(None, "a", {})]), outbox.events_for("test.other", [(None, "b", {})])
    with pytest.raises(ValueError):
        outbox.insert_sql(a + b)
    with pytest.raises(ValueError):
        outbox.insert_sql([])
    with pytest.raises(ValueError):
        outbox.insert_sql(a, prefix="x; DROP")
