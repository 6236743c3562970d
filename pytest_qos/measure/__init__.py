"""Measuring: iperf3 sessions, named flows and windows, one test's runner.

Owns traffic options, the iperf3 argv and JSON parsing, a test's request, the one measuring
path (`rounds.py`: flows and probes together, the window's edges, live names), the runner,
the measured window, a short sender, a flow's live throughput, TCP_INFO, UDP loss, wire rates
and the progress line. Imports the foundation, `judge`, `hosts` and `probes`; never
`lab`, `scenario`, `report` or the pytest layer.
"""
