"""A flow's metrics over one measured window, from iperf3's per-interval data (not end.sum).

Concurrent flows start together and run past the window; each flow's figure counts only the
bytes and datagrams of the intervals inside [start, end) seconds of its own run, so settling
time and the tail are left out. An interval straddling an edge counts in proportion to its
overlap (iperf3's intervals are 1 s; windows on whole seconds take whole intervals).

The receiver's intervals come from the server's JSON (`--get-server-output` against a server
started with `-J`); for a download the client is the receiver. A server that does not send
its JSON leaves only the sender's intervals: throughput is then the sent rate in the window
and UDP loss and jitter come from the whole run (details['window_source'] says which).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import MeasurementError

# Intervals must cover this share of the window, or the figure would be of another span.
MIN_COVERAGE = 0.9
Window = tuple[float, float]


def _sums(intervals: Iterable[Mapping[str, Any]], key: str = "sum") -> list[Mapping[str, Any]]:
    return [interval[key] for interval in intervals if key in interval]


def _overlap(interval: Mapping[str, Any], window: Window) -> float:
    """Seconds of `interval` inside `window`."""
    low, high = window
    return max(0.0, min(float(interval["end"]), high) - max(float(interval["start"]), low))


def window_total(
    intervals: Sequence[Mapping[str, Any]], window: Window, field: str
) -> tuple[float, float]:
    """(sum of `field` over the window, seconds covered); edge intervals pro rata."""
    total = covered = 0.0
    for interval in intervals:
        if interval.get("omitted"):
            continue
        inside = _overlap(interval, window)
        seconds = float(interval.get("seconds") or 0.0)
        if inside <= 0 or seconds <= 0:
            continue
        total += float(interval.get(field, 0.0)) * inside / seconds
        covered += inside
    return total, covered


def _rate(intervals: Sequence[Mapping[str, Any]], window: Window, who: str) -> float:
    octets, covered = window_total(intervals, window, "bytes")
    length = window[1] - window[0]
    if covered < MIN_COVERAGE * length:
        raise MeasurementError(
            f"the {who}'s iperf3 intervals cover {covered:.2f} s of the "
            f"{window[0]:g}-{window[1]:g} s window; the flow ended early or reported nothing"
        )
    return octets * 8 / covered


@dataclass
class WindowFigures:
    """What one flow did in the window: metrics, whose intervals counted, the rate series."""

    metrics: dict[str, float]
    source: str  # "receiver" or "sender"
    series: list[tuple[float, float]]


def window_metrics(document: Mapping[str, Any], window: Window, protocol: str) -> WindowFigures:
    """The flow's metrics over `window` (seconds of its own run)."""
    test = document["start"]["test_start"]
    reverse = bool(test.get("reverse", 0))
    client = list(document.get("intervals", []))
    server_json = document.get("server_output_json")
    server = list(server_json.get("intervals", [])) if isinstance(server_json, dict) else None
    sender = _sums(server if reverse and server is not None else client)
    if reverse:
        receiver: list[Mapping[str, Any]] | None = _sums(client)
    else:
        receiver = _sums(server) if server is not None else None
    metrics: dict[str, float] = {"throughput.sent": _rate(sender, window, "sender")}
    source = "receiver" if receiver is not None else "sender"
    counted = receiver if receiver is not None else sender
    metrics["throughput"] = _rate(counted, window, source)
    if protocol == "udp" and receiver is not None:
        packets, _ = window_total(receiver, window, "packets")
        lost, _ = window_total(receiver, window, "lost_packets")
        # Each interval's RFC 3550 estimate, weighted by its time in the window.
        weighted = [
            {**i, "jitter": float(i.get("jitter_ms", 0.0)) * i["seconds"]} for i in receiver
        ]
        jitter, covered = window_total(weighted, window, "jitter")
        metrics["packets"] = packets
        metrics["lost_packets"] = lost
        metrics["loss"] = 100.0 * lost / packets if packets > 0 else 0.0
        metrics["jitter"] = jitter / covered / 1000.0 if covered > 0 else 0.0
    if protocol == "tcp":
        retransmits, _ = window_total(sender, window, "retransmits")
        if any("retransmits" in interval for interval in sender):
            metrics["retransmits"] = retransmits
    if server is not None and "sum_bidir_reverse" in (client[0] if client else {}):
        metrics["throughput.reverse"] = _rate(
            _sums(client, "sum_bidir_reverse"), window, "receiver"
        )
    # The whole run's intervals: a plot shades the window over settle and tail (report/plots).
    series = [
        (float(i["end"]), float(i["bits_per_second"])) for i in counted if not i.get("omitted")
    ]
    return WindowFigures(metrics, source, series)
