"""Log lines: the Cloud Logging JSON entry (severity, trace, function, agency, traceback) and the request scope."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
import uuid
from pathlib import Path

from shared_lib import logs

ROOT = Path(__file__).resolve().parents[2]
TRACE = "105445aa7843bc8bf206b12000100000"


def _record(msg="hello %s", args=("world",), level=logging.INFO, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("shared_lib.http", level, "/src/shared_lib/http.py", 42, msg, args, exc_info,
                             func="handle")


def test_cloud_entry_carries_severity_trace_function_and_agency():
    agency = uuid.uuid4()
    fmt = logs.CloudFormatter(project="prod-project")
    with logs.scope("income_register", headers={"X-Cloud-Trace-Context": f"{TRACE}/1;o=1"}):
        logs.bind(agency_id=agency)
        entry = json.loads(fmt.format(_record(level=logging.WARNING)))
    assert entry == {
        "severity": "WARNING", "message": "hello world", "function": "income_register", "logger": "shared_lib.http",
        "agency_id": str(agency),
        "logging.googleapis.com/trace": f"projects/prod-project/traces/{TRACE}",
        "logging.googleapis.com/trace_sampled": True,
        "logging.googleapis.com/sourceLocation": {"file": "/src/shared_lib/http.py", "line": "42",
                                                  "function": "handle"},
    }


def test_scope_ends_with_the_request_and_bind_outside_a_scope_does_nothing():
    fmt = logs.CloudFormatter(project="p")
    with logs.scope("me", headers={"X-Cloud-Trace-Context": TRACE}):
        logs.bind(agency_id="a1")
        assert logs.current()["agency_id"] == "a1"
    logs.bind(agency_id="a2")
    entry = json.loads(fmt.format(_record()))
    assert logs.current() == {}
    assert "agency_id" not in entry and "logging.googleapis.com/trace" not in entry


def test_exception_traceback_is_in_the_message():
    fmt = logs.CloudFormatter(project="p")
    try:
        raise ZeroDivisionError("boom")
    except ZeroDivisionError:
        entry = json.loads(fmt.format(_record("unhandled error in %s", ("GET /api/me/",), logging.ERROR,
                                              sys.exc_info())))
    assert entry["severity"] == "ERROR"
    assert entry["message"].startswith("unhandled error in GET /api/me/\nTraceback (most recent call last):")
    assert entry["message"].rstrip().endswith("ZeroDivisionError: boom")


def test_trace_from_either_header_and_nothing_from_garbage():
    assert logs.trace_of({"X-Cloud-Trace-Context": f"{TRACE}/123;o=0"}) == (TRACE, False)
    assert logs.trace_of({"X-Cloud-Trace-Context": TRACE}) == (TRACE, False)
    assert logs.trace_of(traceparent=f"00-{TRACE}-00f067aa0ba902b7-01") == (TRACE, True)
    assert logs.trace_of({"traceparent": f"00-{TRACE}-00f067aa0ba902b7-00"}) == (TRACE, False)
    assert logs.trace_of({"X-Cloud-Trace-Context": "not-a-trace"}) is None
    assert logs.trace_of(traceparent="00-" + "0" * 32 + "-00f067aa0ba902b7-01") is None
    assert logs.trace_of() is None


def test_local_text_names_function_and_agency():
    fmt = logs.TextFormatter()
    with logs.scope("stats_summary", agency_id="ag-1"):
        line = fmt.format(_record())
    assert line.endswith(" INFO shared_lib.http [stats_summary agency=ag-1] hello world")
    assert fmt.format(_record()).endswith(" INFO shared_lib.http hello world")


def _configure_in_fresh_interpreter(env: dict[str, str]) -> subprocess.CompletedProcess:
    code = ("import logging; from shared_lib import logs\n"
            "logs.configure(); logs.configure()\n"
            "with logs.scope('health'):\n"
            "    logging.getLogger('x').info('one line')\n"
            "logging.getLogger('x').debug('below INFO: not shown')\n")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60, check=True)


def test_configured_once_json_on_stdout_in_the_cloud_text_on_stderr_locally():
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    cloud = _configure_in_fresh_interpreter({**base, "K_SERVICE": "health", "GOOGLE_CLOUD_PROJECT": "prod"})
    lines = cloud.stdout.splitlines()
    assert len(lines) == 1 and cloud.stderr == ""
    assert json.loads(lines[0])["message"] == "one line" and json.loads(lines[0])["function"] == "health"
    local = _configure_in_fresh_interpreter(base)
    assert local.stdout == ""
    assert local.stderr.splitlines()[-1].endswith(" INFO x [health] one line")
    assert len(local.stderr.splitlines()) == 1
