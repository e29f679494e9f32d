"""`python -m emulator serve` as `make run` starts it: embedded PostgreSQL, Swagger UI 5, CORS for dev origins, SIGTERM."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

from tests.factories import bearer
from tests.processes import alive, free_port

ROOT = Path(__file__).resolve().parents[2]
DEV_ORIGIN = "http://localhost:5173"  # Vite's port: one of the default OM_CORS_ORIGINS


def _start_serve(data_dir: Path) -> tuple[subprocess.Popen, str]:
    """serve on a free port with the embedded PostgreSQL under data_dir and the in-process bus; waits for health."""
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST", "OM_CORS_ORIGINS")}
    env.update(OM_DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "serve", "--port", str(port), "--no-scheduler"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError("emulator exited:\n" + proc.stdout.read())
        try:
            if requests.get(base + "/api/health/", timeout=1).status_code == 200:
                return proc, base
        except requests.RequestException:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("emulator did not answer /api/health/ in 120 s")


def _data_dir() -> Path:
    """Not under pytest's basetemp: every new pytest session on the machine chmods /tmp/pytest-of-<user> back to
    0700, and the embedded PostgreSQL runs as its own user (pgserver, when we are root), which then loses its way."""
    return Path(tempfile.mkdtemp(prefix="om-serve-"))


@pytest.fixture(scope="module")
def served():
    data_dir = _data_dir()
    proc, base = _start_serve(data_dir)
    yield base, data_dir
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
    shutil.rmtree(data_dir, ignore_errors=True)


def test_embedded_postgres_backs_the_platform(served):
    base, data_dir = served
    assert requests.get(base + "/api/health/").json() == {"status": "ok", "database": "ok", "version": "0.1.0"}
    assert (data_dir / "pg" / "PG_VERSION").is_file()


def test_swagger_ui_5_and_the_spec_are_served_locally(served):
    base, _ = served
    page = requests.get(base + "/api/docs/")
    assert page.status_code == 200 and "/api/docs/assets/swagger-ui-bundle.js" in page.text
    assert "persistAuthorization: true" in page.text
    assert requests.get(base + "/api/docs/assets/swagger-ui-bundle.js").status_code == 200
    # Swagger UI reads OpenAPI 3.1 from major version 5 on (tests/e2e/test_docs_browser.py renders it).
    assert requests.get(base + "/api/docs/assets/package.json").json()["version"].startswith("5.")
    spec = requests.get(base + "/api/docs/openapi.yaml")
    assert spec.status_code == 200 and spec.text.startswith("openapi: 3.1.") and "/api/agencies/" in spec.text


def test_an_agency_is_created_with_an_emulator_token(served):
    base, _ = served
    token = subprocess.run([sys.executable, "-m", "emulator", "token", "--uid", "run-owner", "--email",
                            "o@example.com"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    h = {"Authorization": f"Bearer {token}"}
    r = requests.post(base + "/api/agencies/", json={"name": "Local Agency"}, headers=h)
    assert r.status_code == 201, r.text
    me = requests.get(base + "/api/me/", headers=h).json()
    assert me["agency_id"] == r.json()["id"] and me["role"] == "owner" and me["email"] == "o@example.com"


def test_scheduler_admin_endpoint_runs_a_job(served):
    base, _ = served
    r = requests.post(base + "/_emulator/scheduler/outbox-relay?as_of=2026-11-25")
    assert r.status_code == 200 and r.json()["drained"] is True
    assert requests.post(base + "/_emulator/scheduler/no-such-job").status_code == 404
    assert requests.post(base + "/_emulator/drain").json() == {"drained": True}


# --- CORS: a frontend dev server on another origin ---------------------------------------------------------


def test_a_dev_origin_preflight_is_answered(served):
    base, _ = served
    r = requests.options(base + "/api/income/register/", headers={
        "Origin": DEV_ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, idempotency-key"})
    assert r.status_code == 204 and r.content == b""
    assert r.headers["Access-Control-Allow-Origin"] == DEV_ORIGIN
    assert {m.strip() for m in r.headers["Access-Control-Allow-Methods"].split(",")} >= {"GET", "POST", "PUT",
                                                                                          "PATCH", "DELETE"}
    assert {h.strip().lower() for h in r.headers["Access-Control-Allow-Headers"].split(",")} >= {
        "authorization", "content-type", "idempotency-key"}
    assert int(r.headers["Access-Control-Max-Age"]) > 0


def test_a_dev_origin_reads_the_answer_and_the_replay_header(served):
    base, _ = served
    h = {**bearer("cors-owner", "cors@example.com"), "Origin": DEV_ORIGIN, "Idempotency-Key": "cors-agency-1"}
    first = requests.post(base + "/api/agencies/", json={"name": "Cors Agency"}, headers=h)
    again = requests.post(base + "/api/agencies/", json={"name": "Cors Agency"}, headers=h)
    assert first.status_code == 201 and again.status_code == 201 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    for r in (first, again):
        assert r.headers["Access-Control-Allow-Origin"] == DEV_ORIGIN
        assert "Origin" in r.headers["Vary"]
        assert "Idempotent-Replayed" in r.headers["Access-Control-Expose-Headers"]


def test_an_unlisted_origin_gets_no_cors_headers(served):
    base, _ = served
    evil = "http://evil.example"
    pre = requests.options(base + "/api/me/", headers={"Origin": evil, "Access-Control-Request-Method": "GET"})
    got = requests.get(base + "/api/me/", headers={**bearer("cors-other"), "Origin": evil})
    assert got.status_code == 200
    for r in (pre, got):
        assert not [k for k in r.headers if k.lower().startswith("access-control-")], dict(r.headers)
    assert pre.status_code == 405  # the function's own answer: nothing was opened for that origin


def test_cors_origins_are_configured_by_OM_CORS_ORIGINS(monkeypatch):
    from emulator.app import create_app

    monkeypatch.setenv("OM_CORS_ORIGINS", "https://app.example.test, http://localhost:3001/")
    client = create_app(None).test_client()
    preflight = {"Access-Control-Request-Method": "GET"}
    for origin in ("https://app.example.test", "http://localhost:3001"):
        r = client.options("/api/me/", headers={"Origin": origin, **preflight})
        assert r.status_code == 204 and r.headers["Access-Control-Allow-Origin"] == origin
        assert client.get("/api/docs/", headers={"Origin": origin}).headers["Access-Control-Allow-Origin"] == origin
    # The defaults are replaced, not extended.
    assert "Access-Control-Allow-Origin" not in client.get("/api/docs/", headers={"Origin": DEV_ORIGIN}).headers
    monkeypatch.setenv("OM_CORS_ORIGINS", "")
    off = create_app(None).test_client().get("/api/docs/", headers={"Origin": "https://app.example.test"})
    assert off.status_code == 200 and "Access-Control-Allow-Origin" not in off.headers


def test_a_deployed_function_sends_no_cors_headers(tmp_path, database_url):
    """In the cloud Hosting serves /api/** on the frontend's own origin: the functions open nothing to others."""
    from emulator.package import build

    build("users", tmp_path)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(DATABASE_URL=database_url)
    ff = str(Path(sys.executable).parent / "functions-framework")
    proc = subprocess.Popen([ff, "--source", str(tmp_path / "users" / "main.py"), "--target", "health",
                             "--host", "127.0.0.1", "--port", str(port)], cwd=tmp_path / "users", env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                got = requests.get(base + "/api/health/", headers={"Origin": DEV_ORIGIN}, timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "functions-framework did not start"
                time.sleep(0.2)
        pre = requests.options(base + "/api/health/", headers={"Origin": DEV_ORIGIN,
                                                              "Access-Control-Request-Method": "GET"})
        assert got.status_code == 200 and got.json()["database"] == "ok"
        for r in (got, pre):
            assert not [k for k in r.headers if k.lower().startswith("access-control-")], dict(r.headers)
    finally:
        proc.terminate()
        proc.wait(30)


# --- the machine's prerequisites -----------------------------------------------------------------------------


def test_prereqs_name_the_missing_debian_packages_when_not_root():
    """Not root, on a machine without Go, Chromium, poppler or Java: one clear message naming the packages."""
    fake_bin = Path(tempfile.mkdtemp(prefix="om-bin-"))
    fake_bin.chmod(0o755)
    try:
        for tool in ("bash", "id", "dpkg", "dpkg-query", "make", "git", "node", "npm"):
            (fake_bin / tool).symlink_to(shutil.which(tool))
        (fake_bin / "python3").symlink_to("/usr/bin/python3")  # Debian's (the venv's may live under /root)
        # The script comes on stdin: the nobody user may not be able to read this checkout.
        with open(ROOT / "emulator" / "prereqs.sh") as script:
            r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env", "-i",
                                f"PATH={fake_bin}", str(fake_bin / "bash"), "-s", "test"], stdin=script,
                               capture_output=True, text=True, cwd="/", timeout=60)
    finally:
        shutil.rmtree(fake_bin)
    assert r.returncode == 1 and r.stdout == ""
    named = r.stderr.splitlines()[0].split(": ", 2)[2].split()
    assert {"golang-go", "chromium", "poppler-utils", "default-jre-headless"} <= set(named), r.stderr
    assert not {"make", "git", "nodejs", "npm", "python3"} & set(named), r.stderr
    assert "apt-get install -y --no-install-recommends " + " ".join(named) in r.stderr


# --- stopping ------------------------------------------------------------------------------------------------


def test_sigterm_stops_serve_and_its_embedded_postgres():
    data_dir = _data_dir()
    proc, _ = _start_serve(data_dir)
    postmaster = int((data_dir / "pg" / "postmaster.pid").read_text().split()[0])
    assert alive(postmaster)
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = proc.stdout.read()
    assert rc == 0, out
    deadline = time.monotonic() + 30
    while alive(postmaster) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(postmaster), "the embedded PostgreSQL outlived serve\n" + out
    # A clean shutdown (pg_ctl stop), not a kill: PostgreSQL removed its pid file itself.
    assert not (data_dir / "pg" / "postmaster.pid").exists(), out
    shutil.rmtree(data_dir, ignore_errors=True)
