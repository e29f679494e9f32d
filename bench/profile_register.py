"""One register request's app CPU, repeatably: instructions counted by valgrind (cachegrind) or a cProfile.

bench_register.py's wall-clock figures move with the other tenants of the machine; an instruction count does not.
Each checkout given (--checkout NAME=PATH; default: this one as "main") is packaged as deployed and its
income_register app, like the yardstick's (bench/yardstick/main.py), is served in a child process through Flask's
test client (one thread; no HTTP server, no socket between client and app): the same database, token
(production-mode verification against a local certificate server), body and DB_SERVICE_ROLES as bench_register.py.

    --mode instructions  each app under `valgrind --tool=cachegrind --cache-sim=no`, twice (N and 2N requests
                         after the same warm-up): instructions per request = (I(2N) − I(N)) / N, the process's
                         start, imports and warm-up cancelling out. Slow (valgrind runs Python ~50× slower).
    --mode profile       cProfile (CPU time) over N requests of each app; the top functions by cumulative time
                         (--dump DIR keeps the .prof files for pstats / snakeviz).

    .venv/bin/python bench/profile_register.py --checkout base=/tmp/base --checkout main=. --mode instructions

One run at a time: each makes the bench database anew (bench_register.own_database), which ends another's.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
WARM = 30


def child(source: str, target: str, n: int, profile: str | None) -> None:
    """Serve `n` registers through the test client after WARM of them; a cProfile of the `n` to `profile`."""
    os.chdir(source)
    sys.path.insert(0, source)
    from functions_framework import create_app

    app = create_app(target=target, source=str(Path(source) / "main.py"))
    client = app.test_client()
    body = os.environ["BENCH_BODY"].encode()
    headers = {"Authorization": "Bearer " + os.environ["BENCH_TOKEN"], "Content-Type": "application/json"}

    def post() -> None:
        r = client.post("/api/income/register/", data=body, headers=headers)
        if r.status_code != 201:
            raise SystemExit(f"{target}: {r.status_code} {r.get_data(as_text=True)}")

    for _ in range(WARM):
        post()
    if profile == "cpu":
        import gc
        import time

        spent = {0: 0.0, 1: 0.0, 2: 0.0}
        count = {0: 0, 1: 0, 2: 0}
        started = []

        def on_gc(phase, info):
            if phase == "start":
                started.append(time.process_time())
            else:
                spent[info["generation"]] += time.process_time() - started.pop()
                count[info["generation"]] += 1

        import resource

        gc.callbacks.append(on_gc)
        before = resource.getrusage(resource.RUSAGE_SELF)
        t, own = time.process_time(), time.thread_time()
        for _ in range(n):
            post()
        total, own = time.process_time() - t, time.thread_time() - own
        after = resource.getrusage(resource.RUSAGE_SELF)
        gc.callbacks.remove(on_gc)
        import threading

        print(json.dumps({"cpu_ms": total * 1000 / n, "thread_ms": own * 1000 / n,
                          "threads": [t.name for t in threading.enumerate()], "user_ms": (after.ru_utime - before.ru_utime) * 1000 / n,
                          "sys_ms": (after.ru_stime - before.ru_stime) * 1000 / n,
                          "switches": (after.ru_nvcsw - before.ru_nvcsw) / n, "gc_ms": {g: spent[g] * 1000 / n for g in spent},
                          "collections": count, "objects": len(gc.get_objects())}), flush=True)
    elif profile:
        import cProfile
        import time

        prof = cProfile.Profile(time.process_time)  # CPU, not the waits for the database
        prof.enable()
        for _ in range(n):
            post()
        prof.disable()
        prof.dump_stats(profile)
    else:
        for _ in range(n):
            post()


def instructions(cmd: list[str], env: dict[str, str], work: Path) -> int:
    out = work / "cachegrind.out"
    run = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={out}", *cmd],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if run.returncode:
        raise SystemExit(f"{cmd[-2]} failed under valgrind:\n{run.stderr[-3000:]}")
    summary = re.search(r"^summary:\s+(\d+)", out.read_text(), re.M)
    out.unlink()
    return int(summary.group(1))


def syscalls(one: list[str], two: list[str], env: dict[str, str], work: Path, n: int) -> dict[str, float]:
    """System calls per request by name under `strace -c -f`: (C(2N) − C(N)) / N, start-up cancelling out."""
    counts = []
    for cmd in (one, two):
        out = work / "strace.out"
        subprocess.run(["strace", "-f", "-c", "-o", str(out), *cmd], env=env, check=True, stdout=subprocess.DEVNULL)
        rows = {}
        for line in out.read_text().splitlines():
            f = line.split()
            if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
                rows[f[-1]] = int(f[3])
        counts.append(rows)
    return {k: (counts[1].get(k, 0) - counts[0].get(k, 0)) / n for k in counts[1]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkout", action="append", default=[], help="NAME=PATH of a checkout to measure")
    parser.add_argument("--mode", choices=("instructions", "profile", "cpu", "syscalls"), default="instructions")
    parser.add_argument("-n", type=int, default=100, help="requests measured (instructions: N and 2N)")
    parser.add_argument("--dump", help="profile mode: keep NAME.prof here")
    parser.add_argument("--child", nargs=3, metavar=("SOURCE", "TARGET", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], args.child[1], int(args.child[2]), args.profile_to)

    sys.path.insert(0, str(HERE))
    import bench_register as br
    from common import ROOT, database

    checkouts = dict(c.split("=", 1) for c in args.checkout) or {"main": str(ROOT)}
    br.own_database()
    url = database()
    from tests.factories import make_agency, make_model, make_user

    agency = make_agency(prefix="bench")
    chatter = make_user(agency, "chatter", name="chatter")
    model_id = make_model(agency, "Bench Model", chatter)
    key, pem = br._key_and_cert()
    certs_url, certs = br.cert_server(pem)
    token = br.id_token(key, chatter.uid)
    import datetime

    body = {"type": "message_sale", "gross_amount": "100.00", "sale_date": datetime.date.today().isoformat(),
            "model_id": str(model_id)}
    yard_body = {**body, "agency_id": str(agency.id), "chatter_id": str(chatter.id)}
    work = Path(tempfile.mkdtemp(prefix="om-profile-register-"))
    apps = {"yardstick": (work / "yardstick", "register", yard_body)}
    shutil.copytree(ROOT / "bench" / "yardstick", apps["yardstick"][0])
    for name, path in checkouts.items():
        apps[name] = (br.package(Path(path).resolve(), work / name), "income_register", body)
    cloudsdk = work / "gcloud"
    cloudsdk.mkdir()
    base_env = {**os.environ, "DATABASE_URL": url, "GOOGLE_CLOUD_PROJECT": br.PROJECT,
                "FIREBASE_CERT_URL": certs_url, "CLOUDSDK_CONFIG": str(cloudsdk), "DB_SERVICE_ROLES": "true",
                "LOG_LEVEL": "WARNING", "BENCH_TOKEN": token}
    for k in ("FIREBASE_AUTH_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST", "K_SERVICE",
              "GOOGLE_APPLICATION_CREDENTIALS", "PYTHONPATH"):
        base_env.pop(k, None)
    results = {}
    try:
        for name, (source, target, b) in apps.items():
            env = {**base_env, "BENCH_BODY": json.dumps(b)}
            cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(source), target]
            if args.mode == "instructions":
                one = instructions([*cmd, str(args.n)], env, work)
                two = instructions([*cmd, str(2 * args.n)], env, work)
                results[name] = (two - one) / args.n
                print(f"{name}: {results[name] / 1e6:.2f} M instructions per register", flush=True)
            elif args.mode == "syscalls":
                results[name] = syscalls([*cmd, str(args.n)], [*cmd, str(2 * args.n)], env, work, args.n)
                print(f"{name}: {sum(results[name].values()):.1f} system calls per register: "
                      + ", ".join(f"{k} {v:.1f}" for k, v in sorted(results[name].items(), key=lambda kv: -kv[1])
                                  if v >= 0.05), flush=True)
            elif args.mode == "cpu":
                for _ in range(3):
                    out = subprocess.run([*cmd, str(args.n), "--profile-to", "cpu"], env=env, check=True,
                                         capture_output=True, text=True).stdout.strip().splitlines()[-1]
                    print(name, out, flush=True)
            else:
                prof = Path(args.dump or work) / f"{name}.prof"
                subprocess.run([*cmd, str(args.n), "--profile-to", str(prof)], env=env, check=True)
                import pstats

                print(f"\n=== {name}: {args.n} registers ===")
                pstats.Stats(str(prof)).sort_stats("cumulative").print_stats(45)
    finally:
        certs.close()
        shutil.rmtree(work, ignore_errors=True)
    if results:
        yard = results["yardstick"]
        print("\n| app | M instructions / register | ÷ yardstick |\n|---|---|---|")
        for name, i in results.items():
            print(f"| {name} | {i / 1e6:.2f} | {i / yard:.2f} |")


if __name__ == "__main__":
    main()
