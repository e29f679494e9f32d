"""The database engine (one per instance, created lazily) and the unit of work: one transaction per request or event."""
from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Iterator
from urllib.parse import parse_qs, urlsplit

from . import outbox
from .config import settings

if TYPE_CHECKING:  # keep SQLAlchemy's import cost off the module import path of type-only users
    from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

_engine: "Engine | None" = None
_connector: Any = None
_lock = threading.Lock()

# The service whose work runs in this thread/task, set by unit_of_work(service=...): every transaction begun
# meanwhile on the engine (the unit of work, and its after-commit work such as marking the outbox published)
# runs as that service's role when DB_SERVICE_ROLES is on.
_current_service: ContextVar[str | None] = ContextVar("om_service", default=None)


def service_role(service: str) -> str:
    """The NOLOGIN group role of a service (sql/0090_service_roles.sql creates one per service)."""
    if not service.isidentifier() or not service.islower():
        raise ValueError(f"not a service name: {service!r}")
    return f"om_{service}"


@lru_cache(maxsize=1)
def _deployed_services() -> frozenset[str]:
    """The services with a group role: those under functions/ (a service a test declares has none)."""
    from .registry import service_names

    return frozenset(service_names())


def _install_role_hook(engine: "Engine") -> None:
    from sqlalchemy import event

    @event.listens_for(engine, "begin")
    def _as_service_role(conn) -> None:
        begin = _begin_settings()
        if begin is None:
            return  # (a ping that began the transaction for a first read: pg8000 sees it open and sends no BEGIN)
        # On the driver's connection: SQLAlchemy's transaction is not in place yet during "begin". pg8000 would
        # open the database transaction with a round trip of its own before the first statement; here the BEGIN
        # and the SET LOCAL (which ends with the transaction) go as one simple query, one round trip — or none
        # when the pool's ping at this checkout sent exactly that already (_install_ping).
        dbapi = conn.connection.dbapi_connection
        begun, dbapi._om_begun_as = getattr(dbapi, "_om_begun_as", None), None
        if begun == begin and dbapi._in_transaction:
            return
        dbapi.execute_simple(begin if dbapi._in_transaction else f"BEGIN TRANSACTION; {begin}")


# unit_of_work(generic_plans=True): this transaction lets PostgreSQL choose generic plans for its prepared
# statements (plan_cache_mode = auto, the server's own default) instead of planning each execute (STARTUP_PARAMS).
_generic_plans: ContextVar[bool] = ContextVar("om_generic_plans", default=False)
_GENERIC_PLANS = "SET LOCAL plan_cache_mode = auto"


def _begin_settings() -> str | None:
    """What the transaction's BEGIN sets with it (one simple query): the service's role (`_role_now`) and, when the
    unit of work asked for them, generic plans; None when nothing (pg8000 then sends its own BEGIN)."""
    parts = [p for p in (_role_now(), _GENERIC_PLANS if _generic_plans.get() else None) if p]
    return "; ".join(parts) or None


def _role_now() -> str | None:
    """`SET LOCAL ROLE om_<service>` for the service whose work runs now, when DB_SERVICE_ROLES is on; else None."""
    service = _current_service.get()
    if service is None or not settings().db_service_roles or service not in _deployed_services():
        return None
    return f"SET LOCAL ROLE {service_role(service)}"


# --- pg8000 per-statement cost ----------------------------------------------------------------------------------
# Three costs of pg8000 (1.31) paid on every execute, whatever the statement, and a fourth on every date or
# timestamp read (issue #13; docs/DESIGN.md "Register path cost"), removed once per process by _fast_pg8000():
#
# 1. convert_paramstyle turns the "format" (%s) text SQLAlchemy sends into PostgreSQL's $n with a Python loop over
#    every character, on every execute. For the "format" style the result depends on the text alone (the
#    parameters pass through untouched), so it is cached per text: the same function, computed once.
# 2. execute_unnamed (every statement with parameters, and COMMIT) waits for the server three times: after
#    Parse, after Describe, after Execute. Nothing it sends depends on those answers (the parameters are encoded
#    from their Python types; the row description is read from the same stream), so the pipelined version sends
#    Parse, Describe, Bind, Execute and one Sync together and reads the answers once: one round trip. An error
#    anywhere makes the server skip to the Sync and answer ErrorResponse + ReadyForQuery, raised as before.
# 3. Even pipelined, every execute had the server parse and analyse the text again and pg8000 build and read the
#    Parse, Describe, ParameterDescription and RowDescription messages. A text with parameters is prepared once per
#    connection (a named statement, pg8000's own prepare_statement: Parse + Describe) and then sent as Bind,
#    Execute, Sync: one round trip, about half the messages. The parameter types are the server's inference from
#    the text alone (no oids are sent), so one statement per text is what every execute would have parsed; the
#    plan is still made for each execute's values (STARTUP_PARAMS). At most _PREPARED_MAX per connection, which
#    a reconnect starts afresh; a statement whose result type a migration changed fails once and is prepared anew.

_PARAMSTYLE_CACHE_MAX = 4096  # distinct SQL texts; the code has a few hundred (filters combine)
_PREPARED_MAX = 256  # prepared statements per connection; past them, texts go unnamed as before
# Prepared statements are planned for their parameters on every execute, as unnamed ones are: no generic plan
# (the plan a statement gets does not change by preparing it; parse analysis and the Describe are what is saved).
STARTUP_PARAMS = {"plan_cache_mode": "force_custom_plan"}
_fast_installed = False


def _fast_pg8000() -> None:
    global _fast_installed
    if _fast_installed:
        return
    import pg8000.converters
    import pg8000.core
    import pg8000.dbapi
    import pg8000.legacy

    convert = pg8000.dbapi.convert_paramstyle
    cache: dict[str, str] = {}

    def convert_paramstyle(style, query, args):
        if style != "format":
            return convert(style, query, args)
        statement = cache.get(query)
        if statement is None:
            statement, _ = convert(style, query, ())
            if len(cache) >= _PARAMSTYLE_CACHE_MAX:
                cache.clear()
            cache[query] = statement
        return statement, args

    def execute_unnamed(self, statement, vals=(), oids=(), stream=None):
        params = pg8000.core.make_params(self.py_types, vals)  # before anything is sent: a bad value sends nothing
        if vals and stream is None:
            prepared = _prepared(self, statement, oids)
            if prepared is not None:
                try:
                    return self.execute_named(prepared[0], params, prepared[1], prepared[2], statement)
                except pg8000.core.DatabaseError as exc:
                    if _server_answered(exc) and exc.args[0].get("C") == "0A000":
                        # "cached plan must not change result type": a migration changed what the text returns;
                        # prepared again (another name) on its next use. The server keeps the old one: harmless.
                        self._om_prepared.pop((statement, tuple(oids or ())), None)
                    raise
        context = pg8000.core.Context(statement, stream=stream)
        self.send_PARSE(pg8000.core.NULL_BYTE, statement, oids)
        self.send_DESCRIBE_STATEMENT(pg8000.core.NULL_BYTE)
        self.send_BIND(pg8000.core.NULL_BYTE, params)
        self.send_EXECUTE()
        pg8000.core._write(self._sock, pg8000.core.SYNC_MSG)
        try:
            pg8000.core._flush(self._sock)
        except AttributeError:
            if self._sock is None:
                raise pg8000.core.InterfaceError("connection is closed") from None
            raise
        self.handle_messages(context)
        return context

    def _prepared(conn, statement, oids):
        # (name, columns, input_funcs) of the connection's prepared statement of this text, prepared (Parse and
        # Describe, one round trip) on its first use; None once the connection holds _PREPARED_MAX of them.
        cache = conn.__dict__.setdefault("_om_prepared", {})
        key = (statement, tuple(oids or ()))
        kept = cache.get(key)
        if kept is None:
            if len(cache) >= _PREPARED_MAX:
                return None
            kept = cache[key] = conn.prepare_statement(statement, oids)
        return kept

    pg8000.dbapi.convert_paramstyle = pg8000.legacy.convert_paramstyle = convert_paramstyle
    pg8000.core.CoreConnection.execute_unnamed = execute_unnamed
    _fast_datetimes(pg8000.converters)
    _fast_installed = True


def _fast_datetimes(converters) -> None:
    """4. pg8000 reads every date, timestamp and timestamptz with datetime.strptime (tens of µs each: a register's
    answer has two). PostgreSQL's ISO output is what datetime.fromisoformat reads (1-2 µs), to the same value and
    tzinfo; anything else it refuses (BC, a year past 9999, infinity) goes to pg8000's own function as before.
    Every connection made after this reads with them (pg8000 copies PG_TYPES per connection)."""
    from datetime import date, datetime

    slow_date, slow_ts, slow_tstz = converters.date_in, converters.timestamp_in, converters.timestamptz_in

    def date_in(data):
        try:
            return date.fromisoformat(data)
        except ValueError:
            return slow_date(data)

    def timestamp_in(data):
        try:
            return datetime.fromisoformat(data)
        except ValueError:
            return slow_ts(data)

    def timestamptz_in(data):
        try:
            return datetime.fromisoformat(data)
        except ValueError:
            return slow_tstz(data)

    for oid, fn in ((converters.DATE, date_in), (converters.TIMESTAMP, timestamp_in),
                    (converters.TIMESTAMPTZ, timestamptz_in)):
        if converters.PG_TYPES.get(oid) in (slow_date, slow_ts, slow_tstz):
            converters.PG_TYPES[oid] = fn


class _FirstRead:
    """A read that rides the pool's ping (unit_of_work(first_read=...)): `sql` a complete statement, no parameters
    (its values literals the caller made safe); after the checkout, `row` its one row (or None: no row), `done`
    whether it was read so. A fresh connection is not pinged, a failed read falls back to the plain ping: then
    `done` stays False and the caller runs its statement as usual."""

    __slots__ = ("sql", "row", "done")

    def __init__(self, sql: str):
        self.sql, self.row, self.done = sql, None, False


# The first read of the unit of work checking out now (only during unit_of_work's checkout).
_first_read: ContextVar[_FirstRead | None] = ContextVar("om_first_read", default=None)


class _Row(tuple):
    """A row of a simple query: by position and by column name, as the statement's Row would be."""

    __slots__ = ()
    _names: tuple[str, ...] = ()

    def __getattr__(self, name: str):
        try:
            return self[self._names.index(name)]
        except ValueError:
            raise AttributeError(name) from None

    @property
    def _mapping(self) -> dict[str, Any]:
        return dict(zip(self._names, self))


def _install_ping(engine: "Engine") -> None:
    # SQLAlchemy's pre-ping runs SELECT 1 through a cursor, which makes pg8000 open a transaction first (two round
    # trips); a simple query outside any transaction asks the same question in one. When the work checking out
    # runs as a service role, the ping is the transaction's own start instead — `BEGIN TRANSACTION; SET LOCAL
    # ROLE om_<service>` answers "is the connection alive" as well — and the begin hook, seeing it done, sends
    # nothing: a round trip less per request (issue #13). A dead connection fails the ping as before and is
    # replaced; a checkout that never begins gives its connection back through the pool's rollback.
    #
    # With a first read (the HTTP pipeline's caller look-up, unit_of_work(first_read=...)) the ping is the
    # transaction's start in any case, that read its last statement: `BEGIN TRANSACTION[; SET LOCAL ROLE …];
    # SELECT …` — one round trip and no extended-protocol statement for it. An error the server answers to it
    # (the transaction then aborted) is rolled back and the plain ping sent: the read runs as a statement later
    # and raises there as it always did.
    def do_ping(dbapi_connection) -> bool:
        begin = _begin_settings()
        dbapi_connection._om_begun_as = None
        first = _first_read.get()
        if first is not None and not first.done and not dbapi_connection._in_transaction:
            try:
                context = dbapi_connection.execute_simple(
                    f"BEGIN TRANSACTION; {begin + '; ' if begin else ''}{first.sql}")
            except Exception as exc:
                if not _server_answered(exc):
                    raise  # not alive: SQLAlchemy replaces the connection
                dbapi_connection.execute_simple("ROLLBACK")
            else:
                names = tuple(c["name"] for c in context.columns or ())
                rows = context.rows or []
                first.row = _row_of(names, rows[0]) if rows else None
                first.done = True
                dbapi_connection._om_begun_as = begin or ""
                return True
        if begin is None or dbapi_connection._in_transaction:
            dbapi_connection.execute_simple("SELECT 1")
        else:
            dbapi_connection.execute_simple(f"BEGIN TRANSACTION; {begin}")
            dbapi_connection._om_begun_as = begin
        return True

    engine.dialect.do_ping = do_ping


@lru_cache(maxsize=64)
def _row_class(names: tuple[str, ...]) -> type:
    return type("Row", (_Row,), {"__slots__": (), "_names": names})


def _row_of(names: tuple[str, ...], values) -> _Row:
    return _row_class(names)(values)


def _server_answered(exc: BaseException) -> bool:
    """True for an error PostgreSQL itself sent (an ErrorResponse: the driver then read on to ReadyForQuery)."""
    from pg8000.exceptions import DatabaseError

    return isinstance(exc, DatabaseError) and bool(exc.args) and isinstance(exc.args[0], dict)


def _install_invalidation_hook(engine: "Engine") -> None:
    from sqlalchemy import event

    @event.listens_for(engine, "handle_error")
    def _invalidate_unless_clean(ctx) -> None:
        # Anything but an error the server answered (an OverflowError or UnicodeEncodeError while pg8000 encodes
        # a parameter, after part of the statement went out; a network error) may leave the connection out of
        # protocol sync: put back in the pool it would fail the next requests of any agency. Treated as a
        # disconnect, SQLAlchemy invalidates this one connection (not the whole pool: the others are fine).
        if ctx.is_disconnect or _server_answered(ctx.original_exception):
            return
        log.warning("database connection invalidated after %s: %s",
                    type(ctx.original_exception).__name__, ctx.original_exception)
        ctx.is_disconnect = True
        ctx.invalidate_pool_on_disconnect = False


def _local_engine(url: str) -> "Engine":
    from sqlalchemy import create_engine

    s = settings()
    parts = urlsplit(url)
    connect_args: dict[str, Any] = {}
    # pg8000 reaches a Unix socket through `unix_sock`, which SQLAlchemy passes on from the query string.
    if "unix_sock" not in parse_qs(parts.query) and parts.hostname is None and "host" in parse_qs(parts.query):
        sock_dir = parse_qs(parts.query)["host"][0]
        url = url.split("?", 1)[0] + f"?unix_sock={sock_dir}/.s.PGSQL.5432"
    if url.startswith("postgresql://"):
        url = "postgresql+pg8000://" + url[len("postgresql://") :]
    connect_args["application_name"] = s.k_service or "onlymanager-local"
    connect_args["startup_params"] = dict(STARTUP_PARAMS)
    return create_engine(
        url,
        pool_size=s.db_pool_size,
        max_overflow=s.db_max_overflow,
        pool_recycle=s.db_pool_recycle_seconds,
        pool_timeout=s.db_pool_timeout_seconds,
        pool_pre_ping=True,
        pool_use_lifo=True,  # the connection used last, its prepared statements warm (and idle ones can age out)
        connect_args=connect_args,
    )


def _cloud_sql_engine() -> "Engine":
    """Cloud SQL through the Python Connector (lazy refresh: no background work between invocations)."""
    from google.cloud.sql.connector import Connector, IPTypes, RefreshStrategy
    from sqlalchemy import create_engine

    global _connector
    s = settings()
    _connector = Connector(refresh_strategy=RefreshStrategy.LAZY)

    def getconn():
        return _connector.connect(
            s.instance_connection_name,
            "pg8000",
            user=s.db_user,
            password=None if s.db_iam_auth else s.db_pass,
            db=s.db_name,
            enable_iam_auth=s.db_iam_auth,
            ip_type=IPTypes[s.db_ip_type],
            startup_params=dict(STARTUP_PARAMS),
        )

    return create_engine(
        "postgresql+pg8000://",
        creator=getconn,
        pool_size=s.db_pool_size,
        max_overflow=s.db_max_overflow,
        pool_recycle=s.db_pool_recycle_seconds,
        pool_timeout=s.db_pool_timeout_seconds,
        pool_pre_ping=True,
        pool_use_lifo=True,
    )


def engine() -> "Engine":
    """The instance's engine, created on first use and reused by every invocation."""
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                s = settings()
                if s.instance_connection_name:
                    _engine = _cloud_sql_engine()
                elif s.database_url:
                    _engine = _local_engine(s.database_url)
                else:
                    raise RuntimeError(
                        "no database configured: set DATABASE_URL (local) or INSTANCE_CONNECTION_NAME (Cloud SQL)"
                    )
                _fast_pg8000()
                _install_ping(_engine)
                _install_role_hook(_engine)
                _install_invalidation_hook(_engine)
    return _engine


def dispose_engine() -> None:
    """Drop the engine (tests and the local platform switch databases)."""
    global _engine, _connector
    with _lock:
        if _engine is not None:
            _engine.dispose()
        _engine = None
        if _connector is not None:
            _connector.close()
            _connector = None


@lru_cache(maxsize=4096)
def _text(sql: str):
    """The text() construct of a SQL string, built once per string: building one scans the text for bind
    parameters with a regular expression; the construct is immutable, so every execute can share it."""
    from sqlalchemy import text

    return text(sql)


# The result columns of a text() statement, learned from its first answer (issue #13). SQLAlchemy knows nothing of
# a plain text()'s columns, so every execute built the result's metadata anew from cursor.description: the names
# read, a key map, a type look-up per column (for a 24-column RETURNING, about a tenth of a register's CPU). The
# same text with its columns named in order (text().columns(...), a TextualSelect) gets positional metadata that
# SQLAlchemy builds once and keeps with the compiled statement. Only for a text whose columns the text alone
# fixes: one without "*" (count(*) aside), so no migration can add, drop or reorder them under a running
# process; column types play no part (untyped, as before: the rows are pg8000's values, no result processor).
_SHAPED_MAX = 4096
_shaped: dict[str, Any] = {}


def _statement(sql: str):
    shaped = _shaped.get(sql)
    return shaped if shaped is not None else _text(sql)


def _learn_columns(sql: str, keys) -> None:
    names = tuple(keys)
    if (not names or len(set(names)) != len(names) or "*" in sql.replace("count(*)", "")
            or len(_shaped) >= _SHAPED_MAX):
        return
    from sqlalchemy import column

    _shaped[sql] = _text(sql).columns(*(column(n) for n in names))


class UnitOfWork:
    """One database transaction; events written to the outbox inside it are published after commit."""

    def __init__(self, conn: "Connection"):
        self.conn = conn
        self.pending_events: list[Any] = []
        # (user id, role) the audit trail's settings name in this transaction (shared_lib/audit.py), once set.
        self.audit_actor: tuple[str, str] | None = None
        # unit_of_work(first_read=...) when the checkout's ping read it (its .row); else None
        self.first_read: _FirstRead | None = None
        self._after_commit: list[Callable[[], None]] = []

    def execute(self, statement: Any, params: Any = None):
        if not isinstance(statement, str):
            return self.conn.execute(statement, params or {})
        result = self.conn.execute(_statement(statement), params or {})
        if result.returns_rows and statement not in _shaped:
            _learn_columns(statement, result.keys())
        return result

    def emit(self, type: str, *, agency_id: Any, subject: Any, data: Any):
        """Write an event to the outbox in this transaction; it is published right after commit. `data` is the
        type's contract model (shared_lib/contracts.py)."""
        return self.emit_many(type, [(agency_id, subject, data)])[0]

    def emit_many(self, type: str, items) -> list:
        """emit for each (agency_id, subject, data) in one INSERT: for set-based writers (generators, recomputes)."""
        events = outbox.write(self, type, items)
        self.pending_events.extend(events)
        return events

    def emitted(self, events: list[Any]) -> None:
        """Events a statement of the caller's own wrote to the outbox (outbox.insert_sql inside it, e.g. as a CTE
        beside the change): published after commit like emit's."""
        self.pending_events.extend(events)

    def after_commit(self, fn: Callable[[], None]) -> None:
        self._after_commit.append(fn)

    def publish_committed(self) -> None:
        """Publish this committed transaction's events while its connection is still held, and mark them published
        on it: one simple query (BEGIN, the service's role, the UPDATE, COMMIT), no second checkout, ping or
        extended-protocol exchange (issue #13). A mark that fails is logged and the connection invalidated, not
        pooled: the rows stay unpublished for the relay, which publishes them again (at-least-once; consumers'
        inboxes drop the repeat), and the committed change still answers as committed."""
        events, self.pending_events = self.pending_events, []
        if events:
            outbox.publish_pending(events, self.conn.engine, mark=self._mark_published)

    def _mark_published(self, event_ids: list[Any]) -> None:
        role = _role_now()  # (no prepared statement here: no plan setting)
        try:
            self.conn.connection.dbapi_connection.execute_simple(
                f"BEGIN TRANSACTION; {role + '; ' if role else ''}{outbox.mark_published_sql(event_ids)}; COMMIT")
        except Exception:
            log.warning("marking %d outbox events published failed; the relay will publish them again",
                        len(event_ids), exc_info=True)
            self.conn.invalidate()

    def run_after_commit(self) -> None:
        if self.pending_events:
            outbox.publish_pending(self.pending_events, self.conn.engine)
        for fn in self._after_commit:
            try:
                fn()
            except Exception:  # an after-commit hook never undoes a committed change
                log.exception("after-commit hook failed")


@contextmanager
def unit_of_work(service: str | None = None, first_read: str | None = None,
                 generic_plans: bool = False) -> Iterator[UnitOfWork]:
    """Open a transaction; commit on success, roll back on any exception; then publish the outbox.

    `first_read`: a complete SELECT (no parameters: literals only, made safe by the caller) the transaction reads
    first; sent with the pool's ping when the checkout pings (_install_ping), its row then `uow.first_read.row`.
    `uow.first_read` is None when it was not read so (a fresh connection): the caller runs its statement.

    `service` (the registry pipeline passes its spec's) makes this transaction and everything begun until the
    after-commit work ends run as SET LOCAL ROLE om_<service> when DB_SERVICE_ROLES is on; without it a unit
    of work inside another one's scope (an after-commit hook) keeps that one's service.

    `generic_plans`: the transaction's prepared statements may run on generic plans (`SET LOCAL plan_cache_mode =
    auto` with its BEGIN, no round trip): for a hot path of point look-ups whose plan does not depend on the
    values (the register, docs/DESIGN.md "Fourth pass"); everything else is planned per execute.
    """
    token = _current_service.set(service) if service is not None else None
    plans = _generic_plans.set(generic_plans)
    try:
        first = _FirstRead(first_read) if first_read is not None else None
        reading = _first_read.set(first)
        try:
            checked_out = engine().connect()  # the checkout, and its ping, happen here
        finally:
            _first_read.reset(reading)
        with checked_out as conn:
            trans = conn.begin()
            uow = UnitOfWork(conn)
            uow.first_read = first if first is not None and first.done else None
            try:
                yield uow
                trans.commit()
            except BaseException:
                if trans.is_active:
                    trans.rollback()
                raise
            uow.publish_committed()
        uow.run_after_commit()
    finally:
        _generic_plans.reset(plans)
        if token is not None:
            _current_service.reset(token)
