"""Measuring: iperf3 sessions, their servers, named flows and windows, one test's runner.

Owns traffic options, the iperf3 argv and JSON parsing, spawned servers, the measured window,
UDP loss, wire rates and the progress line. Imports the foundation, `hosts`, `judge` and
`probes`; never `lab`, `scenario`, `report` or the pytest layer.
"""
