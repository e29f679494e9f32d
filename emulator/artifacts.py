"""Artifacts generated from the registry (never hand-maintained): openapi.yaml, firebase.json, terraform variables."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared_lib import registry

ROOT = Path(__file__).resolve().parent.parent
# Service that relays every service's outbox rows (functions/eventing: outbox_relay), so it publishes every event.
OUTBOX_RELAY_SERVICE = "eventing"


def openapi() -> dict[str, Any]:
    """The OpenAPI document (emulator/openapi_doc.py builds it from the registry)."""
    from .openapi_doc import document

    return document()


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


FIRESTORE_SCHEMAS = ROOT / "docs" / "firestore"


def firestore_schemas() -> dict[str, dict[str, Any]]:
    """One JSON Schema (2020-12) per Firestore collection the backend writes, from the pydantic model its writer
    uses (shared_lib.firestore.document_model). Timestamps appear as RFC 3339 strings (format date-time)."""
    from shared_lib import firestore

    out = {}
    for collection, (path, model) in sorted(firestore.DOCUMENTS.items()):
        schema = model.model_json_schema(mode="serialization")
        out[collection] = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                           "$id": f"https://onlymanager.app/schemas/firestore/{collection}.schema.json",
                           "x-firestore-path": path, **schema}
    return out


def rendered() -> dict[Path, str]:
    import yaml

    registry.load_all()
    return {
        ROOT / "openapi.yaml": yaml.safe_dump(openapi(), sort_keys=False, allow_unicode=True, width=120),
        ROOT / "firebase.json": json.dumps(firebase_json(), indent=2) + "\n",
        ROOT / "terraform" / "registry.auto.tfvars.json": json.dumps(terraform_vars(), indent=2) + "\n",
        **{FIRESTORE_SCHEMAS / f"{name}.schema.json": json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
           for name, schema in firestore_schemas().items()},
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
