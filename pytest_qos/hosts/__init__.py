"""Where things run: endpoints (here, a namespace, ssh, an argv prefix), targets, testbeds.

Owns process spawning and reaping, spawned servers' lifecycle (iperf3 -s, responders), the ssh
ControlMaster, the far-side guard, the stdlib-only script shipped to far hosts, host names,
testbed files (own format and Ansible inventories), the path MTU and per-path locks; the only
room that starts processes (`endpoints.py`). Imports only the package's foundation (`errors`,
`units`, `results`, `yamldoc`).
"""
