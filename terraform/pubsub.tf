# Pub/Sub: every topic of the registry (event types, job topics, "<topic>.dead-letter" topics), one push
# subscription per Pub/Sub or schedule function, and one pull subscription per dead-letter topic.
#
# Why terraform owns the push subscriptions (not Eventarc): Eventarc creates and owns the subscription of a
# Pub/Sub trigger and no dead-letter policy can be set on it, so a message failing past its 24-hour retry
# window was dropped with a log line. Here each topic function is an HTTP-invoked function (internal ingress,
# run.invoker for om-push only) fed by a push subscription that retries with exponential backoff and, after
# max_delivery_attempts deliveries, moves the message to "<topic>.dead-letter". Operators read those on
# "<topic>.dead-letter.inspect" and replay them (README.md, "Event delivery, retries and dead letters").

resource "google_pubsub_topic" "topic" {
  #checkov:skip=CKV_GCP_83:Messages are encrypted at rest with Google-managed keys; customer-managed keys are an organisation decision (a kms_key_name here), not this module's default.
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

resource "google_pubsub_subscription" "push" {
  for_each = local.push_subscriptions

  name    = each.key # the function's name
  project = var.project_id
  topic   = google_pubsub_topic.topic[each.value.topic].id

  # How long Pub/Sub waits for the function's answer: its timeout.
  ack_deadline_seconds       = each.value.ack_deadline_seconds
  message_retention_duration = "604800s"

  push_config {
    # The function's Cloud Run URL; functions-framework turns the wrapped push body into the
    # messagePublished CloudEvent the handler gets, and answers 500 when the handler raises.
    push_endpoint = google_cloudfunctions2_function.fn[each.key].service_config[0].uri

    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = google_cloudfunctions2_function.fn[each.key].service_config[0].uri
    }
  }

  retry_policy {
    minimum_backoff = each.value.minimum_backoff
    maximum_backoff = each.value.maximum_backoff
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.topic[each.value.dead_letter_topic].id
    max_delivery_attempts = each.value.max_delivery_attempts
  }

  # Never expire for inactivity: a monthly job's topic is quiet for weeks.
  expiration_policy {
    ttl = ""
  }

  depends_on = [google_cloud_run_service_iam_member.push_invoker]
}

# Dead-lettering needs the Pub/Sub service agent to publish to the dead-letter topic and to acknowledge on
# the source subscription; without these Pub/Sub keeps redelivering instead.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  for_each = local.forwarding_dead_letter_topics

  project = var.project_id
  topic   = google_pubsub_topic.topic[each.key].name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_project_service_identity.pubsub.email}"
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each = local.push_subscriptions

  project      = var.project_id
  subscription = google_pubsub_subscription.push[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${google_project_service_identity.pubsub.email}"
}
