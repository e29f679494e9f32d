# Inputs.
#
# Two kinds:
#   * generated: `region`, `functions`, `topics`, `scheduler_jobs`, `services`, `publishers` come from
#     registry.auto.tfvars.json, which
#     `python -m emulator generate` writes from the function registry (never edit it by hand; a test fails when
#     it is stale);
#   * hand-set: everything else, in a terraform.tfvars (or -var) per environment; only project_id is required.
#
# Checks that involve more than one variable (the connection budget, PRIVATE IP needs a network, every
# function's topic exists, ...) are preconditions in guards.tf: Terraform < 1.9 cannot compare two variables
# in a `validation` block, and this configuration supports >= 1.6.

# --- generated from the function registry ---------------------------------------------------------------------

variable "region" {
  description = "Region of the functions, the migrate job, Cloud SQL and the buckets (generated from pyproject.toml [tool.onlymanager] region, the one place it is set; firebase.json's Hosting rewrites carry the same value and guards.tf checks they agree)."
  type        = string
}

variable "publishers" {
  description = "Topics each service's runtime account may publish: the event types it declares, the dead-letter topics of what it consumes, every event type for the outbox relay's service (generated)."
  type        = map(list(string))
}

variable "functions" {
  description = "One entry per registry function (generated: registry.auto.tfvars.json)."
  type = list(object({
    name              = string           # deployed function name (registry name with '_' -> '-')
    service           = string           # bounded context: functions/<service>/, one source archive each
    entry_point       = string           # Python function name in the archive's main.py
    trigger           = string           # http | pubsub | firestore | schedule
    topic             = optional(string) # pubsub and schedule triggers
    dead_letter_topic = optional(string) # "<topic>.dead-letter" for topic triggers
    document          = optional(string) # firestore: document path pattern, e.g. "users/{uid}"
    document_event    = optional(string) # firestore: created | updated | deleted | written
    retry             = optional(bool, true)
  }))

  validation {
    condition     = alltrue([for f in var.functions : contains(["http", "pubsub", "firestore", "schedule"], f.trigger)])
    error_message = "Every function's trigger must be one of http, pubsub, firestore, schedule."
  }
  validation {
    condition     = length(distinct([for f in var.functions : f.name])) == length(var.functions)
    error_message = "Function names must be unique."
  }
  validation {
    # Cloud Functions gen2 / Cloud Run service names: lower case letters, digits and hyphens, <= 63 characters.
    condition     = alltrue([for f in var.functions : can(regex("^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", f.name))])
    error_message = "Function names must match ^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$ (Cloud Run service names)."
  }
  validation {
    condition     = alltrue([for f in var.functions : !contains(["pubsub", "schedule"], f.trigger) || f.topic != null])
    error_message = "pubsub and schedule functions need a topic."
  }
  validation {
    condition = alltrue([
      for f in var.functions : f.trigger != "firestore" || (
        f.document != null &&
        contains(["created", "updated", "deleted", "written"], f.document_event == null ? "" : f.document_event)
      )
    ])
    error_message = "firestore functions need a document pattern and a document_event (created|updated|deleted|written)."
  }
}

variable "topics" {
  description = "Every Pub/Sub topic id the platform uses, dead-letter topics included (generated)."
  type        = list(string)

  validation {
    # Pub/Sub topic ids: start with a letter, 3-255 of [A-Za-z0-9-_.~+%], not starting with "goog".
    condition     = alltrue([for t in var.topics : can(regex("^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$", t)) && !startswith(t, "goog")])
    error_message = "Every topic id must be a valid Pub/Sub topic id."
  }
}

variable "scheduler_jobs" {
  description = "Cloud Scheduler jobs; each publishes {\"as_of\": null} to its topic (generated)."
  type = list(object({
    name        = string
    topic       = string
    schedule    = string # unix-cron, 5 fields
    time_zone   = string # IANA tz database name
    description = optional(string, "")
  }))

  validation {
    condition     = alltrue([for j in var.scheduler_jobs : length(split(" ", trimspace(j.schedule))) == 5])
    error_message = "Every schedule must be a five-field unix-cron expression."
  }
}

variable "services" {
  description = "Bounded contexts (functions/<service>/): one source archive and one runtime service account each (generated)."
  type        = list(string)

  validation {
    # The runtime service account id is "<name_prefix>-<service>" (6-30 characters, [a-z][-a-z0-9]*[a-z0-9]).
    condition     = alltrue([for s in var.services : can(regex("^[a-z][a-z0-9-]{0,20}[a-z0-9]$", s))])
    error_message = "Service names must be lower case letters, digits and hyphens, at most 22 characters."
  }
}

# --- project and placement -------------------------------------------------------------------------------------

variable "project_id" {
  description = "Google Cloud project id (the Firebase project: Hosting, Auth and Firestore live there too)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a plain project id (6-30 lower case letters, digits, hyphens)."
  }
}

variable "scheduler_region" {
  description = "Cloud Scheduler location; null means var.region."
  type        = string
  default     = null
}

variable "firestore_location" {
  description = "Location of the (default) Firestore database, e.g. the multi-region eur3; null means var.region. Firestore-triggered functions' Eventarc triggers must live in this location."
  type        = string
  default     = null
}

variable "name_prefix" {
  description = "Prefix of service-account ids and other platform-owned names."
  type        = string
  default     = "om"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{0,6}$", var.name_prefix))
    error_message = "name_prefix: 1-7 lower case letters or digits, starting with a letter."
  }
}

variable "labels" {
  description = "Extra labels on every labelled resource."
  type        = map(string)
  default     = {}
}

# --- function source and runtime -------------------------------------------------------------------------------

variable "source_bucket" {
  description = "GCS bucket for the per-service source archives; null means \"<project_id>-<name_prefix>-function-source\"."
  type        = string
  default     = null
}

variable "create_source_bucket" {
  description = "Create the source bucket (false: it exists already)."
  type        = bool
  default     = true
}

variable "deploy_functions" {
  description = "Deploy the functions and their push subscriptions. false ONLY for the first apply of a new project (infrastructure, then build and run the migrate job, then true; README.md \"Deployment\"): on a running deployment false deletes every function."
  type        = bool
  default     = true
}

variable "migrate_image" {
  description = "Container image of the migrate job (built from dist/migrate, README.md \"Deployment\"), e.g. europe-west1-docker.pkg.dev/<project>/om-images/migrate:<tag>; null: no job yet (the first apply)."
  type        = string
  default     = null
}

variable "statements_bucket" {
  description = "Bucket for payout statements (STORAGE_BUCKET of the payouts functions); null means \"<project_id>-<name_prefix>-statements\"."
  type        = string
  default     = null
}

variable "python_runtime" {
  description = "Cloud Functions runtime; the project is pinned to Python 3.11 (pyproject requires-python)."
  type        = string
  default     = "python311"

  validation {
    condition     = var.python_runtime == "python311"
    error_message = "The code and its pinned dependencies are tested on Python 3.11 only: python_runtime must be python311."
  }
}

variable "function_memory" {
  description = "Memory per function instance."
  type        = string
  default     = "512Mi"
}

variable "http_timeout_seconds" {
  description = "Request timeout of HTTP functions."
  type        = number
  default     = 60
}

variable "event_timeout_seconds" {
  description = "Timeout of event (Pub/Sub, Firestore, schedule) functions; at most 540 for event-driven functions."
  type        = number
  default     = 300

  validation {
    condition     = var.event_timeout_seconds >= 1 && var.event_timeout_seconds <= 540
    error_message = "event_timeout_seconds must be between 1 and 540."
  }
}

variable "event_max_age_seconds" {
  description = "Handlers acknowledge (drop, with an error log) Pub/Sub messages published longer ago than this. Dead-lettering ends the retries long before; this only matters for a seek/replay of old messages, so it equals the subscriptions' 7-day retention."
  type        = number
  default     = 604800
}

# --- event delivery: push subscriptions with dead-lettering (pubsub.tf) -----------------------------------------

variable "max_delivery_attempts" {
  description = "Deliveries of a Pub/Sub message to its function before Pub/Sub moves it to \"<topic>.dead-letter\" (5-100). The local bus uses EVENT_MAX_ATTEMPTS for the same."
  type        = number
  default     = 10

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100 && floor(var.max_delivery_attempts) == var.max_delivery_attempts
    error_message = "max_delivery_attempts must be an integer between 5 and 100 (Pub/Sub's limits)."
  }
}

variable "retry_minimum_backoff" {
  description = "Push retry backoff after the first failed delivery (exponential up to retry_maximum_backoff)."
  type        = string
  default     = "10s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.retry_minimum_backoff)) && tonumber(trimsuffix(var.retry_minimum_backoff, "s")) <= 600
    error_message = "retry_minimum_backoff must be seconds like \"10s\", at most 600s."
  }
}

variable "retry_maximum_backoff" {
  description = "Longest push retry backoff."
  type        = string
  default     = "600s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.retry_maximum_backoff)) && tonumber(trimsuffix(var.retry_maximum_backoff, "s")) <= 600
    error_message = "retry_maximum_backoff must be seconds like \"600s\", at most 600s."
  }
}

variable "extra_environment" {
  description = "Extra environment variables for every function (e.g. OUTBOX_RELAY_BATCH)."
  type        = map(string)
  default     = {}

  validation {
    # Emulator mode accepts unsigned tokens; the code refuses to start with it on Cloud Run, and so does this.
    condition     = alltrue([for k in keys(var.extra_environment) : !endswith(upper(k), "_EMULATOR_HOST")])
    error_message = "No *_EMULATOR_HOST variable (FIREBASE_AUTH_EMULATOR_HOST, PUBSUB_EMULATOR_HOST, FIRESTORE_EMULATOR_HOST) may be deployed."
  }
  validation {
    condition     = length(setintersection(toset([for k in keys(var.extra_environment) : upper(k)]), toset(["DATABASE_URL", "FIREBASE_CERT_URL", "DB_PASS"]))) == 0
    error_message = "DATABASE_URL (local only), FIREBASE_CERT_URL (tests only) and DB_PASS (IAM auth is used) may not be deployed."
  }
}

# --- scaling and the Cloud SQL connection budget ---------------------------------------------------------------
#
# Every function instance keeps its own SQLAlchemy pool of up to db_pool_size + db_max_overflow connections,
# and nothing pools across instances. So in the worst case (every function scaled out at once)
#
#     sum over functions of max_instance_count(f) * (db_pool_size + db_max_overflow)
#         <= db_max_connections - db_reserved_connections
#
# must hold, otherwise PostgreSQL refuses connections exactly when load peaks. guards.tf enforces it at plan
# time. With no overrides this is (http * max_instance_count + events * event_max_instance_count + scheduled *
# schedule_max_instance_count) * (db_pool_size + db_max_overflow).
#
# Why these defaults (they differ from the 10 instances / pool 2+2 / 100 connections first suggested):
#   * each instance serves one request at a time (max_instance_request_concurrency = 1, the gen2 default,
#     set explicitly in functions.tf), and a unit of work holds one connection, releasing it before its
#     after-commit hooks open the next; so pool 1 + overflow 1 never waits;
#   * the first release's 70 functions at 10 * (2+2) = 2800 connections would need a huge instance, while
#     70 * 3 * (1+1) = 420 fit in 500 - 25;
#   * 3 instances of one HTTP function serve 3 requests at once; the agency's staff are dozens of people;
#   * event consumers (Pub/Sub, Firestore) only need to keep up with the event rate: a burst waits in Pub/Sub,
#     and payouts and statistics coalesce what arrives together, so 2 instances each (event_max_instance_count);
#     a scheduled job fires a few times a day, so 1 (schedule_max_instance_count). With the second release's
#     89 functions (53 HTTP, 28 event, 8 scheduled): 53*3*2 + 28*2*2 + 8*1*2 = 446 <= 475 (458 with the burst
#     topics' 2 consumers at pool 4 + 1, burst_topics below);
#   * max_connections is set explicitly on the instance (sql.tf) to db_max_connections, so the budget does
#     not silently depend on the tier's memory-based default; 500 connections suit db-custom-2-7680 (7.5 GB).
# A hot endpoint gets more instances through max_instance_count_overrides; the check counts those too.

variable "max_instance_count" {
  description = "Maximum instances of each HTTP function (unless overridden); see the connection budget above."
  type        = number
  default     = 3

  validation {
    condition     = var.max_instance_count >= 1 && floor(var.max_instance_count) == var.max_instance_count
    error_message = "max_instance_count must be a positive integer."
  }
}

variable "event_max_instance_count" {
  description = "Maximum instances of each Pub/Sub- or Firestore-triggered function (unless overridden)."
  type        = number
  default     = 2

  validation {
    condition     = var.event_max_instance_count >= 1 && floor(var.event_max_instance_count) == var.event_max_instance_count
    error_message = "event_max_instance_count must be a positive integer."
  }
}

variable "schedule_max_instance_count" {
  description = "Maximum instances of each Cloud Scheduler-triggered function (unless overridden)."
  type        = number
  default     = 1

  validation {
    condition     = var.schedule_max_instance_count >= 1 && floor(var.schedule_max_instance_count) == var.schedule_max_instance_count
    error_message = "schedule_max_instance_count must be a positive integer."
  }
}

variable "max_instance_count_overrides" {
  description = "Per-function maximum instances, by function name (e.g. { me = 10 }); counted in the connection budget."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for n in values(var.max_instance_count_overrides) : n >= 1 && floor(n) == n])
    error_message = "Every override must be a positive integer."
  }
}

# A burst of registered sales (issue #13: 50,000, payouts and statistics current within 60 s of the last one)
# is one income.registered event per sale. Its consumers mark and return in a few ms while one delivery per
# consumer (the catch-up owner, shared_lib/catchup.py) holds its slot for the whole burst; with one request per
# instance and 2 instances every other delivery would queue behind one slot (bench/results/chain.md "the
# cloud"). So these consumers take burst_request_concurrency deliveries at once per instance; the budget counts
# their pool (concurrency + 1): 2 functions x 2 instances x (4 + 1) = 20 where 1 + 1 had needed 8 (458 <= 475).
variable "burst_topics" {
  description = "Topics whose Pub/Sub consumers serve burst_request_concurrency deliveries per instance at once."
  type        = list(string)
  default     = ["income.registered"]
}

variable "burst_request_concurrency" {
  description = "max_instance_request_concurrency of the burst topics' consumers (1 vCPU each, pool = this + 1)."
  type        = number
  default     = 4

  validation {
    condition     = var.burst_request_concurrency >= 1 && var.burst_request_concurrency <= 4 && floor(var.burst_request_concurrency) == var.burst_request_concurrency
    error_message = "burst_request_concurrency must be an integer from 1 to 4 (its pool, concurrency + 1, at most 5 per instance)."
  }
}

variable "db_pool_size" {
  description = "SQLAlchemy pool_size per instance (DB_POOL_SIZE; the code accepts 1-5)."
  type        = number
  default     = 1

  validation {
    condition     = var.db_pool_size >= 1 && var.db_pool_size <= 5
    error_message = "db_pool_size must be between 1 and 5 (shared_lib/config.py)."
  }
}

variable "db_max_overflow" {
  description = "SQLAlchemy max_overflow per instance (DB_MAX_OVERFLOW; the code accepts 0-3)."
  type        = number
  default     = 1

  validation {
    condition     = var.db_max_overflow >= 0 && var.db_max_overflow <= 3
    error_message = "db_max_overflow must be between 0 and 3 (shared_lib/config.py)."
  }
}

variable "db_max_connections" {
  description = "PostgreSQL max_connections, set as a database flag on the instance; the connection budget's ceiling."
  type        = number
  default     = 500

  validation {
    condition     = var.db_max_connections >= 25 && var.db_max_connections <= 262143
    error_message = "db_max_connections must be between 25 and 262143."
  }
}

variable "db_reserved_connections" {
  description = "Connections kept out of the functions' budget: migrations, operators, Cloud SQL's own superuser slots."
  type        = number
  default     = 25
}

# --- Cloud SQL -------------------------------------------------------------------------------------------------

variable "db_instance_name" {
  description = "Cloud SQL instance name."
  type        = string
  default     = "onlymanager-pg"
}

variable "db_name" {
  description = "Database name (DB_NAME)."
  type        = string
  default     = "onlymanager"
}

variable "db_tier" {
  description = "Cloud SQL machine tier (Enterprise edition): db-custom-<vCPUs>-<MiB>."
  type        = string
  default     = "db-custom-2-7680"
}

variable "db_availability_type" {
  description = "ZONAL or REGIONAL (high availability)."
  type        = string
  default     = "ZONAL"

  validation {
    condition     = contains(["ZONAL", "REGIONAL"], var.db_availability_type)
    error_message = "db_availability_type must be ZONAL or REGIONAL."
  }
}

variable "db_disk_size_gb" {
  description = "Initial disk size (auto-resize is on)."
  type        = number
  default     = 20
}

variable "db_deletion_protection" {
  description = "Protect the instance from terraform destroy and from deletion in the console/API."
  type        = bool
  default     = true
}

variable "db_ip_type" {
  description = "How functions reach Cloud SQL (DB_IP_TYPE for the Cloud SQL Python Connector). PUBLIC: the instance has a public IP but no authorized networks; the connector authenticates with IAM and encrypts with TLS. PRIVATE: needs private_network (with private services access) and vpc_connector."
  type        = string
  default     = "PUBLIC"

  validation {
    condition     = contains(["PRIVATE", "PUBLIC"], var.db_ip_type)
    error_message = "db_ip_type must be PRIVATE or PUBLIC."
  }
}

variable "private_network" {
  description = "VPC network self link for the instance's private IP (db_ip_type = PRIVATE)."
  type        = string
  default     = null
}

variable "vpc_connector" {
  description = "Serverless VPC Access connector (projects/<p>/locations/<r>/connectors/<name>) the functions use to reach a PRIVATE instance."
  type        = string
  default     = null
}

variable "db_admin_user_enabled" {
  description = "Create a built-in admin user (member of cloudsqlsuperuser) for migrations and grants; its generated password goes to Secret Manager. Functions never use it (they log in as IAM users)."
  type        = bool
  default     = true
}

variable "db_admin_user" {
  description = "Name of the built-in admin user."
  type        = string
  default     = "om_admin"
}

variable "db_admin_secret_accessors" {
  description = "Principals (e.g. group:dba@example.com, serviceAccount:migrator@...) allowed to read the admin password secret."
  type        = list(string)
  default     = []
}

# --- Firestore, Pub/Sub ----------------------------------------------------------------------------------------

variable "manage_firestore_database" {
  description = "Create the (default) Firestore database in native mode. Set false (or import it) when the Firebase project already has one."
  type        = bool
  default     = true
}

variable "external_topic_publishers" {
  description = "Publishers outside this platform, by topic, e.g. { \"scraper.subscriber_counts\" = [\"serviceAccount:scraper@other.iam.gserviceaccount.com\"] }."
  type        = map(list(string))
  default     = {}
}
