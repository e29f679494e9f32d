# Cloud Scheduler: one job per registry job. Each publishes {"as_of": null} to its topic; the subscribed
# schedule function treats a null as_of as "today in the agency's time zone" and catches up idempotently,
# so a missed or doubled run changes nothing.

resource "google_cloud_scheduler_job" "job" {
  for_each = local.scheduler_jobs

  name        = each.key
  project     = var.project_id
  region      = local.scheduler_region
  description = each.value.description
  schedule    = each.value.schedule
  time_zone   = each.value.time_zone

  pubsub_target {
    topic_name = google_pubsub_topic.topic[each.value.topic].id
    data       = local.scheduler_payload # base64 of {"as_of":null}
    attributes = { job = each.key }
  }

  depends_on = [google_project_service.api]
}
