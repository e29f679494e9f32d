# Terraform and provider versions.
#
# State: keep it in a GCS bucket shared by the team, e.g. create versions_backend.tf (not committed) with
#   terraform { backend "gcs" { bucket = "<project>-tfstate" prefix = "onlymanager-economy" } }
# or pass it at init time: terraform init -backend-config=... (see README.md).

terraform {
  required_version = ">= 1.6"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "~> 6.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.4"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
}
