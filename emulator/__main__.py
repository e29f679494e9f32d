"""`python -m emulator serve|token|functions|generate|package|seed`: the local platform's command line."""
from __future__ import annotations

import argparse
import json
import logging
import sys


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

    sub.add_parser("functions", help="print the registry as JSON")

    gen = sub.add_parser("generate", help="write openapi.yaml, firebase.json and terraform variables")
    gen.add_argument("--check", action="store_true", help="exit 1 if any generated file is stale")

    pkg = sub.add_parser("package", help="build one deployable source folder per service")
    pkg.add_argument("--out", default="dist")

    seed = sub.add_parser("seed", help="load BUSINESS_RULES.md's worked example into a running platform (its API)")
    seed.add_argument("--url", default="http://127.0.0.1:8080", help="the running platform")
    seed.add_argument("--example", action="append", choices=["1"], help="worked example to load (default: all)")

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    if args.cmd == "token":
        from shared_lib.auth import mint_emulator_token

        print(mint_emulator_token(args.uid, args.email, name=args.name))
        return 0
    if args.cmd == "functions":
        from shared_lib import registry

        registry.load_all()
        print(json.dumps(registry.describe_all(), indent=2))
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


def _serve(args) -> int:
    import os

    from werkzeug.serving import make_server

    from shared_lib.config import reset_settings, settings

    # Locally the Auth emulator's mode is the default: tokens from `python -m emulator token` are accepted.
    if not settings().firebase_auth_emulator_host and not settings().in_cloud:
        os.environ["FIREBASE_AUTH_EMULATOR_HOST"] = "127.0.0.1:9099"
        reset_settings()
    from .platform import Platform

    platform = Platform.start(scheduler=not args.no_scheduler)
    server = make_server(args.host, args.port, platform.wsgi_app(), threaded=True)
    logging.getLogger("emulator").info(
        "OnlyManager Economy on http://%s:%d  (docs: /api/docs/, health: /api/health/, events: %s)",
        args.host, args.port, "pstest" if settings().pubsub_emulator_host else "in-process bus")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        platform.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
