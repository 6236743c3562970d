"""Judging: the metric catalogue, bounds, baseline comparisons, a test's verdict.

Owns what each metric means (unit, better direction, what measures it; the lab routers'
counter names too, `counternames.py`), bounds ('>= 19 Mbit/s', '>= 95% of baseline'),
--qos-compare thresholds, comparisons with a stored run, and `verdict.judge` / `judge_part`,
which scenario tests and `qos_check` alike call. Pure functions over results: nothing here
measures, spawns or writes files. Imports only the package's foundation (`errors`, `units`,
`results`).
"""
