# Everything derived from the inputs, in one place. This file refers to variables and functions only (no
# resources, no data sources), so tests/unit/test_terraform.py can evaluate it with `terraform console`
# without any provider: the per-function environment, triggers, retry policies and the connection budget
# checked there are exactly what the resources below deploy.

locals {
  common_labels = merge({ app = "onlymanager-economy", managed-by = "terraform" }, var.labels)

  # --- functions -----------------------------------------------------------------------------------------------

  functions = { for f in var.functions : f.name => f }

  # What this apply deploys (nothing on a new project's first apply: var.deploy_functions, README.md). HTTP
  # functions are invoked by Hosting; topic functions (pubsub, schedule) by their push subscription
  # (pubsub.tf); Firestore functions by Eventarc, the only way Firestore triggers exist.
  deployed_functions  = var.deploy_functions ? local.functions : {}
  http_functions      = { for name, f in local.deployed_functions : name => f if f.trigger == "http" }
  push_functions      = { for name, f in local.deployed_functions : name => f if contains(["pubsub", "schedule"], f.trigger) }
  firestore_functions = { for name, f in local.deployed_functions : name => f if f.trigger == "firestore" }

  # Each trigger kind has its own default ceiling (variables.tf "the connection budget"): HTTP functions serve
  # people, event consumers keep up with the event rate (a burst waits in Pub/Sub, payouts and statistics
  # coalesce it), a scheduled job fires a few times a day.
  default_max_instances = {
    http      = var.max_instance_count, pubsub = var.event_max_instance_count,
    firestore = var.event_max_instance_count, schedule = var.schedule_max_instance_count,
  }
  max_instances = {
    for name, f in local.functions : name => lookup(var.max_instance_count_overrides, name,
    local.default_max_instances[f.trigger])
  }

  # Consumers of the burst topics (variables.tf "burst_topics") take burst_request_concurrency deliveries per
  # instance at once, on 1 vCPU (Cloud Run needs it for concurrency > 1), with a pool of one connection per
  # delivery plus one; every other function one request at a time with the common pool.
  request_concurrency = {
    for name, f in local.functions : name =>
    f.trigger == "pubsub" && contains(var.burst_topics, coalesce(f.topic, "-")) ? var.burst_request_concurrency : 1
  }
  function_cpu = { for name, c in local.request_concurrency : name => c > 1 ? "1" : null }
  db_pool = {
    for name, c in local.request_concurrency : name =>
    c > 1 ? { size = c, overflow = 1 } : { size = var.db_pool_size, overflow = var.db_max_overflow }
  }

  # Connection budget (see variables.tf): worst case, every function at its maximum instance count, each
  # instance with a full pool.
  db_connections_per_instance = var.db_pool_size + var.db_max_overflow
  db_connections_needed       = sum(concat([0], [for name, n in local.max_instances : n * (local.db_pool[name].size + local.db_pool[name].overflow)]))
  db_connections_available    = var.db_max_connections - var.db_reserved_connections

  source_bucket     = coalesce(var.source_bucket, "${var.project_id}-${var.name_prefix}-function-source")
  statements_bucket = coalesce(var.statements_bucket, "${var.project_id}-${var.name_prefix}-statements")
  # The one service that writes (and reads) payout statements; no other identity gets a storage role on it.
  statements_service = "payouts"

  # Artifact Registry repository of the migrate job's image (migrate.tf).
  images_repository = "${var.name_prefix}-images"

  # --- identities ----------------------------------------------------------------------------------------------

  # One runtime service account per service; Cloud SQL knows a service account's IAM database user as its
  # email without ".gserviceaccount.com" (PostgreSQL).
  service_account_ids    = { for s in var.services : s => "${var.name_prefix}-${s}" }
  service_account_emails = { for s, id in local.service_account_ids : s => "${id}@${var.project_id}.iam.gserviceaccount.com" }
  db_iam_users           = { for s, email in local.service_account_emails : s => trimsuffix(email, ".gserviceaccount.com") }

  # The identity Eventarc uses to push Firestore events to the Firestore functions (run.invoker on those only).
  events_account_id    = "${var.name_prefix}-events"
  events_account_email = "${local.events_account_id}@${var.project_id}.iam.gserviceaccount.com"

  # The identity the push subscriptions sign their OIDC tokens as (run.invoker on the topic functions only).
  push_account_id = "${var.name_prefix}-push"
  # Cloud Build builds the functions (and the migrate image) as this account: projects created since 2024 do
  # not give the default Cloud Build account the roles a build needs.
  build_account_id = "${var.name_prefix}-build"
  build_roles      = ["roles/logging.logWriter", "roles/artifactregistry.writer"]
  # The migrate job's identity: connects to Cloud SQL and reads the admin password, nothing else.
  migrate_account_id = "${var.name_prefix}-migrate"

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

  # Publishing per topic, exactly what the registry declares (var.publishers): a service's own event types,
  # "<topic>.dead-letter" of the topics it consumes (the code dead-letters poison messages itself), and every
  # event type for the outbox relay. So no service can forge another service's events.
  topic_publisher_bindings = merge([
    for s, topics in var.publishers : { for t in topics : "${s}/${t}" => { service = s, topic = t } }
  ]...)
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
      DB_POOL_SIZE             = tostring(local.db_pool[name].size)
      DB_MAX_OVERFLOW          = tostring(local.db_pool[name].overflow)
      EVENT_MAX_AGE_SECONDS    = tostring(var.event_max_age_seconds)
      }, f.service == local.statements_service ? { STORAGE_BUCKET = local.statements_bucket } : {},
    )
  }

  # The migrate job (migrate.tf) logs in as the built-in admin user (DB_PASS from Secret Manager, set in the
  # resource) and grants each service's IAM database user its group role: OM_SERVICE_DB_USERS names them.
  migrate_job_name = "${var.name_prefix}-migrate"
  migrate_env = {
    GOOGLE_CLOUD_PROJECT     = var.project_id
    INSTANCE_CONNECTION_NAME = local.instance_connection_name
    DB_NAME                  = var.db_name
    DB_USER                  = var.db_admin_user
    DB_IAM_AUTH              = "false"
    DB_IP_TYPE               = var.db_ip_type
    OM_SERVICE_DB_USERS      = jsonencode(local.db_iam_users)
  }

  # --- Firestore triggers (Eventarc) ---------------------------------------------------------------------------
  # Gen2 functions created through the API do NOT retry unless retry_policy is RETRY_POLICY_RETRY; Eventarc
  # then retries a failing Firestore event for up to 24 hours and drops it after (no dead-letter topic).
  firestore_location = coalesce(var.firestore_location, var.region)
  event_triggers = {
    for name, f in local.firestore_functions : name => {
      event_type     = "google.cloud.firestore.document.v1.${f.document_event}"
      trigger_region = local.firestore_location
      retry_policy   = f.retry ? "RETRY_POLICY_RETRY" : "RETRY_POLICY_DO_NOT_RETRY"
      event_filters = tolist([
        { attribute = "database", value = "(default)", operator = null },
        { attribute = "document", value = f.document, operator = "match-path-pattern" },
      ])
    }
  }

  # --- push subscriptions (pubsub.tf) ---------------------------------------------------------------------------
  # One per topic function, named like it. A non-2xx answer (the function raised) is retried with exponential
  # backoff; after max_delivery_attempts deliveries Pub/Sub moves the message to "<topic>.dead-letter".
  push_subscriptions = {
    for name, f in local.push_functions : name => {
      topic                 = f.topic
      dead_letter_topic     = f.dead_letter_topic
      max_delivery_attempts = var.max_delivery_attempts
      minimum_backoff       = var.retry_minimum_backoff
      maximum_backoff       = var.retry_maximum_backoff
      # Pub/Sub waits this long for the function's answer before it counts a failed delivery.
      ack_deadline_seconds = var.event_timeout_seconds
    }
  }
  # Dead-letter topics some deployed subscription forwards to (the Pub/Sub service agent publishes there).
  forwarding_dead_letter_topics = toset([for s in local.push_subscriptions : s.dead_letter_topic])

  # --- Pub/Sub and Scheduler -----------------------------------------------------------------------------------

  dead_letter_topics = toset([for t in var.topics : t if endswith(t, ".dead-letter")])

  scheduler_jobs    = { for j in var.scheduler_jobs : j.name => j }
  scheduler_region  = coalesce(var.scheduler_region, var.region)
  scheduler_payload = base64encode(jsonencode({ as_of = null }))

  # --- Firestore rules (firestore.rules at the repository root, written separately; optional) --------------------

  firestore_rules_path = "${path.module}/../firestore.rules"
  firestore_rules      = fileexists(local.firestore_rules_path) ? file(local.firestore_rules_path) : null

  # --- Firebase Hosting (firebase.json at the repository root, generated) ------------------------------------------
  # Hosting rewrites name each function's region; guards.tf refuses a plan whose var.region differs.
  firebase_json_path = "${path.module}/../firebase.json"
  hosting_regions    = distinct([for r in jsondecode(file(local.firebase_json_path)).hosting.rewrites : r.function.region if can(r.function.region)])

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
