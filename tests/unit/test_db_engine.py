"""The engine: Cloud SQL connector in the cloud (lazy refresh, small pool), DATABASE_URL locally; nothing connects.

Each case runs in a fresh interpreter: the engine and settings are process globals that the running test
platform's threads share, so they are not swapped under them.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str, **env: str) -> dict:
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "INSTANCE_CONNECTION_NAME")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**base, "PYTHONPATH": str(ROOT), **env},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _service_account_file(tmp_path) -> str:
    """A syntactically real service-account key (a fresh RSA key): the connector builds its client offline."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path = tmp_path / "sa.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "demo-onlymanager", "private_key_id": "k1", "private_key": pem,
        "client_email": "fn@demo-onlymanager.iam.gserviceaccount.com", "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token"}))
    return str(path)


def test_cloud_sql_engine_is_lazy_small_and_uses_the_connector(tmp_path):
    state = _run(
        "import json\n"
        "from google.cloud.sql.connector import RefreshStrategy\n"
        "from shared_lib import db\n"
        "e = db.engine()\n"
        "print(json.dumps({'same': e is db.engine(), 'driver': e.dialect.driver,\n"
        "  'pool': e.pool.size() + e.pool._max_overflow, 'recycle': e.pool._recycle,\n"
        "  'lazy': db._connector._refresh_strategy == RefreshStrategy.LAZY, 'out': e.pool.checkedout()}))\n",
        GOOGLE_APPLICATION_CREDENTIALS=_service_account_file(tmp_path),
        INSTANCE_CONNECTION_NAME="demo-onlymanager:europe-west1:om", DB_IAM_AUTH="true")
    assert state == {"same": True, "driver": "pg8000", "pool": 4, "recycle": 1800, "lazy": True, "out": 0}


def test_without_any_database_configured_the_error_says_what_to_set():
    state = _run(
        "import json\n"
        "from shared_lib import db\n"
        "try:\n    db.engine(); msg = ''\n"
        "except RuntimeError as exc:\n    msg = str(exc)\n"
        "print(json.dumps({'msg': msg}))\n")
    assert "DATABASE_URL" in state["msg"] and "INSTANCE_CONNECTION_NAME" in state["msg"]


def test_a_pgserver_uri_is_turned_into_a_pg8000_socket_url():
    state = _run(
        "import json\n"
        "from shared_lib import db\n"
        "u = db.engine().url\n"
        "print(json.dumps({'driver': u.drivername, 'sock': u.query['unix_sock']}))\n",
        DATABASE_URL="postgresql://postgres:@/postgres?host=/tmp/pgdata")
    assert state == {"driver": "postgresql+pg8000", "sock": "/tmp/pgdata/.s.PGSQL.5432"}
