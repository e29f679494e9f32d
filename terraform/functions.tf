# One Cloud Function (gen2) per registry entry, built from its service's source archive.
#
# Source: `python -m emulator package --out dist/` writes dist/<service>/ (functions/<service>/ + shared_lib/ +
# a root main.py + requirements.txt pinned from constraints.txt). Each folder is zipped here and uploaded under
# a content-addressed name, so a code change uploads a new object and redeploys exactly that service's
# functions; an unchanged service is left alone.

resource "google_storage_bucket" "source" {
  #checkov:skip=CKV_GCP_62:Holds only build inputs (the code is in git); access logging would need a second bucket for no audit value.
  #checkov:skip=CKV_GCP_78:Objects are content-addressed (the archive's SHA-256 in the name) and never overwritten, so versioning keeps nothing extra.
  count = var.create_source_bucket ? 1 : 0

  name                        = local.source_bucket
  project                     = var.project_id
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  depends_on = [google_project_service.api]
}

data "archive_file" "source" {
  for_each = toset(var.services)

  type             = "zip"
  source_dir       = "${path.module}/../dist/${each.key}"
  output_path      = "${path.module}/.build/${each.key}.zip"
  output_file_mode = "0644"
}

resource "google_storage_bucket_object" "source" {
  for_each = toset(var.services)

  name         = "${each.key}/${each.key}-${data.archive_file.source[each.key].output_sha256}.zip"
  bucket       = var.create_source_bucket ? google_storage_bucket.source[0].name : local.source_bucket
  source       = data.archive_file.source[each.key].output_path
  content_type = "application/zip"
}

resource "google_cloudfunctions2_function" "fn" {
  for_each = local.deployed_functions

  name        = each.key
  project     = var.project_id
  location    = var.region
  description = "${each.value.service}: ${each.value.trigger} function ${each.value.entry_point} (from the function registry)"
  labels      = { service = each.value.service, trigger = each.value.trigger }

  build_config {
    runtime         = var.python_runtime
    entry_point     = each.value.entry_point
    service_account = google_service_account.build.id # projects/<p>/serviceAccounts/<email>

    source {
      storage_source {
        bucket = google_storage_bucket_object.source[each.value.service].bucket
        object = google_storage_bucket_object.source[each.value.service].name
      }
    }
  }

  service_config {
    min_instance_count = 0
    max_instance_count = local.max_instances[each.key]
    # One request per instance (the gen2 default, stated because the connection budget relies on it:
    # a unit of work holds one connection at a time, so pool 1 + overflow 1 never waits); the burst topics'
    # consumers burst_request_concurrency, on 1 vCPU, with a pool of that many connections + 1 (locals.tf).
    max_instance_request_concurrency = local.request_concurrency[each.key]
    available_cpu                    = local.function_cpu[each.key]
    available_memory                 = var.function_memory
    timeout_seconds                  = each.value.trigger == "http" ? var.http_timeout_seconds : var.event_timeout_seconds

    # HTTP: Firebase Hosting rewrites call the function over the internet, so ingress is open; the function
    # verifies the Firebase ID token itself. Events: Pub/Sub push and Eventarc from this project count as
    # internal traffic, and only their invoker accounts have run.invoker (iam.tf).
    ingress_settings               = each.value.trigger == "http" ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.runtime[each.value.service].email

    environment_variables = local.function_env[each.key]

    vpc_connector                 = var.vpc_connector
    vpc_connector_egress_settings = var.vpc_connector == null ? null : "PRIVATE_RANGES_ONLY"
  }

  # Firestore functions only: document events filtered by database and document path pattern, in the
  # database's location, retried by Eventarc (retry_policy) for up to 24 hours. Pub/Sub and schedule
  # functions have no event trigger: Eventarc would own their push subscriptions, whose dead-letter policy
  # cannot be set, so pubsub.tf declares those subscriptions itself and they push to the function's URL.
  dynamic "event_trigger" {
    for_each = each.value.trigger == "firestore" ? [local.event_triggers[each.key]] : []

    content {
      trigger_region        = event_trigger.value.trigger_region
      event_type            = event_trigger.value.event_type
      retry_policy          = event_trigger.value.retry_policy
      service_account_email = google_service_account.events.email

      dynamic "event_filters" {
        for_each = event_trigger.value.event_filters

        content {
          attribute = event_filters.value.attribute
          value     = event_filters.value.value
          operator  = event_filters.value.operator
        }
      }
    }
  }

  depends_on = [
    terraform_data.guards,
    google_project_service.api,
    google_project_service_identity.eventarc,
    google_project_iam_member.service,
    google_project_iam_member.events_receiver,
    google_project_iam_member.build,
    google_project_iam_member.build_source_reader,
    google_sql_user.service,
    google_sql_database.main,
    google_firestore_database.default,
  ]
}
