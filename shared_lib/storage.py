"""One storage interface for generated files: Google Cloud Storage in the cloud, a local folder otherwise."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

from .config import settings


class Storage(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> str: ...

    def get(self, key: str) -> bytes: ...


class LocalStorage:
    def __init__(self, root: Path):
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"storage key escapes the root: {key}")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)  # readers never see half a file
        return path.as_uri()

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()


class GcsStorage:
    def __init__(self, bucket: str):
        from google.cloud import storage as gcs

        self.bucket = gcs.Client(project=settings().google_cloud_project).bucket(bucket)

    def put(self, key: str, data: bytes, content_type: str) -> str:
        blob = self.bucket.blob(key)
        blob.upload_from_string(data, content_type=content_type)
        return f"gs://{self.bucket.name}/{key}"

    def get(self, key: str) -> bytes:
        return self.bucket.blob(key).download_as_bytes()


_storage: Storage | None = None
_lock = threading.Lock()


def storage() -> Storage:
    global _storage
    if _storage is None:
        with _lock:
            if _storage is None:
                s = settings()
                _storage = GcsStorage(s.storage_bucket) if s.storage_bucket else \
                    LocalStorage(Path(s.om_data_dir) / "files")
    return _storage


def reset_storage() -> None:
    global _storage
    with _lock:
        _storage = None
