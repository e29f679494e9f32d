# Identities and least privilege.
#
#   om-<service>  runtime service account of each service's functions (roles per service: locals.tf
#                 service_roles; Pub/Sub publisher on the topics var.publishers names; its own IAM database
#                 user in sql.tf; payouts alone may write the statements bucket, storage.tf)
#   om-push       the identity the push subscriptions (pubsub.tf) sign OIDC tokens as: run.invoker on the
#                 Pub/Sub and schedule functions only
#   om-events     the identity Eventarc pushes Firestore events with: eventarc.eventReceiver on the project
#                 and run.invoker on the Firestore functions only
#   om-build      Cloud Build builds the functions as this account (logs, Artifact Registry, source reads)
#   om-migrate    the migrate job (migrate.tf): Cloud SQL client, the admin password secret
#   allUsers      run.invoker on the HTTP functions (Firebase Hosting calls them; each verifies the ID token)
#
# No identity gets a project-wide Pub/Sub publisher role.

resource "google_service_account" "runtime" {
  for_each = local.service_account_ids

  project      = var.project_id
  account_id   = each.value
  display_name = "OnlyManager ${each.key} functions"
  description  = "Runtime identity of the ${each.key} service's Cloud Functions; IAM database user ${local.db_iam_users[each.key]}."

  lifecycle {
    # DB_USER and the Cloud SQL user name are derived from this email in locals.tf.
    postcondition {
      condition     = self.email == local.service_account_emails[each.key]
      error_message = "Service account email ${self.email} differs from the derived ${local.service_account_emails[each.key]} (domain-scoped project?)."
    }
  }

  depends_on = [google_project_service.api]
}

resource "google_project_iam_member" "service" {
  for_each = local.service_role_bindings

  project = var.project_id
  role    = each.value.role
  member  = "serviceAccount:${google_service_account.runtime[each.value.service].email}"
}

# Publishing: per topic, only what var.publishers (generated from the registry) allows each service.
resource "google_pubsub_topic_iam_member" "service_publisher" {
  for_each = local.topic_publisher_bindings

  project = var.project_id
  topic   = google_pubsub_topic.topic[each.value.topic].name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_service_account.runtime[each.value.service].email}"
}

# Publishers outside the platform (e.g. the subscriber-count scraper on scraper.subscriber_counts).
resource "google_pubsub_topic_iam_member" "external_publisher" {
  for_each = local.external_publisher_bindings

  project = var.project_id
  topic   = google_pubsub_topic.topic[each.value.topic].name
  role    = "roles/pubsub.publisher"
  member  = each.value.member
}

# --- event delivery -------------------------------------------------------------------------------------------

resource "google_service_account" "events" {
  project      = var.project_id
  account_id   = local.events_account_id
  display_name = "OnlyManager Firestore event delivery (Eventarc)"
  description  = "Eventarc triggers push Firestore document events to the Firestore functions as this identity."

  lifecycle {
    postcondition {
      condition     = self.email == local.events_account_email
      error_message = "Service account email ${self.email} differs from the derived ${local.events_account_email}."
    }
  }

  depends_on = [google_project_service.api]
}

resource "google_project_iam_member" "events_receiver" {
  project = var.project_id
  role    = "roles/eventarc.eventReceiver"
  member  = "serviceAccount:${google_service_account.events.email}"
}

# Pub/Sub signs the push requests' OIDC tokens as om-events (Eventarc) and om-push (pubsub.tf); needed
# explicitly on projects created before April 2021, harmless after.
resource "google_service_account_iam_member" "pubsub_token_creator" {
  for_each = {
    events = google_service_account.events.name
    push   = google_service_account.push.name
  }

  service_account_id = each.value
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${google_project_service_identity.pubsub.email}"
}

# A gen2 function is served by a Cloud Run service of the same name; invoking it needs run.invoker there.
resource "google_cloud_run_service_iam_member" "events_invoker" {
  for_each = local.firestore_functions

  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.fn[each.key].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.events.email}"
}

# --- Pub/Sub push delivery -----------------------------------------------------------------------------------

resource "google_service_account" "push" {
  project      = var.project_id
  account_id   = local.push_account_id
  display_name = "OnlyManager Pub/Sub push delivery"
  description  = "The push subscriptions of the Pub/Sub and schedule functions authenticate as this identity (OIDC)."

  depends_on = [google_project_service.api]
}

resource "google_cloud_run_service_iam_member" "push_invoker" {
  for_each = local.push_functions

  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.fn[each.key].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.push.email}"
}

# --- builds ---------------------------------------------------------------------------------------------------

resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = local.build_account_id
  display_name = "OnlyManager builds (Cloud Build)"
  description  = "Cloud Build builds the Cloud Functions and the migrate image as this identity."

  depends_on = [google_project_service.api]
}

# Logs, and pushing images to Artifact Registry: gen2 builds push to the gcf-artifacts repository that Cloud
# Functions creates on first deploy, so this is project-wide.
resource "google_project_iam_member" "build" {
  for_each = toset(local.build_roles)

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.build.email}"
}

# Reading sources: ours, and the gcf-v2-sources-* bucket Cloud Functions copies them into (it does not exist
# before the first deploy, so it cannot be granted on its own); never the statements bucket.
resource "google_project_iam_member" "build_source_reader" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = "serviceAccount:${google_service_account.build.email}"

  condition {
    title       = "not-statements"
    description = "Every bucket except the payout statements"
    expression  = "!resource.name.startsWith(\"projects/_/buckets/${local.statements_bucket}\")"
  }
}

# --- HTTP functions -------------------------------------------------------------------------------------------

# Unauthenticated invocation: Firebase Hosting rewrites forward the browser's request as is, and the
# function verifies the Firebase ID token (Authorization: Bearer) itself. An organization policy that
# restricts allUsers (iam.allowedPolicyMemberDomains) must allow it for this project.
resource "google_cloud_run_service_iam_member" "public_invoker" {
  #checkov:skip=CKV_GCP_102:Firebase Hosting rewrites forward browser requests unauthenticated at the IAM level; every HTTP function verifies the Firebase ID token itself (shared_lib/auth.py) and answers 401 without one.
  for_each = local.http_functions

  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.fn[each.key].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}
