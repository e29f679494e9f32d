"""The function registry: global names, routing as the Hosting rewrites, declared artifacts."""
from __future__ import annotations

import pytest

from shared_lib import registry
from shared_lib.registry import RegistryError, Service, path_regex


def test_path_regex_accepts_the_path_with_and_without_trailing_slash():
    rx = path_regex("/api/models/{model_id}/assignments/")
    assert rx.match("/api/models/abc/assignments/").groupdict() == {"model_id": "abc"}
    assert rx.match("/api/models/abc/assignments")
    assert rx.match("/api/models/abc/def/assignments/") is None
    assert rx.match("/api/models/abc/assignments/x") is None


def test_same_function_name_in_two_services_is_refused():
    a, b = Service("svc_a"), Service("svc_b")
    a.http("dup_name_fn", "/api/dup-a/")
    try:
        with pytest.raises(RegistryError, match="declared by both"):
            b.http("dup_name_fn", "/api/dup-b/")
    finally:
        registry.REGISTRY.pop("dup_name_fn", None)


def test_one_path_one_function():
    a = Service("svc_a")
    a.http("path_one", "/api/same-path/")
    try:
        with pytest.raises(RegistryError, match="served by both"):
            a.http("path_two", "/api/same-path/")
    finally:
        registry.REGISTRY.pop("path_one", None)


def test_literal_paths_route_before_parameterised_ones():
    s = Service("svc_route")
    s.http("route_param", "/api/things/{thing_id}/")
    s.http("route_literal", "/api/things/special/")
    try:
        assert registry.route("/api/things/special")[0].name == "route_literal"
        spec, params = registry.route("/api/things/42/")
        assert spec.name == "route_param" and params == {"thing_id": "42"}
    finally:
        registry.REGISTRY.pop("route_param", None)
        registry.REGISTRY.pop("route_literal", None)


def test_handler_asking_for_an_unknown_argument_is_refused():
    s = Service("svc_args")
    fn = s.http("args_fn", "/api/args/")
    try:
        with pytest.raises(RegistryError, match="cannot inject"):
            @fn.get()
            def handler(caller, something_else):
                return None
    finally:
        registry.REGISTRY.pop("args_fn", None)


def test_every_service_declares_through_the_registry():
    registry.load_all()
    described = registry.describe_all()
    assert {d["service"] for d in described} >= {"users", "eventing"}
    health = next(d for d in described if d["name"] == "health")
    assert health == {"name": "health", "deploy_name": "health", "service": "users", "trigger": "http",
                      "entry_point": "health", "path": "/api/health/", "methods": ["GET"], "retry": True}
    relay = next(d for d in described if d["name"] == "outbox_relay")
    assert relay["trigger"] == "schedule" and relay["topic"] == "outbox.relay" and relay["job"] == "outbox-relay"
