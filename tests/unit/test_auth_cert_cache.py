"""ID-token certificates are kept in process for their Cache-Control max-age (shared_lib/auth.py CertCache): no
HTTP-session work per verification, a refetch once they are stale, and every check of the token still made."""
from __future__ import annotations

import time

import pytest

from shared_lib import auth
from shared_lib.auth import CertCache, TokenError, verify_id_token
from shared_lib.config import reset_settings
from tests.certs import CertServer
from tests.integration.test_auth_production import KID, _claims, _clean, _rsa_key, _self_signed_pem, _sign


@pytest.fixture(scope="module")
def key():
    return _rsa_key()


@pytest.fixture
def served(monkeypatch, tmp_path, key):
    def serve(cache_control: str) -> CertServer:
        certs = CertServer({KID: _self_signed_pem(key)}, cache_control)
        servers.append(certs)
        _clean(monkeypatch, tmp_path)
        monkeypatch.setenv("FIREBASE_CERT_URL", certs.url)
        reset_settings()
        return certs

    servers: list[CertServer] = []
    yield serve
    auth.reset_for_tests()
    reset_settings()
    for s in servers:
        s.close()


def test_two_verifications_fetch_the_certificates_once_and_again_after_max_age(served, key):
    certs = served("public, max-age=1, must-revalidate, no-transform")
    assert verify_id_token(_sign(key, _claims()))["uid"] == "user-42"
    assert verify_id_token(_sign(key, _claims(sub="user-7", user_id="user-7")))["uid"] == "user-7"
    assert certs.hits == 1
    from firebase_admin import auth as firebase_auth

    kept = firebase_auth._get_client(auth.firebase_app())._token_verifier.request
    assert isinstance(kept, CertCache) and kept.fetches == 1  # ours answered, not the requests session
    time.sleep(1.2)
    assert verify_id_token(_sign(key, _claims()))["uid"] == "user-42"
    assert certs.hits == 2 and kept.fetches == 2


def test_an_answer_that_may_not_be_stored_is_fetched_every_time(served, key):
    certs = served("no-store")
    for _ in range(2):
        verify_id_token(_sign(key, _claims()))
    assert certs.hits == 2


def test_cached_certificates_still_check_signature_audience_and_expiry(served, key):
    certs = served("public, max-age=3600")
    verify_id_token(_sign(key, _claims()))
    for token in (_sign(_rsa_key(), _claims()),  # another key, the same kid
                  _sign(key, _claims(aud="another-project")),
                  _sign(key, _claims(iss="https://securetoken.google.com/another-project")),
                  _sign(key, _claims(exp=int(time.time()) - 600, iat=int(time.time()) - 4000))):
        with pytest.raises(TokenError):
            verify_id_token(token)
    assert certs.hits == 1


class _Answer:
    def __init__(self, status: int, headers: dict[str, str]):
        self.status, self.headers, self.data = status, headers, b"{}"


def test_max_age_less_age_is_the_freshness_and_a_failed_fetch_is_never_kept():
    now, answers = [0.0], [_Answer(200, {"Cache-Control": "max-age=100", "Age": "40"}), _Answer(500, {}),
                           _Answer(200, {"cache-control": "public, max-age=10"})]
    fetched = []

    def fetch(url, **kwargs):
        fetched.append(url)
        return answers[len(fetched) - 1]

    cache = CertCache(fetch, clock=lambda: now[0])
    assert cache("u").status == 200 and cache("u").status == 200 and len(fetched) == 1
    now[0] = 59.0
    assert cache("u").status == 200 and len(fetched) == 1
    now[0] = 61.0
    assert cache("u").status == 500 and len(fetched) == 2
    assert cache("u").status == 200 and len(fetched) == 3
    assert cache("u").status == 200 and len(fetched) == 3
