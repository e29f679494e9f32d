# Secret Manager. Functions hold no secrets: they log in to Cloud SQL as IAM users and verify Firebase ID
# tokens with Google's public certificates. The one secret is the optional admin password for migrations.

resource "google_secret_manager_secret" "db_admin_password" {
  secret_id = "${var.name_prefix}-db-admin-password"
  project   = var.project_id

  replication {
    auto {}
  }

  depends_on = [google_project_service.api]
}

resource "google_secret_manager_secret_version" "db_admin_password" {
  count = var.db_admin_user_enabled ? 1 : 0

  secret      = google_secret_manager_secret.db_admin_password.id
  secret_data = random_password.db_admin[0].result
}

resource "google_secret_manager_secret_iam_member" "db_admin_password_accessor" {
  for_each = toset(var.db_admin_secret_accessors)

  project   = var.project_id
  secret_id = google_secret_manager_secret.db_admin_password.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value
}
