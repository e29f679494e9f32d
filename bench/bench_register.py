"""POST /api/income/register/ as deployed vs a same-run yardstick (issue #13): throughput, latency, app CPU.

Each checkout given (--checkout NAME=PATH; default: this one as "main") is packaged as deployed
(`python -m emulator package` → <tmp>/<name>/income) and served by gunicorn (4 workers × 2 threads, the
functions-framework app of income_register) with production-mode token verification: an RS256 ID token checked
against a local certificate server (FIREBASE_CERT_URL; no Google here), DB_SERVICE_ROLES on as the platform runs
it. The yardstick (bench/yardstick/main.py) is the least functions-framework + pydantic + SQLAlchemy Core endpoint
doing the same income INSERT and outbox row. One database, a chatter registering a sale for an assigned model;
wrk (16 connections, bench/yardstick/post.lua) loads each server in turn, rounds interleaved so drift and the
other tenants of the machine hit every server alike. App CPU per request is the gunicorn arbiter's and workers'
utime+stime (/proc/<pid>/stat) over the round, divided by the requests wrk completed.

    .venv/bin/python bench/bench_register.py --checkout base=/tmp/base --checkout main=. --rounds 3 --seconds 8
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from common import ROOT, database

PROJECT = "demo-bench"
KID = "bench-kid"
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
WORKERS, THREADS, CONNECTIONS = 4, 2, 16
TICKS = os.sysconf("SC_CLK_TCK")


def _key_and_cert():
    from tests.certs import rsa_key, self_signed_pem

    key = rsa_key()
    return key, self_signed_pem(key, "securetoken.bench")


def cert_server(pem: str) -> tuple[str, "CertServer"]:
    """Google's securetoken endpoint, locally (tests/certs.py): {kid: PEM}, max-age=3600 as Google sends it."""
    from tests.certs import CertServer

    server = CertServer({KID: pem})
    return server.url, server


def id_token(key, uid: str) -> str:
    import jwt

    now = int(time.time())
    claims = {"iss": f"https://securetoken.google.com/{PROJECT}", "aud": PROJECT, "sub": uid, "user_id": uid,
              "iat": now, "exp": now + 3600, "auth_time": now, "email": f"{uid}@example.com",
              "firebase": {"identities": {}, "sign_in_provider": "password"}}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": KID})


def package(checkout: Path, out: Path) -> Path:
    subprocess.run([sys.executable, "-m", "emulator", "package", "--out", str(out)], cwd=checkout, check=True,
                   stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(checkout)})
    return out / "income"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name: str, source: Path, target: str, env: dict[str, str]):
        self.name, self.port = name, free_port()
        app = f"functions_framework:create_app(target='{target}', source='{source / 'main.py'}')"
        self.proc = subprocess.Popen(
            [GUNICORN, "--workers", str(WORKERS), "--threads", str(THREADS), "--bind", f"127.0.0.1:{self.port}",
             "--log-level", "warning", "--chdir", str(source), app],
            env={k: v for k, v in {**os.environ, **env}.items() if v is not None},
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=1)
            except urllib.error.HTTPError:
                break  # it answers (405/404/401): up
            except OSError:
                time.sleep(0.2)
                continue
            break
        else:
            raise RuntimeError(f"{name} did not start")

    def pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split()
        return [self.proc.pid, *map(int, out)]

    def cpu_seconds(self) -> float:
        total = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        return total / TICKS

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def wrk(server: Server, script: Path, seconds: int, env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(["wrk", "-t", "2", "-c", str(CONNECTIONS), "-d", f"{seconds}s", "--latency", "-s",
                          str(script), f"http://127.0.0.1:{server.port}/api/income/register/"],
                         capture_output=True, text=True, env={**os.environ, **env}, check=True).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"requests": requests, "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50_ms": _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),
            "p99_ms": _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),
            "errors": int(non2xx.group(1)) if non2xx else 0}


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def own_database() -> None:
    """A fresh database of this bench's own on the local server (common.database()'s om_bench is shared with the
    other benches, which drop it when they start)."""
    if os.environ.get("DATABASE_URL"):
        return
    import pg8000.native

    admin = pg8000.native.Connection("postgres", host="127.0.0.1", database="postgres")
    admin.run("DROP DATABASE IF EXISTS om_bench_register WITH (FORCE)")
    admin.run("CREATE DATABASE om_bench_register")
    admin.close()
    os.environ["DATABASE_URL"] = "postgresql+pg8000://postgres@127.0.0.1:5432/om_bench_register"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkout", action="append", default=[], help="NAME=PATH of a checkout to bench")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=4,
                        help="seconds of load per server first: every worker's imports, pool and prepared statements")
    args = parser.parse_args()
    checkouts = dict(c.split("=", 1) for c in args.checkout) or {"main": str(ROOT)}

    own_database()
    url = database()
    from tests.factories import make_agency, make_model, make_user

    agency = make_agency(prefix="bench")
    chatter = make_user(agency, "chatter", name="chatter")
    model_id = make_model(agency, "Bench Model", chatter)
    key, pem = _key_and_cert()
    certs_url, certs = cert_server(pem)
    token = id_token(key, chatter.uid)
    today = datetime.date.today().isoformat()
    body = {"type": "message_sale", "gross_amount": "100.00", "sale_date": today, "model_id": str(model_id)}
    yard_body = {**body, "agency_id": str(agency.id), "chatter_id": str(chatter.id)}

    work = Path(tempfile.mkdtemp(prefix="om-bench-register-"))
    sources = {name: package(Path(path).resolve(), work / name) for name, path in checkouts.items()}
    yard_src = work / "yardstick"
    shutil.copytree(ROOT / "bench" / "yardstick", yard_src)
    cloudsdk = work / "gcloud"
    cloudsdk.mkdir()
    env = {"DATABASE_URL": url, "GOOGLE_CLOUD_PROJECT": PROJECT, "FIREBASE_CERT_URL": certs_url,
           "CLOUDSDK_CONFIG": str(cloudsdk), "DB_SERVICE_ROLES": "true", "FIREBASE_AUTH_EMULATOR_HOST": None,
           "PUBSUB_EMULATOR_HOST": None, "FIRESTORE_EMULATOR_HOST": None, "K_SERVICE": None,
           "GOOGLE_APPLICATION_CREDENTIALS": None, "LOG_LEVEL": "WARNING", "PYTHONPATH": None}
    servers = [Server("yardstick", yard_src, "register", env)]
    servers += [Server(name, src, "income_register", env) for name, src in sources.items()]
    script = ROOT / "bench" / "yardstick" / "post.lua"
    bodies = {s.name: json.dumps(yard_body if s.name == "yardstick" else body) for s in servers}
    results: dict[str, list[dict[str, float]]] = {s.name: [] for s in servers}
    try:
        for s in servers:  # warm up: imports, pools, the certificate fetch
            wrk(s, script, args.warmup, {"BENCH_BODY": bodies[s.name], "BENCH_TOKEN": token})
        for _ in range(args.rounds):
            for s in servers:
                before = s.cpu_seconds()
                r = wrk(s, script, args.seconds, {"BENCH_BODY": bodies[s.name], "BENCH_TOKEN": token})
                r["cpu_ms_per_req"] = (s.cpu_seconds() - before) * 1000 / max(r["requests"], 1)
                results[s.name].append(r)
                print(s.name, {k: round(v, 2) for k, v in r.items()}, flush=True)
    finally:
        for s in servers:
            s.stop()
    report(results, certs.hits)


def report(results: dict[str, list[dict[str, float]]], cert_fetches: int) -> None:
    import statistics

    med = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in results.items()}
    yard = med["yardstick"]
    print(f"\nmedian of {len(results['yardstick'])} rounds; ratio = this / yardstick of the same run; "
          f"certificate fetches: {cert_fetches}")
    print("| server | req/s | p50 ms | p99 ms | app CPU ms/req | req/s ratio | CPU ratio | p99 ratio | non-2xx |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, m in med.items():
        print(f"| {name} | {m['rps']:.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | {m['cpu_ms_per_req']:.2f} | "
              f"{m['rps'] / yard['rps']:.2f} | {m['cpu_ms_per_req'] / yard['cpu_ms_per_req']:.2f} | "
              f"{m['p99_ms'] / yard['p99_ms']:.2f} | {m['errors']:.0f} |")


if __name__ == "__main__":
    main()
