"""The migration runner: in order, once, checksummed, safe to run twice and concurrently."""
from __future__ import annotations

import threading
import uuid

import pg8000.native
import pytest
from sqlalchemy import create_engine, text

from shared_lib.migrate import MigrationError, discover, migrate
from tests.conftest import _port_open


@pytest.fixture
def fresh_engine(database_url, tmp_path):
    """An empty database beside the test one (same server), dropped afterwards."""
    name = f"om_mig_{uuid.uuid4().hex[:10]}"
    if database_url.startswith("postgresql+pg8000://postgres@127.0.0.1") and _port_open("127.0.0.1", 5432):
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
