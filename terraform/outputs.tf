output "http_function_urls" {
  description = "URL of every HTTP function (Firebase Hosting rewrites /api/... to these by function id)."
  value       = { for name, f in google_cloudfunctions2_function.fn : name => f.url if local.functions[name].trigger == "http" }
}

output "firestore_functions" {
  description = "Firestore functions (Eventarc triggers) with their event type and retry policy."
  value = {
    for name, t in local.event_triggers : name => {
      event_type   = t.event_type
      retry_policy = t.retry_policy
      trigger      = google_cloudfunctions2_function.fn[name].event_trigger[0].trigger
    }
  }
}

output "push_subscriptions" {
  description = "Push subscription of each Pub/Sub and schedule function: topic, dead-letter topic, attempts."
  value = {
    for name, s in google_pubsub_subscription.push : name => {
      topic                 = local.push_subscriptions[name].topic
      dead_letter_topic     = local.push_subscriptions[name].dead_letter_topic
      max_delivery_attempts = s.dead_letter_policy[0].max_delivery_attempts
    }
  }
}

output "migrate_job" {
  description = "The migrate Cloud Run job (run it with: gcloud run jobs execute <name> --region <region> --wait); null until migrate_image is set."
  value       = var.migrate_image == null ? null : { name = google_cloud_run_v2_job.migrate[0].name, region = var.region, image = var.migrate_image }
}

output "images_repository" {
  description = "Artifact Registry repository for the migrate image: <region>-docker.pkg.dev/<project>/<repository>."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "build_service_account" {
  description = "Cloud Build builds the functions and the migrate image as this account (gcloud builds submit --service-account)."
  value       = google_service_account.build.id
}

output "statements_bucket" {
  description = "Bucket of the payout statements (STORAGE_BUCKET of the payouts functions)."
  value       = google_storage_bucket.statements.name
}

output "source_bucket" {
  description = "Bucket of the function source archives (also the staging bucket for the migrate image build)."
  value       = local.source_bucket
}

output "instance_connection_name" {
  description = "Cloud SQL instance connection name (INSTANCE_CONNECTION_NAME)."
  value       = google_sql_database_instance.main.connection_name
}

output "db_iam_users" {
  description = "IAM database user of each service (DB_USER); the migrations grant each its schema privileges."
  value       = local.db_iam_users
}

output "db_admin_user" {
  description = "Built-in admin user for migrations, and the Secret Manager secret holding its password."
  value = var.db_admin_user_enabled ? {
    user   = var.db_admin_user
    secret = google_secret_manager_secret.db_admin_password.id
  } : null
}

output "service_accounts" {
  description = "Runtime service account of each service."
  value       = { for s, sa in google_service_account.runtime : s => sa.email }
}

output "events_service_account" {
  description = "Identity Eventarc uses to push Firestore events to the Firestore functions."
  value       = google_service_account.events.email
}

output "push_service_account" {
  description = "Identity the push subscriptions authenticate to the Pub/Sub and schedule functions as."
  value       = google_service_account.push.email
}

output "topics" {
  description = "Pub/Sub topic ids."
  value       = sort([for t in google_pubsub_topic.topic : t.name])
}

output "dead_letter_subscriptions" {
  description = "Pull subscriptions on the dead-letter topics, for operators."
  value       = sort([for s in google_pubsub_subscription.dead_letter_inspect : s.name])
}

output "scheduler_jobs" {
  description = "Cloud Scheduler jobs."
  value       = { for name, j in google_cloud_scheduler_job.job : name => { schedule = j.schedule, time_zone = j.time_zone, topic = j.pubsub_target[0].topic_name } }
}

output "connection_budget" {
  description = "Worst-case Cloud SQL connections of all functions at full scale vs. what is available to them."
  value = {
    needed    = local.db_connections_needed
    available = local.db_connections_available
  }
}

output "firestore_rules_deployed" {
  description = "Whether firestore.rules existed and was released."
  value       = local.firestore_rules != null
}
