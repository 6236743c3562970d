"""Monitoring: every figure into Prometheus while it is measured, and alert rules from scenarios.

Owns the Prometheus names of pytest-qos metrics (`names.py`: one rule, used by everything
here), the series a result becomes (`series.py`), pushing to a Pushgateway off the measuring
thread (`pusher.py`), the live observer of running measurements (`live.py`, the
measure/live.py seam), the textfile for node-exporter (`textfile.py`), alerting rules from
scenario files (`rules.py`) and the `rules` command (`cli.py`). `prometheus_client` is
imported in `client.py` alone, when first used.

May import the foundation and every room above it (judge/, hosts/, measure/, probes/, lab/,
scenario/, store/, report/); nothing but the pytest layer (plugin/) imports it.
"""
