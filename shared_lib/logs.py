"""Log lines Cloud Logging understands: one JSON object per line on stdout in the cloud, readable text locally."""
from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Iterator, Mapping

# What the current request or event is about; every record logged inside `scope` carries it.
_CONTEXT: ContextVar[Mapping[str, Any] | None] = ContextVar("om_log_context", default=None)
_CLOUD_TRACE = re.compile(r"^(?P<trace>[0-9a-fA-F]{32})(?:/(?P<span>\d+))?(?:;o=(?P<sampled>[01]))?$")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-(?P<trace>[0-9a-f]{32})-(?P<span>[0-9a-f]{16})-(?P<flags>[0-9a-f]{2})$")
_SEVERITIES = ((logging.CRITICAL, "CRITICAL"), (logging.ERROR, "ERROR"), (logging.WARNING, "WARNING"),
               (logging.INFO, "INFO"), (logging.DEBUG, "DEBUG"))
_configured = False
_configure_lock = threading.Lock()  # gunicorn's threads may take their first requests at once


def trace_of(headers: Mapping[str, str] | None = None, traceparent: str | None = None) -> tuple[str, bool] | None:
    """(trace id, sampled) from `X-Cloud-Trace-Context: TRACE/SPAN;o=1`, else from a W3C `traceparent`."""
    headers = headers or {}
    m = _CLOUD_TRACE.match((headers.get("X-Cloud-Trace-Context") or "").strip())
    if m:
        return m.group("trace").lower(), m.group("sampled") == "1"
    m = _TRACEPARENT.match((traceparent or headers.get("traceparent") or "").strip().lower())
    if m and m.group("trace") != "0" * 32:
        return m.group("trace"), int(m.group("flags"), 16) & 1 == 1
    return None


@contextmanager
def scope(function: str, *, headers: Mapping[str, str] | None = None, traceparent: str | None = None,
          agency_id: Any = None) -> Iterator[None]:
    """Everything logged inside is tagged with `function`, the request's trace and (once known) the agency."""
    configure()
    token = _CONTEXT.set({"function": function, "trace": trace_of(headers, traceparent),
                          "agency_id": agency_id})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def bind(**fields: Any) -> None:
    """Add to the current scope what is learnt on the way (the caller's agency); outside a scope, nothing."""
    current = _CONTEXT.get()
    if current is not None:
        _CONTEXT.set({**current, **fields})


def current() -> Mapping[str, Any]:
    return _CONTEXT.get() or {}


def _project() -> str:
    from .config import DEFAULT_PROJECT

    return os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("GCLOUD_PROJECT") or DEFAULT_PROJECT


def _severity(levelno: int) -> str:
    return next((name for threshold, name in _SEVERITIES if levelno >= threshold), "DEFAULT")


class CloudFormatter(logging.Formatter):
    """A structured log entry (jsonPayload); the special fields are the ones Cloud Logging lifts into the entry."""

    def __init__(self, project: str | None = None):
        super().__init__()
        self.project = project or _project()

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            # The traceback inside `message`: Error Reporting groups the entry by it.
            message += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            message += "\n" + self.formatStack(record.stack_info)
        ctx = current()
        entry: dict[str, Any] = {"severity": _severity(record.levelno), "message": message,
                                 "function": ctx.get("function") or os.environ.get("FUNCTION_TARGET"),
                                 "logger": record.name}
        if ctx.get("agency_id") is not None:
            entry["agency_id"] = str(ctx["agency_id"])
        if ctx.get("trace"):
            trace_id, sampled = ctx["trace"]
            entry["logging.googleapis.com/trace"] = f"projects/{self.project}/traces/{trace_id}"
            entry["logging.googleapis.com/trace_sampled"] = sampled
        entry["logging.googleapis.com/sourceLocation"] = {"file": record.pathname, "line": str(record.lineno),
                                                          "function": record.funcName}
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Local runs: `time LEVEL logger [function agency=…] message`."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s %(om_context)s%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        ctx = current()
        tags = [str(ctx["function"])] if ctx.get("function") else []
        if ctx.get("agency_id") is not None:
            tags.append(f"agency={ctx['agency_id']}")
        record.om_context = f"[{' '.join(tags)}] " if tags else ""
        return super().format(record)


class _Stdout(logging.StreamHandler):
    """Writes to whatever sys.stdout is at the time: functions-framework's execution-id mode swaps it per request
    (and adds the execution id to our JSON)."""

    def __init__(self):
        super().__init__(sys.stdout)

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure() -> None:
    """Once per process, on the first request or event: JSON lines on stdout on Cloud Run (K_SERVICE set);
    locally readable text on stderr, unless something (pytest, the local platform) set up logging already."""
    global _configured
    if _configured:
        return
    with _configure_lock:
        if not _configured:
            _install()
            _configured = True


def _install() -> None:
    root = logging.getLogger()
    if os.environ.get("K_SERVICE"):
        handler: logging.Handler = _Stdout()
        handler.setFormatter(CloudFormatter())
        for old in list(root.handlers):  # a plain-text handler would split one entry into a line per line
            root.removeHandler(old)
    elif root.handlers:
        return
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(TextFormatter())
    root.addHandler(handler)
    root.setLevel(logging.INFO)
