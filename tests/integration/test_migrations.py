"""The migration runner: in order, once, checksummed, safe to run twice and concurrently."""
from __future__ import annotations

import threading
import uuid

import pg8000.native
import pytest
from sqlalchemy import create_engine, text

from shared_lib.migrate import SQL_DIR, MigrationError, discover, migrate
from tests.processes import port_open


@pytest.fixture
def fresh_engine(database_url, tmp_path):
    """An empty database beside the test one (same server), dropped afterwards."""
    name = f"om_mig_{uuid.uuid4().hex[:10]}"
    if database_url.startswith("postgresql+pg8000://postgres@127.0.0.1") and port_open("127.0.0.1", 5432):
        admin = pg8000.native.Connection("postgres", host="127.0.0.1", database="postgres")
        admin.run(f"CREATE DATABASE {name}")
        url = database_url.rsplit("/", 1)[0] + "/" + name
    else:  # embedded server: same socket, another database
        base, _, query = database_url.partition("?")
        admin_url = base.rsplit("/", 1)[0] + "/postgres?" + query
        eng = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(text(f"CREATE DATABASE {name}"))
        eng.dispose()
        admin = None
        url = base.rsplit("/", 1)[0] + f"/{name}?" + query
    engine = create_engine(url, pool_size=4)
    yield engine
    engine.dispose()
    if admin is not None:
        admin.run(f"DROP DATABASE {name} WITH (FORCE)")
        admin.close()


def test_applies_every_file_in_order_then_nothing(fresh_engine):
    names = [m.name for m in discover()]
    assert names == sorted(names) and names[0].startswith("0001")
    assert migrate(fresh_engine) == names
    assert migrate(fresh_engine) == []
    with fresh_engine.connect() as c:
        recorded = c.execute(text("SELECT name FROM eventing.schema_migrations ORDER BY name")).scalars().all()
        schemas = set(c.execute(text("SELECT nspname FROM pg_namespace")).scalars())
    assert recorded == names
    assert {"eventing", "user_service", "income_service", "expense_service", "financial_calculations",
            "statistics_service", "timetracking_service"} <= schemas


def test_concurrent_runners_apply_each_file_once(fresh_engine):
    results, errors = [], []

    def run():
        try:
            results.append(migrate(fresh_engine))
        except Exception as exc:  # a failure would show here, not as a hang
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    applied = [name for r in results for name in r]
    assert sorted(applied) == [m.name for m in discover()]  # every file exactly once across the runners


def test_an_edited_applied_migration_stops_the_run(fresh_engine, tmp_path):
    (tmp_path / "0001_a.sql").write_text("CREATE TABLE public.mig_a (id int);")
    assert migrate(fresh_engine, tmp_path) == ["0001_a.sql"]
    (tmp_path / "0001_a.sql").write_text("CREATE TABLE public.mig_a (id bigint);")
    (tmp_path / "0002_b.sql").write_text("CREATE TABLE public.mig_b (id int);")
    with pytest.raises(MigrationError, match="0001_a.sql changed"):
        migrate(fresh_engine, tmp_path)
    with fresh_engine.connect() as c:
        assert c.execute(text("SELECT to_regclass('public.mig_b')")).scalar() is None


def test_a_failing_migration_leaves_no_trace(fresh_engine, tmp_path):
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE public.mig_ok (id int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE public.mig_half (id int); SELECT no_such_function();")
    with pytest.raises(Exception):
        migrate(fresh_engine, tmp_path)
    with fresh_engine.connect() as c:
        assert c.execute(text("SELECT name FROM eventing.schema_migrations")).scalars().all() == ["0001_ok.sql"]
        assert c.execute(text("SELECT to_regclass('public.mig_half')")).scalar() is None


# --- the migrate job: `python -m shared_lib.migrate` from its package, as Cloud SQL's admin user --------------

INCOME_LOGIN = "om-income@demo-onlymanager.iam"  # what Cloud SQL names a service account's IAM user
PAYOUTS_LOGIN = "om-payouts@demo-onlymanager.iam"

# The venv has the checkout installed in editable mode: take its finder away, so only the package can answer.
_RUN_FROM_PACKAGE = """
import runpy, sys
sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
sys.path_hooks[:] = [h for h in sys.path_hooks if not getattr(h, "__module__", "").startswith("__editable__")]
sys.path[:] = [p for p in sys.path if not p.startswith("__editable__")]
import shared_lib
assert shared_lib.__file__.startswith(sys.argv[1]), shared_lib.__file__
sys.argv = ["shared_lib.migrate"]
runpy.run_module("shared_lib.migrate", run_name="__main__", alter_sys=True)
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A new embedded PostgreSQL cluster (no om_* role exists in it yet) with `migrator`, a login like Cloud SQL's
    `postgres` user (CREATEROLE, CREATEDB, not a superuser) owning the databases, two IAM-like function logins,
    and the migrate job's package built as `python -m emulator package` builds it."""
    import pgserver

    from emulator.package import build_migrate

    base = tmp_path_factory.mktemp("cluster")
    srv = pgserver.get_server(base / "pg", cleanup_mode="stop")
    srv.psql(f"""CREATE ROLE migrator LOGIN CREATEROLE CREATEDB NOSUPERUSER;
                 CREATE DATABASE om OWNER migrator; CREATE DATABASE om_b OWNER migrator;
                 CREATE ROLE "{INCOME_LOGIN}" LOGIN; CREATE ROLE "{PAYOUTS_LOGIN}" LOGIN;""")
    package = build_migrate(base / "dist")
    yield {"socket": f"{base / 'pg'}/.s.PGSQL.5432", "package": package, "srv": srv}
    srv.cleanup()


def _url(cluster, user: str, database: str = "om") -> str:
    from urllib.parse import quote

    return f"postgresql+pg8000://{quote(user, safe='')}@/{database}?unix_sock={cluster['socket']}"


def _job(cluster, database: str = "om", logins: dict | str | None = None):
    """Start the migrate job from its package folder (cwd), connected as the migrator; `logins` becomes
    OM_SERVICE_DB_USERS (a dict as JSON, a str as written)."""
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "K_SERVICE", "DB_SERVICE_ROLES")}
    env.update(DATABASE_URL=_url(cluster, "migrator", database), OM_SERVICE_DB_USERS=logins if isinstance(logins, str) else json.dumps(logins or {}))
    package = str(cluster["package"])
    return subprocess.Popen([sys.executable, "-c", _RUN_FROM_PACKAGE, package], cwd=package, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(proc) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=180)
    return proc.returncode, out


def _run(cluster, url: str, sql: str, params: dict | None = None):
    engine = create_engine(url)
    try:
        with engine.begin() as c:
            result = c.execute(text(sql), params or {})
            return result.all() if result.returns_rows else []
    finally:
        engine.dispose()


def test_migrate_job_applies_everything_once_run_twice_and_concurrently(cluster):
    names = [m.name for m in discover()]
    # Three at once on a cluster without the roles: two on one database (the advisory lock), one on another
    # (both create the cluster-wide roles at the same moment).
    procs = [_job(cluster), _job(cluster), _job(cluster, "om_b")]
    results = [_finish(p) for p in procs]
    assert [rc for rc, _ in results] == [0, 0, 0], "\n".join(out for _, out in results)
    for database in ("om", "om_b"):
        recorded = _run(cluster, _url(cluster, "migrator", database),
                        "SELECT name, count(*) OVER (PARTITION BY name) FROM eventing.schema_migrations ORDER BY name")
        assert recorded == [(n, 1) for n in names]
    applied_lines = [line for _, out in results[:2] for line in out.splitlines() if "applied migration" in line]
    assert sorted(line.split("applied migration ")[1].split(" ")[0] for line in applied_lines) == names
    # Sequentially, twice more: nothing to do, one line per migration.
    for _ in range(2):
        rc, out = _finish(_job(cluster))
        assert rc == 0, out
        assert [line.split("migration ")[1].split(" ")[0] for line in out.splitlines()
                if line.endswith("already applied")] == names
        assert "0 migration(s) applied, 0 membership(s) granted" in out
    roles = _run(cluster, _url(cluster, "migrator"),
                 "SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'om\\_%' ORDER BY 1")
    assert roles == [(f"om_{s}", False) for s in sorted(
        ["audit", "eventing", "expenses", "income", "payouts", "stats", "timetracking", "users"])]


def test_migrate_job_grants_each_login_its_service_role_and_nothing_more(cluster):
    logins = {"income": INCOME_LOGIN, "payouts": PAYOUTS_LOGIN}
    rc, out = _finish(_job(cluster, logins=logins))
    assert rc == 0, out
    assert f"granted om_income to {INCOME_LOGIN}" in out and f"granted om_payouts to {PAYOUTS_LOGIN}" in out
    rc, out = _finish(_job(cluster, logins=logins))  # idempotent
    assert rc == 0 and "0 membership(s) granted" in out and f"om_income already granted to {INCOME_LOGIN}" in out

    # The service's real work, as the IAM login itself (no SET ROLE): register an income.
    from datetime import date

    from functions.income.schemas import IncomeRegister
    from functions.income.service import income_register
    from shared_lib.db import UnitOfWork
    from shared_lib.rbac import Caller, Role

    migrator = _url(cluster, "migrator")
    agency_id = _run(cluster, migrator, "INSERT INTO user_service.agencies (name) VALUES ('Velvet') RETURNING id")[0][0]
    owner_id = _run(cluster, migrator, "INSERT INTO user_service.users (agency_id, firebase_uid, role) "
                                       "VALUES (:a, 'owner-1', 'owner') RETURNING id", {"a": agency_id})[0][0]
    caller = Caller(user_id=owner_id, agency_id=agency_id, role=Role.owner, firebase_uid="owner-1",
                    display_name=None, email=None)
    income = create_engine(_url(cluster, INCOME_LOGIN))
    try:
        with income.begin() as conn:
            assert conn.execute(text("SELECT current_user")).scalar() == INCOME_LOGIN
            record = income_register(uow=UnitOfWork(conn), caller=caller, cmd=IncomeRegister(
                type="other_income", gross_amount="100.00", sale_date=date(2026, 11, 10), source="bonus"))
        assert record.net_amount == record.gross_amount - record.fee_amount
        # Refused: another service's schema, written or read.
        for sql in ("INSERT INTO financial_calculations.periods (agency_id, period) VALUES (:a, '2026-11')",
                    "SELECT count(*) FROM statistics_service.daily_model_stats",
                    "SELECT count(*) FROM user_service.user_financial_settings"):
            with pytest.raises(Exception, match="permission denied"):
                with income.begin() as conn:
                    conn.execute(text(sql), {"a": agency_id})
    finally:
        income.dispose()
    assert _run(cluster, migrator, "SELECT count(*) FROM financial_calculations.periods") == [(0,)]
    assert _run(cluster, migrator, "SELECT type FROM eventing.outbox") == [("income.registered",)]
    # payouts reads what it calculates from, as its own login.
    assert _run(cluster, _url(cluster, PAYOUTS_LOGIN), "SELECT gross_amount::text FROM income_service.income_records") \
        == [("100.00",)]


def test_migrate_job_refuses_a_login_that_does_not_exist_and_grants_nothing(cluster):
    before = _run(cluster, _url(cluster, "migrator"), "SELECT count(*) FROM pg_auth_members")
    rc, out = _finish(_job(cluster, logins={"stats": "om-stats@demo-onlymanager.iam", "payouts": PAYOUTS_LOGIN,
                                            "nosuch": PAYOUTS_LOGIN}))
    assert rc == 1
    assert "database user 'om-stats@demo-onlymanager.iam' (service stats) does not exist" in out
    assert "no role om_nosuch (unknown service 'nosuch')" in out
    assert _run(cluster, _url(cluster, "migrator"), "SELECT count(*) FROM pg_auth_members") == before
    rc, out = _finish(_job(cluster, logins="not json"))
    assert rc == 1 and "OM_SERVICE_DB_USERS is not JSON" in out


def test_two_databases_creating_the_roles_at_the_same_moment_both_succeed(tmp_path):
    """The roles are cluster-wide: while one database's migration holds its uncommitted CREATE ROLE, another's
    waits on pg_authid's unique index and then gets unique_violation, which 0090 takes as "already there"."""
    import pgserver

    srv = pgserver.get_server(tmp_path / "pg", cleanup_mode="stop")
    try:
        srv.psql("CREATE DATABASE d1; CREATE DATABASE d2;")
        sock = f"{tmp_path / 'pg'}/.s.PGSQL.5432"
        roles_sql = (SQL_DIR / "0090_service_roles.sql").read_text().split("$$;", 1)[0] + "$$;"
        assert "CREATE ROLE" in roles_sql and "GRANT" not in roles_sql
        first = pg8000.native.Connection("postgres", unix_sock=sock, database="d1")
        second = pg8000.native.Connection("postgres", unix_sock=sock, database="d2")
        first.run("BEGIN")
        first.run(roles_sql)
        errors: list[Exception] = []

        def run_second():
            try:
                second.run(roles_sql)
            except Exception as exc:
                errors.append(exc)

        t = threading.Thread(target=run_second)
        t.start()
        t.join(1.0)
        assert t.is_alive()  # waiting for the first transaction's roles
        first.run("COMMIT")
        t.join(30)
        assert not t.is_alive() and errors == []
        count = first.run("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'om\\_%'")[0][0]
        first.close()
        second.close()
        assert count == 7
    finally:
        srv.cleanup()
