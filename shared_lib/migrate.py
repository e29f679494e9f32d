"""Applies sql/NNNN_*.sql in order, once each, recorded with checksums; safe to run twice and concurrently.

`python -m shared_lib.migrate` is the migrate job: the migrations, then each service's group role granted to
its login (OM_SERVICE_DB_USERS); exit 0 when done, 1 on any failure (2: bad arguments).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

log = logging.getLogger("shared_lib.migrate")  # also when run as __main__

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
# Any constant works; it only has to be the same for every runner of this project.
ADVISORY_LOCK_KEY = 0x0E_C0_40_11


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(sql_dir: Path = SQL_DIR) -> list[Migration]:
    files = sorted(p for p in sql_dir.glob("*.sql") if p.name[:4].isdigit())
    return [Migration(p.name, p.read_text()) for p in files]


def migrate(engine=None, sql_dir: Path = SQL_DIR, *, verbose: bool = False) -> list[str]:
    """Apply what is missing; return the names applied. Holds a session advisory lock for the whole run.
    verbose: also log each migration that was already applied (the job's one line per migration)."""
    from sqlalchemy import text

    from .db import engine as default_engine

    engine = engine or default_engine()
    migrations = discover(sql_dir)
    applied_now: list[str] = []
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
        conn.commit()
        try:
            with conn.begin():
                conn.execute(text("CREATE SCHEMA IF NOT EXISTS eventing"))
                conn.execute(
                    text(
                        "CREATE TABLE IF NOT EXISTS eventing.schema_migrations ("
                        " name text PRIMARY KEY, checksum text NOT NULL,"
                        " applied_at timestamptz NOT NULL DEFAULT now())"
                    )
                )
            recorded = dict(conn.execute(text("SELECT name, checksum FROM eventing.schema_migrations")).all())
            conn.commit()
            for m in migrations:
                if m.name in recorded:
                    if recorded[m.name] != m.checksum:
                        raise MigrationError(
                            f"{m.name} changed after it was applied (checksum {recorded[m.name][:12]} → "
                            f"{m.checksum[:12]}); add a new migration instead of editing an applied one"
                        )
                    log.log(logging.INFO if verbose else logging.DEBUG, "migration %s already applied", m.name)
                    continue
                started = time.monotonic()
                with conn.begin():
                    # exec_driver_sql: the file is run as written (several statements, no bind parsing).
                    conn.exec_driver_sql(m.sql)
                    conn.execute(
                        text("INSERT INTO eventing.schema_migrations (name, checksum) VALUES (:n, :c)"),
                        {"n": m.name, "c": m.checksum},
                    )
                applied_now.append(m.name)
                log.info("applied migration %s (%d ms)", m.name, (time.monotonic() - started) * 1000)
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})
            conn.commit()
    return applied_now


# --- service logins (the migrate job) -------------------------------------------------------------------------


def service_db_users(raw: str | None) -> dict[str, str]:
    """OM_SERVICE_DB_USERS: a JSON object {service: database user}; unset or empty means none."""
    if not raw or not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise MigrationError(f"OM_SERVICE_DB_USERS is not JSON: {exc}") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) and v
                                              for k, v in value.items()):
        raise MigrationError('OM_SERVICE_DB_USERS must be a JSON object of service → user name, e.g. '
                             '{"income": "om-income@PROJECT.iam"}')
    return value


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def grant_logins(logins: dict[str, str], engine=None) -> list[str]:
    """GRANT om_<service> TO <login> for each entry, in one transaction under the migration lock; memberships
    that exist are left alone (idempotent). Every role and login is checked before anything is granted: an
    unknown service or a login that does not exist raises MigrationError and grants nothing.
    Returns the memberships granted now, as "role → login"."""
    from sqlalchemy import text

    from .db import engine as default_engine

    if not logins:
        return []
    engine = engine or default_engine()
    granted: list[str] = []
    with engine.connect() as conn:
        # Concurrent jobs would race on pg_auth_members: the migration lock serializes them.
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
        conn.commit()
        try:
            with conn.begin():
                existing = set(conn.execute(text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:names)"),
                                            {"names": [f"om_{s}" for s in logins] + list(logins.values())}).scalars())
                problems = [f"no role om_{s} (unknown service {s!r})" for s in logins if f"om_{s}" not in existing]
                problems += [f"database user {u!r} (service {s}) does not exist: create its IAM database user "
                             f"first (terraform google_sql_user)" for s, u in logins.items() if u not in existing]
                if problems:
                    raise MigrationError("; ".join(problems))
                for service, login in sorted(logins.items()):
                    role = f"om_{service}"
                    member = conn.execute(text(
                        "SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
                        "JOIN pg_roles u ON u.oid = m.member WHERE r.rolname = :r AND u.rolname = :u"),
                        {"r": role, "u": login}).first()
                    if member is None:
                        conn.exec_driver_sql(f"GRANT {_ident(role)} TO {_ident(login)}")
                        granted.append(f"{role} → {login}")
                        log.info("granted %s to %s", role, login)
                    else:
                        log.info("%s already granted to %s", role, login)
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})
            conn.commit()
    return granted


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared_lib.migrate",
        description="Apply the migrations, then grant each service's group role to its database login "
                    "(OM_SERVICE_DB_USERS, a JSON object service → user). Connects with DATABASE_URL locally, "
                    "INSTANCE_CONNECTION_NAME/DB_USER/DB_PASS/DB_IAM_AUTH on Cloud SQL.")
    parser.add_argument("--sql-dir", type=Path, default=SQL_DIR, help="the migrations folder (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(levelname)s %(name)s: %(message)s")
    try:
        logins = service_db_users(os.environ.get("OM_SERVICE_DB_USERS"))
        applied = migrate(sql_dir=args.sql_dir, verbose=True)
        granted = grant_logins(logins)
    except MigrationError as exc:
        log.error("migrate failed: %s", exc)
        return 1
    except Exception:  # a database error: its message names the statement
        log.exception("migrate failed")
        return 1
    finally:
        from .db import dispose_engine

        dispose_engine()
    log.info("migrate done: %d migration(s) applied, %d membership(s) granted", len(applied), len(granted))
    return 0


if __name__ == "__main__":
    sys.exit(main())
