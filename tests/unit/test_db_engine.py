"""The engine: Cloud SQL connector in the cloud (lazy refresh, small pool), DATABASE_URL locally; nothing connects."""
from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared_lib import db
from shared_lib.config import reset_settings


@pytest.fixture
def clean_engine(monkeypatch):
    db.dispose_engine()
    yield monkeypatch
    db.dispose_engine()
    monkeypatch.undo()
    reset_settings()


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


def test_cloud_sql_engine_is_lazy_small_and_uses_the_connector(clean_engine, tmp_path):
    from google.cloud.sql.connector import RefreshStrategy

    mp = clean_engine
    mp.delenv("DATABASE_URL", raising=False)
    mp.setenv("GOOGLE_APPLICATION_CREDENTIALS", _service_account_file(tmp_path))
    mp.setenv("INSTANCE_CONNECTION_NAME", "demo-onlymanager:europe-west1:om")
    mp.setenv("DB_IAM_AUTH", "true")
    reset_settings()
    engine = db.engine()
    assert engine is db.engine()  # one per instance, reused
    assert engine.dialect.driver == "pg8000"
    assert engine.pool.size() + engine.pool._max_overflow <= 5 and engine.pool._recycle == 1800
    assert db._connector._refresh_strategy == RefreshStrategy.LAZY
    assert engine.pool.checkedout() == 0  # nothing connected yet


def test_without_any_database_configured_the_error_says_what_to_set(clean_engine):
    mp = clean_engine
    mp.delenv("DATABASE_URL", raising=False)
    mp.delenv("INSTANCE_CONNECTION_NAME", raising=False)
    reset_settings()
    with pytest.raises(RuntimeError, match="DATABASE_URL"):
        db.engine()


def test_a_pgserver_uri_is_turned_into_a_pg8000_socket_url(clean_engine):
    mp = clean_engine
    mp.setenv("DATABASE_URL", "postgresql://postgres:@/postgres?host=/tmp/pgdata")
    mp.delenv("INSTANCE_CONNECTION_NAME", raising=False)
    reset_settings()
    url = db.engine().url
    assert url.drivername == "postgresql+pg8000" and url.query["unix_sock"] == "/tmp/pgdata/.s.PGSQL.5432"
