"""Scenario files: YAML read into validated test specs, and one spec run across a target.

Owns the file format (`scenario.schema.json`), its reader with file:line:key errors, the
`path:`/`mesh:` pairs checked against a testbed, and `run.run_test`. May import everything
below the pytest layer and the reports.
"""
