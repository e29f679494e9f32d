"""Artifacts generated from the registry (never hand-maintained): openapi.yaml, firebase.json, terraform variables."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared_lib import registry
from shared_lib.errors import PROBLEM_BASE

ROOT = Path(__file__).resolve().parent.parent
# Service that relays every service's outbox rows (functions/eventing: outbox_relay), so it publishes every event.
OUTBOX_RELAY_SERVICE = "eventing"

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
ERROR_TEXT = {400: "Invalid JSON or fields (every invalid field listed)", 401: "Missing, invalid or expired token",
              403: "Role not allowed", 404: "Missing, or another agency's", 405: "Method not allowed",
              409: "Conflict (period-closed, open check-in, idempotency key in flight)",
              413: "Body over 64 KiB", 415: "Body is not JSON", 422: "Idempotency key reused with another body"}


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


def openapi() -> dict[str, Any]:
    from shared_lib.config import settings

    components, refs = _schemas()
    components["Problem"] = PROBLEM_SCHEMA
    paths: dict[str, Any] = {}
    for spec in sorted(registry.http_functions(), key=lambda s: s.path):
        item: dict[str, Any] = {}
        for method in registry.HTTP_METHODS:
            op = spec.operations.get(method)
            if op is None:
                continue
            o: dict[str, Any] = {"operationId": op.operation_id, "tags": [spec.service],
                                 "summary": op.summary or op.operation_id.replace("_", " ")}
            o["x-function"] = spec.deploy_name
            if op.auth == "user":
                o["x-roles"] = sorted(r.value for r in op.roles)
            params = [{"name": n, "in": "path", "required": True,
                       "schema": {"type": "string", "format": "uuid"} if n.endswith("_id") else {"type": "string"}}
                      for n in registry._PARAM_RE.findall(spec.path)]
            if op.query is not None:
                params += _query_params(op.query)
            if op.idempotent:
                params.append({"name": "Idempotency-Key", "in": "header", "required": False,
                               "schema": {"type": "string", "maxLength": 255},
                               "description": "Same key and body within 24 h returns the first response again"})
            if params:
                o["parameters"] = params
            if op.request is not None:
                o["requestBody"] = {"required": True, "content": {"application/json": {
                    "schema": refs[(op.request, "validation")]}}}
            responses: dict[str, Any] = {}
            ok: dict[str, Any] = {"description": "OK" if op.status < 300 else str(op.status)}
            if op.response is not None:
                ok["content"] = {"application/json": {"schema": refs[(op.response, "serialization")]}}
            responses[str(op.status)] = ok
            codes = [400] if (op.request or op.query or params) else []
            if op.auth != "none":
                codes.append(401)
            if op.auth == "user":
                codes += [403, 404]
            if op.request is not None:
                codes += [413, 415]
            if op.idempotent:
                codes += [409, 422]
            for code in sorted(set(codes)):
                responses[str(code)] = {"description": ERROR_TEXT[code],
                                        "content": {"application/problem+json": {
                                            "schema": {"$ref": "#/components/schemas/Problem"}}}}
            o["responses"] = responses
            if op.auth == "none":
                o["security"] = []
            item[method.lower()] = o
        paths[spec.path] = item
    return {
        "openapi": "3.1.0",
        "info": {"title": "OnlyManager Economy API", "version": settings().version,
                 "description": "Generated from the function registry (python -m emulator generate). "
                                "Paths are accepted with or without the trailing slash."},
        "servers": [{"url": "/"}],
        "security": [{"firebase": []}],
        "paths": paths,
        "components": {"schemas": dict(sorted(components.items())),
                       "securitySchemes": {"firebase": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                                        "description": "Firebase ID token"}}},
    }


def region() -> str:
    """The deployment region, set once in pyproject.toml [tool.onlymanager] (Hosting rewrites and terraform)."""
    import tomllib

    with (ROOT / "pyproject.toml").open("rb") as fh:
        return tomllib.load(fh)["tool"]["onlymanager"]["region"]


def firebase_json() -> dict[str, Any]:
    """Hosting rewrites in routing order (the local platform routes the same way) plus the emulator ports."""
    where = region()
    rewrites = [{"regex": spec.path_regex.pattern,
                 "function": {"functionId": spec.deploy_name, "region": where}}
                for spec in registry.http_functions()]
    return {
        "hosting": {"public": "public", "ignore": ["firebase.json", "**/.*"], "rewrites": rewrites},
        "firestore": {"rules": "firestore.rules"},
        "emulators": {"auth": {"host": "127.0.0.1", "port": 9099}, "ui": {"enabled": False}},
    }


def publishers() -> dict[str, list[str]]:
    """Topics each service may publish: the event types it declares, the dead-letter topics of what it consumes
    (eventfn dead-letters poison messages itself), and for the outbox relay every declared event type."""
    allowed: dict[str, set[str]] = {s: set() for s in registry.service_names()}
    for topic, services in registry.PUBLISHED.items():
        for s in services:
            allowed.setdefault(s, set()).add(topic)
        allowed.setdefault(OUTBOX_RELAY_SERVICE, set()).add(topic)
    for spec in registry.REGISTRY.values():
        if spec.topic:
            allowed.setdefault(spec.service, set()).add(registry.dead_letter_topic(spec.topic))
    return {s: sorted(t) for s, t in sorted(allowed.items())}


def terraform_vars() -> dict[str, Any]:
    """What terraform/ deploys: one Cloud Function per registry entry, topics, jobs, who publishes where, region."""
    functions = []
    for name in sorted(registry.REGISTRY):
        spec = registry.REGISTRY[name]
        f: dict[str, Any] = {"name": spec.deploy_name, "service": spec.service, "entry_point": spec.name,
                             "trigger": spec.trigger}
        if spec.topic:
            f["topic"] = spec.topic
            f["dead_letter_topic"] = registry.dead_letter_topic(spec.topic)
        if spec.document:
            f["document"] = spec.document
            f["document_event"] = spec.document_event
        f["retry"] = spec.retry
        functions.append(f)
    topics = registry.topics()
    jobs = [{"name": j.name, "topic": j.topic, "schedule": j.schedule, "time_zone": j.time_zone,
             "description": j.description} for j in sorted(registry.JOBS.values(), key=lambda j: j.name)]
    return {"region": region(), "functions": functions, "topics": topics, "scheduler_jobs": jobs,
            "services": registry.service_names(), "publishers": publishers()}


def rendered() -> dict[Path, str]:
    import yaml

    registry.load_all()
    return {
        ROOT / "openapi.yaml": yaml.safe_dump(openapi(), sort_keys=False, allow_unicode=True, width=120),
        ROOT / "firebase.json": json.dumps(firebase_json(), indent=2) + "\n",
        ROOT / "terraform" / "registry.auto.tfvars.json": json.dumps(terraform_vars(), indent=2) + "\n",
    }


def write() -> list[Path]:
    changed = []
    for path, text in rendered().items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed.append(path)
    return changed


def stale() -> list[Path]:
    return [p for p, text in rendered().items() if not p.exists() or p.read_text() != text]
