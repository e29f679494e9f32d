"""Generated files are never hand-maintained: openapi.yaml, firebase.json and terraform variables match the code."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_generated_artifacts_are_fresh():
    # A fresh process: only the services' own declarations count, not test-only functions.
    proc = subprocess.run([sys.executable, "-m", "emulator", "generate", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr + "\nrun: make generate"


def test_openapi_documents_every_http_function():
    doc = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    assert doc["openapi"].startswith("3.1")
    assert doc["paths"]["/api/health/"]["get"]["security"] == []
    assert doc["paths"]["/api/agencies/"]["post"]["responses"]["201"]["content"]["application/json"]["schema"] \
        == {"$ref": "#/components/schemas/Agency"}
    assert "Problem" in doc["components"]["schemas"]


def test_registry_json_lists_every_function():
    import json

    proc = subprocess.run([sys.executable, "-m", "emulator", "functions"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=True)
    listed = json.loads(proc.stdout)
    names = {f["name"] for f in listed}
    assert {"health", "agencies", "me", "outbox_relay"} <= names
    assert all({"name", "service", "trigger"} <= set(f) for f in listed)
