"""Bearer headers, emulator tokens and the cached firebase-admin app (no network, no subprocess)."""
from __future__ import annotations

import base64
import json
import threading
import time

import pytest

from shared_lib import auth
from shared_lib.auth import TokenError, bearer_token, firebase_app, mint_emulator_token, verify_id_token
from shared_lib.config import reset_settings

PROJECT = "demo-auth-unit"
_AUTH_ENV = (
    "K_SERVICE",
    "FIREBASE_AUTH_EMULATOR_HOST",
    "FIREBASE_CERT_URL",
    "GOOGLE_APPLICATION_CREDENTIALS",
)


def _segment(part: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in _AUTH_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # no gcloud ADC file
    reset_settings()
    auth.reset_for_tests()
    yield monkeypatch
    auth.reset_for_tests()
    reset_settings()


@pytest.fixture
def emulator_mode(clean_env):
    clean_env.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")
    reset_settings()
    return clean_env


# --- bearer_token ---------------------------------------------------------------------------


def test_bearer_token_returns_the_token():
    assert bearer_token("Bearer abc.def.ghi") == "abc.def.ghi"


def test_bearer_scheme_is_case_insensitive_and_trimmed():
    assert bearer_token("  bearer   abc.def.ghi  ") == "abc.def.ghi"


@pytest.mark.parametrize(
    "header",
    [None, "", "   ", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "abc.def.ghi", "Bearer a b", "Token abc"],
)
def test_missing_or_malformed_bearer_is_refused(header):
    with pytest.raises(TokenError) as raised:
        bearer_token(header)
    assert raised.value.reason == "missing bearer token"
    assert str(raised.value) == "missing bearer token"


# --- mint_emulator_token --------------------------------------------------------------------


def test_minted_token_has_the_emulator_shape(clean_env):
    before = int(time.time())
    token = mint_emulator_token("user-1", "ann@example.com", name="Ann", ttl_seconds=600)
    after = int(time.time())

    header, payload, signature = token.split(".")
    assert signature == ""
    assert _segment(header) == {"alg": "none", "typ": "JWT"}
    claims = _segment(payload)
    assert before <= claims["iat"] <= after
    assert claims["auth_time"] == claims["iat"]
    assert claims["exp"] == claims["iat"] + 600
    assert claims == {
        "name": "Ann",
        "email": "ann@example.com",
        "email_verified": False,
        "auth_time": claims["iat"],
        "user_id": "user-1",
        "firebase": {"identities": {"email": ["ann@example.com"]}, "sign_in_provider": "password"},
        "iat": claims["iat"],
        "exp": claims["iat"] + 600,
        "aud": PROJECT,
        "iss": f"https://securetoken.google.com/{PROJECT}",
        "sub": "user-1",
    }


def test_minted_token_without_email_is_a_custom_sign_in_for_the_given_project(clean_env):
    claims = _segment(mint_emulator_token("user-2", project_id="demo-other").split(".")[1])
    assert "email" not in claims and "email_verified" not in claims and "name" not in claims
    assert claims["firebase"] == {"identities": {}, "sign_in_provider": "custom"}
    assert claims["aud"] == "demo-other"
    assert claims["iss"] == "https://securetoken.google.com/demo-other"
    assert claims["sub"] == claims["user_id"] == "user-2"


# --- verify_id_token in emulator mode -------------------------------------------------------


def test_emulator_mode_accepts_a_minted_token(emulator_mode):
    claims = verify_id_token(mint_emulator_token("user-1", "ann@example.com", name="Ann"))
    assert claims["uid"] == "user-1"
    assert claims["email"] == "ann@example.com"
    assert claims["name"] == "Ann"
    assert claims["firebase"]["sign_in_provider"] == "password"


def test_emulator_mode_still_checks_audience_and_issuer(emulator_mode):
    with pytest.raises(TokenError):
        verify_id_token(mint_emulator_token("user-1", project_id="demo-someone-else"))


def test_emulator_mode_skips_expiry_which_is_why_it_never_runs_in_the_cloud(emulator_mode):
    # firebase-admin in emulator mode checks neither signature nor exp (LOCAL_RECIPES.md).
    token = mint_emulator_token("user-1", ttl_seconds=-3600)
    assert verify_id_token(token)["uid"] == "user-1"


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "..", "WzFd.e30.", None, 42])
def test_emulator_mode_refuses_garbage(emulator_mode, token):
    with pytest.raises(TokenError):
        verify_id_token(token)


def test_emulator_mode_refuses_an_empty_subject(emulator_mode):
    with pytest.raises(TokenError):
        verify_id_token(mint_emulator_token(""))


# --- firebase_app ---------------------------------------------------------------------------


def test_firebase_app_is_created_once_even_under_concurrent_first_use(clean_env):
    apps = []
    threads = [threading.Thread(target=lambda: apps.append(firebase_app())) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(apps) == 16
    assert all(app is apps[0] for app in apps)
    assert apps[0].name == "onlymanager"
    assert apps[0].project_id == PROJECT


def test_reset_for_tests_deletes_the_app_and_the_next_one_follows_the_environment(clean_env):
    import firebase_admin

    first = firebase_app()
    auth.reset_for_tests()
    with pytest.raises(ValueError):
        firebase_admin.get_app("onlymanager")
    clean_env.setenv("GOOGLE_CLOUD_PROJECT", "demo-second")
    reset_settings()
    second = firebase_app()
    assert second is not first
    assert second.project_id == "demo-second"
    assert firebase_admin.get_app("onlymanager") is second


def test_local_app_without_google_credentials_never_contacts_google(clean_env):
    import google.auth.credentials

    credential = firebase_app().credential.get_credential()
    assert isinstance(credential, google.auth.credentials.AnonymousCredentials)


def test_cloud_app_uses_application_default_credentials(clean_env):
    import firebase_admin.credentials

    clean_env.setenv("K_SERVICE", "payouts")
    reset_settings()
    # ApplicationDefault is lazy: nothing is looked up until a Google API is called.
    assert isinstance(firebase_app().credential, firebase_admin.credentials.ApplicationDefault)


def test_cert_url_seam_is_restored_to_googles_default(clean_env):
    from firebase_admin import _token_gen

    google_default = _token_gen.ID_TOKEN_CERT_URI
    clean_env.setenv("FIREBASE_CERT_URL", "http://127.0.0.1:1/certs")
    reset_settings()
    firebase_app()
    assert _token_gen.ID_TOKEN_CERT_URI == "http://127.0.0.1:1/certs"
    auth.reset_for_tests()
    assert _token_gen.ID_TOKEN_CERT_URI == google_default
    assert google_default.startswith("https://www.googleapis.com/")
