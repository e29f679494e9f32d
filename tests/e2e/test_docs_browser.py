"""/api/docs/ in a real browser (Debian's headless Chromium driven by npm playwright-core): every operation, Authorize, Try it out."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "e2e" / "browser" / "docs.mjs"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture(scope="module")
def platform_url(database_url):
    """The platform as make run serves it, on a free port, in its own process (the test's database)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST")}
    env.update(DATABASE_URL=database_url, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "serve", "--port", str(port), "--no-scheduler"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise AssertionError("serve exited:\n" + proc.stdout.read())
        try:
            if requests.get(base + "/api/health/", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("serve did not answer /api/health/ in 120 s")
        time.sleep(0.2)
    yield base
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def _document_operations() -> list[tuple[str, str]]:
    doc = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    return sorted((method, path) for path, item in doc["paths"].items() for method in item if method in METHODS)


def test_swagger_ui_renders_every_operation_and_tries_get_me_with_a_token(platform_url, tmp_path):
    from shared_lib.auth import mint_emulator_token

    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} missing: apt-get install chromium (emulator/prereqs.sh test)"
    token = mint_emulator_token("docs-browser", "docs@example.com", name="Docs Reader")
    shot = tmp_path / "docs.png"
    run = subprocess.run(["node", str(SCRIPT), platform_url, token, str(shot)], cwd=ROOT, capture_output=True,
                         text=True, timeout=240, env={**os.environ, "CHROMIUM": CHROMIUM})
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert "error" not in seen, seen

    # The 3.1 document is read: no "Unable to render this definition", the title and every operation are shown.
    assert seen["version_error"] == [], seen["version_error"]
    assert seen["title"].startswith("OnlyManager Economy API")
    expected = _document_operations()
    assert len(expected) > 50
    assert len(seen["operations"]) == len(expected)
    assert sorted(tuple(op) for op in seen["operations"]) == expected

    # Authorize with the bearer token, then Try it out → Execute on GET /api/me/: 200 and the token's email.
    assert seen["me"]["status"] == "200"
    assert json.loads(seen["me"]["body"])["email"] == "docs@example.com"
    # persistAuthorization: after a reload the page is still authorized and the call still answers 200.
    assert seen["authorized_after_reload"] is True
    assert seen["me_after_reload"]["status"] == "200"
    assert seen["console_errors"] == []
    assert shot.stat().st_size > 10_000
