# Plan-time checks that involve more than one variable. A failed precondition stops `terraform plan`.
# (terraform_data is built into Terraform: no provider needed, so the tests plan this file on its own.)

resource "terraform_data" "guards" {
  input = {
    db_connections_needed    = local.db_connections_needed
    db_connections_available = local.db_connections_available
    region                   = var.region
  }

  lifecycle {
    # The connection budget (variables.tf): with no overrides,
    #   length(functions) * max_instance_count * (db_pool_size + db_max_overflow) <= db_max_connections - reserved
    precondition {
      condition     = local.db_connections_needed <= local.db_connections_available
      error_message = "Cloud SQL connection budget exceeded: ${length(var.functions)} functions, ${local.db_connections_needed} connections at full scale (sum of max instances x (db_pool_size ${var.db_pool_size} + db_max_overflow ${var.db_max_overflow})) > db_max_connections ${var.db_max_connections} - db_reserved_connections ${var.db_reserved_connections}. Lower max_instance_count / overrides or the pool, or raise db_max_connections (and db_tier)."
    }

    # shared_lib/config.py: pool per instance stays small.
    precondition {
      condition     = local.db_connections_per_instance <= 5
      error_message = "db_pool_size + db_max_overflow must be at most 5 per instance."
    }

    precondition {
      condition     = length(setsubtract(toset(keys(var.max_instance_count_overrides)), toset(keys(local.functions)))) == 0
      error_message = "max_instance_count_overrides names unknown functions: ${join(", ", setsubtract(toset(keys(var.max_instance_count_overrides)), toset(keys(local.functions))))}."
    }

    precondition {
      condition     = var.db_reserved_connections >= 0 && var.db_reserved_connections < var.db_max_connections
      error_message = "db_reserved_connections must be >= 0 and below db_max_connections."
    }

    precondition {
      condition     = alltrue([for f in var.functions : contains(var.services, f.service)])
      error_message = "Every function's service must be listed in services (regenerate registry.auto.tfvars.json)."
    }

    precondition {
      condition = alltrue([
        for f in var.functions : f.topic == null || contains(var.topics, f.topic == null ? "" : f.topic)
      ])
      error_message = "Every function's topic must be listed in topics (regenerate registry.auto.tfvars.json)."
    }

    precondition {
      condition = alltrue([
        for f in var.functions : f.dead_letter_topic == null || contains(var.topics, f.dead_letter_topic == null ? "" : f.dead_letter_topic)
      ])
      error_message = "Every function's dead_letter_topic must be listed in topics (regenerate registry.auto.tfvars.json)."
    }

    precondition {
      condition     = alltrue([for j in var.scheduler_jobs : contains(var.topics, j.topic)])
      error_message = "Every scheduler job's topic must be listed in topics."
    }

    precondition {
      condition     = length(setsubtract(toset(keys(var.external_topic_publishers)), toset(var.topics))) == 0
      error_message = "external_topic_publishers names topics that are not in topics."
    }

    precondition {
      condition     = length(setsubtract(toset(keys(var.publishers)), toset(var.services))) == 0
      error_message = "publishers names services that are not in services (regenerate registry.auto.tfvars.json)."
    }

    precondition {
      condition     = length(setsubtract(toset(flatten(values(var.publishers))), toset(var.topics))) == 0
      error_message = "publishers names topics that are not in topics (regenerate registry.auto.tfvars.json)."
    }

    # One region: firebase.json's Hosting rewrites call the functions in the region they name.
    precondition {
      condition     = length(local.hosting_regions) > 0 && alltrue([for r in local.hosting_regions : r == var.region])
      error_message = "firebase.json's Hosting rewrites name region(s) ${join(", ", local.hosting_regions)} but the functions deploy to ${var.region}: set the region only in pyproject.toml [tool.onlymanager] and run python -m emulator generate (never -var region=...)."
    }

    precondition {
      condition     = tonumber(trimsuffix(var.retry_minimum_backoff, "s")) <= tonumber(trimsuffix(var.retry_maximum_backoff, "s"))
      error_message = "retry_minimum_backoff must not exceed retry_maximum_backoff."
    }

    # The migrate job logs in as the built-in admin user.
    precondition {
      condition     = var.migrate_image == null || var.db_admin_user_enabled
      error_message = "migrate_image needs db_admin_user_enabled = true (the migrate job logs in as the admin user)."
    }

    precondition {
      condition     = var.db_ip_type == "PUBLIC" || (var.private_network != null && var.vpc_connector != null)
      error_message = "db_ip_type = PRIVATE needs private_network (the instance's VPC, with private services access) and vpc_connector (how the functions reach it)."
    }
  }
}
