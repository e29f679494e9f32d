# The migrate job: `python -m shared_lib.migrate` as a Cloud Run job, run before the functions are deployed
# (README.md, "Deployment"). It applies sql/ and grants each service's IAM database user (OM_SERVICE_DB_USERS)
# its group role, logged in as the built-in admin user.
#
# Its image is built from dist/migrate (`python -m emulator package`) by Cloud Build with Google's buildpacks
# (migrate.cloudbuild.yaml) into the repository below; until var.migrate_image is set (the first apply) there is
# no job.

resource "google_artifact_registry_repository" "images" {
  #checkov:skip=CKV_GCP_84:Google-managed encryption keys; a customer-managed key is an organisation decision, not this module's.
  project       = var.project_id
  location      = var.region
  repository_id = local.images_repository
  format        = "DOCKER"
  description   = "OnlyManager images (the migrate job)."

  depends_on = [google_project_service.api]
}

resource "google_artifact_registry_repository_iam_member" "build_writer" {
  project    = var.project_id
  location   = var.region
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.build.email}"
}

resource "google_service_account" "migrate" {
  project      = var.project_id
  account_id   = local.migrate_account_id
  display_name = "OnlyManager migrations"
  description  = "The migrate Cloud Run job: applies sql/ and the per-service grants as the admin database user."

  depends_on = [google_project_service.api]
}

resource "google_project_iam_member" "migrate_sql_client" {
  project = var.project_id
  role    = "roles/cloudsql.client"
  member  = "serviceAccount:${google_service_account.migrate.email}"
}

resource "google_secret_manager_secret_iam_member" "migrate_admin_password" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.db_admin_password.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.migrate.email}"
}

resource "google_cloud_run_v2_job" "migrate" {
  count = var.migrate_image == null ? 0 : 1

  name     = local.migrate_job_name
  project  = var.project_id
  location = var.region
  # Recreated freely by terraform; the job holds no state (the database does).
  deletion_protection = false

  template {
    # One task; migrations take an advisory lock, so a second concurrent run waits and then finds nothing to do.
    task_count  = 1
    parallelism = 1

    template {
      service_account = google_service_account.migrate.email
      timeout         = "900s"
      # A failed run is not retried on its own: the operator reads its log and runs it again.
      max_retries = 0

      containers {
        image = var.migrate_image

        dynamic "env" {
          for_each = local.migrate_env

          content {
            name  = env.key
            value = env.value
          }
        }

        env {
          name = "DB_PASS"
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.db_admin_password.secret_id
              version = "latest"
            }
          }
        }

        resources {
          limits = {
            cpu    = "1"
            memory = "512Mi"
          }
        }
      }

      # PRIVATE Cloud SQL: the connector reaches the private IP through the same connector as the functions.
      dynamic "vpc_access" {
        for_each = var.vpc_connector == null ? [] : [var.vpc_connector]

        content {
          connector = vpc_access.value
          egress    = "PRIVATE_RANGES_ONLY"
        }
      }
    }
  }

  depends_on = [
    terraform_data.guards,
    google_project_iam_member.migrate_sql_client,
    google_secret_manager_secret_iam_member.migrate_admin_password,
    google_secret_manager_secret_version.db_admin_password,
    google_sql_user.admin,
    google_sql_user.service,
    google_sql_database.main,
  ]
}
