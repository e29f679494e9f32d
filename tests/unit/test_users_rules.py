"""Users-service rules that need no database: request validation, profile values, claims mirroring."""
from __future__ import annotations

import uuid
from decimal import Decimal
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from functions.users import directory
from functions.users.schemas import (
    AssignmentsPut,
    FinancialSettingsPut,
    ModelSettingsPut,
    PlatformSettingsPut,
    UserCreate,
    UserPatch,
    UsersQuery,
)
from functions.users.service import _profile_value

PAY = {"compensation_type": "commission", "commission_rate": "10.00", "fixed_salary": "0.00",
       "manager_tick_rate": "0.00", "effective_from": "2026-11-01"}


def _locs(exc: ValidationError) -> set:
    return {e["loc"][0] for e in exc.errors()}


# --- request models ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate, ok", [("0", True), ("0.00", True), ("100", True), ("100.00", True), ("12.5", True),
                                      ("-0.01", False), ("100.01", False), ("10.125", False), ("1e1", False),
                                      ("", False), ("ten", False), (True, False), (None, False)])
def test_rates_are_0_to_100_with_at_most_2_decimals(rate, ok):
    body = {**PAY, "commission_rate": rate}
    if ok:
        assert FinancialSettingsPut.model_validate(body).commission_rate == Decimal(rate).quantize(Decimal("0.01"))
    else:
        with pytest.raises(ValidationError) as exc:
            FinancialSettingsPut.model_validate(body)
        assert _locs(exc.value) == {"commission_rate"}


@given(st.decimals(min_value=0, max_value=100, places=2))
def test_every_two_decimal_rate_in_range_round_trips_exactly(rate):
    parsed = PlatformSettingsPut.model_validate({"onlyfans_fee_percent": str(rate), "effective_from": "2026-11-01"})
    assert parsed.onlyfans_fee_percent == rate
    assert parsed.model_dump(mode="json")["onlyfans_fee_percent"] == f"{rate:.2f}"


def test_a_fractional_json_number_is_refused_for_money():
    with pytest.raises(ValidationError):
        FinancialSettingsPut.model_validate({**PAY, "fixed_salary": 1500.5})


@pytest.mark.parametrize("day, ok", [("2000-01-01", True), ("2099-12-31", True), ("1999-12-31", False),
                                     ("2100-01-01", False), ("2026-02-30", False), ("tomorrow", False)])
def test_effective_from_is_a_real_date_in_a_sane_window(day, ok):
    body = {"model_share_percent": "50.00", "split_chatting_costs": False, "effective_from": day}
    if ok:
        assert str(ModelSettingsPut.model_validate(body).effective_from) == day
    else:
        with pytest.raises(ValidationError):
            ModelSettingsPut.model_validate(body)


def test_settings_bodies_require_every_field_and_nothing_else():
    with pytest.raises(ValidationError) as exc:
        FinancialSettingsPut.model_validate({"effective_from": "2026-11-01", "bonus": "1"})
    assert _locs(exc.value) == {"compensation_type", "commission_rate", "fixed_salary", "manager_tick_rate", "bonus"}


@pytest.mark.parametrize("role", ["admin", "Owner", "", "chatters"])
def test_unknown_roles_are_refused(role):
    with pytest.raises(ValidationError) as exc:
        UserCreate.model_validate({"email": "a@b.co", "display_name": "A", "role": role})
    assert _locs(exc.value) == {"role"}


def test_user_create_normalizes_email_and_trims_names():
    u = UserCreate.model_validate({"email": " Ann@Example.COM ", "display_name": "  Ann ", "role": "chatter"})
    assert (u.email, u.display_name, u.manager_id, u.firebase_uid) == ("ann@example.com", "Ann", None, None)


@pytest.mark.parametrize("email", ["ann", "ann@", "@x.co", "a b@x.co", "a@b"])
def test_bad_emails_are_refused(email):
    with pytest.raises(ValidationError):
        UserCreate.model_validate({"email": email, "display_name": "A", "role": "chatter"})


def test_user_patch_tells_null_manager_from_absent_manager():
    assert UserPatch.model_validate({}).model_fields_set == set()
    out = UserPatch.model_validate({"manager_id": None})
    assert out.model_fields_set == {"manager_id"} and out.manager_id is None
    with pytest.raises(ValidationError) as exc:
        UserPatch.model_validate({"role": None, "active": None, "display_name": None})
    assert _locs(exc.value) == {"role", "active", "display_name"}


def test_assignments_and_list_queries():
    ids = [str(uuid.uuid4()) for _ in range(3)]
    assert [str(i) for i in AssignmentsPut.model_validate({"user_ids": ids}).user_ids] == ids
    with pytest.raises(ValidationError):
        AssignmentsPut.model_validate({"user_ids": ["not-a-uuid"]})
    with pytest.raises(ValidationError):
        AssignmentsPut.model_validate({"user_ids": [str(uuid.uuid4())] * 501})
    q = UsersQuery.model_validate({"limit": "20", "active": "false"})
    assert (q.limit, q.active) == (20, False)
    # Unknown parameters answer 400 everywhere (shared_lib/http.py); the model refuses them too.
    for bad in ({"limit": "0"}, {"limit": "501"}, {"role": "boss"}, {"_": "cache-buster"}):
        with pytest.raises(ValidationError):
            UsersQuery.model_validate(bad)


# --- the Firestore profile document --------------------------------------------------------------------------------


@pytest.mark.parametrize("name, value, expected", [
    ("display_name", "  Cleo ", (True, "Cleo")),
    ("display_name", None, (True, None)),
    ("display_name", "", (False, None)),
    ("display_name", "x" * 201, (False, None)),
    ("display_name", 7, (False, None)),
    ("email", "Cleo@Example.com", (True, "cleo@example.com")),
    ("email", None, (False, None)),          # an account keeps an email
    ("email", "nope", (False, None)),
    ("photo_url", "https://cdn.example.com/p.png", (True, "https://cdn.example.com/p.png")),
    ("photo_url", None, (True, None)),
    ("photo_url", "javascript:alert(1)", (False, None)),
    ("role", "owner", (False, None)),        # never a profile field
    ("agency_id", str(uuid.uuid4()), (False, None)),
])
def test_profile_values(name, value, expected):
    assert _profile_value(name, value) == expected


# --- claims mirroring ----------------------------------------------------------------------------------------------


def _row(active=True, role="chatter", agency="a1"):
    return SimpleNamespace(active=active, role=role, agency_id=agency)


def test_claims_grant_agency_and_role_only_while_active():
    assert directory.expected_claims(_row()) == {"agency_id": "a1", "role": "chatter"}
    assert directory.expected_claims(_row(active=False)) is None
    assert directory.expected_claims(None) is None


@pytest.mark.parametrize("token, row, differ", [
    ({"agency_id": "a1", "role": "chatter", "email": "x"}, _row(), False),
    ({"agency_id": "a1", "role": "owner"}, _row(), True),        # stale role
    ({}, _row(), True),                                          # never set
    ({"agency_id": "a1", "role": "chatter"}, _row(active=False), True),
    ({"agency_id": "a1", "role": "chatter"}, None, True),        # no membership any more
    ({"email": "x"}, None, False),                               # a stranger without claims
    (None, None, False),
])
def test_claims_differ(token, row, differ):
    assert directory.claims_differ(token, row) is differ
