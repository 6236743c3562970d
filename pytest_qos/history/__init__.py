"""History and trends: every complete run kept, each metric's series across runs, change points.

Owns the history directory (`--qos-history DIR`: one results document per complete run, named
so they sort by time, with the run's identity), the series a test's metrics form across runs
(split when a metric is renamed, a test removed or its traffic or probe settings change; never
by a router config or a bound), change points in those series (`python -m pytest_qos trend`,
with the optional `pytest-qos[trend]` extra) and the verdict of a run's newest value against
its own history (`--qos-trend`, `--qos-trend-fail`).

Sits after `report/` and before `plugin/`: it may import the foundation, `judge/`, `hosts/`,
`store/` (the results document, the output writer) and `report/` (plots and tables); nothing
below `plugin/` imports it. Library code: it imports without pytest, and without the extra
until a change point is asked for.
"""
