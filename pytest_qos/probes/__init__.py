"""Latency probes: udp (isochronous echo, the default), icmp (system ping), tcp (connect time)."""

from __future__ import annotations

from .run import run_probe
from .spec import KINDS, PROBE_KEYS, Probe

__all__ = ["KINDS", "PROBE_KEYS", "Probe", "run_probe"]
