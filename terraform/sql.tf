# Cloud SQL for PostgreSQL 15: the financial truth. Functions connect with the Cloud SQL Python Connector as
# their service account's IAM database user (no passwords in functions).
#
# IAM database users start with no privileges on the service schemas: the migrations (run as the admin user,
# see README.md) own the schemas and grant each service's IAM user what it needs.

resource "google_sql_database_instance" "main" {
  #checkov:skip=CKV_GCP_6:ssl_mode = ENCRYPTED_ONLY below enforces TLS; require_ssl, which this check reads, was removed in google provider 6.
  #checkov:skip=CKV_GCP_60:db_ip_type PUBLIC (the default) has a public IP with no authorized networks: only the Cloud SQL connector (IAM-authenticated, TLS) gets in. PRIVATE is one variable away.
  #checkov:skip=CKV_GCP_79:PostgreSQL 15 is the version the code and its tests run on (tests use a local PostgreSQL 15); upgrading is a tested change, not a flag.
  #checkov:skip=CKV_GCP_108:log_hostname makes PostgreSQL reverse-resolve every new connection (serverless instances open many); log_connections already logs the client address.
  #checkov:skip=CKV_GCP_110:pgAudit would log every statement of a database holding people's earnings; the audit trail is in the data (outbox events, versioned records) and Cloud Audit Logs.
  #checkov:skip=CKV_GCP_111:log_statement would write amounts and personal data into Cloud Logging.
  #checkov:skip=CKV2_GCP_13:log_duration logs a line per statement; Query Insights (insights_config below) records latency instead.
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

    # What an operator needs after an incident: who connected when, lock waits, checkpoints, errors.
    database_flags {
      name  = "log_connections"
      value = "on"
    }
    database_flags {
      name  = "log_disconnections"
      value = "on"
    }
    database_flags {
      name  = "log_lock_waits"
      value = "on"
    }
    database_flags {
      name  = "log_checkpoints"
      value = "on"
    }
    # The text of a failing statement (parameters are sent apart, so no values), PostgreSQL's default made explicit.
    database_flags {
      name  = "log_min_error_statement"
      value = "error"
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
