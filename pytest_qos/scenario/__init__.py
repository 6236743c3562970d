"""Scenario files: YAML read into validated specs, and one spec run across a target.

Owns the file format (`scenario.schema.json`), the types of what a file says (`spec.py`: one
per kind of test), one reader per section (`sections.py`) and per kind of test
(`testkinds.py`) with file:line:key errors, the `path:`/`mesh:` pairs checked against a
testbed (`sites.py`), and `run.run_test` (measure, judge, diagnose). Imports every room below
it: the foundation, `judge`, `hosts`, `probes`, `measure`, `lab`, `methods`, `diagnose`.
"""
