"""pytest-qos: network Quality of Service as pytest tests, over a library usable without pytest."""

from __future__ import annotations

from .errors import InputError, MeasurementError, QosError, ScenarioError, ToolMissingError
from .hosts.target import Target, local_target, remote_target
from .judge.bounds import Bound, check_bounds, parse_bound
from .measure.iperf3 import Iperf3, Iperf3Server
from .measure.traffic import Traffic
from .results import Check, Measurement, QosResult

__version__ = "0.1.0"

__all__ = [
    "Bound",
    "Check",
    "InputError",
    "Iperf3",
    "Iperf3Server",
    "Measurement",
    "MeasurementError",
    "QosError",
    "QosResult",
    "ScenarioError",
    "Target",
    "ToolMissingError",
    "Traffic",
    "__version__",
    "check_bounds",
    "local_target",
    "parse_bound",
    "remote_target",
]
