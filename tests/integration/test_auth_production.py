"""Production-mode ID tokens get a real RS256 check; emulator auth refuses to start on Cloud Run."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jwt  # PyJWT: a firebase-admin dependency (pyjwt[crypto])
import pytest
import requests

from shared_lib import auth
from shared_lib.auth import TokenError, mint_emulator_token, verify_id_token
from shared_lib.config import reset_settings
from tests.certs import CertServer, rsa_key, self_signed_pem
from tests.processes import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PROJECT = "demo-auth-prod"
ISSUER = f"https://securetoken.google.com/{PROJECT}"
KID = "test-kid-1"
_AUTH_ENV = (
    "K_SERVICE",
    "FIREBASE_AUTH_EMULATOR_HOST",
    "FIREBASE_CERT_URL",
    "GOOGLE_APPLICATION_CREDENTIALS",
)


_rsa_key, _self_signed_pem = rsa_key, self_signed_pem  # the names the unit tests import


@pytest.fixture(scope="module")
def signing_key():
    return _rsa_key()


@pytest.fixture(scope="module")
def cert_server(signing_key):
    server = CertServer({KID: _self_signed_pem(signing_key)})
    yield server
    server.close()


def _clean(monkeypatch, tmp_path):
    for name in _AUTH_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # no gcloud ADC file
    reset_settings()
    auth.reset_for_tests()


@pytest.fixture
def production_mode(monkeypatch, tmp_path, cert_server):
    _clean(monkeypatch, tmp_path)
    monkeypatch.setenv("FIREBASE_CERT_URL", cert_server.url)
    reset_settings()
    yield cert_server
    auth.reset_for_tests()
    reset_settings()


@pytest.fixture
def emulator_mode(monkeypatch, tmp_path):
    _clean(monkeypatch, tmp_path)
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")
    reset_settings()
    yield
    auth.reset_for_tests()
    reset_settings()


def _claims(**overrides) -> dict:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": PROJECT,
        "auth_time": now - 60,
        "user_id": "user-42",
        "sub": "user-42",
        "iat": now - 10,
        "exp": now + 3600,
        "email": "ann@example.com",
        "email_verified": True,
        "firebase": {"identities": {"email": ["ann@example.com"]}, "sign_in_provider": "password"},
    }
    claims.update(overrides)
    return claims


def _sign(key, claims: dict, *, kid: str | None = KID, algorithm: str = "RS256") -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


# --- production mode: a real RS256 signature check ------------------------------------------


def test_valid_signed_token_is_accepted(production_mode, signing_key):
    claims = verify_id_token(_sign(signing_key, _claims()))
    assert claims["uid"] == "user-42"
    assert claims["email"] == "ann@example.com"
    assert claims["aud"] == PROJECT
    assert production_mode.hits >= 1


def test_certificates_are_fetched_once_and_cached(production_mode, signing_key):
    hits_before = production_mode.hits
    for uid in ("user-1", "user-2", "user-3"):
        assert verify_id_token(_sign(signing_key, _claims(sub=uid, user_id=uid)))["uid"] == uid
    assert production_mode.hits == hits_before + 1


def test_token_signed_by_another_key_with_the_same_kid_is_refused(production_mode):
    with pytest.raises(TokenError):
        verify_id_token(_sign(_rsa_key(), _claims()))


def test_tampered_payload_is_refused(production_mode, signing_key):
    header, _, signature = _sign(signing_key, _claims()).split(".")
    forged_payload = _sign(signing_key, _claims(sub="admin", user_id="admin")).split(".")[1]
    with pytest.raises(TokenError):
        verify_id_token(f"{header}.{forged_payload}.{signature}")


def test_unsigned_alg_none_token_is_refused(production_mode):
    with pytest.raises(TokenError):
        verify_id_token(_sign(None, _claims(), algorithm="none"))


def test_minted_emulator_token_is_refused(production_mode):
    with pytest.raises(TokenError):
        verify_id_token(mint_emulator_token("user-42", "ann@example.com", project_id=PROJECT))


def test_token_without_kid_is_refused(production_mode, signing_key):
    with pytest.raises(TokenError):
        verify_id_token(_sign(signing_key, _claims(), kid=None))


def test_token_with_unknown_kid_is_refused(production_mode, signing_key):
    with pytest.raises(TokenError):
        verify_id_token(_sign(signing_key, _claims(), kid="some-other-kid"))


def test_expired_token_is_refused(production_mode, signing_key):
    now = int(time.time())
    with pytest.raises(TokenError) as raised:
        verify_id_token(_sign(signing_key, _claims(iat=now - 7200, exp=now - 60)))
    assert raised.value.reason == "expired ID token"


def test_token_issued_in_the_future_is_refused(production_mode, signing_key):
    now = int(time.time())
    with pytest.raises(TokenError):
        verify_id_token(_sign(signing_key, _claims(iat=now + 600, exp=now + 4200)))


def test_wrong_audience_is_refused(production_mode, signing_key):
    with pytest.raises(TokenError):
        verify_id_token(_sign(signing_key, _claims(aud="demo-someone-else")))


def test_wrong_issuer_is_refused(production_mode, signing_key):
    with pytest.raises(TokenError):
        verify_id_token(_sign(signing_key, _claims(iss="https://securetoken.google.com/demo-someone-else")))


def test_empty_subject_is_refused(production_mode, signing_key):
    with pytest.raises(TokenError):
        verify_id_token(_sign(signing_key, _claims(sub="", user_id="")))


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "..", "", "Bearer x"])
def test_garbage_is_refused(production_mode, token):
    with pytest.raises(TokenError) as raised:
        verify_id_token(token)
    assert token == "" or token not in raised.value.reason


# --- emulator mode --------------------------------------------------------------------------


def test_emulator_mode_accepts_a_minted_token_and_returns_uid_and_email(emulator_mode):
    claims = verify_id_token(mint_emulator_token("user-7", "bob@example.com", name="Bob"))
    assert claims["uid"] == "user-7"
    assert claims["email"] == "bob@example.com"
    assert claims["name"] == "Bob"


# --- emulator auth refuses to start on Cloud Run --------------------------------------------


def _subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _AUTH_ENV}
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["GOOGLE_CLOUD_PROJECT"] = PROJECT
    env.update(extra)
    return env


def _function_source(tmp_path: Path) -> Path:
    # Models an entry module: the registry calls settings() at import of every one.
    source = tmp_path / "main.py"
    source.write_text(
        textwrap.dedent(
            """
            from shared_lib.config import settings

            settings()


            def f(request):
                return "ok"
            """
        )
    )
    return source


def test_settings_refuse_emulator_auth_on_cloud_run():
    result = subprocess.run(
        [sys.executable, "-c", "from shared_lib.config import settings; settings()"],
        env=_subprocess_env(K_SERVICE="x", FIREBASE_AUTH_EMULATOR_HOST="127.0.0.1:9099"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "refusing to start" in result.stderr
    assert "EmulatorInCloudError" in result.stderr


def test_functions_framework_refuses_to_start_with_emulator_auth_on_cloud_run(tmp_path):
    source = _function_source(tmp_path)
    started = time.monotonic()
    result = subprocess.run(
        [str(BIN / "functions-framework"), "--target", "f", "--source", str(source),
         "--port", str(free_port())],
        env=_subprocess_env(K_SERVICE="x", FIREBASE_AUTH_EMULATOR_HOST="127.0.0.1:9099"),
        capture_output=True,
        text=True,
        timeout=60,  # a server that started would hang here and fail the test
    )
    assert result.returncode != 0
    assert "refusing to start" in result.stderr
    assert time.monotonic() - started < 60


def test_functions_framework_starts_on_cloud_run_without_emulator_auth(tmp_path):
    # The control for the test above: the same source and K_SERVICE, no emulator → it serves.
    source = _function_source(tmp_path)
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "functions-framework"), "--target", "f", "--source", str(source),
         "--port", str(port)],
        env=_subprocess_env(K_SERVICE="x"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        body = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                body = requests.get(f"http://127.0.0.1:{port}/", timeout=1).text
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert server.poll() is None, server.stderr.read()
        assert body == "ok"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_importing_auth_does_not_import_firebase_admin():
    result = subprocess.run(
        [sys.executable, "-c",
         "import sys, shared_lib.auth; print(sorted(m for m in sys.modules if m.startswith('firebase_admin')))"],
        env=_subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
