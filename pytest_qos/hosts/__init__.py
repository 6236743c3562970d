"""Where things run: endpoints (here, a namespace, ssh, an argv prefix), targets, testbeds.

Owns process spawning and reaping, spawned servers' lifecycle (iperf3 -s, responders), the ssh
ControlMaster, the stdlib-only script shipped to far hosts, testbed files (own format and
Ansible inventories) and per-path locks. Imports only the package's foundation (`errors`,
`units`, `results`, `yamldoc`).
"""
