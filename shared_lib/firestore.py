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
    """Set the projection document at `path`; False when Firestore is not configured (local runs without it)."""
    global _warned
    if not enabled():
        if not _warned:
            log.info("Firestore not configured (FIRESTORE_EMULATOR_HOST unset): read-model writes are skipped")
            _warned = True
        return False
    client().document(path).set(data, merge=merge)
    return True
