"""terraform/: every file parses, every reference resolves, the generated registry variables fit the declared
types, least privilege holds (per-topic publishers, one statements writer, no project-wide Pub/Sub role), and
the parts that decide behaviour (per-function environment, push subscriptions with dead-lettering, Firestore
triggers, the migrate job's environment, one region, the Cloud SQL connection budget) are evaluated by the real
terraform CLI; `terraform fmt -check` and checkov run over the whole module.

The Google provider cannot be installed here (no registry access), so `terraform validate` of the whole module
is impossible; locals.tf and guards.tf are written to need no provider, and the CLI tests plan exactly those
files in a scratch copy of the module. Without the terraform CLI these tests fail with a clear message (CI has
terraform 1.11; no skips).
"""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
import tomllib
from pathlib import Path

import hcl2
import pytest
from hcl2 import SerializationOptions

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "terraform"
TFVARS = TF / "registry.auto.tfvars.json"

EXPECTED_FILES = {
    "versions.tf", "variables.tf", "locals.tf", "guards.tf", "main.tf", "functions.tf", "pubsub.tf",
    "scheduler.tf", "sql.tf", "firestore.tf", "iam.tf", "secrets.tf", "outputs.tf", "storage.tf", "migrate.tf",
}
# Files that must stay provider-free: the CLI tests plan them on their own.
PURE_FILES = ("variables.tf", "locals.tf", "guards.tf")
REGISTRY_VARIABLES = {"region", "functions", "topics", "scheduler_jobs", "services", "publishers"}
EXPECTED_ENV = {
    "GOOGLE_CLOUD_PROJECT", "INSTANCE_CONNECTION_NAME", "DB_NAME", "DB_USER", "DB_IAM_AUTH", "DB_IP_TYPE",
    "DB_POOL_SIZE", "DB_MAX_OVERFLOW", "EVENT_MAX_AGE_SECONDS",
}
# Only the statements writer gets the bucket (shared_lib/storage.py).
PAYOUTS_ENV = EXPECTED_ENV | {"STORAGE_BUCKET"}
# The migrate job's environment (shared_lib/config.py settings plus the grants' input), DB_PASS from a secret.
MIGRATE_ENV = {"GOOGLE_CLOUD_PROJECT", "INSTANCE_CONNECTION_NAME", "DB_NAME", "DB_USER", "DB_IAM_AUTH", "DB_IP_TYPE",
               "OM_SERVICE_DB_USERS"}
_OPTS = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)


def _load(path: Path) -> dict:
    with path.open() as fh:
        return hcl2.load(fh, serialization_options=_OPTS)


@pytest.fixture(scope="module")
def parsed() -> dict[str, dict]:
    return {p.name: _load(p) for p in sorted(TF.glob("*.tf"))}


def _blocks(parsed: dict[str, dict], kind: str) -> list[dict]:
    return [b for doc in parsed.values() for b in doc.get(kind, [])]


def _resources(parsed: dict[str, dict], kind: str = "resource") -> dict[tuple[str, str], dict]:
    out: dict[tuple[str, str], dict] = {}
    for block in _blocks(parsed, kind):
        for rtype, named in block.items():
            for name, body in named.items():
                assert (rtype, name) not in out, f"{kind} {rtype}.{name} declared twice"
                out[(rtype, name)] = body
    return out


def _variables(parsed: dict[str, dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for block in _blocks(parsed, "variable"):
        for name, body in block.items():
            assert name not in out, f"variable {name} declared twice"
            out[name] = body
    return out


def _locals(parsed: dict[str, dict]) -> dict[str, object]:
    out: dict[str, object] = {}
    for block in _blocks(parsed, "locals"):
        for name, value in block.items():
            assert name not in out, f"local {name} defined twice"
            out[name] = value
    return out


def _strings(obj) -> list[str]:
    """Every string value (expressions included) in a parsed document, recursively."""
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


def _expressions(parsed: dict[str, dict]) -> list[str]:
    return [s for s in _strings(parsed) if "${" in s]


def _find_key(obj, key: str) -> list:
    """Every value stored under `key` anywhere in a parsed document."""
    found = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                found.append(v)
            found.extend(_find_key(v, key))
    elif isinstance(obj, list):
        for v in obj:
            found.extend(_find_key(v, key))
    return found


# --- parsing -----------------------------------------------------------------------------------------------------


def test_module_has_the_expected_files():
    present = {p.name for p in TF.glob("*.tf")}
    assert EXPECTED_FILES <= present, f"missing: {sorted(EXPECTED_FILES - present)}"


@pytest.mark.parametrize("name", sorted(EXPECTED_FILES))
def test_every_tf_file_parses(name):
    doc = _load(TF / name)
    assert doc, f"{name} parsed to nothing"


def test_the_parser_rejects_broken_hcl():
    """The parse test above means something: a syntax error raises."""
    with pytest.raises(Exception):
        hcl2.loads('resource "google_pubsub_topic" "t" {\n  name = \n}\n')
    with pytest.raises(Exception):
        hcl2.loads("locals {\n  x = merge({a = 1}\n}\n")


def test_versions_pin_terraform_and_the_google_providers(parsed):
    (terraform,) = parsed["versions.tf"]["terraform"]
    assert terraform["required_version"] == ">= 1.6"
    providers = terraform["required_providers"][0] if isinstance(terraform["required_providers"], list) \
        else terraform["required_providers"]
    assert providers["google"]["source"] == "hashicorp/google"
    assert providers["google"]["version"] == "~> 6.0"
    assert providers["google-beta"]["source"] == "hashicorp/google-beta"
    assert providers["google-beta"]["version"] == "~> 6.0"


# --- references ----------------------------------------------------------------------------------------------


def test_every_var_reference_is_declared_and_every_variable_used(parsed):
    declared = set(_variables(parsed))
    referenced = {m for e in _expressions(parsed) for m in re.findall(r"\bvar\.([A-Za-z_][A-Za-z0-9_-]*)", e)}
    assert referenced, "no var.X reference found: the walk is broken"
    assert referenced - declared == set(), f"undeclared variables: {sorted(referenced - declared)}"
    assert declared - referenced == set(), f"declared but never used: {sorted(declared - referenced)}"


def test_every_local_reference_is_defined_and_every_local_used(parsed):
    defined = set(_locals(parsed))
    referenced = {m for e in _expressions(parsed) for m in re.findall(r"\blocal\.([A-Za-z_][A-Za-z0-9_-]*)", e)}
    assert referenced - defined == set(), f"undefined locals: {sorted(referenced - defined)}"
    assert defined - referenced == set(), f"defined but never used: {sorted(defined - referenced)}"


def test_every_resource_and_data_reference_is_declared(parsed):
    resources = _resources(parsed)
    data = _resources(parsed, "data")
    types = {t for t, _ in resources}
    exprs = _expressions(parsed)
    missing = set()
    for e in exprs:
        for rtype, name in re.findall(r"(?<![\w.])((?:google|random|archive)_[a-z0-9_]+|terraform_data)\.([a-z_][a-z0-9_-]*)", e):
            if (rtype, name) not in resources:
                missing.add(f"{rtype}.{name}")
        for rtype, name in re.findall(r"(?<![\w.])data\.([a-z0-9_]+)\.([a-z_][a-z0-9_-]*)", e):
            if (rtype, name) not in data:
                missing.add(f"data.{rtype}.{name}")
    assert "google_cloudfunctions2_function" in types
    assert missing == set(), f"references to undeclared resources: {sorted(missing)}"


def test_provider_free_files_use_no_provider(parsed):
    for name in PURE_FILES:
        exprs = _expressions(parsed[name])
        offenders = [e for e in exprs if re.search(r"(?<![\w.])(google_|random_|archive_|data\.)", e)]
        assert offenders == [], f"{name} must not reference resources or data sources: {offenders[:3]}"
        rtypes = {t for t, _ in _resources({name: parsed[name]})}
        assert rtypes <= {"terraform_data"}, f"{name} declares provider resources: {rtypes}"


# --- the generated registry variables ------------------------------------------------------------------------


def _object_attributes(type_expr: str) -> set[str]:
    inner = type_expr[type_expr.index("object(") :]
    return set(re.findall(r"([a-z_]+)\s*=", inner))


def test_registry_tfvars_match_the_declared_variables(parsed):
    variables = _variables(parsed)
    data = json.loads(TFVARS.read_text())
    assert set(data) == REGISTRY_VARIABLES
    for key in data:
        assert key in variables, f"tfvars key {key} has no variable"
        assert "default" not in variables[key], f"{key} is generated: it must not have a default"
    # Terraform drops object attributes its type does not declare: every key the generator writes is declared.
    fn_attrs = _object_attributes(variables["functions"]["type"])
    job_attrs = _object_attributes(variables["scheduler_jobs"]["type"])
    assert {"name", "service", "entry_point", "trigger", "topic", "dead_letter_topic", "document",
            "document_event", "retry"} <= fn_attrs
    for f in data["functions"]:
        assert set(f) <= fn_attrs, f"function {f['name']}: undeclared keys {set(f) - fn_attrs}"
    for j in data["scheduler_jobs"]:
        assert set(j) <= job_attrs, f"job {j['name']}: undeclared keys {set(j) - job_attrs}"
    assert "list(string)" in variables["topics"]["type"] and "list(string)" in variables["services"]["type"]
    assert variables["region"]["type"] == "string" and isinstance(data["region"], str)
    assert variables["publishers"]["type"] == "${map(list(string))}"
    assert all(isinstance(t, list) for t in data["publishers"].values())


def test_registry_tfvars_are_internally_consistent():
    data = json.loads(TFVARS.read_text())
    topics = set(data["topics"])
    for f in data["functions"]:
        assert f["service"] in data["services"], f
        if f["trigger"] in ("pubsub", "schedule"):
            assert f["topic"] in topics and f["dead_letter_topic"] in topics, f
    for j in data["scheduler_jobs"]:
        assert j["topic"] in topics, j
    assert set(data["publishers"]) <= set(data["services"])
    for service, allowed in data["publishers"].items():
        assert set(allowed) <= topics, (service, set(allowed) - topics)


def test_one_region_from_pyproject_to_hosting_and_terraform(parsed):
    with (ROOT / "pyproject.toml").open("rb") as fh:
        region = tomllib.load(fh)["tool"]["onlymanager"]["region"]
    data = json.loads(TFVARS.read_text())
    assert data["region"] == region
    assert "default" not in _variables(parsed)["region"], "region is generated: no second default in variables.tf"
    http = {f["name"] for f in data["functions"] if f["trigger"] == "http"}
    rewrites = json.loads((ROOT / "firebase.json").read_text())["hosting"]["rewrites"]
    targets = [r["function"] for r in rewrites if "function" in r]
    assert targets, "firebase.json has no function rewrites"
    for t in targets:
        assert t["functionId"] in http, f"rewrite to {t['functionId']}, not an HTTP function of the registry"
        assert t["region"] == region, "Hosting rewrites and terraform disagree on region"
    # Nothing else spells a region: every other mention is var.region (or Firestore's own location).
    literal = [e for e in _strings(parsed) if re.fullmatch(r"(europe|us|asia|australia|me|africa|northamerica|"
                                                           r"southamerica)-[a-z]+[0-9]", e)]
    assert literal == [], literal


def test_hosting_deploys_a_public_folder():
    hosting = json.loads((ROOT / "firebase.json").read_text())["hosting"]
    public = ROOT / hosting["public"]
    assert (public / "index.html").is_file(), "firebase deploy --only hosting needs the public folder"


# --- resources per registry entry ---------------------------------------------------------------------------


def test_for_each_resources_cover_functions_topics_jobs_and_services(parsed):
    res = _resources(parsed)
    data = _resources(parsed, "data")
    loc = _locals(parsed)

    assert res[("google_cloudfunctions2_function", "fn")]["for_each"] == "${local.deployed_functions}"
    assert re.fullmatch(r"\$\{\{for f in var\.functions : f\.name => f\}\}", loc["functions"]), loc["functions"]
    assert loc["deployed_functions"] == "${var.deploy_functions ? local.functions : {}}"

    assert res[("google_pubsub_topic", "topic")]["for_each"] == "${toset(var.topics)}"

    assert res[("google_cloud_scheduler_job", "job")]["for_each"] == "${local.scheduler_jobs}"
    assert re.fullmatch(r"\$\{\{for j in var\.scheduler_jobs : j\.name => j\}\}", loc["scheduler_jobs"])

    assert data[("archive_file", "source")]["for_each"] == "${toset(var.services)}"
    assert res[("google_storage_bucket_object", "source")]["for_each"] == "${toset(var.services)}"
    assert res[("google_service_account", "runtime")]["for_each"] == "${local.service_account_ids}"
    assert res[("google_sql_user", "service")]["for_each"] == "${toset(var.services)}"

    assert res[("google_pubsub_subscription", "dead_letter_inspect")]["for_each"] == "${local.dead_letter_topics}"
    assert res[("google_cloud_run_service_iam_member", "public_invoker")]["for_each"] == "${local.http_functions}"
    assert res[("google_cloud_run_service_iam_member", "events_invoker")]["for_each"] == "${local.firestore_functions}"
    assert res[("google_cloud_run_service_iam_member", "push_invoker")]["for_each"] == "${local.push_functions}"
    assert res[("google_pubsub_subscription", "push")]["for_each"] == "${local.push_subscriptions}"


def test_function_build_and_service_config(parsed):
    fn = _resources(parsed)[("google_cloudfunctions2_function", "fn")]
    (build,) = fn["build_config"]
    assert build["runtime"] == "${var.python_runtime}"
    assert _variables(parsed)["python_runtime"]["default"] == "python311"
    assert build["entry_point"] == "${each.value.entry_point}"
    # Projects created since 2024 give the default Cloud Build account no build roles: ours builds.
    assert build["service_account"] == "${google_service_account.build.id}"
    (source,) = build["source"]
    (storage,) = source["storage_source"]
    assert "google_storage_bucket_object.source[each.value.service]" in storage["object"]
    archive = _resources(parsed, "data")[("archive_file", "source")]
    assert archive["source_dir"] == "${path.module}/../dist/${each.key}"

    (svc,) = fn["service_config"]
    assert svc["max_instance_count"] == "${local.max_instances[each.key]}"
    assert svc["max_instance_request_concurrency"] == "${local.request_concurrency[each.key]}"
    assert svc["available_cpu"] == "${local.function_cpu[each.key]}"
    assert svc["environment_variables"] == "${local.function_env[each.key]}"
    assert svc["ingress_settings"] == '${each.value.trigger == "http" ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY"}'
    public = _resources(parsed)[("google_cloud_run_service_iam_member", "public_invoker")]
    assert public["member"] == "allUsers" and public["role"] == "roles/run.invoker"


def test_only_firestore_functions_have_an_eventarc_trigger(parsed):
    fn = _resources(parsed)[("google_cloudfunctions2_function", "fn")]
    (dyn,) = [d["event_trigger"] for d in fn["dynamic"] if "event_trigger" in d]
    assert dyn["for_each"] == '${each.value.trigger == "firestore" ? [local.event_triggers[each.key]] : []}'
    (content,) = dyn["content"]
    assert content["retry_policy"] == "${event_trigger.value.retry_policy}"
    assert content["event_type"] == "${event_trigger.value.event_type}"
    assert "pubsub_topic" not in content, "Pub/Sub functions are fed by terraform's push subscriptions"
    assert content["service_account_email"] == "${google_service_account.events.email}"
    (filters,) = [d["event_filters"] for d in content["dynamic"] if "event_filters" in d]
    assert filters["for_each"] == "${event_trigger.value.event_filters}"

    triggers = _locals(parsed)["event_triggers"]
    assert "local.firestore_functions" in triggers
    assert 'retry_policy = f.retry ? "RETRY_POLICY_RETRY" : "RETRY_POLICY_DO_NOT_RETRY"' in triggers
    assert '"google.cloud.firestore.document.v1.${f.document_event}"' in triggers
    assert 'operator = "match-path-pattern"' in triggers
    # Topic functions: internal ingress (push from this project), invoked by om-push only.
    (svc,) = fn["service_config"]
    assert svc["ingress_settings"] == '${each.value.trigger == "http" ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY"}'


def test_push_subscriptions_dead_letter_after_max_attempts(parsed):
    res = _resources(parsed)
    sub = res[("google_pubsub_subscription", "push")]
    assert sub["topic"] == "${google_pubsub_topic.topic[each.value.topic].id}"
    (push,) = sub["push_config"]
    assert push["push_endpoint"] == "${google_cloudfunctions2_function.fn[each.key].service_config[0].uri}"
    (oidc,) = push["oidc_token"]
    assert oidc["service_account_email"] == "${google_service_account.push.email}"
    assert oidc["audience"] == push["push_endpoint"]
    (retry,) = sub["retry_policy"]
    assert retry == {"minimum_backoff": "${each.value.minimum_backoff}", "maximum_backoff": "${each.value.maximum_backoff}"}
    (dlp,) = sub["dead_letter_policy"]
    assert dlp["dead_letter_topic"] == "${google_pubsub_topic.topic[each.value.dead_letter_topic].id}"
    assert dlp["max_delivery_attempts"] == "${each.value.max_delivery_attempts}"
    variables = _variables(parsed)
    assert variables["max_delivery_attempts"]["default"] == 10
    assert (variables["retry_minimum_backoff"]["default"], variables["retry_maximum_backoff"]["default"]) == ("10s", "600s")

    # Dead-lettering needs the Pub/Sub service agent: publisher on the dead-letter topic, subscriber on the source.
    agent = "serviceAccount:${google_project_service_identity.pubsub.email}"
    pub = res[("google_pubsub_topic_iam_member", "dead_letter_publisher")]
    assert (pub["for_each"], pub["role"], pub["member"]) == (
        "${local.forwarding_dead_letter_topics}", "roles/pubsub.publisher", agent)
    subr = res[("google_pubsub_subscription_iam_member", "dead_letter_subscriber")]
    assert (subr["for_each"], subr["role"], subr["member"]) == (
        "${local.push_subscriptions}", "roles/pubsub.subscriber", agent)
    assert subr["subscription"] == "${google_pubsub_subscription.push[each.key].name}"
    # Pub/Sub mints the OIDC tokens as om-push.
    creator = res[("google_service_account_iam_member", "pubsub_token_creator")]
    assert creator["member"] == agent and creator["role"] == "roles/iam.serviceAccountTokenCreator"
    assert "${google_service_account.push.name}" in json.dumps(creator["for_each"])
    # The push invoker is the only non-public invoker of topic functions.
    invoker = res[("google_cloud_run_service_iam_member", "push_invoker")]
    assert invoker["member"] == "serviceAccount:${google_service_account.push.email}"


def test_no_project_wide_pubsub_role_and_publishers_per_topic(parsed):
    res = _resources(parsed)
    project_roles = [b["role"] for (t, _), b in res.items() if t == "google_project_iam_member"]
    project_roles += [r for r in _find_key(_locals(parsed), "base_service_roles")]
    text = json.dumps(project_roles) + json.dumps(_locals(parsed)["extra_service_roles"]) + \
        json.dumps(_locals(parsed)["build_roles"])
    assert "pubsub" not in text, f"a project-level Pub/Sub role: {text}"
    pub = res[("google_pubsub_topic_iam_member", "service_publisher")]
    assert pub["for_each"] == "${local.topic_publisher_bindings}"
    assert pub["topic"] == "${google_pubsub_topic.topic[each.value.topic].name}"
    bindings = _locals(parsed)["topic_publisher_bindings"]
    assert "var.publishers" in bindings and "setproduct" not in bindings
    # The generated list: a service publishes what it declares, not another service's event types.
    data = json.loads(TFVARS.read_text())
    income = set(data["publishers"]["income"])
    assert "income.registered" in income and "expense.recorded" not in income
    assert not any(t == "income.registered" for s, ts in data["publishers"].items() if s not in ("income", "eventing")
                   for t in ts), "only income (and the outbox relay) may publish income.registered"


def test_statements_bucket_is_private_and_written_by_payouts_only(parsed):
    res = _resources(parsed)
    bucket = res[("google_storage_bucket", "statements")]
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert bucket["location"] == "${var.region}"
    storage_bindings = {k: b for k, b in res.items() if k[0].startswith("google_storage_bucket_iam")}
    on_statements = {k: b for k, b in storage_bindings.items() if "statements" in b["bucket"]}
    assert list(on_statements) == [("google_storage_bucket_iam_member", "statements_writer")]
    writer = on_statements[("google_storage_bucket_iam_member", "statements_writer")]
    assert writer["member"] == "serviceAccount:${google_service_account.runtime[local.statements_service].email}"
    assert _locals(parsed)["statements_service"] == "payouts"
    # No project-wide storage role could reach it, except the build reader, which excludes it by condition.
    project_storage = {k: b for k, b in res.items() if k[0] == "google_project_iam_member" and "storage" in b["role"]}
    assert list(project_storage) == [("google_project_iam_member", "build_source_reader")]
    (cond,) = project_storage[("google_project_iam_member", "build_source_reader")]["condition"]
    assert cond["expression"] == '!resource.name.startsWith("projects/_/buckets/${local.statements_bucket}")'
    assert project_storage[("google_project_iam_member", "build_source_reader")]["role"] == "roles/storage.objectViewer"


def test_migrate_job_runs_the_migrate_command_as_the_admin(parsed):
    res = _resources(parsed)
    job = res[("google_cloud_run_v2_job", "migrate")]
    assert job["count"] == "${var.migrate_image == null ? 0 : 1}"
    assert job["location"] == "${var.region}"
    (outer,) = job["template"]
    assert (outer["task_count"], outer["parallelism"]) == (1, 1)
    (tmpl,) = outer["template"]
    assert tmpl["service_account"] == "${google_service_account.migrate.email}"
    (container,) = tmpl["containers"]
    assert container["image"] == "${var.migrate_image}"
    (env_dyn,) = [d["env"] for d in container["dynamic"] if "env" in d]
    assert env_dyn["for_each"] == "${local.migrate_env}"
    (secret_env,) = container["env"]
    assert secret_env["name"] == "DB_PASS"
    (ref,) = secret_env["value_source"][0]["secret_key_ref"]
    assert ref["secret"] == "${google_secret_manager_secret.db_admin_password.secret_id}"
    assert set(_locals(parsed)["migrate_env"]) == MIGRATE_ENV
    # The admin identity: Cloud SQL client and the admin password, nothing more.
    roles = {(t, b["role"]) for (t, _), b in res.items() if "migrate" in json.dumps(b.get("member", ""))}
    assert roles == {("google_project_iam_member", "roles/cloudsql.client"),
                     ("google_secret_manager_secret_iam_member", "roles/secretmanager.secretAccessor")}
    # One IAM database user per runtime account, which the job grants its group role.
    user = res[("google_sql_user", "service")]
    assert (user["type"], user["name"]) == ("CLOUD_IAM_SERVICE_ACCOUNT", "${local.db_iam_users[each.key]}")


def test_build_account_has_the_roles_a_build_needs(parsed):
    res = _resources(parsed)
    assert _locals(parsed)["build_roles"] == ["roles/logging.logWriter", "roles/artifactregistry.writer"]
    build = res[("google_project_iam_member", "build")]
    assert build["for_each"] == "${toset(local.build_roles)}"
    assert build["member"] == "serviceAccount:${google_service_account.build.email}"
    repo_writer = res[("google_artifact_registry_repository_iam_member", "build_writer")]
    assert repo_writer["member"] == build["member"]


def test_no_environment_carries_an_emulator_host(parsed):
    env_values = []
    for key in ("environment_variables", "secret_environment_variables"):
        env_values.extend(_find_key(_blocks(parsed, "resource"), key))
    assert env_values, "no environment block found"
    for env in env_values:
        text = json.dumps(env)
        assert "EMULATOR" not in text.upper(), env
        assert env == "${local.function_env[each.key]}", f"functions take their environment from locals: {env}"
    function_env = _locals(parsed)["function_env"]
    assert "EMULATOR" not in function_env.upper() and "EMULATOR" not in json.dumps(_locals(parsed)["migrate_env"])
    keys = set(re.findall(r"\b([A-Z][A-Z0-9_]+)\s*=", function_env))
    assert keys == PAYOUTS_ENV, keys
    assert 'DB_IAM_AUTH = "true"' in function_env
    # extra_environment is validated against emulator hosts.
    conditions = " ".join(v["condition"] for v in _variables(parsed)["extra_environment"]["validation"])
    assert "_EMULATOR_HOST" in conditions


def test_environment_names_are_settings_the_code_reads():
    config = (ROOT / "shared_lib" / "config.py").read_text()
    aliases = set(re.findall(r'validation_alias="([A-Z0-9_]+)"', config))
    wanted = PAYOUTS_ENV | (MIGRATE_ENV - {"OM_SERVICE_DB_USERS"}) | {"DB_PASS"}
    assert wanted <= aliases, f"not read by shared_lib/config.py: {sorted(wanted - aliases)}"


def test_scheduler_jobs_publish_as_of_null(parsed):
    job = _resources(parsed)[("google_cloud_scheduler_job", "job")]
    (target,) = job["pubsub_target"]
    assert target["data"] == "${local.scheduler_payload}"
    assert target["topic_name"] == "${google_pubsub_topic.topic[each.value.topic].id}"
    assert job["schedule"] == "${each.value.schedule}" and job["time_zone"] == "${each.value.time_zone}"
    assert _locals(parsed)["scheduler_payload"] == "${base64encode(jsonencode({as_of = null}))}"


def test_dead_letter_subscriptions_keep_seven_days(parsed):
    sub = _resources(parsed)[("google_pubsub_subscription", "dead_letter_inspect")]
    assert sub["message_retention_duration"] == "604800s"
    assert sub["topic"] == "${google_pubsub_topic.topic[each.key].id}"


def test_firestore_rules_are_guarded_by_fileexists(parsed):
    loc = _locals(parsed)
    assert loc["firestore_rules_path"] == "${path.module}/../firestore.rules"
    assert loc["firestore_rules"] == "${fileexists(local.firestore_rules_path) ? file(local.firestore_rules_path) : null}"
    res = _resources(parsed)
    for key in (("google_firebaserules_ruleset", "firestore"), ("google_firebaserules_release", "firestore")):
        assert res[key]["count"] == "${local.firestore_rules == null ? 0 : 1}"


def test_cloud_sql_is_postgres_15_with_iam_auth_and_the_budget_ceiling(parsed):
    inst = _resources(parsed)[("google_sql_database_instance", "main")]
    assert inst["database_version"] == "POSTGRES_15"
    (settings,) = inst["settings"]
    flags = {f["name"]: f["value"] for f in settings["database_flags"]}
    assert flags["cloudsql.iam_authentication"] == "on"
    assert flags["max_connections"] == "${tostring(var.db_max_connections)}"
    user = _resources(parsed)[("google_sql_user", "service")]
    assert user["type"] == "CLOUD_IAM_SERVICE_ACCOUNT"


# --- the real terraform CLI on the provider-free part --------------------------------------------------------

TERRAFORM = shutil.which("terraform")


def _terraform() -> str:
    """The CLI, or a failure that says what cannot run (never a skip: CI=true forbids skips)."""
    if TERRAFORM is None:
        pytest.fail("terraform CLI not found on PATH: cannot run `terraform fmt -check` or the provider-free plan "
                    "checks; install terraform >= 1.6 (CI's machine image has 1.11 at /usr/local/bin/terraform)")
    return TERRAFORM


PROBE = """
output "probe" {
  value = {
    functions          = keys(local.functions)
    deployed           = keys(local.deployed_functions)
    http_functions     = keys(local.http_functions)
    push_functions     = keys(local.push_functions)
    event_triggers     = local.event_triggers
    push_subscriptions = local.push_subscriptions
    forwarding         = local.forwarding_dead_letter_topics
    publisher_bindings = local.topic_publisher_bindings
    function_env       = local.function_env
    migrate_env        = local.migrate_env
    max_instances      = local.max_instances
    concurrency        = local.request_concurrency
    cpu                = local.function_cpu
    scheduler_payload  = local.scheduler_payload
    dead_letter        = local.dead_letter_topics
    service_roles      = local.service_roles
    hosting_regions    = local.hosting_regions
    needed             = local.db_connections_needed
    available          = local.db_connections_available
    firestore_rules    = local.firestore_rules
  }
}
"""

SYNTHETIC = {
    "functions": [
        {"name": "api-http", "service": "users", "entry_point": "api_http", "trigger": "http", "retry": True},
        {"name": "on-thing", "service": "payouts", "entry_point": "on_thing", "trigger": "pubsub",
         "topic": "thing.happened", "dead_letter_topic": "thing.happened.dead-letter", "retry": True},
        {"name": "fire-and-forget", "service": "stats", "entry_point": "fire_and_forget", "trigger": "pubsub",
         "topic": "thing.happened", "dead_letter_topic": "thing.happened.dead-letter", "retry": False},
        {"name": "nightly", "service": "eventing", "entry_point": "nightly", "trigger": "schedule",
         "topic": "nightly.run", "dead_letter_topic": "nightly.run.dead-letter", "retry": True},
        {"name": "time-event", "service": "timetracking", "entry_point": "time_event", "trigger": "firestore",
         "document": "agencies/{agencyId}/time_events/{eventId}", "document_event": "created", "retry": True},
        {"name": "profile-sync", "service": "users", "entry_point": "profile_sync", "trigger": "firestore",
         "document": "users/{uid}", "document_event": "written", "retry": False},
    ],
    "topics": ["nightly.run", "nightly.run.dead-letter", "thing.happened", "thing.happened.dead-letter"],
    "scheduler_jobs": [{"name": "nightly", "topic": "nightly.run", "schedule": "0 3 * * *",
                        "time_zone": "Europe/Berlin", "description": "nightly"}],
    "services": ["eventing", "payouts", "stats", "timetracking", "users"],
    "region": "europe-west1",
    "publishers": {"users": ["thing.happened"], "payouts": ["thing.happened.dead-letter"],
                   "stats": ["thing.happened.dead-letter"], "eventing": ["nightly.run.dead-letter", "thing.happened"],
                   "timetracking": []},
}
SYNTHETIC_FIREBASE = {"hosting": {"public": "public", "rewrites": [
    {"regex": "^/api/http/?$", "function": {"functionId": "api-http", "region": "europe-west1"}}]}}


def _tf_env(tmp: Path) -> dict[str, str]:
    cfg = tmp / "terraformrc"
    cfg.write_text("")
    env = dict(os.environ)
    env.update(CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1", TF_INPUT="0", TF_CLI_CONFIG_FILE=str(cfg),
               TF_DATA_DIR=str(tmp / ".terraform-data"))
    for k in [k for k in env if k.startswith("TF_VAR_")]:
        del env[k]
    return env


class Scratch:
    """A copy of the provider-free files with one tfvars file, planned by the real terraform."""

    def __init__(self, tmp: Path, tfvars: dict, firebase: dict | None = None):
        self.terraform = _terraform()
        self.dir = tmp / "terraform"
        self.dir.mkdir(parents=True)
        for name in PURE_FILES:
            shutil.copy2(TF / name, self.dir / name)
        (self.dir / "probe.tf").write_text(PROBE)
        (self.dir / "registry.auto.tfvars.json").write_text(json.dumps(tfvars))
        # locals.tf reads ../firebase.json (the Hosting rewrites' region).
        (tmp / "firebase.json").write_text(json.dumps(SYNTHETIC_FIREBASE if firebase is None else firebase))
        self.env = _tf_env(tmp)
        init = self.run("init", "-backend=false", "-no-color")
        assert init.returncode == 0, init.stdout + init.stderr

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([self.terraform, *args], cwd=self.dir, env=self.env, capture_output=True, text=True,
                              timeout=120)

    def plan(self, *var_args: str) -> subprocess.CompletedProcess:
        return self.run("plan", "-no-color", "-input=false", "-lock=false", "-out=plan.bin",
                        "-var", "project_id=demo-project", *var_args)

    def probe(self, *var_args: str) -> dict:
        plan = self.plan(*var_args)
        assert plan.returncode == 0, plan.stdout + plan.stderr
        show = self.run("show", "-json", "plan.bin")
        assert show.returncode == 0, show.stderr
        return json.loads(show.stdout)["planned_values"]["outputs"]["probe"]["value"]


def test_terraform_fmt_is_clean():
    tmp_env = dict(os.environ, CHECKPOINT_DISABLE="1", TF_CLI_CONFIG_FILE=os.devnull)
    out = subprocess.run([_terraform(), "fmt", "-check", "-recursive", "-diff", "-no-color", str(TF)],
                         capture_output=True, text=True, env=tmp_env, timeout=60)
    assert out.returncode == 0, f"terraform fmt would change:\n{out.stdout}{out.stderr}"


def test_evaluated_triggers_subscriptions_and_environment(tmp_path):
    s = Scratch(tmp_path, SYNTHETIC)
    v = s.probe("-var", "firestore_location=eur3", "-var", 'extra_environment={OUTBOX_RELAY_BATCH="100"}')
    by_name = {f["name"]: f for f in SYNTHETIC["functions"]}
    assert sorted(v["functions"]) == sorted(by_name) == sorted(v["deployed"])
    assert v["http_functions"] == ["api-http"]

    # Firestore functions: Eventarc, with the registry's retry policy, in the database's location.
    triggers = v["event_triggers"]
    assert set(triggers) == {"time-event", "profile-sync"}
    for name, t in triggers.items():
        f = by_name[name]
        assert t["retry_policy"] == ("RETRY_POLICY_RETRY" if f["retry"] else "RETRY_POLICY_DO_NOT_RETRY"), name
        assert t["event_type"] == f"google.cloud.firestore.document.v1.{f['document_event']}"
        assert t["trigger_region"] == "eur3"
        assert t["event_filters"] == [
            {"attribute": "database", "value": "(default)", "operator": None},
            {"attribute": "document", "value": f["document"], "operator": "match-path-pattern"},
        ]

    # Pub/Sub and schedule functions: one push subscription each, dead-lettering after 10 deliveries.
    assert sorted(v["push_functions"]) == ["fire-and-forget", "nightly", "on-thing"]
    assert v["push_subscriptions"] == {
        name: {"topic": by_name[name]["topic"], "dead_letter_topic": by_name[name]["dead_letter_topic"],
               "max_delivery_attempts": 10, "minimum_backoff": "10s", "maximum_backoff": "600s",
               "ack_deadline_seconds": 300}
        for name in ("fire-and-forget", "nightly", "on-thing")}
    assert sorted(v["forwarding"]) == ["nightly.run.dead-letter", "thing.happened.dead-letter"]

    # Publishing: exactly the generated list, per service and topic.
    assert sorted(v["publisher_bindings"]) == sorted(
        f"{svc}/{t}" for svc, ts in SYNTHETIC["publishers"].items() for t in ts)

    for name, env in v["function_env"].items():
        service = by_name[name]["service"]
        expected_keys = PAYOUTS_ENV if service == "payouts" else EXPECTED_ENV
        assert set(env) == expected_keys | {"OUTBOX_RELAY_BATCH"}, name
        assert not any("EMULATOR" in k.upper() for k in env), name
        assert env["DB_USER"] == f"om-{service}@demo-project.iam"
        assert env["DB_IAM_AUTH"] == "true"
        assert env["DB_IP_TYPE"] == "PUBLIC"
        assert env["INSTANCE_CONNECTION_NAME"] == "demo-project:europe-west1:onlymanager-pg"
        assert env["GOOGLE_CLOUD_PROJECT"] == "demo-project"
        assert (env["DB_POOL_SIZE"], env["DB_MAX_OVERFLOW"]) == ("1", "1")
        assert env["EVENT_MAX_AGE_SECONDS"] == "604800"
    assert v["function_env"]["on-thing"]["STORAGE_BUCKET"] == "demo-project-om-statements"

    # The migrate job: admin login, and every service's IAM database user for the grants.
    m = v["migrate_env"]
    assert set(m) == MIGRATE_ENV
    assert (m["DB_USER"], m["DB_IAM_AUTH"], m["DB_NAME"]) == ("om_admin", "false", "onlymanager")
    assert json.loads(m["OM_SERVICE_DB_USERS"]) == {
        svc: f"om-{svc}@demo-project.iam" for svc in SYNTHETIC["services"]}

    assert json.loads(base64.b64decode(v["scheduler_payload"])) == {"as_of": None}
    assert sorted(v["dead_letter"]) == ["nightly.run.dead-letter", "thing.happened.dead-letter"]
    roles = v["service_roles"]
    assert [s for s, r in roles.items() if "roles/firebaseauth.admin" in r] == ["users"]
    assert sorted(s for s, r in roles.items() if "roles/datastore.user" in r) == ["payouts", "stats"]
    for s_, r in roles.items():
        assert {"roles/cloudsql.client", "roles/cloudsql.instanceUser"} <= set(r), s_
        assert not {"roles/owner", "roles/editor", "roles/pubsub.publisher"} & set(r), s_
    assert v["hosting_regions"] == ["europe-west1"]
    ceiling = {"http": 3, "pubsub": 2, "firestore": 2, "schedule": 1}  # the per-trigger defaults
    assert v["needed"] == sum(ceiling[f["trigger"]] for f in by_name.values()) * (1 + 1)
    assert v["firestore_rules"] is None  # no firestore.rules beside the scratch module: plan still works


def test_first_apply_deploys_no_function(tmp_path):
    v = Scratch(tmp_path, SYNTHETIC).probe("-var", "deploy_functions=false")
    assert len(v["functions"]) == 6  # still counted in the connection budget
    assert (v["deployed"], v["push_subscriptions"], v["event_triggers"]) == ([], {}, {})


def test_hosting_and_terraform_must_agree_on_the_region(tmp_path):
    other = json.loads(json.dumps(SYNTHETIC_FIREBASE))
    other["hosting"]["rewrites"][0]["function"]["region"] = "us-central1"
    out = Scratch(tmp_path, SYNTHETIC, firebase=other).plan()
    assert out.returncode != 0
    assert "but the functions deploy to europe-west1" in re.sub(r"\s+", " ", out.stderr + out.stdout)


def test_registry_plans_within_the_connection_budget_with_the_defaults(tmp_path):
    data = json.loads(TFVARS.read_text())
    v = Scratch(tmp_path, data, firebase=json.loads((ROOT / "firebase.json").read_text())).probe()
    assert sorted(v["functions"]) == sorted(f["name"] for f in data["functions"])
    for f in data["functions"]:
        if f["trigger"] == "firestore":
            expected = "RETRY_POLICY_RETRY" if f["retry"] else "RETRY_POLICY_DO_NOT_RETRY"
            assert v["event_triggers"][f["name"]]["retry_policy"] == expected, f["name"]
            assert v["event_triggers"][f["name"]]["trigger_region"] == data["region"]  # firestore_location unset
        elif f["trigger"] in ("pubsub", "schedule"):
            assert v["push_subscriptions"][f["name"]]["dead_letter_topic"] == f"{f['topic']}.dead-letter"
    assert v["hosting_regions"] == [data["region"]]
    assert v["needed"] <= v["available"]
    # The registered burst's consumers take 4 deliveries at once (1 vCPU, pool 4 + 1); nothing else does.
    burst = sorted(f["name"] for f in data["functions"] if f.get("topic") == "income.registered")
    assert burst == ["payouts-on-income-registered", "stats-on-income-registered"]
    assert {n for n, c in v["concurrency"].items() if c != 1} == set(burst)
    for name in burst:
        assert (v["concurrency"][name], v["cpu"][name]) == (4, "1")
        assert (v["function_env"][name]["DB_POOL_SIZE"], v["function_env"][name]["DB_MAX_OVERFLOW"]) == ("4", "1")


def test_each_trigger_kind_has_its_own_instance_ceiling(tmp_path):
    """HTTP functions 3 instances, Pub/Sub and Firestore consumers 2, scheduled jobs 1; an override wins."""
    s = Scratch(tmp_path, SYNTHETIC)
    v = s.probe()
    assert v["max_instances"] == {"api-http": 3, "on-thing": 2, "fire-and-forget": 2, "nightly": 1,
                                  "time-event": 2, "profile-sync": 2}
    assert v["needed"] == (3 + 2 + 2 + 1 + 2 + 2) * (1 + 1)
    v = s.probe("-var", "max_instance_count_overrides={nightly=4}", "-var", "event_max_instance_count=3")
    assert v["max_instances"]["nightly"] == 4 and v["max_instances"]["on-thing"] == 3
    assert v["max_instances"]["api-http"] == 3


def test_burst_topics_consumers_serve_several_deliveries_with_a_pool_for_them(tmp_path):
    """A burst topic's Pub/Sub consumers: burst_request_concurrency deliveries per instance, 1 vCPU, pool that
    many + 1, counted in the budget; its Firestore or scheduled functions and every other function unchanged."""
    s = Scratch(tmp_path, SYNTHETIC)
    v = s.probe("-var", 'burst_topics=["thing.happened"]', "-var", "burst_request_concurrency=3")
    assert v["concurrency"] == {"api-http": 1, "on-thing": 3, "fire-and-forget": 3, "nightly": 1, "time-event": 1,
                                "profile-sync": 1}
    assert v["cpu"]["on-thing"] == "1" and v["cpu"]["api-http"] is None
    assert (v["function_env"]["on-thing"]["DB_POOL_SIZE"], v["function_env"]["on-thing"]["DB_MAX_OVERFLOW"]) == ("3", "1")
    assert (v["function_env"]["nightly"]["DB_POOL_SIZE"], v["function_env"]["nightly"]["DB_MAX_OVERFLOW"]) == ("1", "1")
    # on-thing and fire-and-forget: 2 instances x (3 + 1); the other four: their instances x (1 + 1).
    assert v["needed"] == 2 * 2 * (3 + 1) + (3 + 1 + 2 + 2) * (1 + 1)
    # The budget counts the larger pools: at the default concurrency 4, 2 x 2 x (4 + 1) + 16 = 36 needed.
    burst = ["-var", 'burst_topics=["thing.happened"]', "-var", "db_reserved_connections=9"]
    ok = s.plan(*burst, "-var", "db_max_connections=45")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    over = s.plan(*burst, "-var", "db_max_connections=44")
    assert over.returncode != 0 and "connection budget exceeded" in over.stderr + over.stdout
    bad = s.plan("-var", "burst_request_concurrency=5")
    assert bad.returncode != 0 and "from 1 to 4" in re.sub(r"\s+", " ", bad.stderr + bad.stdout)


def test_connection_budget_is_enforced_at_the_boundary(tmp_path):
    s = Scratch(tmp_path, SYNTHETIC)  # 6 functions
    # 6 functions x 5 instances x (2 + 2) = 120 connections; available = max_connections - 20 reserved.
    common = ["-var", "max_instance_count=5", "-var", "event_max_instance_count=5", "-var",
              "schedule_max_instance_count=5", "-var", "db_pool_size=2", "-var", "db_max_overflow=2",
              "-var", "db_reserved_connections=20"]
    ok = s.plan(*common, "-var", "db_max_connections=140")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    over = s.plan(*common, "-var", "db_max_connections=139")
    assert over.returncode != 0
    assert "connection budget exceeded" in over.stderr + over.stdout
    # Overrides count as well.
    over = s.plan(*common, "-var", "db_max_connections=140", "-var", "max_instance_count_overrides={nightly=6}")
    assert over.returncode != 0
    assert "connection budget exceeded" in over.stderr + over.stdout
    unknown = s.plan("-var", "max_instance_count_overrides={no-such-function=2}")
    assert unknown.returncode != 0 and "unknown functions" in unknown.stderr + unknown.stdout


@pytest.mark.parametrize("args, message", [
    (["-var", 'extra_environment={FIREBASE_AUTH_EMULATOR_HOST="127.0.0.1:9099"}'], "_EMULATOR_HOST"),
    (["-var", "db_ip_type=PRIVATE"], "needs private_network"),
    (["-var", "db_ip_type=INTERNAL"], "PRIVATE or PUBLIC"),
    (["-var", "python_runtime=python312"], "python311"),
    (["-var", "db_pool_size=3", "-var", "db_max_overflow=3"], "at most 5 per instance"),
    (["-var", "max_delivery_attempts=4"], "between 5 and 100"),
    (["-var", "retry_minimum_backoff=700s"], "at most 600s"),
    (["-var", "retry_minimum_backoff=60s", "-var", "retry_maximum_backoff=30s"], "must not exceed"),
    (["-var", "migrate_image=europe-west1-docker.pkg.dev/p/om-images/migrate:1", "-var", "db_admin_user_enabled=false"],
     "needs db_admin_user_enabled"),
])
def test_invalid_settings_fail_the_plan(tmp_path, args, message):
    out = Scratch(tmp_path, SYNTHETIC).plan(*args)
    assert out.returncode != 0
    assert message in re.sub(r"\s+", " ", out.stderr + out.stdout)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["functions"].append(dict(d["functions"][1], name="stray", topic="no.such.topic")),
     "must be listed in topics"),
    (lambda d: d["functions"].append(dict(d["functions"][0], name="orphan", service="nowhere")),
     "must be listed in services"),
    (lambda d: d["functions"].append(dict(d["functions"][0], name="Bad_Name")), "Cloud Run service names"),
    (lambda d: d["functions"].append({"name": "doc", "service": "users", "entry_point": "doc",
                                      "trigger": "firestore", "document": "x/{y}", "retry": True}),
     "document_event"),
    (lambda d: d["publishers"].update(users=["no.such.topic"]), "publishers names topics"),
    (lambda d: d["publishers"].update(nowhere=[]), "publishers names services"),
])
def test_inconsistent_registry_fails_the_plan(tmp_path, mutate, message):
    data = json.loads(json.dumps(SYNTHETIC))
    mutate(data)
    out = Scratch(tmp_path, data).plan()
    assert out.returncode != 0
    assert message in re.sub(r"\s+", " ", out.stderr + out.stdout)


# --- checkov (PyPI, its own virtualenv: emulator/tools.sh) --------------------------------------------------


def test_checkov_passes_with_every_skip_justified_in_place():
    """checkov over terraform/: no failed check, and every skipped one carries its reason in a
    `#checkov:skip=ID:reason` comment inside the resource. First run installs checkov (~30 s), then ~10-20 s."""
    started = time.monotonic()
    out = subprocess.run([str(ROOT / "emulator" / "tools.sh"), "checkov", "-d", str(TF), "--framework", "terraform",
                          "-o", "json"], capture_output=True, text=True, timeout=600,
                         env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"))
    elapsed = time.monotonic() - started
    assert out.stdout.strip().startswith("{"), f"checkov did not run ({elapsed:.0f} s):\n{out.stderr[-3000:]}"
    report = json.loads(out.stdout)
    failed = [(c["check_id"], c["resource"], c["check_name"]) for c in report["results"]["failed_checks"]]
    assert failed == [], f"checkov failed checks: {failed}"
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] > 0 and report["summary"]["resource_count"] > 50
    skipped = report["results"]["skipped_checks"]
    assert skipped, "the skips in terraform/ were not seen"
    for c in skipped:
        reason = (c["check_result"].get("suppress_comment") or "").strip()
        assert len(reason) > 20, f"{c['check_id']} on {c['resource']} skipped without a reason"
    assert out.returncode == 0, out.stderr[-2000:]


def test_migrate_image_build_runs_the_migrate_command_and_logs_to_cloud_logging_only():
    import yaml

    build = yaml.safe_load((TF / "migrate.cloudbuild.yaml").read_text())
    (step,) = build["steps"]
    assert (step["name"], step["entrypoint"], step["args"][:2]) == ("gcr.io/k8s-skaffold/pack", "pack",
                                                                    ["build", "${_IMAGE}"])
    assert "--env=GOOGLE_ENTRYPOINT=python -m shared_lib.migrate" in step["args"]
    assert "--env=GOOGLE_PYTHON_VERSION=3.11.x" in step["args"] and "--publish" in step["args"]
    # om-build may write logs but create no bucket: a logs bucket would fail the build.
    assert build["options"]["logging"] == "CLOUD_LOGGING_ONLY"
    assert (ROOT / "shared_lib" / "migrate.py").is_file()
