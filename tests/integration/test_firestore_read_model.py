"""Read models go to Firestore (the emulator here) through the official client; without one they are skipped."""
from __future__ import annotations

import os
import uuid

import pytest

from shared_lib import firestore
from shared_lib.config import reset_settings


@pytest.fixture
def firestore_emulator():
    host = os.environ.get("FIRESTORE_EMULATOR_HOST")
    if not host:
        pytest.fail("FIRESTORE_EMULATOR_HOST is not set: start it with `make services-up` (make test does)")
    reset_settings()
    firestore.reset_client()
    yield host
    firestore.reset_client()


def test_read_model_is_written_and_read_back(firestore_emulator):
    path = f"agencies/{uuid.uuid4()}/earnings/u1_2026-11"
    assert firestore.write_read_model(path, {"total": "1550.22", "period": "2026-11"}) is True
    snap = firestore.client().document(path).get()
    assert snap.exists and snap.to_dict() == {"total": "1550.22", "period": "2026-11"}


def test_without_firestore_configured_writes_are_skipped(monkeypatch):
    monkeypatch.delenv("FIRESTORE_EMULATOR_HOST", raising=False)
    monkeypatch.delenv("K_SERVICE", raising=False)
    reset_settings()
    try:
        assert firestore.write_read_model("agencies/x/dashboards/2026-11", {"a": 1}) is False
    finally:
        monkeypatch.undo()
        reset_settings()


def test_many_versioned_documents_are_written_in_batches_newest_version_winning(firestore_emulator, monkeypatch):
    """write_read_models: one transaction per BATCH documents, the same rule as write_read_model — a document
    already holding that version or a newer one keeps it, the others are written."""
    base = f"agencies/{uuid.uuid4()}/earnings"
    assert firestore.write_read_model(f"{base}/u2_2026-11", {"total": "9.00", "version": 7}) is True
    monkeypatch.setattr(firestore, "BATCH", 2)
    docs = {f"{base}/u{i}_2026-11": {"total": f"{i}.00", "version": 5} for i in range(1, 6)}
    assert firestore.write_read_models(docs) == 4
    got = {i: firestore.client().document(f"{base}/u{i}_2026-11").get().to_dict() for i in range(1, 6)}
    assert got[2] == {"total": "9.00", "version": 7}
    assert {i: d["total"] for i, d in got.items() if i != 2} == {1: "1.00", 3: "3.00", 4: "4.00", 5: "5.00"}
    assert firestore.write_read_models({f"{base}/u1_2026-11": {"total": "0.00", "version": 5}}) == 0
