"""Standard test methods as scenario tests: RFC 2544, RFC 6349, ITU-T Y.1564, RPM
(draft-ietf-ippm-responsiveness), Y.1541 presets.

Each method is search or step logic over a `Trial` (run flows for a while, get Measurements),
usable without pytest and testable with a formula for a trial; `execute.run_method` runs one
with real trials, each a round of the runner's. Imports the foundation, `judge`, `hosts`,
`probes` and `measure`.
"""

from __future__ import annotations

from .spec import METHOD_KEYS, MethodSpec, parse_method
from .trial import Flow, MethodResult, Observed, Trial

__all__ = ["METHOD_KEYS", "Flow", "MethodResult", "MethodSpec", "Observed", "Trial", "parse_method"]
