"""Applies sql/NNNN_*.sql in order, once each, recorded with checksums; safe to run twice and concurrently."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

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


def migrate(engine=None, sql_dir: Path = SQL_DIR) -> list[str]:
    """Apply what is missing; return the names applied. Holds a session advisory lock for the whole run."""
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
                    continue
                with conn.begin():
                    # exec_driver_sql: the file is run as written (several statements, no bind parsing).
                    conn.exec_driver_sql(m.sql)
                    conn.execute(
                        text("INSERT INTO eventing.schema_migrations (name, checksum) VALUES (:n, :c)"),
                        {"n": m.name, "c": m.checksum},
                    )
                applied_now.append(m.name)
                log.info("applied migration %s", m.name)
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})
            conn.commit()
    return applied_now
