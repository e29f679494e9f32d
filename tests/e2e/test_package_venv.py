"""One package installed from its own requirements.txt into a fresh virtualenv serves requests with its own
functions-framework: the pins are complete, nothing comes from the checkout or the project's venv."""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
# Keyed by the requirements' hash: a change of pins builds a new one; the same pins reuse it (pip's cache too).
CACHE = ROOT / ".local" / "package-venv"


def _venv_for(requirements: Path) -> tuple[Path, float | None]:
    """A virtualenv with exactly `requirements` installed; (its path, install seconds or None when reused)."""
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    CACHE.mkdir(parents=True, exist_ok=True)
    venv = CACHE / digest
    with open(CACHE / f"{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run building the same venv: wait for it, then reuse
        if (venv / "ok").is_file():
            return venv, None
        # venv scripts hard-code their interpreter's path, so it is built in place; `ok` marks it complete
        shutil.rmtree(venv, ignore_errors=True)
        started = time.monotonic()
        subprocess.run(["python3.11", "-m", "venv", str(venv)], check=True, capture_output=True)
        pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                              "-r", str(requirements)], capture_output=True, text=True, timeout=900)
        assert pip.returncode == 0, pip.stderr[-4000:]
        seconds = time.monotonic() - started
        (venv / "ok").write_text(f"{seconds:.1f}\n")
        return venv, seconds


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "emulator", "package", "--out", str(out)], cwd=ROOT, check=True,
                   capture_output=True)
    return out / "users"


def _serve(venv: Path, folder: Path, target: str, env: dict[str, str]):
    port = free_port()
    proc = subprocess.Popen([str(venv / "bin" / "functions-framework"), "--source", "main.py", "--target", target,
                             "--port", str(port), "--host", "127.0.0.1"], cwd=folder, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{target} exited: {proc.stdout.read()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError(f"{target} did not start")


def _stop(proc) -> None:
    proc.send_signal(signal.SIGQUIT)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def test_package_installed_from_its_own_requirements_serves(package, database_url):
    venv, seconds = _venv_for(package / "requirements.txt")
    print(f"\nvenv {venv.name}: " + (f"installed in {seconds:.1f} s" if seconds is not None else "reused"))
    # exactly the pins: nothing more, nothing less, at the same versions
    frozen = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "freeze", "--all", "--exclude", "pip",
                             "--exclude", "setuptools", "--exclude", "wheel"], capture_output=True, text=True,
                            check=True).stdout
    norm = lambda lines: sorted(ln.lower().replace("_", "-") for ln in lines if ln and not ln.startswith("#"))  # noqa: E731
    assert norm(frozen.splitlines()) == norm((package / "requirements.txt").read_text().splitlines())

    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "DATABASE_URL": database_url,
           "GOOGLE_CLOUD_PROJECT": os.environ.get("GOOGLE_CLOUD_PROJECT", "demo-onlymanager"),
           "FIREBASE_AUTH_EMULATOR_HOST": os.environ.get("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")}
    proc, url = _serve(venv, package, "health", env)
    try:
        r = requests.get(url + "/api/health/", timeout=30)
        assert (r.status_code, r.json()["database"]) == (200, "ok"), r.text
    finally:
        _stop(proc)
    proc, url = _serve(venv, package, "me", env)
    try:
        r = requests.get(url + "/api/me/", timeout=30)
        assert r.status_code == 401 and r.headers["Content-Type"] == "application/problem+json", r.text
        assert r.json()["detail"] == "missing bearer token"
    finally:
        _stop(proc)
