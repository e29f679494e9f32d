"""Shared bench plumbing: a database (DATABASE_URL, the server on :5432, or the embedded one) and timing stats."""
from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def database() -> str:
    """A migrated database for the bench run (a dedicated one on the local server — BENCH_DB, om_bench unless
    told — else embedded)."""
    from shared_lib.config import reset_settings
    from shared_lib.db import dispose_engine
    from shared_lib.migrate import migrate

    if not os.environ.get("DATABASE_URL"):
        import socket

        try:
            socket.create_connection(("127.0.0.1", 5432), timeout=0.5).close()
            import pg8000.native

            # BENCH_DB names a database of the run's own (two benches at once must not drop each other's).
            name = os.environ.get("BENCH_DB", "om_bench")
            if not name.isidentifier():
                raise SystemExit(f"BENCH_DB must be a plain database name, not {name!r}")
            admin = pg8000.native.Connection("postgres", host="127.0.0.1", database="postgres")
            # A fresh database per run: figures never depend on what an earlier run left behind.
            admin.run(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            admin.run(f"CREATE DATABASE {name}")
            admin.close()
            os.environ["DATABASE_URL"] = f"postgresql+pg8000://postgres@127.0.0.1:5432/{name}"
        except OSError:
            import tempfile

            from emulator.platform import embedded_database_url

            os.environ["DATABASE_URL"] = embedded_database_url(tempfile.mkdtemp(prefix="om-bench-"))
    reset_settings()
    dispose_engine()
    migrate()
    return os.environ["DATABASE_URL"]


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def summary(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {"median_ms": round(statistics.median(s) * 1000, 3),
            "p95_ms": round(s[min(len(s) - 1, int(len(s) * 0.95))] * 1000, 3),
            "mean_ms": round(statistics.fmean(s) * 1000, 3), "n": len(s)}
