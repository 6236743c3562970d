"""pytest hooks of pytest-qos (being built)."""
