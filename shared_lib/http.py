"""The HTTP pipeline behind every registry function: size, content type, auth, validation, idempotency, problem+json."""
from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from typing import Any, Callable

from pydantic import BaseModel, ValidationError

from .audit import ACTOR_COLUMNS, actor_named
from .config import settings
from .errors import (
    ApiError,
    BadRequest,
    DomainError,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthorized,
    UnsupportedMediaType,
    field_error,
    from_validation_error,
)
from .rbac import Caller, Identity, Role
from .text import BODY_TEXT_RULE, LINE_TEXT_RULE, bad_line_text, bad_strings
from .registry import FunctionSpec, Operation

log = logging.getLogger(__name__)

JSON = "application/json"
CSV = "text/csv"
PROBLEM = "application/problem+json"


def json_response(status: int, body: Any, content_type: str = JSON, headers: dict[str, str] | None = None):
    from flask import Response

    payload = b"" if body is None else json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    resp = Response(payload, status=status, content_type=content_type if body is not None else None)
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def problem_response(err: ApiError):
    return json_response(err.status, err.problem(), PROBLEM, err.headers)


def handle(spec: FunctionSpec, request) -> Any:
    """Serve one request for `spec` (a flask/werkzeug request)."""
    from .logs import scope

    with scope(spec.name, headers=request.headers):  # every line logged below carries function, trace, agency
        try:
            return _handle(spec, request)
        except ApiError as err:
            # Cloud Run's request log has the status; this one line per refused request says why.
            log.log(logging.WARNING if err.status >= 500 else logging.INFO, "%s %s answered %s: %s",
                    request.method, request.path, err.status, err.detail)
            return problem_response(err)
        except Exception as exc:
            if _dependency_down(exc):
                log.warning("%s %s answered 503: the database is unreachable: %s", request.method, request.path, exc)
                return problem_response(ServiceUnavailable("the database is unreachable; nothing was changed, "
                                                           "try again shortly"))
            # A bug, never bad input: bad input is an ApiError above.
            log.exception("unhandled error in %s %s", request.method, request.path)
            return problem_response(ApiError("unexpected error; it has been logged"))


# SQLSTATE classes PostgreSQL answers when it cannot serve right now: 08 connection exception, 53 insufficient
# resources (too many connections), 57P01-57P03 shutting down / starting up.
_UNAVAILABLE_SQLSTATES = ("08", "53", "57P01", "57P02", "57P03")


def _dependency_down(exc: BaseException) -> bool:
    """True when the database could not be reached or dropped the connection: a 503 to retry, not a bug.

    The one mapping for every registry function: a connect refused or timed out, a connection lost mid-request,
    the pool's checkout timeout, the Cloud SQL connector failing to reach the instance, or a server answer that
    says it cannot serve now."""
    from sqlalchemy import exc as sa

    import pg8000.exceptions as pg

    if isinstance(exc, sa.TimeoutError):  # QueuePool checkout timed out: every connection is busy or hanging
        return True
    if isinstance(exc, sa.DBAPIError):
        if exc.connection_invalidated or isinstance(exc, sa.InterfaceError):
            return True  # pg8000's InterfaceError is client side: network error, connection closed
        return _unavailable_answer(exc.orig)
    # The driver's own errors, raised outside SQLAlchemy's wrapping: the BEGIN + SET LOCAL ROLE simple query that
    # shared_lib/db.py sends from the engine's "begin" event (a server stopping between the pool's ping and it).
    if isinstance(exc, pg.InterfaceError):
        return True
    if isinstance(exc, pg.DatabaseError):
        return _unavailable_answer(exc)
    if type(exc).__module__.startswith("google.cloud.sql.connector"):
        return True  # the connector's own errors (instance unreachable, refresh failed)
    return isinstance(exc, (ConnectionError, TimeoutError)) and _from_database(exc)


def _unavailable_answer(orig: BaseException | None) -> bool:
    """A server answer (pg8000 puts its fields in args[0]) whose SQLSTATE says it cannot serve right now."""
    detail = orig.args[0] if orig is not None and orig.args else None
    code = detail.get("C", "") if isinstance(detail, dict) else ""
    return code.startswith(_UNAVAILABLE_SQLSTATES)


def _from_database(exc: BaseException) -> bool:
    """A socket error raised inside the database stack (the connector dials before pg8000 is involved)."""
    tb = exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module.startswith(("pg8000", "sqlalchemy", "google.cloud.sql")):
            return True
        tb = tb.tb_next
    return False


def _handle(spec: FunctionSpec, request):
    # fullmatch: the pattern's "$" alone would also match before a trailing newline ("/api/users/x\n").
    m = spec.path_regex.fullmatch(request.path)
    if m is None:
        raise NotFound(f"no route for {request.path}")
    method = request.method.upper()
    if method == "HEAD" and "GET" in spec.operations:
        method = "GET"
    op = spec.operations.get(method)
    if op is None:
        allow = ", ".join(sorted(spec.operations))
        raise MethodNotAllowed(f"{request.method} not allowed here; allowed: {allow}", headers={"Allow": allow})
    try:
        return _serve(spec, op, request, m)
    except DomainError as err:
        # the use case named the field; the operation (and, for a CsvBody's fields, the body's kind) says where
        err.locate(_field_part(spec, op, _is_csv(request, op)))
        raise


def _field_part(spec: FunctionSpec, op: Operation, csv_body: bool = False) -> Callable[[str], str | None]:
    """Where `op` takes a field the use case names: a path parameter, a query parameter, the request body; None
    for a name it does not take (the error's own part stands). A CsvBody's from_query fields are the query's with a
    file, the body's with JSON."""
    path, query = set(spec.path_regex.groupindex), _query_names(op.query)
    if op.csv is not None and not csv_body:
        query -= frozenset(op.csv.from_query)
    body = frozenset() if op.request is None else _query_names(op.request)
    return lambda name: "path" if name in path else "query" if name in query else "body" if name in body else None


def _serve(spec: FunctionSpec, op: Operation, request, m):
    identity = _identity(request) if op.auth != "none" else None
    body_bytes = _read_body(request, op)
    if op.auth != "user" and not op.idempotent and "uow" not in op.params:
        # Nothing to read or write in the database (e.g. health): no transaction at all.
        kwargs = _arguments(op, request, m.groupdict(), body_bytes)
        kwargs.update(identity=identity, request=request)
        status, body, headers = _render(op, op.handler(**{k: v for k, v in kwargs.items() if k in op.params}))
        return json_response(status, body, headers=headers)

    from .db import unit_of_work

    first_read = _caller_read(identity) if op.auth == "user" else None
    with unit_of_work(service=spec.service, first_read=first_read, generic_plans=op.generic_plans) as uow:
        caller = _load_caller(uow, identity) if op.auth == "user" else None
        if caller is not None and caller.role not in op.roles:
            raise Forbidden(f"role {caller.role.value} may not {op.method} {spec.path}")
        kwargs = _arguments(op, request, m.groupdict(), body_bytes)
        kwargs.update(caller=caller, identity=identity, uow=uow, request=request)
        key = _idempotency_key(request) if op.idempotent else None
        if key is not None:
            replay = _idempotency_begin(uow, identity, key, request, body_bytes)
            if replay is not None:
                status, body = replay
                return json_response(status, body, headers={"Idempotent-Replayed": "true"})
        result = op.handler(**{k: v for k, v in kwargs.items() if k in op.params})
        if isinstance(result, FileReply):
            file_reply = result
        else:
            file_reply = None
            status, body, headers = _render(op, result)
        if key is not None and file_reply is None:
            _idempotency_finish(uow, identity, key, status, body)
    if file_reply is not None:
        return file_reply.response()
    return json_response(status, body, headers=headers)


# --- input ---------------------------------------------------------------------------------------------------


def _identity(request) -> Identity:
    from .auth import TokenError, bearer_token, verify_id_token

    try:
        claims = verify_id_token(bearer_token(request.headers.get("Authorization")))
    except TokenError as exc:
        raise Unauthorized(str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    return Identity(uid=claims["uid"], email=claims.get("email"), name=claims.get("name"), claims=claims)


def _load_caller(uow, identity: Identity) -> Caller:
    # The same statement names the member the audit trail's actor of this transaction's writes (no statement of
    # its own; an inactive member's request fails below and its transaction rolls back).
    if uow.first_read is not None:  # read with the pool's ping (_caller_read): the same statement, no round trip
        row = uow.first_read.row
    else:
        row = uow.execute(_CALLER_BY_PARAMETER, {"uid": identity.uid}).one_or_none()
    if row is None:
        raise Forbidden("you are not a member of an agency yet; create one with POST /api/agencies/",
                        slug="no-agency")
    from .logs import bind

    bind(agency_id=row.agency_id)
    if not row.active:
        raise Unauthorized("this account has been deactivated", headers={"WWW-Authenticate": "Bearer"})
    caller = Caller(user_id=row.id, agency_id=row.agency_id, role=Role(row.role), firebase_uid=identity.uid,
                    display_name=row.display_name, email=row.email, agency_timezone=row.timezone)
    actor_named(uow, caller)
    return caller


_CALLER_SQL = f"""
    SELECT u.id, u.agency_id, u.role, u.active, u.display_name, u.email, a.timezone, {ACTOR_COLUMNS}
    FROM user_service.users u JOIN user_service.agencies a ON a.id = u.agency_id
    WHERE u.firebase_uid = {{uid}}
    """
_CALLER_BY_PARAMETER = _CALLER_SQL.format(uid=":uid")
# A uid that can stand in the SQL text as a plain literal: nothing to escape (Firebase uids are 28 letters and
# digits; the emulator's and other providers' stay within this too). Any other uid is sent as a parameter.
_PLAIN_UID = re.compile(r"[A-Za-z0-9_.@:-]{1,128}")


def _caller_read(identity: Identity) -> str | None:
    """The caller look-up as a complete statement for unit_of_work(first_read=...): sent with the pool's ping, the
    transaction's start, in one round trip (issue #13); None for a uid that is not plainly a literal."""
    if _PLAIN_UID.fullmatch(identity.uid) is None:
        return None
    return _CALLER_SQL.format(uid=f"'{identity.uid}'")


def _read_body(request, op: Operation) -> bytes | None:
    if op.request is None:
        return None
    limit = body_limit(op)
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    data = request.stream.read(limit + 1)  # chunked bodies carry no Content-Length: read one byte past the limit
    if len(data) > limit:
        raise _too_large(limit)
    if not data and _all_optional(op.request):
        # Nothing sent where nothing is required (check-in with every field defaulted): that is `{}`, whatever
        # the Content-Type says. A body with bytes still has to be JSON.
        return b"{}"
    if _is_csv(request, op):
        charset = request.mimetype_params.get("charset", "utf-8").lower()
        if charset not in ("utf-8", "utf8"):
            raise UnsupportedMediaType(f"a {CSV} body is UTF-8, got charset={charset}")
        return data
    mimetype = (request.mimetype or "").lower()
    if mimetype != JSON and not mimetype.endswith("+json"):
        also = f" or {CSV}" if op.csv is not None else ""
        raise UnsupportedMediaType(f"Content-Type must be {JSON}{also}, got {request.mimetype or 'none'}")
    return data


def body_limit(op: Operation) -> int:
    """The operation's request body ceiling in bytes: its own (max_body_bytes=), else MAX_BODY_BYTES."""
    return op.max_body_bytes or settings().max_body_bytes


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body is over {size_text(limit)} ({limit} bytes), this operation's limit",
                           extensions={"max_body_bytes": limit})


def size_text(n: int) -> str:
    """64 KiB, 16 MiB: a byte count in the largest binary unit that divides it."""
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


def _is_csv(request, op: Operation) -> bool:
    return op.csv is not None and (request.mimetype or "").lower() == CSV


def _arguments(op: Operation, request, path: dict[str, str], body_bytes: bytes | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    csv_body = _is_csv(request, op)
    for name, raw in path.items():
        # Ids are UUIDs; a malformed one names nothing that exists, so it answers 404 like a missing one. So does
        # any path value with a control character: no resource has one in its name.
        if bad_line_text(raw):
            raise NotFound(f"{name.removesuffix('_id')} not found")
        if name.endswith("_id"):
            try:
                kwargs[name] = uuid.UUID(raw)
            except ValueError:
                raise NotFound(f"{name.removesuffix('_id')} not found") from None
        else:
            kwargs[name] = raw
    errors: list[dict[str, Any]] = [
        # One rule for every endpoint: a parameter the operation does not declare is a mistake (a typo such as
        # `?user=` would otherwise silently widen a list), named so the client can fix it.
        field_error(["query", name], "unknown query parameter")
        for name in request.args if name not in _query_names(op.query)
    ] + [
        # A CsvBody's from_query fields: in the query only with a file (a JSON body carries them itself).
        field_error(["query", name], f"only with a {CSV} body: a JSON body names it in the body")
        for name in request.args if op.csv is not None and not csv_body and name in op.csv.from_query
    ] + [
        # No parameter is a list: a second value would otherwise be dropped without a word.
        field_error(["query", name], "given more than once")
        for name in request.args if name in _query_names(op.query) and len(request.args.getlist(name)) > 1
    ] + [
        field_error(["query", name], LINE_TEXT_RULE)
        for name in request.args
        if bad_line_text(name) or any(bad_line_text(v) for v in request.args.getlist(name))
    ]
    if op.query is not None:
        try:
            kwargs["query"] = op.query.model_validate(
                {k: v for k, v in request.args.to_dict(flat=True).items() if k in _query_names(op.query)})
        except ValidationError as exc:
            errors += from_validation_error(exc, "query").errors
    if op.request is not None and csv_body:
        body, body_errors = _csv_request(op, body_bytes or b"", kwargs.get("query"), bool(errors))
        errors += body_errors
        if body is not None:
            kwargs["body"] = body
    elif op.request is not None:
        parsed = _parse_json(body_bytes or b"null")
        bad_text = bad_strings(parsed, ["body"])
        if not isinstance(parsed, dict):
            errors.append(field_error(["body"], "must be a JSON object"))
        elif bad_text:
            # Refused before the model sees them: one rule for every string of every request body, whatever the
            # model (PostgreSQL would answer NUL with 22021, pg8000 cannot encode a lone surrogate).
            errors += [field_error(loc, BODY_TEXT_RULE) for loc in bad_text]
        else:
            try:
                kwargs["body"] = op.request.model_validate(parsed)
            except ValidationError as exc:
                errors += from_validation_error(exc, "body").errors
    if errors:
        names = ", ".join(".".join(str(p) for p in e["loc"]) for e in errors)
        raise BadRequest(f"invalid fields: {names}", errors=errors)
    return kwargs


def _csv_request(op: Operation, data: bytes, query: BaseModel | None, query_failed: bool):
    """A text/csv body as the operation's request model (op.csv): the file's rows fill its rows list, its
    from_query fields come from the query; every fault located as ["body", row, column] (rows numbered as a
    spreadsheet shows them: the header is row 1) or ["query", field]. The one request model validates both kinds
    of body."""
    from .csvfile import CsvError, read_rows

    spec = op.csv
    try:
        numbers, rows = read_rows(data, spec.columns(op.request))
    except CsvError as exc:
        return None, [field_error(["body", *loc], msg) for loc, msg in exc.errors]
    bad_text = [loc for i, row in enumerate(rows) for loc in bad_strings(row, ["body", numbers[i]])]
    if bad_text:
        return None, [field_error(loc, BODY_TEXT_RULE) for loc in bad_text]
    given: dict[str, Any] = {spec.rows: rows}
    given |= {name: getattr(query, name) for name in spec.from_query if getattr(query, name, None) is not None}
    missing = [name for name in spec.from_query if name not in given]
    # A from_query field the query lacks: required here (unless the query's own check refused it already).
    errors = [] if query_failed else [field_error(["query", name], f"required with a {CSV} body") for name in missing]
    try:
        return (None if errors else op.request.model_validate(given)), errors
    except ValidationError as exc:
        return None, errors + [
            field_error(_csv_loc(spec, numbers, e["loc"]), e["msg"])
            for e in exc.errors(include_url=False, include_input=False, include_context=False)
            if not (e["loc"] and e["loc"][0] in missing)]


def _csv_loc(spec, numbers: list[int], loc: tuple[Any, ...]) -> list[Any]:
    """A validation error's location in a CSV request: a row's field → ["body", row number, column]; the rows as a
    whole → ["body"]; a from_query field → ["query", field]."""
    if loc and loc[0] == spec.rows:
        if len(loc) > 1 and isinstance(loc[1], int):
            return ["body", numbers[loc[1]], *loc[2:]]
        return ["body"]
    if loc and loc[0] in spec.from_query:
        return ["query", *loc]
    return ["body", *loc]


# No request of ours nests more than a few levels; a 5,000-deep body would exhaust the parser's recursion.
MAX_JSON_DEPTH = 32


def _too_deep(data: bytes) -> bool:
    """Objects and arrays nested deeper than MAX_JSON_DEPTH (brackets inside strings do not count); linear."""
    if data.count(b"[") + data.count(b"{") <= MAX_JSON_DEPTH:
        return False
    depth, in_string, escaped = 0, False, False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


def _parse_json(data: bytes) -> Any:
    if _too_deep(data):
        raise BadRequest(f"request body is nested deeper than {MAX_JSON_DEPTH} levels",
                         errors=[field_error(["body"], f"nested deeper than {MAX_JSON_DEPTH} levels")])
    try:
        return json.loads(data, parse_float=_no_float, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}",
                         errors=[field_error(["body"], "invalid JSON")]) from None


def _all_optional(model: type[BaseModel]) -> bool:
    return not any(f.is_required() for f in model.model_fields.values())


def _query_names(model: type[BaseModel] | None) -> frozenset[str]:
    """The query parameters an operation takes: its query model's field names (and aliases); none without one."""
    if model is None:
        return frozenset()
    return frozenset(n for name, f in model.model_fields.items() for n in (name, f.alias) if n)


def _no_float(raw: str) -> str:
    # JSON numbers with a fraction stay text so no float ever reaches the money path; the field types decide.
    return raw


def _no_constant(raw: str):
    raise ValueError(f"{raw} is not allowed")


# --- output --------------------------------------------------------------------------------------------------


def _render(op: Operation, result: Any) -> tuple[int, Any, dict[str, str]]:
    status, headers = op.status, {}
    if isinstance(result, Reply):
        status, headers, result = result.status, result.headers, result.body
    if isinstance(result, BaseModel):
        body = result.model_dump(mode="json")
    elif op.response is not None and result is not None:
        body = op.response.model_validate(result).model_dump(mode="json")
    else:
        body = result
    return status, body, headers


class FileReply:
    """A handler result that is a file (CSV, PDF), not JSON."""

    def __init__(self, data: bytes, *, content_type: str, filename: str, headers: dict[str, str] | None = None):
        self.data, self.content_type, self.filename, self.headers = data, content_type, filename, headers or {}

    def response(self):
        from flask import Response

        resp = Response(self.data, status=200, content_type=self.content_type)
        resp.headers["Content-Disposition"] = f'attachment; filename="{self.filename}"'
        for k, v in self.headers.items():
            resp.headers[k] = v
        return resp


class Reply:
    """A handler result with an explicit status or headers."""

    def __init__(self, body: Any = None, *, status: int = 200, headers: dict[str, str] | None = None):
        self.body, self.status, self.headers = body, status, headers or {}


# --- idempotency ---------------------------------------------------------------------------------------------


def _idempotency_key(request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not key or len(key) > 255:
        raise BadRequest("Idempotency-Key must be 1-255 characters",
                         errors=[field_error(["header", "Idempotency-Key"], "must be 1-255 characters")])
    return key


def _fingerprint(request, body: bytes | None) -> str:
    canonical = b""
    if body:
        try:  # the same JSON with other whitespace or key order is the same request
            canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
        except ValueError:
            canonical = body
    return hashlib.sha256(request.method.encode() + b" " + request.path.rstrip("/").encode() + b"\n" + canonical).hexdigest()


def _idempotency_begin(uow, identity: Identity, key: str, request, body: bytes | None):
    """Claim (scope, key) in this transaction, or return the stored (status, body) of the first request.

    The claim is a row written in the request's own transaction: a concurrent twin blocks on the unique index
    until the first commits (then replays it) or rolls back (then runs itself) — no check-then-insert race.
    """
    from sqlalchemy.exc import OperationalError

    from .errors import Conflict, IdempotencyMismatch

    s = settings()
    fingerprint = _fingerprint(request, body)
    uow.execute(f"SET LOCAL lock_timeout = '{int(s.idempotency_wait_ms)}ms'")
    try:
        claimed = uow.execute(
            """
            INSERT INTO eventing.idempotency_keys (scope, key, fingerprint)
            VALUES (:scope, :key, :fp)
            ON CONFLICT (scope, key) DO UPDATE
               SET fingerprint = EXCLUDED.fingerprint, created_at = now(), status = NULL, body = NULL
             WHERE eventing.idempotency_keys.created_at < now() - make_interval(hours => :ttl)
            RETURNING 1
            """,
            {"scope": identity.uid, "key": key, "fp": fingerprint, "ttl": s.idempotency_ttl_hours},
        ).first()
    except OperationalError as exc:
        if "lock timeout" in str(exc).lower() or "55P03" in str(exc):
            raise Conflict("a request with this Idempotency-Key is still in flight", slug="idempotency-in-flight")
        raise
    uow.execute("SET LOCAL lock_timeout = DEFAULT")
    if claimed is not None:
        return None
    row = uow.execute(
        "SELECT fingerprint, status, body FROM eventing.idempotency_keys WHERE scope = :scope AND key = :key",
        {"scope": identity.uid, "key": key},
    ).one()
    if row.fingerprint != fingerprint:
        raise IdempotencyMismatch("this Idempotency-Key was used with another request body")
    return row.status, row.body


def _idempotency_finish(uow, identity: Identity, key: str, status: int, body: Any) -> None:
    uow.execute(
        "UPDATE eventing.idempotency_keys SET status = :st, body = CAST(:b AS jsonb) WHERE scope = :scope AND key = :key",
        {"st": status, "b": json.dumps(body), "scope": identity.uid, "key": key},
    )
