"""The function registry: global names, routing as the Hosting rewrites, declared artifacts."""
from __future__ import annotations

import pytest

from shared_lib import registry
from shared_lib.entrypoints import event_arguments
from shared_lib.registry import RegistryError, Service, path_regex


def test_path_regex_accepts_the_path_with_and_without_trailing_slash():
    rx = path_regex("/api/models/{model_id}/assignments/")
    assert rx.match("/api/models/abc/assignments/").groupdict() == {"model_id": "abc"}
    assert rx.match("/api/models/abc/assignments")
    assert rx.match("/api/models/abc/def/assignments/") is None
    assert rx.match("/api/models/abc/assignments/x") is None


@pytest.mark.usefixtures("registry_sandbox")
def test_same_function_name_in_two_services_is_refused():
    a, b = Service("svc_a"), Service("svc_b")
    a.http("dup_name_fn", "/api/dup-a/")
    with pytest.raises(RegistryError, match="declared by both"):
        b.http("dup_name_fn", "/api/dup-b/")


@pytest.mark.usefixtures("registry_sandbox")
def test_one_path_one_function():
    a = Service("svc_a")
    a.http("path_one", "/api/same-path/")
    with pytest.raises(RegistryError, match="served by both"):
        a.http("path_two", "/api/same-path/")


@pytest.mark.usefixtures("registry_sandbox")
def test_literal_paths_route_before_parameterised_ones():
    s = Service("svc_route")
    s.http("route_param", "/api/things/{thing_id}/")
    s.http("route_literal", "/api/things/special/")
    assert registry.route("/api/things/special")[0].name == "route_literal"
    spec, params = registry.route("/api/things/42/")
    assert spec.name == "route_param" and params == {"thing_id": "42"}


@pytest.mark.usefixtures("registry_sandbox")
def test_handler_asking_for_an_unknown_argument_is_refused():
    s = Service("svc_args")
    fn = s.http("args_fn", "/api/args/")
    with pytest.raises(RegistryError, match="cannot inject"):
        @fn.get()
        def handler(caller, something_else):
            return None


def test_every_service_declares_through_the_registry():
    registry.load_all()
    described = registry.describe_all()
    assert {d["service"] for d in described} >= {"users", "eventing"}
    health = next(d for d in described if d["name"] == "health")
    assert health == {"name": "health", "deploy_name": "health", "service": "users", "trigger": "http",
                      "entry_point": "health", "path": "/api/health/", "methods": ["GET"], "retry": True}
    relay = next(d for d in described if d["name"] == "outbox_relay")
    assert relay["trigger"] == "schedule" and relay["topic"] == "outbox.relay" and relay["job"] == "outbox-relay"


_EVENT_DECLARATIONS = {
    # trigger kind: (how to declare it, the parameters dispatch injects)
    "pubsub, envelope, model": (lambda s, n: s.on_event("sig.topic", name=n, model=dict),
                                ("uow", "event", "data")),
    "pubsub, envelope": (lambda s, n: s.on_event("sig.topic", name=n), ("uow", "event")),
    "pubsub, raw": (lambda s, n: s.on_event("sig.topic", name=n, envelope=False), ("uow", "message")),
    "schedule": (lambda s, n: s.scheduled(registry.Job("sig-job", "sig.job", "* * * * *"), name=n),
                 ("uow", "as_of")),
    "firestore": (lambda s, n: s.on_document("sig/{doc_id}", name=n), ("uow", "change", "params", "event_id")),
}
_ALL_EVENT_ARGS = ("uow", "event", "data", "message", "as_of", "change", "params", "event_id")


def _handler(params: tuple[str, ...]):
    namespace: dict = {}
    exec(f"def handler({', '.join(params)}):\n    return None\n", namespace)
    return namespace["handler"]


@pytest.mark.usefixtures("registry_sandbox")
@pytest.mark.parametrize("kind", sorted(_EVENT_DECLARATIONS))
def test_event_handler_taking_what_dispatch_injects_is_accepted(kind):
    declare, injected = _EVENT_DECLARATIONS[kind]
    name = "sig_ok_" + kind.replace(", ", "_")
    entry = declare(Service("svc_sig"), name)(_handler(injected))
    assert registry.REGISTRY[name].entry_point is entry
    assert event_arguments(registry.REGISTRY[name]) == frozenset(injected)
    # a handler may take fewer (the outbox relay takes only as_of)
    declare(Service("svc_sig"), name + "_fewer")(_handler(injected[1:]))


@pytest.mark.usefixtures("registry_sandbox")
@pytest.mark.parametrize("kind", sorted(_EVENT_DECLARATIONS))
def test_event_handler_asking_for_what_its_trigger_never_passes_is_refused_at_declaration(kind):
    declare, injected = _EVENT_DECLARATIONS[kind]
    not_injected = [a for a in _ALL_EVENT_ARGS if a not in injected] + ["caller"]
    for i, extra in enumerate(not_injected):
        name = f"sig_bad_{i}"
        with pytest.raises(RegistryError, match=f"cannot inject '{extra}'"):
            declare(Service("svc_sig"), name)(_handler(("uow", extra)))
        assert name not in registry.REGISTRY


@pytest.mark.usefixtures("registry_sandbox")
def test_event_handler_with_positional_only_or_varargs_is_refused():
    s = Service("svc_sig")
    for params in (("uow", "/", "event"), ("*args",), ("**kwargs",)):
        with pytest.raises(RegistryError, match="passable by keyword|cannot inject"):
            s.on_event("sig.topic", name="sig_varargs")(_handler(params))
        assert "sig_varargs" not in registry.REGISTRY


def test_every_declared_event_handler_takes_only_what_dispatch_injects():
    import inspect

    registry.load_all()
    events = [s for s in registry.REGISTRY.values() if s.trigger != "http" and not s.service.startswith("svc_")]
    assert len(events) >= 20
    for spec in events:
        assert set(inspect.signature(spec.entry_point.handler).parameters) <= event_arguments(spec), spec.name
