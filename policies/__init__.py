"""Policies: YAML policy files loaded into validated models, and the pure ``evaluate`` function."""
