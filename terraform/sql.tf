# Cloud SQL for PostgreSQL 15: the financial truth. Functions connect with the Cloud SQL Python Connector as
# their service account's IAM database user (no passwords in functions).
#
# IAM database users start with no privileges on the service schemas: the migrations (run as the admin user,
# see README.md) own the schemas and grant each service's IAM user what it needs.

resource "google_sql_database_instance" "main" {
  name                = var.db_instance_name
  project             = var.project_id
  region              = var.region
  database_version    = "POSTGRES_15"
  deletion_protection = var.db_deletion_protection

  settings {
    tier              = var.db_tier
    edition           = "ENTERPRISE"
    availability_type = var.db_availability_type
    disk_type         = "PD_SSD"
    disk_size         = var.db_disk_size_gb
    disk_autoresize   = true

    # Deletion in the console/API as well as in terraform.
    deletion_protection_enabled = var.db_deletion_protection

    user_labels = local.common_labels

    ip_configuration {
      # PUBLIC: a public IP with no authorized networks; only the connector (IAM + TLS) gets in.
      ipv4_enabled    = var.db_ip_type == "PUBLIC"
      private_network = var.db_ip_type == "PRIVATE" ? var.private_network : null
      ssl_mode        = "ENCRYPTED_ONLY"
    }

    database_flags {
      name  = "cloudsql.iam_authentication"
      value = "on"
    }

    # The connection budget's ceiling (variables.tf, guards.tf), set explicitly rather than left to the
    # tier's memory-based default.
    database_flags {
      name  = "max_connections"
      value = tostring(var.db_max_connections)
    }

    backup_configuration {
      enabled                        = true
      point_in_time_recovery_enabled = true
      start_time                     = "02:00"
      transaction_log_retention_days = 7

      backup_retention_settings {
        retained_backups = 14
      }
    }

    maintenance_window {
      day          = 7 # Sunday
      hour         = 3
      update_track = "stable"
    }

    insights_config {
      query_insights_enabled  = true
      record_application_tags = false
      record_client_address   = false
    }
  }

  lifecycle {
    precondition {
      condition     = var.db_ip_type == "PUBLIC" || var.private_network != null
      error_message = "db_ip_type = PRIVATE needs private_network."
    }
  }

  depends_on = [google_project_service.api, terraform_data.guards]
}

resource "google_sql_database" "main" {
  name     = var.db_name
  project  = var.project_id
  instance = google_sql_database_instance.main.name
}

# One IAM database user per runtime service account (DB_USER of that service's functions).
resource "google_sql_user" "service" {
  for_each = toset(var.services)

  name     = local.db_iam_users[each.key]
  project  = var.project_id
  instance = google_sql_database_instance.main.name
  type     = "CLOUD_IAM_SERVICE_ACCOUNT"

  depends_on = [google_service_account.runtime]
}

# The admin user for migrations and grants (optional); its password lives in Secret Manager (secrets.tf).
resource "random_password" "db_admin" {
  count = var.db_admin_user_enabled ? 1 : 0

  length  = 32
  special = false
}

resource "google_sql_user" "admin" {
  count = var.db_admin_user_enabled ? 1 : 0

  name     = var.db_admin_user
  project  = var.project_id
  instance = google_sql_database_instance.main.name
  type     = "BUILT_IN"
  password = random_password.db_admin[0].result
}
