"""Plain reference definitions of probe statistics, for checking the library's own figures.

The library computes these in constant memory (probes/hdr.py, probes/stats.py); here they are
written the obvious way, over every sample held in a list.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from pytest_qos.probes.stats import Reply, record_metrics, replies_record


def mean_abs_ipdv(rtts_in_sequence_order: Sequence[float]) -> float:
    """Mean |RTT(i) − RTT(i−1)| over consecutive received replies in sequence order."""
    if len(rtts_in_sequence_order) < 2:
        return 0.0
    pairs = itertools.pairwise(rtts_in_sequence_order)
    return math.fsum(abs(later - earlier) for earlier, later in pairs) / (
        len(rtts_in_sequence_order) - 1
    )


def latency_metrics(
    sent: int, replies: Sequence[Reply], arrival_order: Sequence[int] | None = None
) -> dict[str, float]:
    """latency.* and mos (seconds, percent) from `sent` probes and their replies in memory."""
    if sent <= 0:
        raise ValueError("no probes were sent")
    received, summary, reordered = replies_record(replies, arrival_order, sent)
    return record_metrics(sent, received, summary, reordered)
