"""Firestore: a lazily created client and read-model writes (skipped, with one log line, when none is configured)."""
from __future__ import annotations

import logging
import threading
from typing import Any

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


def write_read_model(path: str, data: dict[str, Any], *, merge: bool = False) -> bool:
    """Set the projection document at `path`; False when Firestore is not configured (local runs without it),
    or when `data` has a `version` and the document already holds that version or a newer one.

    Projections are written after commit, so two handlers can finish in either order: a `version` taken in
    commit order (a sequence read under the writer's lock) makes the newest one win, in a Firestore transaction.
    """
    global _warned
    if not enabled():
        if not _warned:
            log.info("Firestore not configured (FIRESTORE_EMULATOR_HOST unset): read-model writes are skipped")
            _warned = True
        return False
    if "version" not in data:
        client().document(path).set(data, merge=merge)
        return True
    return _write_if_newer(path, data)


def _write_if_newer(path: str, data: dict[str, Any]) -> bool:
    from google.cloud.firestore import transactional

    ref = client().document(path)

    @transactional
    def apply(tx) -> bool:
        snap = ref.get(transaction=tx)
        current = (snap.to_dict() or {}).get("version") if snap.exists else None
        if isinstance(current, int) and current >= data["version"]:
            log.info("%s: version %s already written (have %s)", path, data["version"], current)
            return False
        tx.set(ref, data)
        return True

    return apply(client().transaction())
