# Cloud Storage for payout statements (shared_lib/storage.py, STORAGE_BUCKET of the payouts functions).
#
# Statements carry people's earnings: uniform bucket-level access (no per-object ACLs), public access
# prevention enforced, and one writer: the payouts runtime account. No other identity of this module gets a
# storage role that reaches this bucket (the build account's project-wide reader role excludes it, iam.tf).

resource "google_storage_bucket" "statements" {
  #checkov:skip=CKV_GCP_62:Access logging would need a second bucket; Cloud Audit Logs (Data Access for storage) record reads when enabled on the project.
  name                        = local.statements_bucket
  project                     = var.project_id
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  # A statement overwritten by a recalculation stays recoverable for 30 days.
  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.api]
}

# Create, overwrite (a recalculated statement replaces the old object) and read.
resource "google_storage_bucket_iam_member" "statements_writer" {
  bucket = google_storage_bucket.statements.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.runtime[local.statements_service].email}"
}
