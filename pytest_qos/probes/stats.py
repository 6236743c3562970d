"""Latency statistics from raw round-trip samples: percentiles, IPDV jitter, loss, reordering."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from .emodel import mos_from_path

PERCENTILES = (50, 90, 95, 99)


@dataclass(frozen=True)
class Reply:
    """One probe's outcome: its sequence number and round-trip time (None when lost)."""

    seq: int
    rtt: float | None  # seconds; None: no reply within the timeout


def percentile(sorted_samples: Sequence[float], percent: float) -> float:
    """Nearest-rank percentile: the smallest sample with at least `percent` % at or below it."""
    if not sorted_samples:
        raise ValueError("percentile of no samples")
    if not 0 < percent <= 100:
        raise ValueError(f"percent must be in (0, 100], got {percent}")
    # Nearest rank always returns an observed sample, never an interpolation between two.
    rank = math.ceil(percent / 100 * len(sorted_samples) - 1e-9)
    return sorted_samples[max(rank, 1) - 1]


def mean_abs_ipdv(rtts_in_sequence_order: Sequence[float]) -> float:
    """Mean |RTT(i) − RTT(i−1)| over consecutive received replies in sequence order."""
    if len(rtts_in_sequence_order) < 2:
        return 0.0
    pairs = itertools.pairwise(rtts_in_sequence_order)
    return math.fsum(abs(later - earlier) for earlier, later in pairs) / (
        len(rtts_in_sequence_order) - 1
    )


def reordered_count(arrival_order: Sequence[int]) -> int:
    """Replies that arrived after a reply with a higher sequence number (RFC 4737 style)."""
    highest = -1
    late = 0
    for seq in arrival_order:
        if seq < highest:
            late += 1
        else:
            highest = seq
    return late


def latency_metrics(
    sent: int, replies: Sequence[Reply], arrival_order: Sequence[int] | None = None
) -> dict[str, float]:
    """latency.* and mos metrics (seconds, percent) from `sent` probes and their replies."""
    if sent <= 0:
        raise ValueError("no probes were sent")
    received = sorted((r for r in replies if r.rtt is not None), key=lambda r: r.seq)
    rtts = [r.rtt for r in received if r.rtt is not None]
    loss = 100.0 * (sent - len(rtts)) / sent
    metrics: dict[str, float] = {"latency.loss": loss}
    if not rtts:
        metrics["latency.reordered"] = 0.0
        metrics["mos"] = 1.0
        return metrics
    ordered = sorted(rtts)
    mean = math.fsum(rtts) / len(rtts)
    variance = (
        math.fsum((rtt - mean) ** 2 for rtt in rtts) / (len(rtts) - 1) if len(rtts) > 1 else 0.0
    )
    jitter = mean_abs_ipdv(rtts)
    metrics.update(
        {
            "latency.min": ordered[0],
            "latency.mean": mean,
            **{f"latency.p{p}": percentile(ordered, p) for p in PERCENTILES},
            "latency.max": ordered[-1],
            "latency.stdev": math.sqrt(variance),
            "latency.jitter": jitter,
        }
    )
    received_seqs = {r.seq for r in received}
    order = [seq for seq in (arrival_order or []) if seq in received_seqs]
    metrics["latency.reordered"] = 100.0 * reordered_count(order) / len(rtts)
    metrics["mos"] = mos_from_path(mean / 2, jitter, loss)
    return metrics
