"""What a STAMP probe learns about each direction: one-way delay, per-direction loss, DSCP."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import MeasurementError
from ..units import dscp_name
from .spec import Probe
from .stats import summary_metrics
from .timesync import SyncState, describe_unsynced

__all__ = ["directions", "dscp_metrics", "dscp_name"]


def directions(
    probe: Probe,
    record: dict[str, Any],
    sent: int,
    received: int,
    same_clock: bool,
    where: str,
    details: dict[str, Any],
    command: list[str],
) -> dict[str, float]:
    """latency.up.* / latency.down.* when the clocks allow, and per-direction loss."""
    metrics: dict[str, float] = {}
    reflector = record.get("reflector") or {}
    reached = reflector.get("received")
    if reached is not None:
        reached = max(received, min(sent, int(reached)))
        metrics["latency.up.loss"] = 100.0 * (sent - reached) / sent
        metrics["latency.down.loss"] = 100.0 * (reached - received) / reached if reached else 0.0
    else:
        why = (
            "the reflector is stateless (its sequence numbers copy the sender's)"
            if reflector.get("stateful") is False
            else "the reflector's count could not be read"
        )
        details["per_direction_loss"] = f"unavailable: {why}"
        if probe.needs_one_way:
            raise MeasurementError(
                f"per-direction loss from {where} is unavailable: {why}; a stateful STAMP "
                "reflector numbers what it received",
                command,
            )
    reason = _one_way_refused(probe, record, same_clock, where)
    if reason is None:
        details["clock"] = "same host" if same_clock and probe.clock != "synced" else "synced"
        if details["clock"] == "synced":
            details["clock_error"] = float(record["sync"]["error"]) + float(
                reflector.get("error") or 0.0
            )
        received_up = record.get("up") or {}
        metrics.update(summary_metrics(received_up, "latency.up"))
        metrics.update(summary_metrics(record.get("down") or {}, "latency.down"))
    else:
        details["one_way"] = f"unavailable: {reason}"
        # A declared 'clock: synced' that does not hold is an error even without a bound.
        if probe.needs_one_way or probe.clock == "synced":
            raise MeasurementError(f"one-way delay is unavailable: {reason}", command)
    return metrics


def _one_way_refused(
    probe: Probe, record: dict[str, Any], same_clock: bool, where: str
) -> str | None:
    """Why one-way figures cannot be trusted here, or None when they can."""
    if probe.clock == "none":
        return "the probe says 'clock: none'"
    if probe.clock == "auto":
        if same_clock:
            return None
        return (
            f"the probe's host and {where} may run different clocks; declare 'clock: synced' "
            "when both are synchronised (chrony, ntpd, PTP)"
        )
    sync = record.get("sync") or {}
    if "unreadable" in sync or "synced" not in sync:
        return (
            "'clock: synced' is declared, but this host's synchronisation state cannot be read "
            f"({sync.get('unreadable', 'no state reported')})"
        )
    if not sync["synced"]:
        state = SyncState(False, float(sync["error"]), float(sync["max_error"]))
        return describe_unsynced(state, "the probe's host")
    if not (record.get("reflector") or {}).get("synced"):
        return (
            f"'clock: synced' is declared, but the reflector at {where} says its clock is not "
            "synchronised (STAMP Error Estimate, S bit 0)"
        )
    if int(record.get("negative_one_way", 0)):
        return (
            f"{record['negative_one_way']} probes arrived before they were sent by the two "
            "clocks: they disagree by more than the delay"
        )
    return None


def dscp_metrics(
    probe: Probe, record: dict[str, Any], where: str, notes: list[str], command: list[str]
) -> dict[str, float]:
    """dscp.received / dscp.changed (far end) and dscp.return.* (what came back)."""
    report = record.get("dscp") or {}
    sent = int(report.get("sent", 0))
    metrics: dict[str, float] = {}
    far = _counts(report.get("far") or [])
    if report.get("cos") and far:
        metrics.update(_figures("dscp", far, sent))
        seen = max(far, key=lambda value: far[value])
        if seen != sent or metrics["dscp.changed"]:
            notes.append(
                f"DSCP sent {dscp_name(sent)}; at the far end {dscp_name(seen)} on "
                f"{100.0 * far[seen] / sum(far.values()):.3g} % of probes"
            )
    elif probe.needs_dscp:
        raise MeasurementError(
            f"the reflector at {where} did not report the DSCP it received (no RFC 8972 "
            "Class-of-Service TLV in its replies; the probe size must be at least 52 B)",
            command,
        )
    back = _counts(report.get("return") or [])
    if back:
        figures = _figures("dscp.return", back, sent)
        if not report.get("cos"):
            figures.pop("dscp.return.changed")  # nobody asked the reflector for a DSCP
        metrics.update(figures)
        seen = max(back, key=lambda value: back[value])
        if "dscp.return.changed" in figures and (seen != sent or figures["dscp.return.changed"]):
            notes.append(
                f"DSCP asked for on the return {dscp_name(sent)}; received {dscp_name(seen)} on "
                f"{100.0 * back[seen] / sum(back.values()):.3g} % of replies"
            )
    return metrics


def _counts(pairs: Sequence[Sequence[int]]) -> dict[int, int]:
    return {int(value): int(count) for value, count in pairs}


def _figures(prefix: str, counts: dict[int, int], sent: int) -> dict[str, float]:
    total = sum(counts.values())
    seen = max(counts, key=lambda value: (counts[value], value == sent))
    return {
        f"{prefix}.received": float(seen),
        f"{prefix}.changed": 100.0 * (total - counts.get(sent, 0)) / total,
    }
