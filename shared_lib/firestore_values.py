"""Firestore protobuf values (google-events DocumentEventData) as plain Python values, and back for tests."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any


def value_to_python(value) -> Any:
    from google.events.cloud.firestore import Value

    pb = Value.pb(value)
    kind = pb.WhichOneof("value_type")
    if kind is None or kind == "null_value":
        return None
    if kind == "timestamp_value":
        return pb.timestamp_value.ToDatetime(tzinfo=timezone.utc)
    if kind == "array_value":
        return [value_to_python(Value.wrap(v)) for v in pb.array_value.values]
    if kind == "map_value":
        return {k: value_to_python(Value.wrap(v)) for k, v in pb.map_value.fields.items()}
    if kind == "geo_point_value":
        return {"latitude": pb.geo_point_value.latitude, "longitude": pb.geo_point_value.longitude}
    return getattr(pb, kind)


def document_fields(document) -> dict[str, Any]:
    return {k: value_to_python(v) for k, v in document.fields.items()}


def python_to_value(x: Any):
    """The inverse, for building real DocumentEventData payloads in tests and in the local platform."""
    from google.events.cloud.firestore import ArrayValue, MapValue, Value

    if x is None:
        return Value(null_value=0)
    if isinstance(x, bool):
        return Value(boolean_value=x)
    if isinstance(x, int):
        return Value(integer_value=x)
    if isinstance(x, str):
        return Value(string_value=x)
    if isinstance(x, datetime):
        return Value(timestamp_value=x)
    if isinstance(x, (list, tuple)):
        return Value(array_value=ArrayValue(values=[python_to_value(v) for v in x]))
    if isinstance(x, dict):
        return Value(map_value=MapValue(fields={k: python_to_value(v) for k, v in x.items()}))
    raise TypeError(f"no Firestore value for {type(x).__name__}")


def document_event_bytes(name: str, new: dict[str, Any] | None, old: dict[str, Any] | None = None,
                         update_mask: list[str] | None = None, *, update_time: datetime | None = None) -> bytes:
    """Serialize a real DocumentEventData (what Eventarc sends for google.cloud.firestore.document.v1.*).

    `update_time`: when the server stored the new version (default now; for a created document also its
    create time)."""
    from google.events.cloud.firestore import Document, DocumentEventData, DocumentMask

    now = datetime.now(timezone.utc)
    kwargs: dict[str, Any] = {}
    if new is not None:
        stored = update_time or now
        kwargs["value"] = Document(name=name, fields={k: python_to_value(v) for k, v in new.items()},
                                   create_time=stored if old is None else now, update_time=stored)
    if old is not None:
        kwargs["old_value"] = Document(name=name, fields={k: python_to_value(v) for k, v in old.items()},
                                       create_time=now, update_time=now)
    if update_mask:
        kwargs["update_mask"] = DocumentMask(field_paths=update_mask)
    return DocumentEventData.serialize(DocumentEventData(**kwargs))
