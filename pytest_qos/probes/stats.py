"""Latency statistics from raw round-trip samples: percentiles, IPDV jitter, loss, reordering."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .emodel import mos_from_path
from .hdr import Recorder

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


def summary_metrics(summary: dict[str, Any], prefix: str) -> dict[str, float]:
    """`prefix`.min … .jitter (seconds) from a hdr.Recorder summary (ns).

    A percentile the summary gives as None ranked among lost probes: it is infinite (RFC 2679
    §5.1), shown as "lost". Without samples only such percentiles are there.
    """
    figures: dict[str, float] = {}
    if summary.get("count"):
        for name in ("min", "mean", "max", "stdev", "jitter"):
            figures[f"{prefix}.{name}"] = float(summary[name]) / 1e9
    for name in (f"p{p}" for p in PERCENTILES):
        if name in summary:
            value = summary[name]
            figures[f"{prefix}.{name}"] = math.inf if value is None else float(value) / 1e9
    order = ("min", "mean", *(f"p{p}" for p in PERCENTILES), "max", "stdev", "jitter")
    return {f"{prefix}.{n}": figures[f"{prefix}.{n}"] for n in order if f"{prefix}.{n}" in figures}


def record_metrics(
    sent: int, received: int, rtt: dict[str, Any], reordered: int
) -> dict[str, float]:
    """latency.* and mos from a probe client's record (its RTT summary and counts)."""
    if sent <= 0:
        raise ValueError("no probes were sent")
    loss = 100.0 * max(0, sent - received) / sent
    metrics: dict[str, float] = {"latency.loss": loss}
    figures = summary_metrics(rtt, "latency")
    metrics.update(figures)
    if not received or not rtt.get("count"):
        metrics["latency.reordered"] = 0.0
        metrics["mos"] = 1.0
        return metrics
    metrics["latency.reordered"] = 100.0 * reordered / received
    metrics["mos"] = mos_from_path(figures["latency.mean"] / 2, figures["latency.jitter"], loss)
    return metrics


def replies_record(
    replies: Sequence[Reply], arrival_order: Sequence[int] | None = None, sent: int | None = None
) -> tuple[int, dict[str, Any], int]:
    """(received, RTT summary, reordered) of replies held in memory (ping's, the tests').

    Percentiles are ranked among `sent` probes (default: every reply listed, lost ones with
    rtt None included), lost ones counting as infinitely late.
    """
    recorder = Recorder()
    received = [r for r in replies if r.rtt is not None]
    for reply in received:
        assert reply.rtt is not None
        recorder.add(reply.seq, round(reply.rtt * 1e9))
    seqs = {r.seq for r in received}
    order = [seq for seq in (arrival_order or []) if seq in seqs]
    population = len(replies) if sent is None else sent
    return len(received), recorder.summary(population), reordered_count(order)


def latency_metrics(
    sent: int, replies: Sequence[Reply], arrival_order: Sequence[int] | None = None
) -> dict[str, float]:
    """latency.* and mos metrics (seconds, percent) from `sent` probes and their replies."""
    if sent <= 0:
        raise ValueError("no probes were sent")
    received, summary, reordered = replies_record(replies, arrival_order, sent)
    return record_metrics(sent, received, summary, reordered)
