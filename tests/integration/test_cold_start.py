"""Entry modules import light: no client, engine or firebase app is created at import."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from shared_lib import registry

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
import functions.{service}.main
from shared_lib import db, events, firestore, auth
print(json.dumps({{
  "engine": db._engine is not None,
  "publisher": events._publisher is not None,
  "firestore_client": firestore._client is not None,
  "firebase_app": auth._app is not None,
  "modules": sorted(m for m in ("firebase_admin", "google.cloud.firestore", "google.cloud.pubsub_v1",
                                "google.cloud.sql.connector", "pgserver") if m in sys.modules),
}}))
"""


def test_no_service_creates_a_client_at_import():
    for service in registry.service_names():
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        out = subprocess.run([sys.executable, "-c", PROBE.format(service=service)], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        state = json.loads(out.stdout)
        assert state == {"engine": False, "publisher": False, "firestore_client": False, "firebase_app": False,
                         "modules": []}, service
