-- One schema per service; each service's tables come with its own migrations.
CREATE SCHEMA IF NOT EXISTS income_service;
CREATE SCHEMA IF NOT EXISTS expense_service;
CREATE SCHEMA IF NOT EXISTS financial_calculations;
CREATE SCHEMA IF NOT EXISTS statistics_service;
CREATE SCHEMA IF NOT EXISTS timetracking_service;
