-- stats: a Manager's subscriber counts are those of the models assigned to them or their team (shared_lib/rbac.py
-- model_scope), so the stats role reads the assignments too.
GRANT SELECT ON user_service.model_assignments TO om_stats;
