"""UDP loss over iperf3's counted window, from the receiver's own per-interval counts.

iperf3 3.12's `end.sum.lost_percent` divides the receiver's lost count (omitted seconds
included) by the sender's count (omitted seconds excluded): 12 Mbit/s into a 10 Mbit/s shaper,
true loss 19 %, it reports 25 % with `-O 1` and 35 % with `-O 2`. The receiver's intervals
carry both numbers for the same window: datagrams expected (highest sequence seen) and lost.

iperf3 3.12 sometimes merges the last omitted second into the first counted interval (one
2-second interval, printed "1.00-1.00 sec" in text). Such an interval counts only for the share
of it that a normal interval lasts, as if its datagrams were spread evenly over it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# "[  5]   0.00-1.00   sec  1.17 MBytes  9.83 Mbits/sec  0.312 ms  122/971 (13%)  (omitted)"
_TEXT_INTERVAL = re.compile(
    r"^\[\s*(?P<id>SUM|\d+)\]\s+[\d.]+-[\d.]+\s+sec\s+"
    r"(?P<bytes>[\d.]+)\s+(?P<byte_unit>[KMGT]?)Bytes\s+"
    r"(?P<rate>[\d.]+)\s+(?P<rate_unit>[KMGT]?)bits/sec\s.*?"
    r"\s(?P<lost>\d+)/(?P<total>\d+)\s+\([^)]*%\)\s*(?P<tail>.*)$"
)
REPORT_INTERVAL = 1.0  # iperf3's default `-i`; the commands built here never change it
_SCALE = {"": 0, "K": 1, "M": 2, "G": 3, "T": 4}


@dataclass(frozen=True)
class WindowLoss:
    """Datagrams the receiver expected and lost in the counted (not omitted) intervals."""

    total: int
    lost: int
    source: str  # which receiver's intervals: "client", "server (json)", "server (text)"

    @property
    def percent(self) -> float:
        """Lost as a percentage of expected (0 when nothing was expected)."""
        return 100.0 * self.lost / self.total if self.total else 0.0


def window_loss(document: dict[str, Any]) -> WindowLoss | None:
    """Loss over the counted window, or None when no receiver intervals are available.

    Downloads (`-R`): the client is the receiver, its own intervals count. Uploads: the
    server's intervals, which `--get-server-output` brings (JSON from a `-J` server, else
    text). Bidirectional tests mix both directions and are left to iperf3's summary.
    """
    test = document.get("start", {}).get("test_start", {})
    if test.get("bidir"):
        return None
    if test.get("reverse"):
        return _from_json_intervals(document.get("intervals", []), "client")
    server_json = document.get("server_output_json")
    if isinstance(server_json, dict):
        return _from_json_intervals(server_json.get("intervals", []), "server (json)")
    server_text = document.get("server_output_text")
    if isinstance(server_text, str):
        return _from_text(server_text)
    return None


# One counted interval: (seconds it lasted, datagrams expected, datagrams lost).
_Row = tuple[float, int, int]


def _from_json_intervals(intervals: list[dict[str, Any]], source: str) -> WindowLoss | None:
    rows: list[_Row] = []
    for interval in intervals:
        summary = interval.get("sum", {})
        if "lost_packets" not in summary or summary.get("omitted", False):
            continue
        seconds = float(summary.get("seconds", 0.0))
        rows.append((seconds, int(summary.get("packets", 0)), int(summary["lost_packets"])))
    return _total(rows, source)


def _from_text(text: str) -> WindowLoss | None:
    """The server's interval lines; [SUM] lines when there are several streams."""
    rows: list[tuple[str, _Row]] = []
    for line in text.splitlines():
        match = _TEXT_INTERVAL.match(line.strip())
        if match is None:
            continue
        tail = match.group("tail").strip()
        if tail in ("receiver", "sender") or "omitted" in tail:
            continue  # the final summary, or a second the test asked to leave out
        # The printed times are wrong in a merged interval; bytes over rate are not.
        size = float(match.group("bytes")) * 1024 ** _SCALE[match.group("byte_unit")] * 8
        rate = float(match.group("rate")) * 1000 ** _SCALE[match.group("rate_unit")]
        seconds = size / rate if rate > 0 else 0.0
        rows.append(
            (match.group("id"), (seconds, int(match.group("total")), int(match.group("lost"))))
        )
    summed = [row for name, row in rows if name == "SUM"]
    return _total(summed or [row for _, row in rows], "server (text)")


def _total(rows: list[_Row], source: str) -> WindowLoss | None:
    """Sum the rows; one longer than 1.5 reporting intervals counts for one interval's share."""
    if not rows:
        return None
    total = lost = 0.0
    for seconds, expected, missing in rows:
        share = REPORT_INTERVAL / seconds if seconds > 1.5 * REPORT_INTERVAL else 1.0
        total += expected * share
        lost += missing * share
    return WindowLoss(round(total), round(lost), source)
