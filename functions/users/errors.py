"""The users service's error helpers (the error types themselves are shared_lib.errors)."""
from __future__ import annotations

from typing import Any

from shared_lib.errors import Invalid


def invalid_fields(errors: list[dict[str, Any]]) -> Invalid:
    """One 400 listing every invalid field (field_error dicts, loc [part, *field]), like the request validation
    does; the HTTP edge locates each field from the operation."""
    return Invalid(fields=[(e["loc"][1:], e["msg"]) for e in errors], part=errors[0]["loc"][0])
