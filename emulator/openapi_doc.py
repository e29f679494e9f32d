"""openapi.yaml from the registry: request bodies with examples, every error an operation can give, file answers."""
from __future__ import annotations

import json
from typing import Any

from shared_lib import registry
from shared_lib.errors import PROBLEM_BASE, Conflict, PeriodClosed

from .examples import examples_for

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri", "example": PROBLEM_BASE + "validation"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "required": ["loc", "msg"], "properties": {
            "loc": {"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "integer"}]}},
            "msg": {"type": "string"}}}},
    },
}

# Reusable error responses, by status (components/responses); 409 is written per operation: it names its types.
ERRORS = {
    400: ("BadRequest", "Invalid JSON, fields or path parameters, or an unknown query parameter (every invalid "
                        "field listed in `errors`)"),
    401: ("Unauthorized", "Missing, invalid or expired token, or a deactivated account"),
    403: ("Forbidden", "Role not allowed, or not a member of an agency yet (`no-agency`)"),
    404: ("NotFound", "Missing, or another agency's (a path id, or an id in the body or query)"),
    413: ("PayloadTooLarge", "Body over 64 KiB"),
    415: ("UnsupportedMediaType", "Body is not JSON (Content-Type must be application/json)"),
    422: ("IdempotencyKeyReused", "This Idempotency-Key was used with another body"),
    503: ("Unavailable", "The database or another dependency (e.g. Firebase Auth) is unreachable; retry later"),
}
# Every idempotent operation can meet its twin still running.
IN_FLIGHT = "idempotency-in-flight"
CONFLICT_TEXT = {
    "period-closed": "a date it touches is in a closed period",
    IN_FLIGHT: "a request with the same Idempotency-Key is still in flight",
    "already-member": "the account already belongs to an agency",
    "team-not-empty": "the manager still has a team",
    "last-owner": "the agency must keep an active owner",
    "open-check-in": "already checked in",
    "shift-already-checked-in": "the shift already has a check-in",
    "no-shift": "no planned shift covers this time or starts within 2 hours",
    "no-open-check-in": "not checked in",
    "shift-overlap": "overlaps another shift of the user",
    "period-not-started": "the period has not started yet",
    "agency-has-records": "currency and time zone cannot change once anything is recorded",
}
# Response headers inline, not $ref'd: openapi-typescript types a $ref'd header as always present, and this one
# comes only with a replay.
IDEMPOTENT_REPLAYED = {"description": "`true` when this is the stored answer to an earlier request with the same "
                                      "Idempotency-Key", "required": False, "schema": {"type": "string", "enum": ["true"]}}
CONTENT_DISPOSITION = {"description": "attachment; filename=\"…\"", "required": True, "schema": {"type": "string"}}
FILE_SCHEMAS = {"text/csv": {"type": "string"},
                "application/pdf": {"type": "string", "contentMediaType": "application/pdf", "format": "binary"}}


def _problem_content() -> dict[str, Any]:
    return {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _schemas() -> tuple[dict[str, Any], dict[tuple[type, str], Any]]:
    from pydantic.json_schema import models_json_schema

    wanted: list[tuple[type, str]] = []
    for spec in registry.http_functions():
        for op in spec.operations.values():
            if op.request is not None:
                wanted.append((op.request, "validation"))
            if op.response is not None:
                wanted.append((op.response, "serialization"))
    wanted = list(dict.fromkeys(wanted))
    refs, top = models_json_schema(wanted, ref_template="#/components/schemas/{model}")
    return top.get("$defs", {}), refs


def _query_params(model: type) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema.get("properties", {}).items():
        p = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if "description" in prop:
            p["description"] = prop["description"]
        params.append(p)
    return params


def _request_bodies(schemas: dict[str, Any], refs: dict[tuple[type, str], Any]) -> dict[str, Any]:
    """Request models become components/requestBodies, their schema inline.

    Inside a request body a field with a default is optional to openapi-typescript (and to every reader);
    as a components/schemas entry the same default would make the generated field required (its
    defaultNonNullable rule is for responses). document() then drops the components/schemas entry unless
    something else refers to it: one definition per model.
    """
    bodies: dict[str, Any] = {}
    for spec in registry.http_functions():
        for op in spec.operations.values():
            if op.request is None:
                continue
            name = refs[(op.request, "validation")]["$ref"].rsplit("/", 1)[1]
            if name in bodies:
                continue
            schema = dict(schemas[name])
            examples = examples_for(op.request)
            media: dict[str, Any] = {"schema": schema}
            if examples:
                schema["examples"] = examples
                media["example"] = examples[0]  # what Swagger UI pre-fills in "Try it out"
            # A body whose every field is optional may be left out (the pipeline reads no bytes as `{}`).
            required = any(f.is_required() for f in op.request.model_fields.values())
            content = {"application/json": media}
            if op.csv is not None:
                content["text/csv"] = _csv_media(op)
            bodies[name] = {"required": required, "description": schema.get("description", name),
                            "content": content}
    return dict(sorted(bodies.items()))


def _csv_media(op: registry.Operation) -> dict[str, Any]:
    """A CsvBody's file: UTF-8 (a BOM allowed), a header row of the rows' field names, one transaction a row."""
    columns = sorted(op.csv.columns(op.request))
    query = ", ".join(f"`?{f}=`" for f in op.csv.from_query)
    return {"schema": {"type": "string", "description": (
        f"UTF-8 CSV (a BOM allowed): a header row naming columns among {', '.join(columns)} (any order; optional "
        f"ones may be left out), then one `{op.csv.rows}` item per row, validated as the JSON body's"
        + (f"; {query} in the query" if query else "") + ". Errors are located [\"body\", row, column], "
        "the header being row 1.")}}


def _error_codes(spec: registry.FunctionSpec, op: registry.Operation) -> list[int]:
    codes = [400, 503]  # 400: every operation refuses query parameters it does not declare
    if op.auth != "none":
        codes.append(401)
    if op.auth == "user":
        codes.append(403)
        if _names_an_entity(spec, op):
            codes.append(404)
    if op.request is not None:
        codes += [413, 415]
    if op.idempotent:
        codes.append(422)
    return sorted(codes)


def _names_an_entity(spec: registry.FunctionSpec, op: registry.Operation) -> bool:
    """A path parameter, or an id in the body or query, is looked up: missing or another agency's → 404."""
    if registry._PARAM_RE.search(spec.path or ""):
        return True
    for model in (op.request, op.query):
        if model is not None and any(f.endswith(("_id", "_ids")) for f in model.model_fields):
            return True
    return False


def _conflict(op: registry.Operation) -> dict[str, Any] | None:
    slugs = list(op.conflicts) + ([IN_FLIGHT] if op.idempotent and IN_FLIGHT not in op.conflicts else [])
    if not slugs:
        return None
    listed = "; ".join(f"`{s}`: {CONFLICT_TEXT.get(s, s)}" for s in slugs)
    examples = {s: {"value": {"type": PROBLEM_BASE + s, "title": PeriodClosed.title if s == PeriodClosed.slug
                              else Conflict.title, "status": 409,
                              "detail": CONFLICT_TEXT.get(s, s)}} for s in slugs}
    return {"description": f"Conflict — problem types: {listed}",
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"},
                                                      "examples": examples}}}


def _success(op: registry.Operation, refs: dict[tuple[type, str], Any]) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": {200: "OK", 201: "Created", 202: "Accepted", 204: "No content"}.get(
        op.status, str(op.status))}
    if op.produces:
        ok["content"] = {t: {"schema": FILE_SCHEMAS.get(t, {"type": "string"})} for t in op.produces}
        ok["headers"] = {"Content-Disposition": CONTENT_DISPOSITION}
    elif op.response is not None:
        ok["content"] = {"application/json": {"schema": refs[(op.response, "serialization")]}}
    if op.idempotent:
        ok.setdefault("headers", {})["Idempotent-Replayed"] = IDEMPOTENT_REPLAYED
    return ok


def _operation(spec: registry.FunctionSpec, op: registry.Operation, refs, bodies) -> dict[str, Any]:
    o: dict[str, Any] = {"operationId": op.operation_id, "tags": [spec.service],
                         "summary": op.summary or op.operation_id.replace("_", " "), "x-function": spec.deploy_name}
    if op.auth == "user":
        o["x-roles"] = sorted(r.value for r in op.roles)
    params: list[dict[str, Any]] = [
        {"name": n, "in": "path", "required": True,
         "schema": {"type": "string", "format": "uuid"} if n.endswith("_id") else {"type": "string"}}
        for n in registry._PARAM_RE.findall(spec.path)]
    if op.query is not None:
        params += _query_params(op.query)
    if op.idempotent:
        params.append({"$ref": "#/components/parameters/IdempotencyKey"})
    if params:
        o["parameters"] = params
    if op.request is not None:
        name = refs[(op.request, "validation")]["$ref"].rsplit("/", 1)[1]
        assert name in bodies, name
        o["requestBody"] = {"$ref": f"#/components/requestBodies/{name}"}
    responses: dict[str, Any] = {str(op.status): _success(op, refs)}
    for code in _error_codes(spec, op):
        responses[str(code)] = {"$ref": f"#/components/responses/{ERRORS[code][0]}"}
    if op.max_body_bytes is not None:  # its own limit: the shared 413 says 64 KiB
        from shared_lib.http import size_text

        responses["413"] = {"description": f"Body over {size_text(op.max_body_bytes)}",
                            "content": _problem_content()}
    if op.csv is not None:
        responses["415"] = {"description": "Body is neither JSON nor UTF-8 CSV (Content-Type application/json "
                                           "or text/csv)", "content": _problem_content()}
    conflict = _conflict(op)
    if conflict is not None:
        responses["409"] = conflict
    o["responses"] = dict(sorted(responses.items()))
    if op.auth == "none":
        o["security"] = []
    return o


def _responses() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for code, (name, text) in ERRORS.items():
        r: dict[str, Any] = {"description": text, "content": _problem_content()}
        if code == 503:
            r["headers"] = {"Retry-After": {"description": "seconds to wait before retrying",
                                            "schema": {"type": "integer"}}}
        if code == 401:
            r["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}, "example": "Bearer"}}
        out[name] = r
    return out


def document() -> dict[str, Any]:
    from shared_lib.config import settings

    schemas, refs = _schemas()
    bodies = _request_bodies(schemas, refs)
    schemas["Problem"] = PROBLEM_SCHEMA
    paths: dict[str, Any] = {}
    for spec in sorted(registry.http_functions(), key=lambda s: s.path):
        paths[spec.path] = {m.lower(): _operation(spec, spec.operations[m], refs, bodies)
                            for m in registry.HTTP_METHODS if m in spec.operations}
    for name in bodies:
        rest = json.dumps([paths, {k: v for k, v in schemas.items() if k != name},
                           {k: v for k, v in bodies.items() if k != name}])
        if f'"#/components/schemas/{name}"' not in rest:
            del schemas[name]
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "OnlyManager Economy API", "version": settings().version,
                 "description": "Generated from the function registry (python -m emulator generate). "
                                "Paths are accepted with or without the trailing slash. Money and rates are "
                                "decimal strings; errors are application/problem+json."},
        "servers": [{"url": "/"}],
        "security": [{"firebase": []}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "requestBodies": bodies,
            "responses": _responses(),
            "parameters": {"IdempotencyKey": {
                "name": "Idempotency-Key", "in": "header", "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                "description": "Per user: the same key and body within 24 h returns the first response again "
                               "(with Idempotent-Replayed: true) and creates nothing"}},
            "securitySchemes": {"firebase": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                             "description": "Firebase ID token"}},
        },
    }
    # No object shared between operations, so the YAML has no &id001 anchors (some tools refuse aliases).
    return json.loads(json.dumps(doc))
