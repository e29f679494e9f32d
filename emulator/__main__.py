"""`python -m emulator serve|token|functions|generate|package|seed`: the local platform's command line."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)

    serve = sub.add_parser("serve", help="run the whole platform on one port")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--no-scheduler", action="store_true", help="do not fire scheduled jobs by the clock")

    token = sub.add_parser("token", help="print an ID token the local platform accepts")
    token.add_argument("--uid", required=True)
    token.add_argument("--email")
    token.add_argument("--name")

    sub.add_parser("functions", help="print the registry as JSON (each topic's payload schema included)")

    gen = sub.add_parser("generate", help="write openapi.yaml, firebase.json and terraform variables")
    gen.add_argument("--check", action="store_true", help="exit 1 if any generated file is stale")

    pkg = sub.add_parser("package", help="build one deployable source folder per service")
    pkg.add_argument("--out", default="dist")

    seed = sub.add_parser("seed", help="load BUSINESS_RULES.md's worked examples into a running platform (its API)")
    seed.add_argument("--url", default="http://127.0.0.1:8080", help="the running platform")
    seed.add_argument("--example", action="append", choices=["1", "2"], help="worked example to load (default: all)")

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pgserver").setLevel(logging.WARNING)  # its INFO is every initdb/pg_ctl line it runs
    # pgserver's lock lives in the user runtime dir; /tmp/runtime-<uid> instead is fine for one machine.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

    if args.cmd == "token":
        from shared_lib.auth import mint_emulator_token

        print(mint_emulator_token(args.uid, args.email, name=args.name))
        return 0
    if args.cmd == "functions":
        from shared_lib import contracts, registry

        registry.load_all()
        described = registry.describe_all()
        for d in described:  # what each Pub/Sub function is handed: the contract of its topic
            if d.get("topic") in contracts.CONTRACTS:
                d["schema"] = contracts.schema(d["topic"])
        print(json.dumps(described, indent=2))
        return 0
    if args.cmd == "generate":
        from . import artifacts

        if args.check:
            stale = artifacts.stale()
            for p in stale:
                print(f"stale: {p} (run: python -m emulator generate)", file=sys.stderr)
            return 1 if stale else 0
        for p in artifacts.write():
            print(f"wrote {p}")
        return 0
    if args.cmd == "seed":
        from .seed import DATA_SETS, SeedError, run

        try:
            return run(args.url, args.example or sorted(DATA_SETS))
        except SeedError as exc:
            print(f"seed: {exc}", file=sys.stderr)
            return 1
    if args.cmd == "package":
        from .package import build_all

        for path in build_all(args.out):
            print(path)
        return 0
    if args.cmd == "serve":
        return _serve(args)
    return 2


class _Stop(Exception):
    """Raised by the SIGTERM handler to leave serve_forever() the way Ctrl-C does."""


def _serve(args) -> int:
    import os
    import signal

    from werkzeug.serving import make_server

    from shared_lib.config import reset_settings, settings

    # Locally the Auth emulator's mode is the default: tokens from `python -m emulator token` are accepted.
    if not settings().firebase_auth_emulator_host and not settings().in_cloud:
        os.environ["FIREBASE_AUTH_EMULATOR_HOST"] = "127.0.0.1:9099"
        reset_settings()
    from .platform import Platform

    def on_sigterm(signum, frame):
        raise _Stop()

    # Python's default SIGTERM ends the process without atexit, which is what stops the embedded PostgreSQL
    # (pgserver, cleanup_mode="stop"); turned into an exception, the finally below and atexit both run.
    signal.signal(signal.SIGTERM, on_sigterm)
    platform = None
    try:
        platform = Platform.start(scheduler=not args.no_scheduler)
        server = make_server(args.host, args.port, platform.wsgi_app(), threaded=True)
        print(_banner(args.host, args.port), file=sys.stderr, flush=True)
        server.serve_forever()
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the cleanup short
        if platform is not None:
            platform.stop()
        logging.getLogger("emulator").info("stopped")
    return 0


def _answers(hostport: str | None) -> bool:
    import socket

    if not hostport:
        return False
    host, _, port = hostport.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
        return True
    except (OSError, ValueError):
        return False


def _banner(host: str, port: int) -> str:
    """What is up, where, and how to sign in: the newcomer's first screen."""
    from sqlalchemy.engine import make_url

    from shared_lib.config import settings

    from .app import DEFAULT_CORS_ORIGINS, cors_origins

    s = settings()
    base = f"http://{host}:{port}"
    url = make_url(s.database_url)
    sock = url.query.get("unix_sock")
    database = (f"embedded PostgreSQL (socket {sock})" if sock
                else url.render_as_string(hide_password=True))
    events = f"Pub/Sub fake pstest at {s.pubsub_emulator_host}" if s.pubsub_emulator_host else "in-process bus"
    firestore = (f"Firestore emulator at {s.firestore_emulator_host}" if s.firestore_emulator_host
                 else "none (FIRESTORE_EMULATOR_HOST unset): live read-model writes are skipped")
    auth_host = s.firebase_auth_emulator_host
    if _answers(auth_host):
        auth = f"Firebase Auth emulator at {auth_host}"
    else:
        auth = (f"NOTHING answers at {auth_host}: tokens are accepted, but adding people answers 503 "
                "(`make run` starts an Auth emulator)")
    configured = cors_origins()
    origins = ("http://localhost and http://127.0.0.1, ports 3000 4200 5000 5173 8081"
               if configured == DEFAULT_CORS_ORIGINS.split(",") else ", ".join(configured) or "none")
    token_cmd = f"{sys.executable} -m emulator token --uid owner-1 --email owner@example.com --name Owner"
    signup = (f"curl -s -X POST 'http://{auth_host}/identitytoolkit.googleapis.com/v1/accounts:signUp?key=any' "
              "-H 'content-type: application/json' "
              "-d '{\"email\":\"owner@example.com\",\"password\":\"secret123\",\"returnSecureToken\":true}'")
    return f"""
OnlyManager Economy is up on {base}
  API docs      {base}/api/docs/   (Swagger UI; Authorize takes a token)
  health        {base}/api/health/
  database      {database}
  events        {events}
  read models   {firestore}
  sign-in       {auth}
  CORS origins  {origins}   (OM_CORS_ORIGINS)

Sign in (any uid works; the first POST /api/agencies/ makes you that agency's Owner):
  TOKEN=$({token_cmd})
  or a real Auth-emulator account: {signup}   (its "idToken")
  curl -X POST {base}/api/agencies/ -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{{"name":"My agency"}}'
Admin: POST {base}/_emulator/drain waits for pending events; POST {base}/_emulator/scheduler/<job>?as_of=YYYY-MM-DD fires a job.
Stop: Ctrl-C (or SIGTERM).
"""


if __name__ == "__main__":
    sys.exit(main())
