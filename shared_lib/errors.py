"""Errors: the use cases' domain errors (DomainError) and the HTTP edge's problem+json (ApiError).

A use case refuses with a DomainError — Invalid, Forbidden, NotFound, Conflict, PeriodClosed — naming the field
by its domain name ("chatter_id"), never by where a request carried it. The HTTP edge (shared_lib.http) locates
the field from the operation (path parameter, query model, request body) and answers problem+json; the event
edge (shared_lib.eventfn) dead-letters and acknowledges it, as a refusal that no redelivery changes.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

PROBLEM_BASE = "https://onlymanager.app/problems/"
# A dependency that did not answer is usually back within seconds (a Cloud SQL failover, a connector refresh).
RETRY_AFTER_SECONDS = 5


class ApiError(Exception):
    status = 500
    slug = "internal"
    title = "Internal error"

    def __init__(self, detail: str | None = None, *, errors: Iterable[dict[str, Any]] = (), slug: str | None = None,
                 headers: dict[str, str] | None = None, extensions: dict[str, Any] | None = None):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = list(errors)
        if slug:
            self.slug = slug
        self.headers = headers or {}
        if self.status == 503:  # every 503 (the database, Firebase Auth) says when to try again, as openapi.yaml does
            self.headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
        self.extensions = extensions or {}  # RFC 9457 extension members, e.g. health's "database"

    def problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = self.errors
        return {**self.extensions, **body}


FieldPath = tuple[Any, ...]  # a field's domain name, nested: ("splits", 0, "assigned_to_user_id")
# Where a request carries a field: "path", "query" or "body" (the HTTP edge's business, see DomainError.locate).
Locator = Callable[[str], "str | None"]


class DomainError(ApiError):
    """A use case's refusal: permanent for this input (a retry or a redelivery gets the same answer).

    `field` names the one field at fault by its domain name ("chatter_id", or a path such as ("user_ids", 2));
    `fields` lists (field, message) pairs (detail "invalid fields: ..." unless one is given). The problem's
    `errors[].loc` is [part, *field]: the HTTP edge takes `part` from the operation (locate); until then (a use
    case called directly, an event handler) it is `part`, the input the field belongs to: "body" unless given.
    """

    def __init__(self, detail: str | None = None, *, field: str | Sequence[Any] | None = None,
                 fields: Iterable[tuple[str | Sequence[Any], str]] = (), part: str = "body",
                 slug: str | None = None, headers: dict[str, str] | None = None,
                 extensions: dict[str, Any] | None = None):
        self.msg = detail or self.title
        self.fields: list[tuple[FieldPath, str]] = [(_path(f), m) for f, m in fields]
        # detail: the message; "a.b: message" for one `field`; "invalid fields: a.b, c" for `fields` alone
        self.listing = bool(self.fields) and detail is None
        self.field_named = field is not None
        if field is not None:
            self.fields.insert(0, (_path(field), self.msg))
        self.part = part
        super().__init__(self.msg, slug=slug, headers=headers, extensions=extensions)
        self.locate(lambda name: None)

    def locate(self, where: Locator) -> None:
        """Render `errors` and `detail` with each field's part as `where(first name)` says (None: self.part)."""
        self.errors = [field_error([(where(str(path[0])) if path else None) or self.part, *path], msg)
                       for path, msg in self.fields]
        names = [".".join(str(p) for p in e["loc"]) for e in self.errors]
        if self.listing:
            self.detail = f"invalid fields: {', '.join(names)}"
        elif self.errors and self.field_named:
            self.detail = f"{names[0]}: {self.msg}"
        else:
            self.detail = self.msg
        self.args = (self.detail,)


def _path(field: str | Sequence[Any]) -> FieldPath:
    return (field,) if isinstance(field, str) else tuple(field)


class BadRequest(ApiError):
    """The request itself is malformed (JSON, validation against the operation's models): the HTTP edge's own."""

    status, slug, title = 400, "validation", "Invalid request"


class Invalid(DomainError, BadRequest):
    """A use case's 400: a value that is well-formed but not acceptable (e.g. "must not be in the future")."""


class Unauthorized(ApiError):
    status, slug, title = 401, "unauthorized", "Not signed in"


class Forbidden(DomainError):
    status, slug, title = 403, "forbidden", "Not allowed for your role"


class NotFound(DomainError):
    status, slug, title = 404, "not-found", "Not found"


class MethodNotAllowed(ApiError):
    status, slug, title = 405, "method-not-allowed", "Method not allowed"


class Conflict(DomainError):
    status, slug, title = 409, "conflict", "Conflict"


class PeriodClosed(Conflict):
    slug, title = "period-closed", "Period closed"


class PayloadTooLarge(ApiError):
    status, slug, title = 413, "payload-too-large", "Request body too large"


class UnsupportedMediaType(ApiError):
    status, slug, title = 415, "unsupported-media-type", "Request body must be JSON"


class IdempotencyMismatch(ApiError):
    status, slug, title = 422, "idempotency-key-reused", "Idempotency key reused with another body"


class ServiceUnavailable(ApiError):
    """A dependency (the database) is unreachable: nothing was done, the same request may be sent again."""

    status, slug, title = 503, "unavailable", "Service unavailable"


def field_error(loc: Iterable[Any], msg: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg}


def invalid(loc: Iterable[Any], msg: str, status: type[DomainError] = Invalid) -> DomainError:
    """One invalid field of a known request part, for a shared rule that only ever reads that part (a page
    cursor is a query parameter): invalid(["query", "cursor"], "invalid cursor"). A use case names the field
    alone instead (Invalid(msg, field="cursor")); the HTTP edge locates it either way."""
    part, *path = list(loc)
    return status(msg, field=path, part=part)


def from_validation_error(exc, prefix: str) -> BadRequest:
    """pydantic ValidationError → 400 listing every invalid field, located as body/query/path."""
    errors = []
    for e in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = [prefix, *e["loc"]]
        errors.append(field_error(loc, e["msg"]))
    names = ", ".join(".".join(str(p) for p in err["loc"]) for err in errors)
    return BadRequest(f"invalid fields: {names}", errors=errors)
