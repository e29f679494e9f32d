"""API errors as RFC 9457 problem+json: one exception type per status the contract names."""
from __future__ import annotations

from typing import Any, Iterable

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


class BadRequest(ApiError):
    status, slug, title = 400, "validation", "Invalid request"


class Unauthorized(ApiError):
    status, slug, title = 401, "unauthorized", "Not signed in"


class Forbidden(ApiError):
    status, slug, title = 403, "forbidden", "Not allowed for your role"


class NotFound(ApiError):
    status, slug, title = 404, "not-found", "Not found"


class MethodNotAllowed(ApiError):
    status, slug, title = 405, "method-not-allowed", "Method not allowed"


class Conflict(ApiError):
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


def invalid(loc: Iterable[Any], msg: str, status: type[ApiError] = BadRequest) -> ApiError:
    """One invalid field, named, e.g. invalid(["body", "model_id"], "model is not assigned to the chatter")."""
    loc = list(loc)
    return status(f"{'.'.join(str(p) for p in loc)}: {msg}", errors=[field_error(loc, msg)])


def from_validation_error(exc, prefix: str) -> BadRequest:
    """pydantic ValidationError → 400 listing every invalid field, located as body/query/path."""
    errors = []
    for e in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = [prefix, *e["loc"]]
        errors.append(field_error(loc, e["msg"]))
    names = ", ".join(".".join(str(p) for p in err["loc"]) for err in errors)
    return BadRequest(f"invalid fields: {names}", errors=errors)
