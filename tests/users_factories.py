"""Compatibility names for files not yet speaking tests/factories.py (integration/test_service_roles.py): the users
tests' former calls, each a one-line translation. New tests use tests.factories."""
from __future__ import annotations

import uuid

from tests import factories
from tests.factories import (  # noqa: F401  (re-exported)
    PROJECT,
    Agency,
    Person,
    auth_emulator_host,
    close_period,
    firebase_user,
    firebase_user_by_email,
    make_agency,
    make_model,
    make_user,
    set_financial_settings,
    set_model_settings,
    set_platform_fee,
    sign_in,
    sign_up,
    unique_email,
)

AgencyRef = Agency


def assign(model_id: uuid.UUID, *people: Person) -> None:
    for p in people:
        factories.sql("INSERT INTO user_service.model_assignments (agency_id, model_id, user_id) "
                      "VALUES (:a, :m, :u) ON CONFLICT DO NOTHING", {"a": p.agency_id, "m": model_id, "u": p.id})


def bearer_for(person: Person) -> dict[str, str]:
    return person.headers
