"""Compatibility names for the one file not yet speaking tests/factories.py (e2e/test_authorization_matrix.py, being
edited by another change): the income tests' former calls, each a one-line translation. New tests use tests.factories;
remove this module once that file imports tests.factories."""
from __future__ import annotations

import uuid
from datetime import date

from tests import factories
from tests.factories import (  # noqa: F401  (re-exported)
    Agency,
    assert_nothing_written,
    assign,
    close_period,
    error_locs,
    expense_count,
    golden_agency,
    income_count,
    outbox,
    problem,
    scalar,
    set_manager,
    sql,
)
from tests.factories import make_model as add_model  # noqa: F401


def make_agency(prefix: str = "a", *, client=None, timezone: str = "UTC") -> Agency:
    return factories.make_agency(prefix=prefix, client=client, timezone=timezone)


def add_user(agency: Agency, name: str, role: str, *, manager: str | None = None, active: bool = True) -> uuid.UUID:
    return factories.make_user(agency, role, name=name, manager=manager, active=active).id


def set_fee(agency: Agency, percent: str, effective_from: date) -> None:
    factories.set_platform_fee(agency, effective_from, percent)


def caller(agency: Agency, name: str = "owner", *, timezone: str = "UTC"):
    return agency.person(name).caller()
