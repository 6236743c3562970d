"""From evidence to statements: where the queue, the delay, the loss and the re-marking are.

Each rule states only what its numbers show, with those numbers:

- queue: the first hop whose RTT rose (under the test's load, against the idle path) by most
  of the end-to-end rise, and the router whose qdisc or class held a queue (backlog at the
  end) or dropped during the test. A rise first seen at hop k is a queue on the way into hop
  k (the router of hop k-1, leaving by its WAN) or on hop k's own way back (hop k, by its LAN):
  the counters, else the one-way split, say which; with neither, the stretch is named.
- delay: with nothing else running, the hop where the RTT steps up by most of the end to end.
- loss: the first hop from which every hop on to the destination lost probes.
- re-marking: the first hop whose received DSCP differs from the one before it (the client
  sent the first), from the IP header each hop quoted back.
- direction: the udp probe's one-way split: the way that carries most of the delay (p99 over
  the minimum) or of the loss.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..units import dscp_name
from .evidence import QUEUE_FLOOR, Evidence, Hop, Path, RouterCounters
from .finding import DELAY, DIRECTION, LOSS, MARKING, QUEUE, Finding

RISE_FLOOR = 0.001  # s: an end-to-end rise smaller than this is within this lab's noise
MOST = 0.5  # "most of the end-to-end rise"
UP, DOWN = "up (client → server)", "down (server → client)"


def _rows_text(rows: list[Mapping[str, Any]]) -> str:
    """'WAN qdisc 1: (tbf)' for the first two queued objects."""
    return ", ".join(f"{r['interface']} {r['object']} {r['id']} ({r['kind']})" for r in rows[:2])


def _counters(rows: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    keys = ("interface", "object", "id", "kind", "backlog", "drops", "overlimits", "packets")
    return [{key: row.get(key) for key in keys} for row in rows[:4]]


def rises(evidence: Evidence) -> tuple[dict[int, float], str] | None:
    """Each hop's RTT p50 rise under load over idle, or (no load) over the hop before it."""
    idle, loaded = evidence.idle, evidence.loaded
    if idle is not None and loaded is not None:
        pairs = [(hop, idle.at(hop.hop)) for hop in loaded.hops]
        found = {
            hop.hop: hop.rtt_p50 - before.rtt_p50
            for hop, before in pairs
            if before is not None and hop.rtt_p50 is not None and before.rtt_p50 is not None
        }
        return (found, "under load") if found else None
    path = idle or loaded
    if path is None:
        return None
    steps, previous = {}, 0.0
    for hop in path.hops:
        if hop.rtt_p50 is not None:
            steps[hop.hop], previous = hop.rtt_p50 - previous, hop.rtt_p50
    return (steps, "step") if steps else None


def direction(evidence: Evidence) -> str | None:
    """UP, DOWN or 'both ways' for the delay, from the one-way split (None unmeasured)."""
    one = evidence.one_way
    try:
        up = one["latency.up.p99"] - one["latency.up.min"]
        down = one["latency.down.p99"] - one["latency.down.min"]
    except KeyError:
        return None
    if max(up, down) < RISE_FLOOR:
        return None
    return UP if up >= 2 * down else DOWN if down >= 2 * up else "both ways"


def queue_findings(evidence: Evidence) -> list[Finding]:
    """Where the RTT rose (or stepped), and each router whose counters show a queue."""
    findings: list[Finding] = []
    named: set[str] = set()
    located = rises(evidence)
    path = evidence.path
    if located is not None and path is not None:
        found = _first_rise(path, *located, evidence)
        if found is not None:
            findings.append(found)
            named.update(found.evidence.get("routers", []))
    for router in evidence.routers:
        rows = router.queued()
        if rows and router.name not in named:
            # Only drops, nothing held back: a policer, or a queue that overflowed at once.
            dropped = all(
                int(r["overlimits"]) == 0 and int(r["backlog"]) < QUEUE_FLOOR for r in rows
            )
            findings.append(
                Finding(
                    LOSS if dropped else QUEUE,
                    f"{router.name}: {_rows_text(rows)}",
                    {"router": router.name, "counters": _counters(rows)},
                )
            )
    return findings


def _first_rise(
    path: Path, steps: dict[int, float], kind: str, evidence: Evidence
) -> Finding | None:
    ends = [hop for hop in path.hops if hop.hop in steps]
    if not ends:
        return None
    end = sum(steps.values()) if kind == "step" else steps[ends[-1].hop]
    if end < RISE_FLOOR:
        return None
    first = next(hop for hop in ends if steps[hop.hop] >= MOST * end)
    before = path.at(first.hop - 1)
    facts: dict[str, Any] = {
        "hop": first.hop,
        "rise": steps[first.hop],
        "end_to_end": end,
        "rises": {str(hop): value for hop, value in sorted(steps.items())},
    }
    if kind == "step":
        stretch = _between(before, first)
        return Finding(DELAY, stretch, {**facts, "kind": "idle RTT step"})
    facts["kind"] = "RTT rise under load"
    where, routers = _queue_place(evidence, before, first)
    facts["routers"] = [router.name for router, _ in routers]
    if any(rows for _, rows in routers):
        facts["counters"] = [
            {"router": router.name, **row} for router, rows in routers for row in _counters(rows)
        ]
    return Finding(QUEUE, where, facts)


def _between(before: Hop | None, hop: Hop) -> str:
    start = before.label() if before is not None else "the client"
    return f"between {start} and {hop.label()}"


def _queue_place(
    evidence: Evidence, before: Hop | None, hop: Hop
) -> tuple[str, list[tuple[RouterCounters, list[Mapping[str, Any]]]]]:
    """Which router queued: its counters (WAN of the hop before, LAN of this one) first."""
    forward, back = evidence.router_of(before), evidence.router_of(hop)
    queued = [
        (router, router.queued(side))
        for router, side in ((forward, "WAN"), (back, "LAN"))
        if router is not None and router.queued(side)
    ]
    if queued:
        return "; ".join(f"{r.name}: {_rows_text(rows)}" for r, rows in queued), queued
    way = direction(evidence)
    pick = forward if way == UP else back if way == DOWN else None
    if pick is not None:
        return f"{pick.name} (the delay is {way}; its counters show no queue)", [(pick, [])]
    named = before.name if way == UP and before else hop.name if way == DOWN else None
    return named or _between(before, hop), []


def loss_findings(evidence: Evidence) -> list[Finding]:
    """The first hop from which loss persists to the destination."""
    path = evidence.path
    if path is None:
        return []
    answered = [hop for hop in path.hops if hop.sent]
    if not answered or not answered[-1].loss:
        return []
    start = len(answered) - 1
    while start > 0 and answered[start - 1].loss:
        start -= 1
    first = answered[start]
    before = answered[start - 1] if start else None
    return [
        Finding(
            LOSS,
            _between(before, first),
            {
                "hop": first.hop,
                "losses": {str(hop.hop): hop.loss for hop in answered},
                "probes": {str(hop.hop): [hop.received, hop.sent] for hop in answered},
            },
        )
    ]


def marking_findings(evidence: Evidence) -> list[Finding]:
    """Each hop where the DSCP differs from the hop before (the client's at first)."""
    path = evidence.path
    findings: list[Finding] = []
    if path is not None and path.dscp_unavailable is None:
        previous, before = path.dscp_sent or 0, None
        for hop in path.hops:
            if hop.dscp is None:
                continue
            if hop.dscp != previous:
                where = before.name or before.label() if before is not None else "the client"
                facts = {"from": previous, "to": hop.dscp, "hop": hop.hop, "seen_at": hop.label()}
                if before is not None:
                    facts["before"] = before.label()
                findings.append(Finding(MARKING, where, facts))
            previous, before = hop.dscp, hop
        if any(hop.dscp is not None for hop in path.hops):
            return findings
    if evidence.far_dscp is not None and evidence.far_dscp[0] != evidence.far_dscp[1]:
        sent, seen = evidence.far_dscp
        findings.append(
            Finding(MARKING, "between the client and the far end", {"from": sent, "to": seen})
        )
    return findings


def direction_findings(evidence: Evidence) -> list[Finding]:
    """Which way the delay (or the loss) is, from the one-way split."""
    findings = []
    way = direction(evidence)
    one = evidence.one_way
    if way is not None:
        figures = ("up.min", "up.p99", "down.min", "down.p99")
        findings.append(
            Finding(DIRECTION, way, {f: one[f"latency.{f}"] for f in figures} | {"of": "delay"})
        )
    up, down = one.get("latency.up.loss"), one.get("latency.down.loss")
    if up is not None and down is not None and max(up, down) > 0:
        lossy = UP if up >= 2 * down else DOWN if down >= 2 * up else "both ways"
        findings.append(Finding(DIRECTION, lossy, {"up.loss": up, "down.loss": down, "of": "loss"}))
    return findings


def marking_words(finding: Finding) -> str:
    """'EF (46) → CS1 (8)'."""
    return f"{dscp_name(int(finding.evidence['from']))} → {dscp_name(int(finding.evidence['to']))}"
