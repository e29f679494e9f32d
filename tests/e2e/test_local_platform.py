"""`make run`'s path on a machine without PostgreSQL: python -m emulator serve boots the embedded server."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("om-data")
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST")}
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
                break
        except requests.RequestException:
            time.sleep(0.2)
    else:
        proc.kill()
        raise AssertionError("emulator did not answer /api/health/ in 120 s")
    yield base, data_dir
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_embedded_postgres_backs_the_platform(served):
    base, data_dir = served
    assert requests.get(base + "/api/health/").json() == {"status": "ok", "database": "ok", "version": "0.1.0"}
    assert (data_dir / "pg" / "PG_VERSION").is_file()


def test_swagger_ui_and_spec_are_served_locally(served):
    base, _ = served
    page = requests.get(base + "/api/docs/")
    assert page.status_code == 200 and "/api/docs/assets/swagger-ui-bundle.js" in page.text
    assert requests.get(base + "/api/docs/assets/swagger-ui-bundle.js").status_code == 200
    spec = requests.get(base + "/api/docs/openapi.yaml")
    assert spec.status_code == 200 and "/api/agencies/" in spec.text


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
