"""The function registry: every Cloud Function is declared once here, with its trigger; artifacts are generated from it.

The declaration model (FunctionSpec, Operation, Job and the tables of them), the Service API a main.py declares
with, and the questions asked of the declarations (routing, topics, describe). Turning a declaration into a
functions-framework entry point, and checking a handler's signature against what is injected, is the adapter's
job: shared_lib/entrypoints.py, imported on the first declaration."""
from __future__ import annotations

import functools
import importlib
import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .rbac import ANY_ROLE, Role

FUNCTIONS_DIR = Path(__file__).resolve().parent.parent / "functions"
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,60}$")
_PARAM_RE = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{1,60}$")


class RegistryError(RuntimeError):
    pass


@dataclass
class Operation:
    """One HTTP method on a path."""

    method: str
    handler: Callable[..., Any]
    request: type | None = None
    query: type | None = None
    response: type | None = None
    # auth: "user" = an active member of an agency (roles apply); "token" = any valid ID token; "none" = public.
    auth: str = "user"
    roles: frozenset[Role] = ANY_ROLE
    status: int = 200
    idempotent: bool = False
    summary: str = ""
    params: tuple[str, ...] = ()
    # The 409 problem types (slugs, e.g. "period-closed") the use case can raise; openapi.yaml documents them.
    conflicts: tuple[str, ...] = ()
    # Media types of a file answer (a FileReply, e.g. text/csv) instead of JSON.
    produces: tuple[str, ...] = ()
    # The request body's ceiling in bytes (413 beyond it); None: the config's MAX_BODY_BYTES (64 KiB).
    max_body_bytes: int | None = None
    # A text/csv body taken besides JSON (CsvBody); None: JSON only.
    csv: "CsvBody | None" = None
    # Its transaction's prepared statements may use generic plans (shared_lib/db.py unit_of_work(generic_plans=)):
    # only for a hot path of point look-ups, whose plan does not depend on the values.
    generic_plans: bool = False

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


@dataclass(frozen=True)
class CsvBody:
    """A text/csv request body an operation takes besides JSON (shared_lib/http.py reads it).

    The file's rows fill the request model's list field `rows`: one dict per row, the header row's names as keys
    (the names of that list's item model; any subset, any order), empty cells left out. `from_query` names fields
    of the request model that a file has no place for: with a CSV body they are read from the query model's field
    of the same name (required there); with a JSON body they stay in the body and the query may not carry them."""

    rows: str
    from_query: tuple[str, ...] = ()

    def columns(self, request: type) -> frozenset[str]:
        """The header names a file may use: the fields of the `rows` list's item model."""
        item = request.model_fields[self.rows].annotation.__args__[0]
        return frozenset(item.model_fields)


@dataclass
class FunctionSpec:
    """A deployable Cloud Function."""

    name: str
    service: str
    trigger: str  # http | pubsub | firestore | schedule
    entry_point: Callable[..., Any] | None = None
    # http
    path: str | None = None
    operations: dict[str, Operation] = field(default_factory=dict)
    # pubsub / schedule
    topic: str | None = None
    envelope: bool = True
    message_model: type | None = None
    # firestore
    document: str | None = None
    document_event: str | None = None  # created | updated | deleted | written
    # schedule
    job: str | None = None
    retry: bool = True

    @property
    def deploy_name(self) -> str:
        return self.name.replace("_", "-")

    @property
    def path_regex(self) -> re.Pattern[str]:
        return path_regex(self.path or "")

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "deploy_name": self.deploy_name, "service": self.service,
                             "trigger": self.trigger, "entry_point": self.name}
        if self.trigger == "http":
            d["path"] = self.path
            d["methods"] = sorted(self.operations)
        if self.topic:
            d["topic"] = self.topic
        if self.document:
            d["document"] = self.document
            d["document_event"] = self.document_event
        if self.job:
            job = JOBS[self.job]
            d.update(job=job.name, schedule=job.schedule, time_zone=job.time_zone)
        d["retry"] = self.retry
        return d


@dataclass(frozen=True)
class Job:
    """A Cloud Scheduler job: publishes {"as_of": null} to `topic` on `schedule` (cron) in `time_zone`."""

    name: str
    topic: str
    schedule: str
    time_zone: str = "UTC"
    description: str = ""


REGISTRY: dict[str, FunctionSpec] = {}
JOBS: dict[str, Job] = {}
PUBLISHED: dict[str, set[str]] = {}  # event type -> services that publish it


def path_regex(path: str) -> re.Pattern[str]:
    """`/api/models/{model_id}/` → ^/api/models/(?P<model_id>[^/]+)/?$ (the trailing slash is optional)."""
    body = path.rstrip("/")
    pattern = _PARAM_RE.sub(lambda m: f"(?P<{m.group(1)}>[^/]+)", re.escape(body).replace(r"\{", "{").replace(r"\}", "}"))
    return re.compile(f"^{pattern}/?$")


def path_params(path: str) -> set[str]:
    """The {parameters} of a path."""
    return set(_PARAM_RE.findall(path))


def register(spec: FunctionSpec) -> None:
    if not _NAME_RE.match(spec.name):
        raise RegistryError(f"function name {spec.name!r} must be snake_case, 2-61 chars")
    existing = REGISTRY.get(spec.name)
    if existing is not None and existing.service != spec.service:
        raise RegistryError(
            f"function {spec.name!r} declared by both {existing.service!r} and {spec.service!r}: "
            "deployed names are global, pick another"
        )
    if spec.trigger == "http":
        for other in REGISTRY.values():
            if other.trigger == "http" and other.path == spec.path and other.name != spec.name:
                raise RegistryError(f"path {spec.path} served by both {other.name} and {spec.name}")
    REGISTRY[spec.name] = spec  # re-declaring within one service (a module reload) replaces


def declare_job(job: Job) -> Job:
    existing = JOBS.get(job.name)
    if existing is not None and existing != job:
        raise RegistryError(f"job {job.name!r} declared twice with different settings")
    JOBS[job.name] = job
    return job


def _audited(handler: Callable[..., Any]) -> Callable[..., Any]:
    """`handler` first naming its caller as the actor of the transaction's writes (shared_lib/audit.py), so every
    mutating operation's audit entries carry who: one statement, before the use case. A handler without a unit
    of work writes nothing and is served as it is."""
    signature = inspect.signature(handler)
    own = frozenset(signature.parameters)
    if "uow" not in own:
        return handler
    extra = [inspect.Parameter("caller", inspect.Parameter.KEYWORD_ONLY)] if "caller" not in own else []

    @functools.wraps(handler)
    def audited(**kwargs):
        from .audit import set_actor

        set_actor(kwargs["uow"], kwargs.get("caller"))
        return handler(**{k: v for k, v in kwargs.items() if k in own})

    audited.__signature__ = signature.replace(parameters=[*signature.parameters.values(), *extra])
    return audited


def _written_by(handler: Callable[..., Any]) -> Callable[..., Any]:
    """A Firestore-triggered `handler` first naming the document's writer as the actor of its writes."""
    signature = inspect.signature(handler)
    own = frozenset(signature.parameters)
    if "uow" not in own:
        return handler
    extra = [inspect.Parameter(p, inspect.Parameter.KEYWORD_ONLY) for p in ("change", "params") if p not in own]

    @functools.wraps(handler)
    def audited(**kwargs):
        from .audit import document_writer, set_writer

        set_writer(kwargs["uow"], document_writer(kwargs.get("change"), kwargs.get("params") or {}))
        return handler(**{k: v for k, v in kwargs.items() if k in own})

    audited.__signature__ = signature.replace(parameters=[*signature.parameters.values(), *extra])
    return audited


def _check_body(name: str, request, query, max_body_bytes, csv: CsvBody | None) -> None:
    """A body limit and a CSV body need a request model; a CSV's rows field is a list of models, and each
    from_query field is a field of both the request and the query model."""
    if (max_body_bytes is not None or csv is not None) and request is None:
        raise RegistryError(f"{name}: max_body_bytes= and csv= need a request model")
    if max_body_bytes is not None and (not isinstance(max_body_bytes, int) or max_body_bytes < 1):
        raise RegistryError(f"{name}: max_body_bytes= takes a positive number of bytes")
    if csv is None:
        return
    field = request.model_fields.get(csv.rows)
    args = getattr(field.annotation, "__args__", ()) if field is not None else ()
    if len(args) != 1 or not hasattr(args[0], "model_fields"):
        raise RegistryError(f"{name}: CsvBody.rows must name a list-of-models field of {request.__name__}")
    for f in csv.from_query:
        if f not in request.model_fields or query is None or f not in query.model_fields:
            raise RegistryError(f"{name}: CsvBody.from_query field {f!r} must be a field of the request and query models")


class HttpFunction:
    """A path served by one Cloud Function; methods are added with .get/.post/.put/.patch/.delete."""

    def __init__(self, spec: FunctionSpec):
        self.spec = spec

    def _method(self, method: str, *, request=None, query=None, response=None, auth="user", roles=ANY_ROLE,
                status=None, idempotent=False, summary="", conflicts=(), produces=(), max_body_bytes=None, csv=None,
                generic_plans=False):
        def deco(handler: Callable[..., Any]) -> Callable[..., Any]:
            from .entrypoints import http_arguments

            if method in self.spec.operations and self.spec.operations[method].handler.__module__ != handler.__module__:
                raise RegistryError(f"{method} {self.spec.path} declared twice")
            served = _audited(handler) if method in MUTATING_METHODS and auth != "none" else handler
            params = http_arguments(self.spec, served)
            bad = [c for c in conflicts if not _SLUG_RE.match(c)]
            if bad or isinstance(conflicts, str):
                raise RegistryError(f"{handler.__name__}: conflicts= takes problem slugs like 'period-closed', got {conflicts!r}")
            _check_body(handler.__name__, request, query, max_body_bytes, csv)
            self.spec.operations[method] = Operation(
                method=method, handler=served, request=request, query=query, response=response, auth=auth,
                roles=frozenset(roles), status=status or (201 if method == "POST" else 200),
                idempotent=idempotent, summary=summary or (handler.__doc__ or "").strip().split("\n")[0],
                params=params, conflicts=tuple(conflicts), produces=tuple(produces),
                max_body_bytes=max_body_bytes, csv=csv, generic_plans=generic_plans,
            )
            return handler

        return deco

    def get(self, **kw):
        return self._method("GET", **kw)

    def post(self, **kw):
        return self._method("POST", **kw)

    def put(self, **kw):
        return self._method("PUT", **kw)

    def patch(self, **kw):
        return self._method("PATCH", **kw)

    def delete(self, **kw):
        return self._method("DELETE", **kw)


class Service:
    """A bounded context (`functions/<name>/`): declares its functions into the global registry."""

    def __init__(self, name: str):
        self.name = name

    def publishes(self, *event_types: str) -> None:
        for t in event_types:
            PUBLISHED.setdefault(t, set()).add(self.name)

    def http(self, name: str, path: str) -> Callable[..., Any]:
        """Declare the Cloud Function serving `path`; returns its entry point (flask request → response)."""
        from . import entrypoints

        entrypoints.check_environment()
        if not path.startswith("/api/") or not path.endswith("/"):
            raise RegistryError(f"{path}: paths start with /api/ and end with /")
        spec = FunctionSpec(name=name, service=self.name, trigger="http", path=path)
        existing = REGISTRY.get(name)
        if existing is not None and existing.service == self.name and existing.path == path:
            spec.operations = {}  # module reload: operations are declared again below
        register(spec)
        fn = HttpFunction(spec)
        entry = entrypoints.http_entry(spec)
        # `@records.get(...)` reads naturally in main.py: expose the method decorators on the entry point.
        for m in ("get", "post", "put", "patch", "delete"):
            setattr(entry, m, getattr(fn, m))
        return entry

    def on_event(self, topic: str, *, name: str | None = None, model: type | None = None, envelope: bool = True,
                 retry: bool = True):
        """A Pub/Sub-triggered function. With envelope=True the message is an Event (inbox by event_id) and
        `model` validates event.data; with envelope=False `model` validates the raw message (inbox by messageId)."""

        def deco(handler: Callable[..., Any]) -> Callable[..., Any]:
            fname = name or handler.__name__
            spec = FunctionSpec(name=fname, service=self.name, trigger="pubsub", topic=topic, envelope=envelope,
                                message_model=model, retry=retry)
            return self._event_entry(spec, handler)

        return deco

    def scheduled(self, job: Job, *, name: str | None = None):
        """A function fired by a Cloud Scheduler job (through its topic); handler(uow, as_of: date)."""
        declare_job(job)

        def deco(handler: Callable[..., Any]) -> Callable[..., Any]:
            fname = name or handler.__name__
            spec = FunctionSpec(name=fname, service=self.name, trigger="schedule", topic=job.topic, job=job.name,
                                envelope=False)
            return self._event_entry(spec, handler)

        return deco

    def on_document(self, document: str, *, event: str = "written", name: str | None = None):
        """A Firestore-triggered function on `document` (e.g. "users/{uid}"); handler(uow, change, params)."""
        if event not in ("created", "updated", "deleted", "written"):
            raise RegistryError(f"unknown Firestore event {event!r}")

        def deco(handler: Callable[..., Any]) -> Callable[..., Any]:
            fname = name or handler.__name__
            spec = FunctionSpec(name=fname, service=self.name, trigger="firestore", document=document,
                                document_event=event)
            return self._event_entry(spec, _written_by(handler))

        return deco

    def _event_entry(self, spec: FunctionSpec, handler: Callable[..., Any]) -> Callable[..., Any]:
        from . import entrypoints

        entrypoints.check_environment()
        entrypoints.check_event_handler(spec, handler)
        register(spec)
        return entrypoints.event_entry(spec, handler)


def service_names() -> list[str]:
    return sorted(p.parent.name for p in FUNCTIONS_DIR.glob("*/main.py"))


def load_all() -> dict[str, FunctionSpec]:
    """Import every service's entry module (functions/<service>/main.py) so it declares its functions."""
    for svc in service_names():
        importlib.import_module(f"functions.{svc}.main")
    return REGISTRY


def http_functions() -> list[FunctionSpec]:
    """HTTP functions in routing order: literal paths before parameterised ones, longer before shorter."""
    specs = [s for s in REGISTRY.values() if s.trigger == "http"]
    return sorted(specs, key=lambda s: (s.path.count("{"), -len(s.path.split("/")), s.path))


def route(path: str) -> tuple[FunctionSpec, dict[str, str]] | None:
    for spec in http_functions():
        m = spec.path_regex.match(path)
        if m:
            return spec, m.groupdict()
    return None


def subscribers(topic: str) -> list[FunctionSpec]:
    return [s for s in REGISTRY.values() if s.topic == topic]


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dead-letter"


def topics() -> list[str]:
    """Every topic the platform needs: published event types, subscribed topics, job topics, dead letters."""
    subscribed = {s.topic for s in REGISTRY.values() if s.topic}
    names = set(PUBLISHED) | subscribed | {j.topic for j in JOBS.values()} | {dead_letter_topic(t) for t in subscribed}
    return sorted(names)


def describe_all() -> list[dict[str, Any]]:
    return [REGISTRY[n].describe() for n in sorted(REGISTRY)]
