"""Device targets: one YAML file per target (format, precision, op set, budgets)."""
