"""The users service's error helpers (the error types themselves are shared_lib.errors)."""
from __future__ import annotations

from typing import Any

from shared_lib.errors import BadRequest


def invalid_fields(errors: list[dict[str, Any]]) -> BadRequest:
    """One 400 listing every invalid field (field_error dicts), like the request validation does."""
    return BadRequest(f"invalid fields: {', '.join('.'.join(map(str, e['loc'])) for e in errors)}", errors=errors)
