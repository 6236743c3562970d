"""What a reported figure means, as it was computed for this measurement.

The catalogue (judge/metrics.py) defines a metric as a plain run measures it; a flow of a mix
is measured over the window from iperf3's per-interval data instead, and a sender-only flow
from the sender's intervals. A failure prints the definition that matches the computation.
"""

from __future__ import annotations

from ..judge.metrics import find, split_name
from ..results import Measurement, QosResult, keyed, prefixes

# Figures windows.py computes from intervals when a measurement has a window.
_FROM_INTERVALS = {
    "throughput": "goodput over the measured window: bytes in the {who}'s iperf3 intervals",
    "throughput.sent": "sender-side rate over the measured window: bytes in the sender's "
    "iperf3 intervals",
    "throughput.reverse": "goodput of the reverse direction over the measured window "
    "(the receiver's iperf3 intervals)",
    "loss": "UDP datagrams lost over the measured window, percent of those the receiver "
    "expected, from the receiver's iperf3 intervals",
    "packets": "UDP datagrams the receiver expected in the measured window",
    "lost_packets": "UDP datagrams lost in the measured window",
    "jitter": "iperf3 UDP jitter (RFC 3550 estimate), each receiver interval weighted by its "
    "time in the measured window",
    "retransmits": "TCP segments retransmitted in the measured window (sender's intervals)",
}
_RECEIVER_ONLY = ("loss", "packets", "lost_packets", "jitter")


def owner(result: QosResult, name: str) -> Measurement | None:
    """The measurement whose metric `name` is (under its prefix in the test), if any."""
    for prefix, measurement in zip(prefixes(result.measurements), result.measurements, strict=True):
        if name in keyed(prefix, measurement.metrics):
            return measurement
    return None


def definition(result: QosResult, name: str) -> str | None:
    """`name`'s definition as `result` computed it; the catalogue's when nothing differs."""
    metric = find(name)
    measurement = owner(result, name)
    base = split_name(name)[1]
    if measurement is None or "window" not in measurement.details or base not in _FROM_INTERVALS:
        return metric.definition if metric else None
    start, end = (round(float(edge), 2) for edge in measurement.details["window"])
    span = f" from {start:g} s to {end:g} s of its run (settle and tail left out)"
    source = str(measurement.details.get("window_source", "receiver"))
    if source == "sender" and base in _RECEIVER_ONLY:
        # No receiver intervals (the server sent none): these are the whole run's.
        whole = metric.definition if metric else base
        return f"{whole}, over the whole run (there were no receiver intervals)"
    if source == "sender" and base == "throughput":
        return (
            "sender-side rate over the measured window (the server sent no intervals): bytes in "
            f"the sender's iperf3 intervals{span}"
        )
    return _FROM_INTERVALS[base].format(who="receiver") + span
