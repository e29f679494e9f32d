"""The OpenAPI document says what each operation takes and gives: valid examples, its 409 types, headers, files."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from emulator import examples as ex
from shared_lib import registry

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def doc():
    from emulator.openapi_doc import document

    registry.load_all()
    return document()


def _operations():
    registry.load_all()
    return [(spec, op) for spec in registry.http_functions() for op in spec.operations.values()]


def _body_models() -> dict[str, type]:
    return {ex.key(op.request): op.request for _, op in _operations() if op.request is not None}


@pytest.mark.parametrize("name", sorted(ex.EXAMPLES))
def test_every_example_is_valid_for_its_request_model(name):
    models = _body_models()
    assert name in models, f"{name} is no request body of any operation: drop it from emulator/examples.py"
    assert ex.EXAMPLES[name]
    for example in ex.EXAMPLES[name]:
        models[name].model_validate(example)


def test_every_operation_with_a_body_shows_an_example(doc):
    missing = []
    for path, item in doc["paths"].items():
        for method, o in item.items():
            if "requestBody" not in o:
                continue
            name = o["requestBody"]["$ref"].rsplit("/", 1)[1]
            media = doc["components"]["requestBodies"][name]["content"]["application/json"]
            if "example" not in media or not media["schema"].get("examples"):
                missing.append(f"{method.upper()} {path}")
    assert missing == [], "add them to emulator/examples.py"


def test_request_fields_with_a_default_are_optional(doc):
    body = doc["components"]["requestBodies"]["IncomeRegister"]
    schema = body["content"]["application/json"]["schema"]
    assert body["required"] is True
    assert sorted(schema["required"]) == ["gross_amount", "sale_date", "type"]
    assert schema["properties"]["model_id"]["anyOf"] == [{"type": "string", "format": "uuid"}, {"type": "null"}]
    agency = doc["components"]["requestBodies"]["AgencyCreate"]["content"]["application/json"]["schema"]
    assert agency["required"] == ["name"] and agency["properties"]["currency"]["default"] == "USD"
    # Check-in with every field defaulted may be sent without a body at all.
    assert doc["components"]["requestBodies"]["ClockCommand"]["required"] is False
    assert "IncomeRegister" not in doc["components"]["schemas"]  # one definition, in requestBodies


def test_409_only_where_the_operation_can_conflict_with_its_types(doc):
    for spec, op in _operations():
        o = doc["paths"][spec.path][op.method.lower()]
        expected = list(op.conflicts) + (["idempotency-in-flight"] if op.idempotent else [])
        if not expected:
            assert "409" not in o["responses"], f"{op.method} {spec.path}"
            continue
        listed = o["responses"]["409"]["content"]["application/problem+json"]["examples"]
        assert sorted(listed) == sorted(expected), f"{op.method} {spec.path}"
    close = doc["paths"]["/api/financials/periods/{period}/close/"]["post"]["responses"]["409"]
    assert "period-not-ended" in close["description"] and "previous-period-open" in close["description"]
    register = doc["paths"]["/api/income/register/"]["post"]["responses"]["409"]["content"]
    assert register["application/problem+json"]["examples"]["period-closed"]["value"]["type"] == \
        "https://onlymanager.app/problems/period-closed"


def _conflict_slugs(text: str) -> set[str]:
    """The slug= of every `Conflict(...)` call in a module's source (the call read up to its closing paren)."""
    slugs = set()
    for m in re.finditer(r"\bConflict\(", text):
        depth, i = 1, m.end()
        while depth and i < len(text):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        slugs |= set(re.findall(r'slug="([a-z0-9-]+)"', text[m.end():i]))
    return slugs


def test_every_conflict_the_code_raises_is_declared_on_an_operation():
    declared = {c for _, op in _operations() for c in op.conflicts}
    raised = set()
    for path in (ROOT / "functions").rglob("*.py"):
        text = path.read_text()
        raised |= _conflict_slugs(text)
        if "ensure_open(" in text:
            raised.add("period-closed")
    assert {"shift-overlap", "open-check-in", "period-closed", "last-owner"} <= raised, "the scan finds the raises"
    assert raised - declared == set(), "declare them with conflicts= on the operations that raise them"


def test_idempotent_operations_take_the_key_and_say_when_they_replay(doc):
    for spec, op in _operations():
        o = doc["paths"][spec.path][op.method.lower()]
        params = [p.get("$ref") for p in o.get("parameters", [])]
        headers = o["responses"][str(op.status)].get("headers", {})
        if op.idempotent:
            assert "#/components/parameters/IdempotencyKey" in params, spec.path
            assert "Idempotent-Replayed" in headers and "422" in o["responses"], spec.path
        else:
            assert "Idempotent-Replayed" not in headers and "422" not in o["responses"], spec.path
    replayed = doc["paths"]["/api/income/register/"]["post"]["responses"]["201"]["headers"]["Idempotent-Replayed"]
    assert replayed["required"] is False  # only a replay carries it
    key = doc["components"]["parameters"]["IdempotencyKey"]
    assert (key["in"], key["name"], key["schema"]["maxLength"]) == ("header", "Idempotency-Key", 255)


def test_error_responses_are_problem_json_by_what_the_operation_does(doc):
    ops = doc["paths"]
    health = ops["/api/health/"]["get"]["responses"]
    assert sorted(health) == ["200", "400", "503"]
    register = ops["/api/income/register/"]["post"]["responses"]
    assert sorted(register) == ["201", "400", "401", "403", "404", "409", "413", "415", "422", "503"]
    summary = ops["/api/stats/summary/"]["get"]["responses"]
    assert sorted(summary) == ["200", "400", "401", "403", "503"]  # nothing is looked up by id
    me = ops["/api/me/"]["get"]["responses"]
    assert "403" not in me and "404" not in me  # any signed-in user, member or not
    for name, response in doc["components"]["responses"].items():
        assert response["content"] == {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    assert "Retry-After" in doc["components"]["responses"]["Unavailable"]["headers"]


@pytest.mark.parametrize("path", ["/api/financials/payouts/{user_id}/statement/",
                                  "/api/financials/model-payouts/{model_id}/statement/"])
def test_statements_are_csv_or_pdf(doc, path):
    ok = doc["paths"][path]["get"]["responses"]["200"]
    assert sorted(ok["content"]) == ["application/pdf", "text/csv"]
    assert ok["content"]["application/pdf"]["schema"]["format"] == "binary"
    assert "Content-Disposition" in ok["headers"]


def test_a_json_operation_without_a_response_model_is_a_file_or_empty(doc):
    for path, item in doc["paths"].items():
        for method, o in item.items():
            ok = next(v for k, v in o["responses"].items() if k.startswith("2"))
            assert "content" in ok or ok["description"] == "No content", f"{method.upper()} {path}"


def test_the_yaml_has_no_anchors_or_aliases():
    from emulator.artifacts import rendered

    text = rendered()[ROOT / "openapi.yaml"]
    assert "&id0" not in text and "*id0" not in text
