# Everything derived from the inputs, in one place. This file refers to variables and functions only (no
# resources, no data sources), so tests/unit/test_terraform.py can evaluate it with `terraform console`
# without any provider: the per-function environment, triggers, retry policies and the connection budget
# checked there are exactly what the resources below deploy.

locals {
  common_labels = merge({ app = "onlymanager-economy", managed-by = "terraform" }, var.labels)

  # --- functions -----------------------------------------------------------------------------------------------

  functions       = { for f in var.functions : f.name => f }
  http_functions  = { for name, f in local.functions : name => f if f.trigger == "http" }
  event_functions = { for name, f in local.functions : name => f if f.trigger != "http" }

  max_instances = {
    for name, f in local.functions : name => lookup(var.max_instance_count_overrides, name, var.max_instance_count)
  }

  # Connection budget (see variables.tf): worst case, every function at its maximum instance count, each
  # instance with a full pool.
  db_connections_per_instance = var.db_pool_size + var.db_max_overflow
  db_connections_needed       = sum(concat([0], [for name, n in local.max_instances : n * local.db_connections_per_instance]))
  db_connections_available    = var.db_max_connections - var.db_reserved_connections

  source_bucket = coalesce(var.source_bucket, "${var.project_id}-${var.name_prefix}-function-source")

  # --- identities ----------------------------------------------------------------------------------------------

  # One runtime service account per service; Cloud SQL knows a service account's IAM database user as its
  # email without ".gserviceaccount.com" (PostgreSQL).
  service_account_ids    = { for s in var.services : s => "${var.name_prefix}-${s}" }
  service_account_emails = { for s, id in local.service_account_ids : s => "${id}@${var.project_id}.iam.gserviceaccount.com" }
  db_iam_users           = { for s, email in local.service_account_emails : s => trimsuffix(email, ".gserviceaccount.com") }

  # The identity Eventarc uses to push events to the event functions (run.invoker on those, nothing else).
  events_account_id    = "${var.name_prefix}-events"
  events_account_email = "${local.events_account_id}@${var.project_id}.iam.gserviceaccount.com"

  # Least privilege per service. Every service: connect to Cloud SQL as its IAM user. Publishing is granted
  # per topic (iam.tf), not project-wide. Firestore read models are written by payouts (earnings) and stats
  # (dashboards); users manages Firebase Auth accounts and custom claims. A service not listed here gets the
  # base roles only.
  base_service_roles = ["roles/cloudsql.client", "roles/cloudsql.instanceUser"]
  extra_service_roles = {
    users   = ["roles/firebaseauth.admin"]
    payouts = ["roles/datastore.user"]
    stats   = ["roles/datastore.user"]
  }
  service_roles = {
    for s in var.services : s => distinct(concat(local.base_service_roles, lookup(local.extra_service_roles, s, [])))
  }
  service_role_bindings = merge([
    for s, roles in local.service_roles : { for r in roles : "${s}/${r}" => { service = s, role = r } }
  ]...)

  # Every service may publish to every platform topic: events it owns, and "<topic>.dead-letter" for the
  # topics it consumes (the code dead-letters poison messages itself).
  topic_publisher_bindings = {
    for pair in setproduct(var.services, var.topics) : "${pair[0]}/${pair[1]}" => { service = pair[0], topic = pair[1] }
  }
  external_publisher_bindings = merge([
    for topic, members in var.external_topic_publishers : { for m in members : "${topic}/${m}" => { topic = topic, member = m } }
  ]...)

  # --- database ------------------------------------------------------------------------------------------------

  instance_connection_name = "${var.project_id}:${var.region}:${var.db_instance_name}"

  # --- environment of every function ----------------------------------------------------------------------------
  # Read by shared_lib/config.py. Never FIREBASE_AUTH_EMULATOR_HOST (or any emulator): the code refuses to
  # start with it on Cloud Run, and the variable validation and the tests refuse it here.
  function_env = {
    for name, f in local.functions : name => merge(var.extra_environment, {
      GOOGLE_CLOUD_PROJECT     = var.project_id
      INSTANCE_CONNECTION_NAME = local.instance_connection_name
      DB_NAME                  = var.db_name
      DB_USER                  = local.db_iam_users[f.service]
      DB_IAM_AUTH              = "true"
      DB_IP_TYPE               = var.db_ip_type
      DB_POOL_SIZE             = tostring(var.db_pool_size)
      DB_MAX_OVERFLOW          = tostring(var.db_max_overflow)
      EVENT_MAX_AGE_SECONDS    = tostring(var.event_max_age_seconds)
    })
  }

  # --- event triggers ------------------------------------------------------------------------------------------
  # Gen2 functions created through the API do NOT retry unless retry_policy is RETRY_POLICY_RETRY.
  pubsub_event_type = "google.cloud.pubsub.topic.v1.messagePublished"
  event_triggers = {
    for name, f in local.event_functions : name => {
      event_type     = f.trigger == "firestore" ? "google.cloud.firestore.document.v1.${f.document_event}" : local.pubsub_event_type
      topic          = f.trigger == "firestore" ? null : f.topic
      trigger_region = f.trigger == "firestore" ? var.firestore_location : var.region
      retry_policy   = f.retry ? "RETRY_POLICY_RETRY" : "RETRY_POLICY_DO_NOT_RETRY"
      event_filters = f.trigger == "firestore" ? tolist([
        { attribute = "database", value = "(default)", operator = null },
        { attribute = "document", value = f.document, operator = "match-path-pattern" },
      ]) : []
    }
  }

  # --- Pub/Sub and Scheduler -----------------------------------------------------------------------------------

  dead_letter_topics = toset([for t in var.topics : t if endswith(t, ".dead-letter")])

  scheduler_jobs    = { for j in var.scheduler_jobs : j.name => j }
  scheduler_region  = coalesce(var.scheduler_region, var.region)
  scheduler_payload = base64encode(jsonencode({ as_of = null }))

  # --- Firestore rules (firestore.rules at the repository root, written separately; optional) --------------------

  firestore_rules_path = "${path.module}/../firestore.rules"
  firestore_rules      = fileexists(local.firestore_rules_path) ? file(local.firestore_rules_path) : null

  # --- APIs ----------------------------------------------------------------------------------------------------

  apis = [
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "eventarc.googleapis.com",
    "firebaserules.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "identitytoolkit.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "sqladmin.googleapis.com",
    "storage.googleapis.com",
  ]
}
