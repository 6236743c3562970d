"""Measuring: iperf3 sessions, named flows and windows, one test's runner.

Owns traffic options, the iperf3 argv and JSON parsing, the measured window, UDP loss, wire
rates and the progress line. Imports the foundation, `judge`, `hosts` and `probes`; never
`lab`, `scenario`, `report` or the pytest layer.
"""
