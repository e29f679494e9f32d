# Providers, the project and its APIs. The rest is split by product: functions.tf, pubsub.tf, scheduler.tf,
# sql.tf, firestore.tf, iam.tf, secrets.tf, storage.tf, migrate.tf; derived values in locals.tf; cross-variable checks
# in guards.tf.

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = local.common_labels
}

provider "google-beta" {
  project = var.project_id
  region  = var.region

  default_labels = local.common_labels
}

data "google_project" "this" {
  project_id = var.project_id
}

resource "google_project_service" "api" {
  for_each = toset(local.apis)

  project = var.project_id
  service = each.value

  # Other workloads in the project (Firebase Hosting, Auth) may use the same APIs.
  disable_on_destroy         = false
  disable_dependent_services = false
}

# Google-managed service agents that the resources below grant roles to; creating the identities up front
# avoids "service account does not exist" races on a fresh project (google-beta only).
resource "google_project_service_identity" "pubsub" {
  provider = google-beta

  project = var.project_id
  service = "pubsub.googleapis.com"

  depends_on = [google_project_service.api]
}

resource "google_project_service_identity" "eventarc" {
  provider = google-beta

  project = var.project_id
  service = "eventarc.googleapis.com"

  depends_on = [google_project_service.api]
}
