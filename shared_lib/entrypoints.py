"""The functions-framework adapter: a declared FunctionSpec becomes the entry point Cloud Functions calls.

HTTP entry points hand the request to shared_lib.http.handle, event ones the CloudEvent to shared_lib.eventfn.dispatch;
both inject a handler's arguments by name, so a handler's signature is checked here, at import, against what they pass
(a misspelled parameter would otherwise be a TypeError on every request or delivery). functions_framework and the
pipelines are imported on first declaration, not with this module.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

from .registry import FunctionSpec, RegistryError, path_params

# What shared_lib.http.handle can pass to an HTTP handler, besides the path's {parameters}.
HTTP_ARGUMENTS = frozenset({"caller", "identity", "body", "query", "uow", "request"})


def http_arguments(spec: FunctionSpec, handler: Callable[..., Any]) -> tuple[str, ...]:
    """The handler's parameters (what handle will pass it); RegistryError for one it cannot inject."""
    params = tuple(inspect.signature(handler).parameters)
    unknown = set(params) - path_params(spec.path or "") - HTTP_ARGUMENTS
    if unknown:
        raise RegistryError(f"{handler.__name__}: cannot inject {sorted(unknown)}")
    return params


def event_arguments(spec: FunctionSpec) -> frozenset[str]:
    """What shared_lib.eventfn.dispatch can pass to a handler of `spec`, by keyword."""
    if spec.trigger == "schedule":
        return frozenset({"uow", "as_of"})
    if spec.trigger == "firestore":
        return frozenset({"uow", "change", "params", "event_id"})
    if spec.envelope:
        return frozenset({"uow", "event"} | ({"data"} if spec.message_model is not None else set()))
    return frozenset({"uow", "message"})


def check_event_handler(spec: FunctionSpec, handler: Callable[..., Any]) -> None:
    # Refused here, at import, rather than as a TypeError on every delivery until the message ages out.
    injectable = event_arguments(spec)
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    for p in inspect.signature(handler).parameters.values():
        if p.kind not in keyword:
            raise RegistryError(f"{spec.name}: handler parameter {p.name!r} must be passable by keyword")
        if p.name not in injectable:
            raise RegistryError(f"{spec.name}: cannot inject {p.name!r} into a {spec.trigger} handler "
                                f"(it may take {', '.join(sorted(injectable))})")


def check_environment() -> None:
    """Before any declaration of an entry module: the settings validate (emulator auth is refused on Cloud Run)."""
    from .config import settings

    settings()


def _named(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    # functions-framework records a function by __name__: the registry name, which terraform deploys.
    fn.__name__ = fn.__qualname__ = name
    return fn


def http_entry(spec: FunctionSpec) -> Callable[..., Any]:
    """The entry point of an HTTP function (flask request → response); its methods are declared on `spec`."""
    import functions_framework

    def entry(request):
        from .http import handle

        return handle(spec, request)

    entry = functions_framework.http(_named(spec.name, entry))
    entry.spec = spec
    spec.entry_point = entry
    return entry


def event_entry(spec: FunctionSpec, handler: Callable[..., Any]) -> Callable[..., Any]:
    """The entry point of a Pub/Sub, Scheduler or Firestore function: a CloudEvent dispatched to `handler`."""
    import functions_framework

    def entry(cloud_event):
        from .eventfn import dispatch

        return dispatch(spec, handler, cloud_event)

    entry = functions_framework.cloud_event(_named(spec.name, entry))
    entry.spec = spec
    entry.handler = handler
    spec.entry_point = entry
    return entry
