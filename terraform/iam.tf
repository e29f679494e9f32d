# Identities and least privilege.
#
#   om-<service>  runtime service account of each service's functions (roles per service: locals.tf
#                 service_roles; Pub/Sub publisher per topic below; its own IAM database user in sql.tf)
#   om-events     the identity Eventarc pushes events with: eventarc.eventReceiver on the project and
#                 run.invoker on the event functions only
#   allUsers      run.invoker on the HTTP functions (Firebase Hosting calls them; each verifies the ID token)

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

# Publishing: on the platform's topics only, not project-wide.
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
  display_name = "OnlyManager event delivery (Eventarc)"
  description  = "Eventarc triggers push Pub/Sub and Firestore events to the event functions as this identity."

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

# Pub/Sub signs the push requests' OIDC tokens as om-events (needed explicitly on projects created before
# April 2021; harmless after).
resource "google_service_account_iam_member" "pubsub_token_creator" {
  service_account_id = google_service_account.events.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  depends_on = [google_project_service_identity.pubsub]
}

# A gen2 function is served by a Cloud Run service of the same name; invoking it needs run.invoker there.
resource "google_cloud_run_service_iam_member" "events_invoker" {
  for_each = local.event_functions

  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.fn[each.key].name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.events.email}"
}

# --- HTTP functions -------------------------------------------------------------------------------------------

# Unauthenticated invocation: Firebase Hosting rewrites forward the browser's request as is, and the
# function verifies the Firebase ID token (Authorization: Bearer) itself. An organization policy that
# restricts allUsers (iam.allowedPolicyMemberDomains) must allow it for this project.
resource "google_cloud_run_service_iam_member" "public_invoker" {
  for_each = local.http_functions

  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.fn[each.key].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}
