"""terraform/: every file parses, every reference resolves, the generated registry variables fit the declared
types, and the parts that decide behaviour (per-function environment, event triggers and retry policies, the
scheduler payload, the Cloud SQL connection budget) are evaluated by the real terraform CLI.

The Google provider cannot be installed here (no registry access), so `terraform validate` of the whole module
is impossible; locals.tf and guards.tf are written to need no provider, and the CLI tests plan exactly those
files in a scratch copy of the module.
"""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import hcl2
import pytest
from hcl2 import SerializationOptions

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "terraform"
TFVARS = TF / "registry.auto.tfvars.json"

EXPECTED_FILES = {
    "versions.tf", "variables.tf", "locals.tf", "guards.tf", "main.tf", "functions.tf", "pubsub.tf",
    "scheduler.tf", "sql.tf", "firestore.tf", "iam.tf", "secrets.tf", "outputs.tf",
}
# Files that must stay provider-free: the CLI tests plan them on their own.
PURE_FILES = ("variables.tf", "locals.tf", "guards.tf")
REGISTRY_VARIABLES = {"functions", "topics", "scheduler_jobs", "services"}
EXPECTED_ENV = {
    "GOOGLE_CLOUD_PROJECT", "INSTANCE_CONNECTION_NAME", "DB_NAME", "DB_USER", "DB_IAM_AUTH", "DB_IP_TYPE",
    "DB_POOL_SIZE", "DB_MAX_OVERFLOW", "EVENT_MAX_AGE_SECONDS",
}
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


def test_registry_tfvars_are_internally_consistent():
    data = json.loads(TFVARS.read_text())
    topics = set(data["topics"])
    for f in data["functions"]:
        assert f["service"] in data["services"], f
        if f["trigger"] in ("pubsub", "schedule"):
            assert f["topic"] in topics and f["dead_letter_topic"] in topics, f
    for j in data["scheduler_jobs"]:
        assert j["topic"] in topics, j


def test_firebase_rewrites_point_at_http_functions_in_the_default_region(parsed):
    variables = _variables(parsed)
    data = json.loads(TFVARS.read_text())
    http = {f["name"] for f in data["functions"] if f["trigger"] == "http"}
    rewrites = json.loads((ROOT / "firebase.json").read_text())["hosting"]["rewrites"]
    targets = [r["function"] for r in rewrites if "function" in r]
    assert targets, "firebase.json has no function rewrites"
    for t in targets:
        assert t["functionId"] in http, f"rewrite to {t['functionId']}, not an HTTP function of the registry"
        assert t["region"] == variables["region"]["default"], "Hosting rewrites and terraform disagree on region"


# --- resources per registry entry ---------------------------------------------------------------------------


def test_for_each_resources_cover_functions_topics_jobs_and_services(parsed):
    res = _resources(parsed)
    data = _resources(parsed, "data")
    loc = _locals(parsed)

    assert res[("google_cloudfunctions2_function", "fn")]["for_each"] == "${local.functions}"
    assert re.fullmatch(r"\$\{\{for f in var\.functions : f\.name => f\}\}", loc["functions"]), loc["functions"]

    assert res[("google_pubsub_topic", "topic")]["for_each"] == "${toset(var.topics)}"

    assert res[("google_cloud_scheduler_job", "job")]["for_each"] == "${local.scheduler_jobs}"
    assert re.fullmatch(r"\$\{\{for j in var\.scheduler_jobs : j\.name => j\}\}", loc["scheduler_jobs"])

    assert data[("archive_file", "source")]["for_each"] == "${toset(var.services)}"
    assert res[("google_storage_bucket_object", "source")]["for_each"] == "${toset(var.services)}"
    assert res[("google_service_account", "runtime")]["for_each"] == "${local.service_account_ids}"
    assert res[("google_sql_user", "service")]["for_each"] == "${toset(var.services)}"

    assert res[("google_pubsub_subscription", "dead_letter_inspect")]["for_each"] == "${local.dead_letter_topics}"
    assert res[("google_cloud_run_service_iam_member", "public_invoker")]["for_each"] == "${local.http_functions}"
    assert res[("google_cloud_run_service_iam_member", "events_invoker")]["for_each"] == "${local.event_functions}"


def test_function_build_and_service_config(parsed):
    fn = _resources(parsed)[("google_cloudfunctions2_function", "fn")]
    (build,) = fn["build_config"]
    assert build["runtime"] == "${var.python_runtime}"
    assert _variables(parsed)["python_runtime"]["default"] == "python311"
    assert build["entry_point"] == "${each.value.entry_point}"
    (source,) = build["source"]
    (storage,) = source["storage_source"]
    assert "google_storage_bucket_object.source[each.value.service]" in storage["object"]
    archive = _resources(parsed, "data")[("archive_file", "source")]
    assert archive["source_dir"] == "${path.module}/../dist/${each.key}"

    (svc,) = fn["service_config"]
    assert svc["max_instance_count"] == "${local.max_instances[each.key]}"
    assert svc["max_instance_request_concurrency"] == 1
    assert svc["environment_variables"] == "${local.function_env[each.key]}"
    assert svc["ingress_settings"] == '${each.value.trigger == "http" ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY"}'
    public = _resources(parsed)[("google_cloud_run_service_iam_member", "public_invoker")]
    assert public["member"] == "allUsers" and public["role"] == "roles/run.invoker"


def test_event_trigger_takes_retry_policy_and_type_from_the_registry_entry(parsed):
    fn = _resources(parsed)[("google_cloudfunctions2_function", "fn")]
    (dyn,) = [d["event_trigger"] for d in fn["dynamic"] if "event_trigger" in d]
    assert dyn["for_each"] == '${each.value.trigger == "http" ? [] : [local.event_triggers[each.key]]}'
    (content,) = dyn["content"]
    assert content["retry_policy"] == "${event_trigger.value.retry_policy}"
    assert content["event_type"] == "${event_trigger.value.event_type}"
    assert "google_pubsub_topic.topic[event_trigger.value.topic].id" in content["pubsub_topic"]
    (filters,) = [d["event_filters"] for d in content["dynamic"] if "event_filters" in d]
    assert filters["for_each"] == "${event_trigger.value.event_filters}"

    triggers = _locals(parsed)["event_triggers"]
    assert 'retry_policy = f.retry ? "RETRY_POLICY_RETRY" : "RETRY_POLICY_DO_NOT_RETRY"' in triggers
    assert '"google.cloud.firestore.document.v1.${f.document_event}"' in triggers
    assert 'operator = "match-path-pattern"' in triggers
    assert _locals(parsed)["pubsub_event_type"] == "google.cloud.pubsub.topic.v1.messagePublished"


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
    assert "EMULATOR" not in function_env.upper()
    keys = set(re.findall(r"\b([A-Z][A-Z0-9_]+)\s*=", function_env))
    assert keys == EXPECTED_ENV, keys
    assert 'DB_IAM_AUTH = "true"' in function_env
    # extra_environment is validated against emulator hosts.
    conditions = " ".join(v["condition"] for v in _variables(parsed)["extra_environment"]["validation"])
    assert "_EMULATOR_HOST" in conditions


def test_environment_names_are_settings_the_code_reads():
    config = (ROOT / "shared_lib" / "config.py").read_text()
    aliases = set(re.findall(r'validation_alias="([A-Z0-9_]+)"', config))
    assert EXPECTED_ENV <= aliases, f"not read by shared_lib/config.py: {sorted(EXPECTED_ENV - aliases)}"


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
needs_terraform = pytest.mark.skipif(TERRAFORM is None, reason="terraform CLI not installed")

PROBE = """
output "probe" {
  value = {
    functions         = keys(local.functions)
    event_triggers    = local.event_triggers
    function_env      = local.function_env
    max_instances     = local.max_instances
    scheduler_payload = local.scheduler_payload
    dead_letter       = local.dead_letter_topics
    service_roles     = local.service_roles
    needed            = local.db_connections_needed
    available         = local.db_connections_available
    firestore_rules   = local.firestore_rules
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
}


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

    def __init__(self, tmp: Path, tfvars: dict):
        self.dir = tmp / "terraform"
        self.dir.mkdir(parents=True)
        for name in PURE_FILES:
            shutil.copy2(TF / name, self.dir / name)
        (self.dir / "probe.tf").write_text(PROBE)
        (self.dir / "registry.auto.tfvars.json").write_text(json.dumps(tfvars))
        self.env = _tf_env(tmp)
        init = self.run("init", "-backend=false", "-no-color")
        assert init.returncode == 0, init.stdout + init.stderr

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([TERRAFORM, *args], cwd=self.dir, env=self.env, capture_output=True, text=True,
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


@needs_terraform
def test_terraform_fmt_is_clean():
    tmp_env = dict(os.environ, CHECKPOINT_DISABLE="1", TF_CLI_CONFIG_FILE=os.devnull)
    out = subprocess.run([TERRAFORM, "fmt", "-check", "-diff", "-no-color", str(TF)], capture_output=True,
                         text=True, env=tmp_env, timeout=60)
    assert out.returncode == 0, f"terraform fmt would change:\n{out.stdout}{out.stderr}"


@needs_terraform
def test_evaluated_triggers_retry_and_environment(tmp_path):
    s = Scratch(tmp_path, SYNTHETIC)
    v = s.probe("-var", "firestore_location=eur3", "-var", 'extra_environment={OUTBOX_RELAY_BATCH="100"}')
    by_name = {f["name"]: f for f in SYNTHETIC["functions"]}
    assert sorted(v["functions"]) == sorted(by_name)

    triggers = v["event_triggers"]
    assert set(triggers) == {n for n, f in by_name.items() if f["trigger"] != "http"}
    for name, t in triggers.items():
        f = by_name[name]
        assert t["retry_policy"] == ("RETRY_POLICY_RETRY" if f["retry"] else "RETRY_POLICY_DO_NOT_RETRY"), name
        if f["trigger"] == "firestore":
            assert t["event_type"] == f"google.cloud.firestore.document.v1.{f['document_event']}"
            assert t["topic"] is None
            assert t["trigger_region"] == "eur3"
            assert t["event_filters"] == [
                {"attribute": "database", "value": "(default)", "operator": None},
                {"attribute": "document", "value": f["document"], "operator": "match-path-pattern"},
            ]
        else:
            assert t["event_type"] == "google.cloud.pubsub.topic.v1.messagePublished"
            assert t["topic"] == f["topic"]
            assert t["trigger_region"] == "europe-west1"
            assert t["event_filters"] == []

    for name, env in v["function_env"].items():
        assert set(env) == EXPECTED_ENV | {"OUTBOX_RELAY_BATCH"}, name
        assert not any("EMULATOR" in k.upper() for k in env), name
        assert env["DB_USER"] == f"om-{by_name[name]['service']}@demo-project.iam"
        assert env["DB_IAM_AUTH"] == "true"
        assert env["DB_IP_TYPE"] == "PUBLIC"
        assert env["INSTANCE_CONNECTION_NAME"] == "demo-project:europe-west1:onlymanager-pg"
        assert env["GOOGLE_CLOUD_PROJECT"] == "demo-project"
        assert (env["DB_POOL_SIZE"], env["DB_MAX_OVERFLOW"]) == ("1", "1")

    assert json.loads(base64.b64decode(v["scheduler_payload"])) == {"as_of": None}
    assert sorted(v["dead_letter"]) == ["nightly.run.dead-letter", "thing.happened.dead-letter"]
    roles = v["service_roles"]
    assert [s for s, r in roles.items() if "roles/firebaseauth.admin" in r] == ["users"]
    assert sorted(s for s, r in roles.items() if "roles/datastore.user" in r) == ["payouts", "stats"]
    for s, r in roles.items():
        assert {"roles/cloudsql.client", "roles/cloudsql.instanceUser"} <= set(r), s
        assert not {"roles/owner", "roles/editor"} & set(r), s
    assert v["needed"] == len(by_name) * 3 * (1 + 1)
    assert v["firestore_rules"] is None  # no firestore.rules beside the scratch module: plan still works


@needs_terraform
def test_registry_plans_within_the_connection_budget_with_the_defaults(tmp_path):
    data = json.loads(TFVARS.read_text())
    v = Scratch(tmp_path, data).probe()
    assert sorted(v["functions"]) == sorted(f["name"] for f in data["functions"])
    for f in data["functions"]:
        if f["trigger"] != "http":
            expected = "RETRY_POLICY_RETRY" if f["retry"] else "RETRY_POLICY_DO_NOT_RETRY"
            assert v["event_triggers"][f["name"]]["retry_policy"] == expected, f["name"]
    assert v["needed"] <= v["available"]


@needs_terraform
def test_connection_budget_is_enforced_at_the_boundary(tmp_path):
    s = Scratch(tmp_path, SYNTHETIC)  # 6 functions
    # 6 functions x 5 instances x (2 + 2) = 120 connections; available = max_connections - 20 reserved.
    common = ["-var", "max_instance_count=5", "-var", "db_pool_size=2", "-var", "db_max_overflow=2",
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


@needs_terraform
@pytest.mark.parametrize("args, message", [
    (["-var", 'extra_environment={FIREBASE_AUTH_EMULATOR_HOST="127.0.0.1:9099"}'], "_EMULATOR_HOST"),
    (["-var", "db_ip_type=PRIVATE"], "needs private_network"),
    (["-var", "db_ip_type=INTERNAL"], "PRIVATE or PUBLIC"),
    (["-var", "python_runtime=python312"], "python311"),
    (["-var", "db_pool_size=3", "-var", "db_max_overflow=3"], "at most 5 per instance"),
])
def test_invalid_settings_fail_the_plan(tmp_path, args, message):
    out = Scratch(tmp_path, SYNTHETIC).plan(*args)
    assert out.returncode != 0
    assert message in re.sub(r"\s+", " ", out.stderr + out.stdout)


@needs_terraform
@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["functions"].append(dict(d["functions"][1], name="stray", topic="no.such.topic")),
     "must be listed in topics"),
    (lambda d: d["functions"].append(dict(d["functions"][0], name="orphan", service="nowhere")),
     "must be listed in services"),
    (lambda d: d["functions"].append(dict(d["functions"][0], name="Bad_Name")), "Cloud Run service names"),
    (lambda d: d["functions"].append({"name": "doc", "service": "users", "entry_point": "doc",
                                      "trigger": "firestore", "document": "x/{y}", "retry": True}),
     "document_event"),
])
def test_inconsistent_registry_fails_the_plan(tmp_path, mutate, message):
    data = json.loads(json.dumps(SYNTHETIC))
    mutate(data)
    out = Scratch(tmp_path, data).plan()
    assert out.returncode != 0
    assert message in re.sub(r"\s+", " ", out.stderr + out.stdout)
