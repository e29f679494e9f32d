"""A token verified once is taken as verified again only while the certificates that verified it are still the
ones kept and it has not expired (shared_lib/auth.py VerifiedTokens): no second signature check for the same
token, any other bytes verified in full."""
from __future__ import annotations

import time

import pytest

from shared_lib import auth
from shared_lib.auth import TokenError, verify_id_token
from tests.integration.test_auth_production import _claims, _rsa_key, _sign
from tests.unit.test_auth_cert_cache import key, served  # noqa: F401  (fixtures)


@pytest.fixture
def signature_checks(monkeypatch):
    """How many times google-auth decoded and checked a token."""
    import google.auth.jwt

    calls, decode = [0], google.auth.jwt.decode

    def counted(*args, **kwargs):
        calls[0] += 1
        return decode(*args, **kwargs)

    monkeypatch.setattr(google.auth.jwt, "decode", counted)
    return calls


def test_the_same_token_again_is_not_checked_again(served, key, signature_checks):
    served("public, max-age=3600")
    token = _sign(key, _claims())
    first = verify_id_token(token)
    checks = signature_checks[0]
    second = verify_id_token(token)
    assert second == first and second["uid"] == "user-42"
    assert signature_checks[0] == checks  # answered from what was verified
    second["uid"] = "someone-else"  # a caller changing its copy changes nothing kept
    assert verify_id_token(token)["uid"] == "user-42"


def test_other_bytes_are_verified_in_full(served, key):
    served("public, max-age=3600")
    token = _sign(key, _claims())
    verify_id_token(token)
    header, payload, signature = token.split(".")
    for forged in (f"{header}.{payload}.{signature[:-2]}AA", _sign(_rsa_key(), _claims()),
                   f"{header}.{payload}."):
        with pytest.raises(TokenError):
            verify_id_token(forged)


def test_a_kept_token_past_its_expiry_is_refused(served, key, monkeypatch):
    served("public, max-age=3600")
    token = _sign(key, _claims(exp=int(time.time()) + 60))
    verify_id_token(token)
    later = time.time() + 61
    monkeypatch.setattr(auth.time, "time", lambda: later)
    import google.auth._helpers
    import datetime
    monkeypatch.setattr(google.auth._helpers, "utcnow",
                        lambda: datetime.datetime.fromtimestamp(later, datetime.timezone.utc).replace(tzinfo=None))
    with pytest.raises(TokenError):
        verify_id_token(token)


def test_certificates_not_storable_or_refetched_mean_a_full_check_every_time(served, key, signature_checks):
    served("no-store")
    token = _sign(key, _claims())
    verify_id_token(token)
    checks = signature_checks[0]
    verify_id_token(token)
    assert signature_checks[0] > checks


def test_stale_certificates_mean_the_token_is_checked_again(served, key, signature_checks):
    certs = served("public, max-age=1")
    token = _sign(key, _claims())
    verify_id_token(token)
    time.sleep(1.2)
    checks = signature_checks[0]
    verify_id_token(token)
    assert signature_checks[0] > checks and certs.hits == 2


def test_check_revoked_is_never_answered_from_what_was_kept(served, key, monkeypatch):
    served("public, max-age=3600")
    token = _sign(key, _claims())
    verify_id_token(token)
    asked = []
    from firebase_admin import auth as firebase_auth

    def verify(token, app=None, check_revoked=False):
        asked.append(check_revoked)
        raise firebase_auth.RevokedIdTokenError("revoked")

    monkeypatch.setattr(firebase_auth, "verify_id_token", verify)
    with pytest.raises(TokenError, match="revoked"):
        verify_id_token(token, check_revoked=True)
    assert asked == [True]
