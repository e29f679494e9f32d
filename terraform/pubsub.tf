# Pub/Sub: every topic of the registry (event types, job topics, "<topic>.dead-letter" topics).
#
# Subscriptions of the event functions are NOT declared here: each Pub/Sub-triggered function's Eventarc
# trigger creates and manages its own push subscription (and deletes it with the function). See functions.tf
# for how dead-lettering works with those. What is declared here: one pull subscription per dead-letter
# topic, where operators inspect poison messages (gcloud pubsub subscriptions pull <topic>.dead-letter.inspect)
# and from which they can republish after a fix.

resource "google_pubsub_topic" "topic" {
  for_each = toset(var.topics)

  name    = each.key
  project = var.project_id

  depends_on = [google_project_service.api]
}

resource "google_pubsub_subscription" "dead_letter_inspect" {
  for_each = local.dead_letter_topics

  name    = "${each.key}.inspect"
  project = var.project_id
  topic   = google_pubsub_topic.topic[each.key].id

  # Keep dead letters a week, acknowledged or not (seek back to replay one that was acked by mistake).
  message_retention_duration = "604800s"
  retain_acked_messages      = true
  ack_deadline_seconds       = 60

  # Never expire for inactivity: dead-letter topics are quiet most of the time.
  expiration_policy {
    ttl = ""
  }
}
