# Firestore (native mode, the (default) database) and its security rules.
#
# A Firebase project usually has its (default) database already: then import it
#   terraform import 'google_firestore_database.default[0]' '(default)'
# or set manage_firestore_database = false.

resource "google_firestore_database" "default" {
  count = var.manage_firestore_database ? 1 : 0

  project                 = var.project_id
  name                    = "(default)"
  location_id             = local.firestore_location
  type                    = "FIRESTORE_NATIVE"
  delete_protection_state = "DELETE_PROTECTION_ENABLED"
  deletion_policy         = "ABANDON"

  depends_on = [google_project_service.api]
}

# firestore.rules (repository root) lets a user read only their agency's documents (custom claims agency_id,
# role). Until that file exists, no ruleset is deployed and plan still works.
resource "google_firebaserules_ruleset" "firestore" {
  count = local.firestore_rules == null ? 0 : 1

  project = var.project_id

  source {
    files {
      name    = "firestore.rules"
      content = local.firestore_rules
    }
  }

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [google_project_service.api, google_firestore_database.default]
}

resource "google_firebaserules_release" "firestore" {
  count = local.firestore_rules == null ? 0 : 1

  project      = var.project_id
  name         = "cloud.firestore" # the (default) database
  ruleset_name = "projects/${var.project_id}/rulesets/${google_firebaserules_ruleset.firestore[0].name}"
}
