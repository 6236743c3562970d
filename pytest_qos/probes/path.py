"""What a hops probe's record says: the path, hop by hop, and its `hop.N.*` and `hops` metrics.

Hop loss is not path loss: a router answers probes that expire at it from its control plane,
and rate-limits those answers (Linux: one per second per destination after a burst of six), so
a hop that "loses" probes may forward every packet. Only loss that persists from a hop to the
destination says packets were lost on the way; the report says so beside every hop table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import MeasurementError
from .spec import Probe

HOP_LOSS_CAVEAT = (
    "hop loss is not path loss: routers rate-limit the ICMP errors that answer probes (Linux: 1 "
    "per second per destination after a burst of 6), so only loss that persists from a hop to "
    "the destination means packets were lost on the way"
)
RATE_LIMIT_INTERVAL = 1.0  # s: Linux's net.ipv4.icmp_ratelimit default, per destination


def _mode(pairs: list[list[int]]) -> int | None:
    """The most frequent value of [[value, count], ...]."""
    counts = {int(value): int(count) for value, count in pairs}
    return max(counts, key=lambda value: counts[value]) if counts else None


def path_rows(record: Mapping[str, Any], names: Mapping[str, str]) -> list[dict[str, Any]]:
    """One JSON-ready row per hop: address (and its name in a lab), loss, RTT, DSCP."""
    rows = []
    for hop in record.get("hops", []):
        rtt = hop.get("rtt") or {}
        sent, received = int(hop["sent"]), int(hop["received"])
        address = hop.get("address")
        answers = hop.get("answers") or []
        row: dict[str, Any] = {
            "hop": int(hop["hop"]),
            "address": address,
            "sent": sent,
            "received": received,
            "loss": 100.0 * (sent - received) / sent if sent else None,
            "rtt_min": rtt["min"] / 1e9 if rtt.get("count") else None,
            "rtt_p50": rtt["p50"] / 1e9 if rtt.get("count") else None,
            "rtt_p99": rtt["p99"] / 1e9 if rtt.get("count") else None,
            "dscp": _mode(hop.get("dscp") or []),
            "answer": max(answers, key=lambda pair: pair[1])[0] if answers else None,
        }
        if address in names:
            row["name"] = names[address]
        if len(hop.get("addresses") or []) > 1:
            row["addresses"] = [pair[0] for pair in hop["addresses"]]
        rows.append(row)
    return rows


def hop_metrics(rows: list[dict[str, Any]], destination: int | None) -> dict[str, float]:
    """`hops` (when the destination answered) and hop.N.latency.p50|p99, .loss, .dscp."""
    metrics: dict[str, float] = {}
    if destination is not None:
        metrics["hops"] = float(destination)
    for row in rows:
        prefix = f"hop.{row['hop']}"
        if row["loss"] is not None:
            metrics[f"{prefix}.loss"] = row["loss"]
        if row["rtt_p50"] is not None:
            metrics[f"{prefix}.latency.p50"] = row["rtt_p50"]
            metrics[f"{prefix}.latency.p99"] = row["rtt_p99"]
        if row["dscp"] is not None:
            metrics[f"{prefix}.dscp"] = float(row["dscp"])
    return metrics


def hop_details(
    probe: Probe, record: Mapping[str, Any], names: Mapping[str, str]
) -> dict[str, Any]:
    """The measurement's details: the path, how DSCP was read (or why not), the caveats."""
    rows = path_rows(record, names)
    dscp = record.get("dscp") or {}
    notes = [HOP_LOSS_CAVEAT]
    if probe.interval < RATE_LIMIT_INTERVAL:
        notes.append(
            f"probes every {probe.interval:g} s per hop, above a default Linux router's ICMP "
            "rate (1 per second after a burst of 6): hop loss may be the hop's rate limit"
        )
    if dscp.get("unavailable"):
        notes.append(f"hop DSCP not measured: {dscp['unavailable']}")
    details: dict[str, Any] = {
        "kind": "hops",
        "interval": probe.interval,
        "rounds": probe.packets,
        "max_hops": probe.max_hops,
        "timeout": probe.timeout,
        "sent": int(record.get("sent", 0)),
        "received": int(record.get("received", 0)),
        "destination_hop": record.get("destination_hop"),
        "path": rows,
        "dscp_source": dscp.get("source"),
        "notes": notes,
        **({"dscp": probe.dscp} if probe.dscp is not None else {}),
        **({"dead_end": record["dead_end"]} if record.get("dead_end") else {}),
        **({"dscp_unavailable": dscp["unavailable"]} if dscp.get("unavailable") else {}),
    }
    return details


def check_wanted(probe: Probe, details: Mapping[str, Any], command: list[str]) -> None:
    """A bound on a hop the path does not have, or on hop DSCP not measured: one line why."""
    rows = details["path"]
    host = details.get("host", "the target")
    end = details.get("destination_hop")
    if probe.needs_hop and probe.needs_hop > len(rows):
        reach = (
            f"the destination answered at hop {end}"
            if end
            else f"no answer from the destination within {len(rows)} hops"
        )
        raise MeasurementError(
            f"hop.{probe.needs_hop}: the path to {host} has {len(rows)} hops ({reach})", command
        )
    if probe.needs_hops and end is None:
        raise MeasurementError(
            f"hops: the destination {host} never answered within {probe.max_hops} hops "
            "(a firewall dropping probes to closed UDP ports, or a longer path)",
            command,
        )
    if probe.needs_hop_dscp and details.get("dscp_unavailable"):
        raise MeasurementError(f"hop DSCP: {details['dscp_unavailable']}", command)
