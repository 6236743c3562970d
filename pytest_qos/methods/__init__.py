"""Standard test methods as scenario tests: RFC 2544, RFC 6349, ITU-T Y.1564, RPM
(draft-ietf-ippm-responsiveness), Y.1541 presets.

Each method is a library over a `Trial` (run flows for a while, get Measurements), usable
without pytest; `execute.run_method` runs one on a Runner's target.
"""

from __future__ import annotations

from .spec import METHOD_KEYS, MethodSpec, parse_method
from .trial import Flow, MethodResult, Observed, Trial

__all__ = ["METHOD_KEYS", "Flow", "MethodResult", "MethodSpec", "Observed", "Trial", "parse_method"]
