"""Firestore: a lazily created client and read-model writes (skipped, with one log line, when none is configured)."""
from __future__ import annotations

import logging
import threading
import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Mapping

from pydantic import BaseModel

from .config import settings

log = logging.getLogger(__name__)

_client: Any = None
_lock = threading.Lock()
_warned = False


def enabled() -> bool:
    s = settings()
    return bool(s.firestore_emulator_host) or s.in_cloud


def client():
    """The instance's Firestore client, created on first use (the import alone costs ~0.3 s: keep it here)."""
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                from google.cloud import firestore

                _client = firestore.Client(project=settings().google_cloud_project)
    return _client


def reset_client() -> None:
    global _client
    with _lock:
        _client = None


# Every Firestore document the backend writes, by collection: {name: (path pattern, pydantic model)}.
# `python -m emulator generate` turns each model into docs/firestore/<name>.schema.json.
DOCUMENTS: dict[str, tuple[str, type[BaseModel]]] = {}


def document_model(collection: str, path: str):
    """Declare the pydantic model that the documents of `collection` (at `path`) are written from."""
    def register(model: type[BaseModel]) -> type[BaseModel]:
        known = DOCUMENTS.get(collection)
        if known is not None and known[1].__qualname__ != model.__qualname__:
            raise ValueError(f"Firestore collection {collection} is already written by {known[1].__qualname__}")
        DOCUMENTS[collection] = (path, model)
        return model
    return register


def to_fields(doc: BaseModel) -> dict[str, Any]:
    """A model as Firestore field values: money as the API's decimal strings, ids and dates as strings,
    datetimes kept (Firestore stores them as timestamps; the JSON Schemas show them as RFC 3339 strings)."""
    return _plain(doc.model_dump(mode="python"))


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        from .money import to_cents

        return format(to_cents(value), "f")  # every Decimal on a read model is money or a rate: 2 places
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value


def documents_where(collection: str, field: str, value: Any) -> list[dict[str, Any]]:
    """The documents of `collection` whose `field` equals `value` (empty when Firestore is not configured)."""
    if not _configured():
        return []
    from google.cloud.firestore_v1.base_query import FieldFilter

    return [snap.to_dict() for snap in client().collection(collection).where(filter=FieldFilter(field, "==", value))
            .stream()]


def update_fields(path: str, fields: BaseModel) -> bool:
    """Set these fields on an existing document (one the frontend created); False when Firestore is not
    configured or the document is gone (a write-back must never resurrect a deleted document)."""
    if not _configured():
        return False
    from google.api_core.exceptions import NotFound

    try:
        client().document(path).update(to_fields(fields))
    except NotFound:
        log.info("%s: gone, write-back skipped", path)
        return False
    return True


def _configured() -> bool:
    global _warned
    if enabled():
        return True
    if not _warned:
        log.info("Firestore not configured (FIRESTORE_EMULATOR_HOST unset): read-model writes are skipped")
        _warned = True
    return False


def write_read_model(path: str, data: BaseModel | dict[str, Any], *, merge: bool = False) -> bool:
    """Set the projection document at `path`; False when Firestore is not configured (local runs without it),
    or when `data` has a `version` and the document already holds that version or a newer one.

    Writers pass the pydantic model declared with `document_model` (a dict is accepted for low-level tests).
    Projections are written after commit, so two handlers can finish in either order: a `version` taken in
    commit order (a sequence read under the writer's lock) makes the newest one win, in a Firestore transaction.
    """
    if not _configured():
        return False
    if isinstance(data, BaseModel):
        data = to_fields(data)
    if "version" not in data:
        client().document(path).set(data, merge=merge)
        return True
    return _write_if_newer(path, data)


BATCH = 100  # documents per transaction of write_read_models (Firestore allows 500 writes per commit)


def write_read_models(docs: Mapping[str, BaseModel | dict[str, Any]]) -> int:
    """write_read_model for many versioned documents ({path: model}, each with a `version`): the
    newest-version-wins rule (a document already holding that version or a newer one keeps it), one Firestore
    transaction (a batched read, then the writes) per BATCH documents instead of one per document — a full
    recalculation rewrites every user's document, and 1,000 transactions one after the other took seconds.
    Returns how many were written (0 when not configured)."""
    if not _configured() or not docs:
        return 0
    from google.cloud.firestore import transactional

    db = client()
    items = [(db.document(p), to_fields(d) if isinstance(d, BaseModel) else d) for p, d in docs.items()]
    written = 0
    for start in range(0, len(items), BATCH):
        chunk = dict((ref.path, (ref, data)) for ref, data in items[start:start + BATCH])

        @transactional
        def apply(tx, chunk=chunk) -> int:
            have = {snap.reference.path: (snap.to_dict() or {}).get("version") if snap.exists else None
                    for snap in tx.get_all([ref for ref, _ in chunk.values()])}
            n = 0
            for key, (ref, data) in chunk.items():
                current = have.get(key)
                if isinstance(current, int) and current >= data["version"]:
                    log.info("%s: version %s already written (have %s)", key, data["version"], current)
                    continue
                tx.set(ref, data)
                n += 1
            return n

        written += apply(db.transaction())
    return written


def _write_if_newer(path: str, data: dict[str, Any]) -> bool:
    return write_read_models({path: data}) == 1  # one rule for one document and for many
