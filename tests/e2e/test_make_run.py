"""The README's `make run` from a fresh clone: installs itself, serves the whole platform, and SIGTERM stops every part."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from datetime import date
from pathlib import Path

import requests

from tests.processes import alive, free_port

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "demo-onlymanager"
# Measured here: a fresh clone installs in about a minute (pip from the local wheels ~30 s, npm ci from npm's
# cache ~17 s, pstest ~9 s); the Auth emulator needs ~15 s more. The bound leaves room for a loaded machine.
START_TIMEOUT = 600
STOP_TIMEOUT = 60
# What a fresh shell would not have: the test emulators' addresses, this checkout's database and venv.
# Lines of make run's output that start each phase, for the timing line this test prints.
PHASES = {"pip install": "-m pip install", "npm ci": "npm ci", "pstest build": "go build",
          "emulators up": "services: wrote", "platform up": "OnlyManager Economy is up"}
NOT_INHERITED = ("DATABASE_URL", "PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST",
                 "VIRTUAL_ENV", "PYTHONPATH", "MAKEFLAGS", "MAKELEVEL", "MFLAGS")


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def _pids_with(needle: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def _parts(clone: Path, port: int) -> dict[str, int]:
    """Every process make run started, by name: the emulators' pid files, PostgreSQL's own, serve by its cmdline."""
    parts = {}
    for name in ("pstest", "firestore", "auth"):
        pidfile = clone / ".local" / "dev" / "run" / f"{name}.pid"
        if pidfile.exists():
            parts[name] = int(pidfile.read_text())
    postmaster = clone / ".local" / "pg" / "postmaster.pid"
    if postmaster.exists():
        parts["postgres"] = int(postmaster.read_text().split()[0])
    for pid in _pids_with(f"-m emulator serve --port {port}"):
        parts["serve"] = pid
    return parts


def _post(base: str, path: str, token: str, body: dict) -> dict:
    r = requests.post(base + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code in (200, 201), (path, r.status_code, r.text)
    return r.json()


def _make_run(clone: Path, env: dict[str, str], ports: tuple[int, int, int], log_path: Path) -> subprocess.Popen:
    port, auth_port, firestore_port = ports
    # Its own session (a failure below can find what is left), SIGINT not ignored (as in a terminal's foreground).
    return subprocess.Popen(["make", "run", f"PORT={port}", f"OM_AUTH_PORT={auth_port}",
                             f"OM_FIRESTORE_PORT={firestore_port}"], cwd=clone, env=env, stdin=subprocess.DEVNULL,
                            stdout=open(log_path, "w"), stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_healthy(make: subprocess.Popen, base: str, log_path: Path) -> dict[str, float]:
    """Seconds from start to each phase seen in make run's output, until /api/health/ answers."""
    t0 = time.monotonic()
    seen_at: dict[str, float] = {}
    while True:
        text = log_path.read_text()
        for phase, marker in PHASES.items():
            if phase not in seen_at and marker in text:
                seen_at[phase] = time.monotonic() - t0
        assert make.poll() is None, "make run exited:\n" + text[-5000:]
        try:
            if requests.get(base + "/api/health/", timeout=1).status_code == 200:
                seen_at["healthy"] = time.monotonic() - t0
                return seen_at
        except requests.RequestException:
            pass
        assert time.monotonic() - t0 < START_TIMEOUT, "no health in time:\n" + text[-5000:]
        time.sleep(0.5)


def _stop_and_check(make: subprocess.Popen, parts: dict[str, int], ports: tuple[int, int, int], clone: Path,
                    log_path: Path, *, ctrl_c: bool) -> float:
    """Ctrl-C (SIGINT to the foreground group, as a terminal sends it) or SIGTERM to make alone (what a process
    manager sends; make passes it on and waits); then nothing of make run may be left. Returns the seconds taken."""
    assert set(parts) == {"pstest", "firestore", "auth", "postgres", "serve"}, parts
    assert all(alive(pid) for pid in parts.values()), parts
    t1 = time.monotonic()
    if ctrl_c:
        os.killpg(make.pid, signal.SIGINT)
    else:
        make.send_signal(signal.SIGTERM)
    make.wait(STOP_TIMEOUT)
    while any(alive(pid) for pid in parts.values()) and time.monotonic() - t1 < STOP_TIMEOUT:
        time.sleep(0.2)
    took = time.monotonic() - t1
    left = {name: pid for name, pid in parts.items() if alive(pid)}
    assert left == {}, f"still running {took:.0f} s after {'SIGINT' if ctrl_c else 'SIGTERM'}: {left}\n" + \
        log_path.read_text()[-3000:]
    assert not [p for p in ports if _listening(p)]
    assert not (clone / ".local" / "pg" / "postmaster.pid").exists()  # PostgreSQL was stopped, not killed
    return took


def _cleanup(make: subprocess.Popen | None, parts: dict[str, int]) -> None:
    """Only a failed assertion gets here with something alive: stop exactly what this test started."""
    if make is not None and make.poll() is None:
        os.killpg(make.pid, signal.SIGKILL)
    for name, pid in parts.items():
        if alive(pid):
            if name == "postgres":
                os.kill(pid, signal.SIGQUIT)  # PostgreSQL's immediate shutdown
            elif name == "serve":
                os.kill(pid, signal.SIGKILL)
            else:
                os.killpg(pid, signal.SIGKILL)  # each emulator leads its own session (services.sh)


def test_make_run_from_a_fresh_clone_serves_everything_and_sigterm_or_ctrl_c_stops_it_all():
    # Not under pytest's basetemp (re-chmodded 0700 by every new pytest session, which locks out the embedded
    # PostgreSQL's own user); short, because PostgreSQL's Unix socket path must fit in 107 bytes.
    work = Path(tempfile.mkdtemp(prefix="om-clone-"))
    clone = work / "c"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    assert not (clone / ".venv").exists() and not (clone / "node_modules").exists()
    ports = port, auth_port, firestore_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED and not k.startswith("OM_")}
    base = f"http://127.0.0.1:{port}"
    log_path = work / "make-run.log"
    make, parts = None, {}
    try:
        make = _make_run(clone, env, ports, log_path)
        phases = _wait_healthy(make, base, log_path)
        out = log_path.read_text()
        # It says what is up and where: the Auth emulator it started, not the test one on 9099.
        assert f"sign-in       Firebase Auth emulator at 127.0.0.1:{auth_port}" in out, out[-3000:]
        assert f"read models   Firestore emulator at 127.0.0.1:{firestore_port}" in out
        assert "events        Pub/Sub fake pstest at 127.0.0.1:" in out
        assert "database      embedded PostgreSQL" in out and "-m emulator token" in out

        def token(uid: str, email: str) -> str:
            return subprocess.run([str(clone / ".venv" / "bin" / "python"), "-m", "emulator", "token", "--uid", uid,
                                   "--email", email], cwd=clone, env=env, capture_output=True, text=True,
                                  check=True).stdout.strip()

        # The banner's other way in: an account of the Auth emulator, signed up over its REST API.
        signup = requests.post(f"http://127.0.0.1:{auth_port}/identitytoolkit.googleapis.com/v1/accounts:signUp"
                               "?key=any", json={"email": "newcomer@fresh.example", "password": "secret123",
                                                 "returnSecureToken": True}, timeout=30).json()
        me = requests.get(base + "/api/me/", headers={"Authorization": f"Bearer {signup['idToken']}"}, timeout=30)
        assert me.status_code == 200 and me.json()["email"] == "newcomer@fresh.example"
        assert me.json()["agency_id"] is None

        owner = token("fresh-owner", "owner@fresh.example")
        agency = _post(base, "/api/agencies/", owner, {"name": "Fresh Clone Agency"})
        model = _post(base, "/api/models/", owner, {"name": "Lena"})
        # Adding people creates their Firebase accounts: this needs the Auth emulator make run started.
        mia = _post(base, "/api/users/", owner, {"email": "mia@fresh.example", "display_name": "Mia",
                                                 "role": "manager"})
        chris = _post(base, "/api/users/", owner, {"email": "chris@fresh.example", "display_name": "Chris",
                                                   "role": "chatter", "manager_id": mia["id"]})
        lookup = requests.post(
            f"http://127.0.0.1:{auth_port}/identitytoolkit.googleapis.com/v1/projects/{PROJECT}/accounts:lookup",
            json={"email": ["mia@fresh.example", "chris@fresh.example"]},
            headers={"Authorization": "Bearer owner"}, timeout=10).json()
        assert sorted(u["localId"] for u in lookup["users"]) == sorted([mia["firebase_uid"], chris["firebase_uid"]])
        r = requests.put(f"{base}/api/models/{model['id']}/assignments/", json={"user_ids": [chris["id"]]},
                         headers={"Authorization": f"Bearer {owner}"}, timeout=30)
        assert r.status_code == 200, r.text

        # The chatter registers a sale; the manager and the owner see it.
        sale = _post(base, "/api/income/register/", token(chris["firebase_uid"], "chris@fresh.example"),
                     {"type": "message_sale", "gross_amount": "100.00", "sale_date": date.today().isoformat(),
                      "model_id": model["id"]})
        assert sale["chatter_id"] == chris["id"] and sale["manager_id"] == mia["id"]
        for who in (owner, token(mia["firebase_uid"], "mia@fresh.example")):
            records = requests.get(base + "/api/income/records/", headers={"Authorization": f"Bearer {who}"},
                                   timeout=30).json()["items"]
            assert [(x["id"], x["gross_amount"], x["net_amount"]) for x in records] == [
                (sale["id"], "100.00", sale["net_amount"])]
        assert requests.get(base + "/api/me/", headers={"Authorization": f"Bearer {owner}"},
                            timeout=30).json()["agency_id"] == agency["id"]

        parts = _parts(clone, port)
        stopped_in = _stop_and_check(make, parts, ports, clone, log_path, ctrl_c=False)

        # Again, installed now, stopped the way a terminal's Ctrl-C does it.
        make = _make_run(clone, env, ports, log_path)
        again = _wait_healthy(make, base, log_path)
        assert requests.get(base + "/api/me/", headers={"Authorization": f"Bearer {owner}"},
                            timeout=30).json()["agency_id"] == agency["id"]  # the data stayed in .local/pg
        parts = _parts(clone, port)
        ctrl_c_in = _stop_and_check(make, parts, ports, clone, log_path, ctrl_c=True)
        timing = ", ".join(f"{name} at {at:.0f} s" for name, at in sorted(phases.items(), key=lambda kv: kv[1]))
        print(f"fresh clone: {timing}; SIGTERM stopped all in {stopped_in:.1f} s; "
              f"second start healthy in {again['healthy']:.0f} s, Ctrl-C stopped all in {ctrl_c_in:.1f} s")
    finally:
        _cleanup(make, parts or _parts(clone, port))
        shutil.rmtree(work, ignore_errors=True)
