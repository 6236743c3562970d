"""pytest-qos: network Quality of Service as pytest tests, over a library usable without pytest."""

from __future__ import annotations

from .bounds import Bound, check_bounds, parse_bound
from .errors import InputError, MeasurementError, QosError, ScenarioError, ToolMissingError
from .iperf3 import Iperf3, Iperf3Server
from .results import Check, Measurement, QosResult
from .target import Target, local_target, remote_target
from .traffic import Traffic

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
