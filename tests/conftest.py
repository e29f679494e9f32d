"""Test fixtures: a real PostgreSQL (the server on :5432 when it answers, else the embedded one), the platform with
the Pub/Sub fake when PUBSUB_EMULATOR_HOST is set, emulator-mode tokens, and a clean database per test."""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Tests run the Auth emulator's mode unless a test switches to production mode itself.
os.environ.setdefault("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")
os.environ.setdefault("GOOGLE_CLOUD_PROJECT", "demo-onlymanager")
# gRPC's fork support (on by default in grpcio) runs atfork handlers in every fork() child of a process using gRPC,
# and they crash the child when gRPC threads are busy (grpc doc/fork_support.md): 19 of 300 forks of a process with a
# busy Pub/Sub client died (SIGABRT/SIGSEGV), 0 of 300 with it off. Tests fork only to exec (subprocess with user=,
# as pgserver's pg_ctl when root), never to use gRPC in the child: off, before anything imports grpc; children inherit.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
# Each test process its own Pub/Sub project on the shared fake: concurrent runs never take each other's events.
# pytest-xdist's workers inherit the environment of the controller, which has imported this file already: a project
# this file chose in another process (OM_TEST_PUBSUB_PID) is replaced, one set from outside is kept.
if "PUBSUB_PROJECT" not in os.environ or os.environ.get("OM_TEST_PUBSUB_PID", str(os.getpid())) != str(os.getpid()):
    os.environ["PUBSUB_PROJECT"] = f"demo-om-test-{os.getpid()}"
    os.environ["OM_TEST_PUBSUB_PID"] = str(os.getpid())
os.environ.pop("K_SERVICE", None)
os.environ["OUTBOX_RELAY_MIN_AGE_SECONDS"] = "0"
# Every function's database work runs as its service's role, so a missing grant fails here, not in production.
os.environ.setdefault("DB_SERVICE_ROLES", "true")

# Google's Firestore rules emulator (Java, started by the rules tests) answers its first requests after the JIT has
# compiled the rules engine: with the client compiler only and the serial collector that first answer comes 2-3x
# sooner (measured 12.7 s -> 4.5 s on a loaded 2-core machine), well inside the tests' 10 s read timeouts, also
# with a second pytest-xdist worker busy beside it. Nothing it checks changes.
os.environ.setdefault("JAVA_TOOL_OPTIONS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")

IN_CI = os.environ.get("CI", "").lower() == "true"

# Property tests: no per-example deadline (a loaded 2-core machine is slow, not wrong); in CI the examples are
# derived from the test itself, so a run is reproducible — exploring new examples is for development runs.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("onlymanager", deadline=None, derandomize=IN_CI, print_blob=True)
_hypothesis_settings.load_profile("onlymanager")

from tests.factories import bearer  # noqa: E402  (the `auth` fixture hands it out)
from tests.processes import port_open  # noqa: E402


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def pytest_make_parametrize_id(config, val, argname):
    """A random UUID in a parameter (str(uuid.uuid4())) would name the test differently in each pytest-xdist worker,
    and xdist refuses to run when its workers collect different tests: the id says <uuid> instead."""
    if isinstance(val, str) and _UUID.search(val):
        return _UUID.sub("<uuid>", val)
    return None


# The longest test files, longest first (fresh-clone runs on 2 cores). Under pytest-xdist (`make test`: --dist
# loadfile --no-loadscope-reorder) each worker takes the next whole file when it is free, in collection order: these
# start first, so no long file is left running alone at the end while the other worker idles. A new test file that
# takes more than ~30 s belongs here. Without workers (-n 0) the order is pytest's own.
LONG_FILES = (
    "tests/e2e/test_make_run.py",
    "tests/integration/test_fault_drills.py",
    "tests/e2e/test_authorization_matrix.py",
    "tests/e2e/test_fuzz.py",
    "tests/e2e/test_packaging.py",
    "tests/e2e/test_docs_browser.py",
    "tests/e2e/test_package_venv.py",
    "tests/integration/test_stats_firestore_rules.py",
    "tests/integration/test_stats_property.py",
    "tests/unit/test_terraform.py",
    "tests/e2e/test_payouts_golden.py",
)


def pytest_collection_modifyitems(session, config, items):
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    rank = {path: i for i, path in enumerate(LONG_FILES)}
    # Stable: the tests of a file keep their order, the other files theirs. Every worker sorts the same way, so
    # their collections stay identical (xdist checks that).
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI a skipped test is a failed test: nothing may silently stop being checked."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (CI=true forbids skips): {report.longrepr}"


@pytest.fixture(autouse=True)
def _clock_not_left_frozen():
    """shared_lib.clock.frozen is process-wide: a test (or a thread it started) that leaves it frozen would move the
    clock of every test after it in the process. Such a test fails here, loudly, and the clock is real again."""
    from shared_lib import clock

    if clock.is_frozen():  # by a wider fixture, or at import: no test may start on a clock it did not set
        pytest.fail(f"shared_lib.clock was frozen before the test started ({clock.unfreeze_all()} block(s) open)",
                    pytrace=False)
    yield
    if clock.is_frozen():
        left = clock.unfreeze_all()
        pytest.fail(f"the test left shared_lib.clock frozen ({left} frozen() block(s) still open, e.g. entered in a "
                    "thread that outlived the test): freeze around a race in the main thread, not in each thread",
                    pytrace=False)


def _server_database_url() -> str | None:
    """A fresh database on the local server, when one answers on 127.0.0.1:5432."""
    if not port_open("127.0.0.1", 5432):
        return None
    import pg8000.native

    # One database per test process: several runs (and helpers) can share the server without clobbering.
    name = f"om_test_{os.getpid()}"
    admin = pg8000.native.Connection("postgres", host="127.0.0.1", port=5432, database="postgres")
    try:
        admin.run(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.run(f"CREATE DATABASE {name}")
    finally:
        admin.close()
    return f"postgresql+pg8000://postgres@127.0.0.1:5432/{name}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    url = _server_database_url()
    on_server = url is not None
    if url is None:
        from emulator.platform import embedded_database_url

        url = embedded_database_url(tmp_path_factory.mktemp("embedded"))
    os.environ["DATABASE_URL"] = url
    from shared_lib.config import reset_settings
    from shared_lib.db import dispose_engine
    from shared_lib.migrate import migrate

    reset_settings()
    dispose_engine()
    migrate()
    yield url
    dispose_engine()
    if on_server:
        import pg8000.native

        admin = pg8000.native.Connection("postgres", host="127.0.0.1", port=5432, database="postgres")
        try:
            admin.run(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")
        finally:
            admin.close()


@pytest.fixture(scope="session")
def platform(database_url):
    from emulator.platform import Platform

    if IN_CI and not os.environ.get("PUBSUB_EMULATOR_HOST"):
        pytest.fail("CI runs the event tests through the Pub/Sub fake: PUBSUB_EMULATOR_HOST must be set")
    p = Platform.start(migrate=False)
    _RUNNING.append(p)
    yield p
    _RUNNING.remove(p)
    p.stop()


_RUNNING: list = []  # the session's platform, once started: tests drain it before resetting the database


# Every service table emptied and every identity sequence restarted, in one round trip: only the tables that hold a
# row are truncated and only the sequences that were used are restarted — the same clean state as truncating all
# of them (~85 ms a test with 36 tables), in a few milliseconds. Sequences that no column owns
# (statistics_service.dashboard_version, financial_calculations.earnings_version) are left alone, as before.
_SERVICE_SCHEMAS = ("eventing", "user_service", "income_service", "expense_service", "financial_calculations",
                    "statistics_service", "timetracking_service")
_RESET_SQL = """
DO $reset$
DECLARE
    t text;
    full_tables text[] := '{}';
    has_row boolean;
    s record;
BEGIN
    FOR t IN SELECT format('%%I.%%I', schemaname, tablename) FROM pg_tables
             WHERE schemaname IN (%(schemas)s) AND tablename <> 'schema_migrations'
    LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %%s)', t) INTO has_row;
        IF has_row THEN
            full_tables := full_tables || t;
        END IF;
    END LOOP;
    IF cardinality(full_tables) > 0 THEN
        EXECUTE 'TRUNCATE ' || array_to_string(full_tables, ', ') || ' RESTART IDENTITY CASCADE';
    END IF;
    FOR s IN SELECT DISTINCT format('%%I.%%I', q.schemaname, q.sequencename) AS name FROM pg_sequences q
             JOIN pg_depend d ON d.classid = 'pg_class'::regclass
                             AND d.objid = format('%%I.%%I', q.schemaname, q.sequencename)::regclass
                             AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')
             WHERE q.schemaname IN (%(schemas)s) AND q.last_value IS NOT NULL
    LOOP
        EXECUTE format('ALTER SEQUENCE %%s RESTART', s.name);
    END LOOP;
END
$reset$
""" % {"schemas": ", ".join(f"'{name}'" for name in _SERVICE_SCHEMAS)}


def _truncate_all() -> None:
    from sqlalchemy import text

    for p in _RUNNING:  # no handler may still be working on the previous test's events while tables are emptied
        p.bus.drain(30)

    from shared_lib.db import engine

    with engine().begin() as conn:
        conn.execute(text(_RESET_SQL))


@pytest.fixture
def db(database_url):
    """A clean database for this test (every service table emptied)."""
    _truncate_all()
    yield


@pytest.fixture
def app(platform, db):
    """The platform's WSGI app with a clean database; drains pending events before the next test."""
    yield platform.wsgi_app()
    platform.drain(10)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def auth():
    return bearer


class RegistrySandbox:
    """The declaration tables as a test found them: shared_lib's REGISTRY, JOBS and PUBLISHED and
    functions-framework's own registry (what @functions_framework.http/cloud_event record by name)."""

    def __init__(self):
        from functions_framework import _function_registry

        from shared_lib import registry

        self._tables = (registry.REGISTRY, registry.JOBS, registry.PUBLISHED, _function_registry.REGISTRY_MAP,
                        _function_registry.INPUT_TYPE_MAP)
        # PUBLISHED's values are sets a declaration adds to: copied, not shared.
        self._saved = [{k: set(v) if isinstance(v, set) else v for k, v in t.items()} for t in self._tables]

    def restore(self) -> None:
        """Put every table back (idempotent): for a fixture that must rebuild something after the restore."""
        for table, saved in zip(self._tables, self._saved):
            table.clear()
            table.update({k: set(v) if isinstance(v, set) else v for k, v in saved.items()})


@pytest.fixture
def registry_sandbox():
    """Declare test-only functions freely: the registries are restored afterwards (functions-framework's own
    tests reset its registry between loads the same way), so no declaration outlives its test."""
    sandbox = RegistrySandbox()
    yield sandbox
    sandbox.restore()
