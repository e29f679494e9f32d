"""Statistics service: pre-aggregated daily stats, KPIs, AFV, trends, subscriber counts, live dashboards."""
