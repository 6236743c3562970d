"""Latency probes: udp (a STAMP session-sender, the default), stamp, icmp (system ping), tcp.

Owns each probe kind's options (`spec.py`), its client, the responder (a STAMP reflector),
constant-memory statistics, the E-model and `run_probe`, which runs a probe across a target;
the send schedule (`clock.py`: real-time priority) and how late it ran (`lateness.py`:
`probe.send_late.*`, the `send_late` limit beyond which a run is an error).
The clients and the responder are stdlib-only: they ship to far hosts as one script
(hosts/ship.py). Imports the foundation and `hosts`.
"""

from __future__ import annotations

from .run import run_probe
from .spec import KINDS, PROBE_KEYS, Probe

__all__ = ["KINDS", "PROBE_KEYS", "Probe", "run_probe"]
