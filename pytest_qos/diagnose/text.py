"""A diagnosis in words: one sentence per statement, and the probed path as a table.

Every report (failure report, terminal summary, Markdown, HTML) renders a result's diagnosis
through these, from its JSON form, so they all say the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..units import Kind, dscp_name, format_value
from .finding import (
    DELAY,
    DIRECTION,
    LOSS,
    MARKING,
    MESH,
    NOT_MEASURED,
    PATH,
    PATH_CHANGE,
    QUEUE,
)

PATH_HEADERS = ["hop", "address", "name", "loss", "RTT p50 idle", "RTT p50", "DSCP received"]


def _time(value: Any) -> str:
    return format_value(float(value), Kind.DURATION) if value is not None else "—"


def _size(value: Any) -> str:
    return format_value(float(value), Kind.SIZE)


def _counters(rows: Sequence[Mapping[str, Any]]) -> str:
    """'backlog 412 kB at the end, 1203 dropped, held back 5120 times' per object."""
    said = []
    for row in rows[:2]:
        parts = []
        if row.get("drops"):
            parts.append(f"dropped {row['drops']} packets")
        if row.get("overlimits"):
            parts.append(f"held packets back {row['overlimits']} times")
        if row.get("backlog"):
            parts.append(f"{_size(row['backlog'])} still queued at the end")
        who = f"{row['router']} " if row.get("router") else ""
        said.append(f"{who}{row['interface']} {row['object']} {row['id']} {', '.join(parts)}")
    return "; ".join(said)


def _queue(where: str, evidence: Mapping[str, Any]) -> str:
    text = f"queue at {where}"
    if "rise" in evidence:
        text += (
            f" — the RTT (p50) rose {_time(evidence['rise'])} by hop {evidence['hop']}, of "
            f"{_time(evidence['end_to_end'])} end to end under the test's load"
        )
    counters = evidence.get("counters")
    if counters:
        text += f"{'; c' if 'rise' in evidence else ' — c'}ounters: {_counters(counters)}"
    elif "rise" in evidence and not evidence.get("routers"):
        text += "; no router counters on this stretch"
    return text


def _loss(where: str, evidence: Mapping[str, Any]) -> str:
    if "counters" in evidence:
        return f"loss at {where} — counters: {_counters(evidence['counters'])}"
    probes = evidence.get("probes", {})
    losses = ", ".join(
        f"hop {hop} {received}/{sent}" for hop, (received, sent) in sorted(probes.items(), key=_n)
    )
    return (
        f"loss {where}: probes answered from hop {evidence['hop']} on all lost some ({losses}; "
        "hop loss is not path loss, but loss that persists to the destination is)"
    )


def _n(item: tuple[str, Any]) -> int:
    return int(item[0])


def _direction(where: str, evidence: Mapping[str, Any]) -> str:
    if evidence.get("of") == "loss":
        return (
            f"the loss is {where}: up {format_value(evidence['up.loss'], Kind.PERCENT)}, "
            f"down {format_value(evidence['down.loss'], Kind.PERCENT)} (one-way, udp probe)"
        )
    return (
        f"the delay is {where}: one-way p99 up {_time(evidence['up.p99'])} (min "
        f"{_time(evidence['up.min'])}), down {_time(evidence['down.p99'])} (min "
        f"{_time(evidence['down.min'])})"
    )


def _mesh(where: str, evidence: Mapping[str, Any]) -> str:
    failing = evidence["failing"]
    text = f"all {len(failing)} failing pairs involve {where} ({', '.join(failing)})"
    own = evidence.get("its_passing", [])
    text += f"; its other pairs: {', '.join(own) + ' passed' if own else 'none'}"
    without = evidence.get("without", [])
    if without:
        text += f"; the {len(without)} pairs without it passed"
    return text


def sentence(item: Mapping[str, Any]) -> str:
    """One statement of `result.diagnosis` (its JSON form) in words."""
    what, where, evidence = item["what"], item.get("where", ""), item.get("evidence", {})
    if what == QUEUE:
        return _queue(where, evidence)
    if what == DELAY:
        return (
            f"delay {where}: the RTT (p50) steps up {_time(evidence['rise'])} there, of "
            f"{_time(evidence['end_to_end'])} end to end (idle)"
        )
    if what == LOSS:
        return _loss(where, evidence)
    if what == MARKING:
        change = f"{dscp_name(int(evidence['from']))} → {dscp_name(int(evidence['to']))}"
        if "before" in evidence:
            return (
                f"DSCP changed {change} at {where}: {evidence['before']} received "
                f"{dscp_name(int(evidence['from']))}, {evidence['seen_at']} "
                f"{dscp_name(int(evidence['to']))}"
            )
        if "seen_at" in evidence:
            return f"DSCP changed {change} before {evidence['seen_at']} (sent by {where})"
        return f"DSCP changed {change} {where} (the hop was not located: no per-hop DSCP)"
    if what == DIRECTION:
        return _direction(where, evidence)
    if what == PATH_CHANGE:
        return f"path changed: hop {evidence['hop']} was {evidence['was']}, now {evidence['now']}"
    if what == MESH:
        return _mesh(where, evidence)
    if what == NOT_MEASURED:
        return f"not measured: {evidence.get('what')} ({evidence.get('why')})"
    if what == PATH:
        return f"path: {where}"
    return f"{what} at {where}"


def statements(diagnosis: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each statement's sentence, the path table aside."""
    return [sentence(item) for item in diagnosis if item.get("what") != PATH]


def path_table(diagnosis: Sequence[Mapping[str, Any]]) -> tuple[str, list[list[str]]] | None:
    """(caption, rows) of the probed path, if the diagnosis has one."""
    path = next((item for item in diagnosis if item.get("what") == PATH), None)
    if path is None:
        return None
    rows = []
    for hop in path["evidence"].get("hops", []):
        loss = hop.get("loss")
        rows.append(
            [
                str(hop["hop"]),
                hop.get("address") or "*",
                hop.get("name") or "",
                format_value(loss, Kind.PERCENT) if loss is not None else "—",
                _time(hop.get("rtt_p50_idle")) if "rtt_p50_idle" in hop else "",
                _time(hop.get("rtt_p50")),
                dscp_name(int(hop["dscp"])) if hop.get("dscp") is not None else "—",
            ]
        )
    return f"path: {path['where']} ({path['evidence'].get('caveat', '')})", rows


def timing(seconds: float | None) -> str:
    """'per-hop probing took 7.9 s' ('' when it did not probe)."""
    return f"per-hop probing took {seconds:.1f} s" if seconds is not None else ""
