"""Runs an event-triggered function: decode the CloudEvent, dedupe through the inbox, one transaction, retry by raising."""
from __future__ import annotations

import base64
import binascii
import inspect
import json
import logging
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Callable

from pydantic import ValidationError

from . import clock
from .config import settings
from .errors import DomainError
from .registry import FunctionSpec, dead_letter_topic

log = logging.getLogger(__name__)


class PermanentError(Exception):
    """Raised by a handler for input that will never succeed: logged, dead-lettered, acknowledged (no retry)."""


@dataclass(frozen=True)
class PubSubMessage:
    data: bytes
    attributes: dict[str, str]
    message_id: str
    publish_time: datetime | None


@dataclass(frozen=True)
class DocumentChange:
    """A Firestore document write: field values as plain Python, None where the document did not exist."""

    path: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None
    update_mask: tuple[str, ...] = ()
    update_time: datetime | None = None  # of the new version: lets a handler ignore a late, older redelivery

    @property
    def kind(self) -> str:
        if self.old is None:
            return "created"
        if self.new is None:
            return "deleted"
        return "updated"


def _pubsub_message(cloud_event) -> PubSubMessage:
    msg = (cloud_event.data or {}).get("message") or {}
    try:
        data = base64.b64decode(msg.get("data") or "", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PermanentError(f"message data is not base64: {exc}") from None
    publish_time = None
    if msg.get("publishTime"):
        try:
            publish_time = datetime.fromisoformat(msg["publishTime"].replace("Z", "+00:00"))
        except ValueError:
            publish_time = None
    return PubSubMessage(data=data, attributes=dict(msg.get("attributes") or {}),
                         message_id=str(msg.get("messageId") or cloud_event["id"]), publish_time=publish_time)


def _document_change(cloud_event) -> DocumentChange:
    from google.events.cloud.firestore import DocumentEventData

    from .firestore_values import document_fields

    raw = cloud_event.data
    try:
        payload = DocumentEventData.deserialize(raw if isinstance(raw, bytes) else bytes(raw))
    except Exception as exc:
        raise PermanentError(f"not a DocumentEventData protobuf: {exc}") from None
    old = document_fields(payload.old_value) if payload.old_value and payload.old_value.name else None
    new = document_fields(payload.value) if payload.value and payload.value.name else None
    name = (payload.value.name if new is not None else payload.old_value.name) or ""
    path = name.split("/documents/", 1)[1] if "/documents/" in name else (cloud_event.get("document") or "")
    update_time = None
    if new is not None and "update_time" in payload.value:
        update_time = payload.value.update_time
    return DocumentChange(path=path, old=old, new=new, update_mask=tuple(payload.update_mask.field_paths or ()),
                          update_time=update_time)


def document_params(pattern: str, path: str) -> dict[str, str] | None:
    p_parts, parts = pattern.strip("/").split("/"), path.strip("/").split("/")
    if len(p_parts) != len(parts):
        return None
    params = {}
    for p, v in zip(p_parts, parts):
        if p.startswith("{") and p.endswith("}"):
            params[p[1:-1]] = v
        elif p != v:
            return None
    return params


def dispatch(spec: FunctionSpec, handler: Callable[..., Any], cloud_event) -> None:
    """Run `handler` for one delivery. Returning acknowledges (handled, duplicate, or dead-lettered poison);
    raising fails the delivery (a non-2xx answer under functions-framework), so Pub/Sub redelivers it and,
    past the subscription's max delivery attempts, moves it to the dead-letter topic."""
    from .logs import scope

    with scope(spec.name, headers=_request_headers(), traceparent=_attribute(cloud_event, "traceparent")):
        _dispatch(spec, handler, cloud_event)


def _dispatch(spec: FunctionSpec, handler: Callable[..., Any], cloud_event) -> None:
    from .db import unit_of_work
    from .events import claim_inbox
    from .logs import bind

    wanted = inspect.signature(handler).parameters
    message: PubSubMessage | None = None
    try:
        if spec.trigger != "firestore":
            message = _pubsub_message(cloud_event)
            bind(agency_id=message.attributes.get("agency_id") or None)
            if message.publish_time and (datetime.now(timezone.utc) - message.publish_time).total_seconds() \
                    > settings().event_max_age_seconds:
                log.warning("%s: dropping message %s older than the retry window", spec.name, message.message_id)
                return
        kwargs, dedupe_key = _decode(spec, cloud_event, message)
    except (PermanentError, ValidationError, ValueError) as exc:
        _dead_letter(spec, message, exc)
        return
    if "event" in kwargs:
        bind(agency_id=kwargs["event"].agency_id)
    elif "params" in kwargs and kwargs["params"].get("agencyId"):
        bind(agency_id=kwargs["params"]["agencyId"])
    try:
        with unit_of_work(service=spec.service) as uow:
            if dedupe_key is not None and not claim_inbox(uow, spec.name, dedupe_key):
                log.info("%s: %s already handled", spec.name, dedupe_key)
                return
            kwargs["uow"] = uow
            handler(**{k: v for k, v in kwargs.items() if k in wanted})
    except (PermanentError, DomainError) as exc:
        # A use case's refusal (invalid, not found, forbidden, a conflict such as a closed period) is the same
        # on every redelivery: dead-lettered and acknowledged, like a poison payload.
        _dead_letter(spec, message, exc)
    # Any other exception (an ApiError such as an unreachable directory, a bug, the database down) propagates:
    # the function fails and Pub/Sub redelivers (retry policy on).


def _attribute(cloud_event, name: str) -> str | None:
    try:
        return cloud_event.get(name)
    except Exception:  # an event object without extensions
        return None


def _request_headers():
    """The push request's headers under functions-framework (its trace), None when called in-process."""
    import sys

    flask = sys.modules.get("flask")  # only ever loaded by functions-framework or the local platform
    if flask is not None and flask.has_request_context():
        return flask.request.headers
    return None


def _decode(spec: FunctionSpec, cloud_event, message: PubSubMessage | None) -> tuple[dict[str, Any], str | None]:
    """The handler's arguments and the inbox key; ValidationError/ValueError/PermanentError mean a poison input."""
    from .contracts import payload_of
    from .events import Event
    from .logs import bind

    if spec.trigger == "firestore":
        change = _document_change(cloud_event)
        params = document_params(spec.document or "", change.path)
        if params is None:
            raise PermanentError(f"document {change.path} does not match {spec.document}")
        return {"change": change, "params": params, "event_id": str(cloud_event["id"])}, str(cloud_event["id"])
    assert message is not None
    if spec.trigger == "schedule":
        return {"as_of": _as_of(message.data)}, None  # jobs are idempotent by their own constraints
    if spec.envelope:
        event = Event.model_validate_json(message.data)
        bind(agency_id=event.agency_id)  # a payload refused below still logs its agency
        kwargs: dict[str, Any] = {"event": event}
        if spec.message_model is not None:  # the type's contract; its agency must be the envelope's
            kwargs["data"] = payload_of(event, spec.message_model)
        return kwargs, str(event.event_id)
    model = spec.message_model
    return {"message": model.model_validate_json(message.data) if model else message}, message.message_id


def _dead_letter(spec: FunctionSpec, message: PubSubMessage | None, exc: Exception) -> None:
    """Never an endless retry: log, hand the message to the dead-letter topic, acknowledge."""
    from .events import publisher

    log.error("%s: permanent failure, dead-lettered: %s", spec.name, exc)
    if message is not None and spec.topic:
        try:
            publisher().publish_raw(dead_letter_topic(spec.topic), message.data,
                                    {**message.attributes, "error": str(exc)[:1000], "function": spec.name})
        except Exception:
            log.exception("%s: could not dead-letter message %s", spec.name, message.message_id)


def _as_of(data: bytes) -> date:
    if data:
        try:
            body = json.loads(data)
        except ValueError:
            raise PermanentError("scheduler payload is not JSON") from None
        if isinstance(body, dict) and body.get("as_of"):
            return date.fromisoformat(body["as_of"])
    return clock.now().date()

