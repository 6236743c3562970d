"""The lab: network namespaces this machine builds to stand in for a real network.

Owns the router lab (client, router, server), its router configs and counters, the WAN hop
(netem, tbf, or the userspace delay line, which runs as its own stdlib-only process) and the
site lab (N namespaces, each with a real sshd; `siteplan.py` says where its sites are).
Imports the foundation, `judge` and `hosts` — and `measure`'s window edges for typing only
(the router's counters over the measured window): a lab is a target like any, and measures
nothing itself.
"""
