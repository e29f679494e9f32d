"""Each service's deployable folder runs under the real functions-framework, as Cloud Functions would run it."""
from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
FF = str(Path(sys.executable).parent / "functions-framework")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "emulator", "package", "--out", str(out)], cwd=ROOT, check=True,
                   capture_output=True)
    return out


def _serve(source: Path, target: str, env: dict[str, str]):
    port = _free_port()
    # cwd is the archive: nothing from the checkout is importable, as in the cloud.
    proc = subprocess.Popen([FF, "--source", str(source / "main.py"), "--target", target, "--port", str(port),
                             "--host", "127.0.0.1"], cwd=source, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{target} exited: {proc.stdout.read()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"{target} did not start")


def _env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env.update(DATABASE_URL=database_url, FIREBASE_AUTH_EMULATOR_HOST="127.0.0.1:9099")
    return env


def test_every_service_folder_is_self_contained(dist):
    from shared_lib import registry

    registry.load_all()
    for service in registry.service_names():
        folder = dist / service
        assert (folder / "main.py").is_file() and (folder / "requirements.txt").is_file()
        assert (folder / "shared_lib" / "registry.py").is_file()
        assert not (folder / "shared_lib").is_symlink()
        others = {p.name for p in (folder / "functions").iterdir() if p.is_dir()} - {"__pycache__"}
        assert others == {service}
        reqs = (folder / "requirements.txt").read_text()
        assert "functions-framework==" in reqs and "SQLAlchemy==" in reqs.replace("sqlalchemy", "SQLAlchemy")


def test_http_function_serves_under_functions_framework(dist, database_url):
    proc, url = _serve(dist / "users", "health", _env(database_url))
    try:
        r = requests.get(url + "/api/health/", timeout=10)
        assert r.status_code == 200 and r.json()["database"] == "ok"
        # Hosting forwards the full path; a path the function does not serve is a 404 problem.
        assert requests.get(url + "/api/other/", timeout=10).status_code == 404
    finally:
        proc.terminate()
        proc.wait(10)


def test_event_function_takes_an_eventarc_pubsub_cloudevent(dist, database_url, db):
    proc, url = _serve(dist / "eventing", "outbox_relay", _env(database_url))
    try:
        message = {"data": base64.b64encode(json.dumps({"as_of": "2026-11-25"}).encode()).decode(),
                   "messageId": "1", "publishTime": "2026-11-25T00:10:00Z", "attributes": {}}
        headers = {"ce-id": str(uuid.uuid4()), "ce-specversion": "1.0",
                   "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
                   "ce-source": "//pubsub.googleapis.com/projects/demo-onlymanager/topics/outbox.relay",
                   "Content-Type": "application/json"}
        r = requests.post(url, data=json.dumps({"message": message, "subscription": "s"}), headers=headers,
                          timeout=20)
        assert r.status_code == 200, r.text
    finally:
        proc.terminate()
        proc.wait(10)


def test_same_function_name_in_two_sources_stays_apart(tmp_path):
    """functions-framework keys its registry by function name; two sources with one name must not collide."""
    import functions_framework

    for svc, answer in (("one", "from one"), ("two", "from two")):
        d = tmp_path / svc
        d.mkdir()
        (d / "main.py").write_text(
            "import functions_framework\n"
            "@functions_framework.http\n"
            f"def handler(request):\n    return {answer!r}\n")
    app_one = functions_framework.create_app("handler", str(tmp_path / "one" / "main.py"))
    app_two = functions_framework.create_app("handler", str(tmp_path / "two" / "main.py"))
    assert app_one.test_client().get("/").get_data(as_text=True) == "from one"
    assert app_two.test_client().get("/").get_data(as_text=True) == "from two"
