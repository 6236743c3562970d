"""ITU-T Y.1541 QoS classes as bound presets: `expect: {y1541: class-0}`.

Table 1 of Y.1541 (12/2011) gives, per class, upper bounds on the mean one-way IP packet
transfer delay (IPTD), on IP packet delay variation (IPDV: the 1 - 10^-3 quantile of IPTD minus
its minimum) and on the IP packet loss ratio (IPLR). A round-trip probe cannot see one-way delay,
so the figures are estimated from round trips (see `derive`); "U" (unspecified) gives no bound.
"""

from __future__ import annotations

from typing import Any

from ..errors import InputError
from ..probes.stats import percentile
from ..results import Measurement

# class -> (IPTD s, IPDV s, IPLR ratio); None = "U", unspecified.
CLASSES: dict[int, tuple[float | None, float | None, float | None]] = {
    0: (0.100, 0.050, 1e-3),
    1: (0.400, 0.050, 1e-3),
    2: (0.100, None, 1e-3),
    3: (0.400, None, 1e-3),
    4: (1.000, None, 1e-3),
    5: (None, None, None),
}
METRICS = ("y1541.iptd", "y1541.ipdv", "y1541.iplr")
IPDV_QUANTILE = 99.9  # percent: the 1 - 10^-3 quantile


def expand(value: Any) -> dict[str, str]:
    """`class-N` as bound texts on y1541.iptd / ipdv / iplr (unspecified objectives left out)."""
    text = str(value).strip().lower().replace(" ", "-")
    number = text.removeprefix("class-").removeprefix("class")
    if not number.isdigit() or int(number) not in CLASSES:
        raise InputError(
            f"'{value}' is not a Y.1541 class; write class-0 to class-5 (Table 1 of ITU-T Y.1541)"
        )
    iptd, ipdv, iplr = CLASSES[int(number)]
    if iptd is None and ipdv is None and iplr is None:
        raise InputError(f"'{value}' leaves every objective unspecified; it bounds nothing")
    bounds = {}
    if iptd is not None:
        bounds["y1541.iptd"] = f"<= {iptd * 1000:g} ms"
    if ipdv is not None:
        bounds["y1541.ipdv"] = f"<= {ipdv * 1000:g} ms"
    if iplr is not None:
        bounds["y1541.iplr"] = f"<= {iplr * 100:g} %"
    return bounds


def derive(probe: Measurement) -> dict[str, float]:
    """One-way estimates from a round-trip probe.

    IPTD ~ mean RTT / 2 (a symmetric path); IPDV ~ RTT 99.9th percentile - RTT minimum (all the
    round trip's variation charged to one direction: an upper estimate); IPLR ~ round-trip loss
    (a loss in either direction counts: an upper estimate).
    """
    metrics = probe.metrics
    derived: dict[str, float] = {}
    if "latency.loss" in metrics:
        derived["y1541.iplr"] = metrics["latency.loss"]
    rtts = sorted(rtt for _, rtt in probe.series.get("rtt", []))
    if "latency.mean" in metrics:
        derived["y1541.iptd"] = metrics["latency.mean"] / 2.0
        if rtts:
            derived["y1541.ipdv"] = percentile(rtts, IPDV_QUANTILE) - rtts[0]
        else:  # rebuilt from JSON: no samples, the largest and smallest RTT remain
            derived["y1541.ipdv"] = metrics["latency.max"] - metrics["latency.min"]
    return derived
