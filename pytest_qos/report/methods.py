"""Tables of the standard methods: every RFC 2544 trial, every Y.1564 step, RFC 6349 figures,
every interval of an rpm test."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tabulate import tabulate

from ..judge.metrics import format_metric
from ..results import Measurement, QosResult
from ..units import Kind, format_value

METHOD_TOOLS = ("rfc2544", "y1564", "rfc6349", "rpm")


def _rate(value: float | None) -> str:
    return format_value(value, Kind.RATE) if value is not None else "—"


def _percent(value: float | None) -> str:
    return format_value(value, Kind.PERCENT) if value is not None else "—"


def _time(value: float | None) -> str:
    return format_value(value, Kind.DURATION) if value is not None else "—"


def _trial_verdict(trial: dict[str, Any]) -> str:
    if trial.get("limited"):
        return "limited (sender)"
    return "pass" if trial["passed"] else "loss"


def rfc2544_rows(details: dict[str, Any]) -> list[list[str]]:
    """frame size, trial number, offered and sent rates, loss, delivered, verdict per trial."""
    rows = []
    for search in details.get("searches", []):
        for number, trial in enumerate(search["trials"], 1):
            rows.append(
                [
                    str(search["frame_size"]),
                    str(number),
                    _rate(trial["rate"]),
                    _rate(trial.get("sent")),
                    _percent(trial["loss"]),
                    _rate(trial["delivered"]),
                    _trial_verdict(trial),
                ]
            )
        rows.append(
            [
                str(search["frame_size"]),
                "result",
                _rate(search["throughput"]),
                "",
                "",
                f"{search['frame_rate']:.0f} frames/s",
                search["note"] or ("" if search["converged"] else "not converged"),
            ]
        )
    return rows


def y1564_rows(details: dict[str, Any]) -> list[list[str]]:
    """service, step, offered, sent, IR, FLR, FTD, FDV, verdict — one row per step."""
    return [
        [
            row["service"],
            row["step"],
            _rate(row["rate"]),
            _rate(row.get("sent")),
            _rate(row["ir"]),
            _percent(row["flr"]),
            _time(row["ftd"]),
            _time(row["fdv"]),
            "limited (sender)" if row.get("limited") else "pass" if row["passed"] else "FAIL",
        ]
        for row in details.get("steps", [])
    ]


HEADERS = {
    "rfc2544": ["frame", "trial", "offered", "sent", "loss", "delivered", "verdict"],
    "y1564": ["service", "step", "offered", "sent", "IR", "FLR", "FTD (RTT)", "FDV", "verdict"],
    "rfc6349": ["figure", "value"],
    "rpm": [
        "interval",
        "start",
        "conns",
        "goodput",
        "moving average",
        "stage",
        "tcp, udp replies (asked)",
        "RTT samples",
        "foreign RTT",
        "loaded RTT",
        "RPM",
    ],
}


def rfc6349_rows(measurement: Measurement) -> list[list[str]]:
    """Each RFC 6349 figure with its value, and where the RTT came from."""
    rows = [[name, format_metric(name, value)] for name, value in measurement.metrics.items()]
    details = measurement.details
    rows.append(
        [
            "transfer / ideal time",
            f"{details.get('transfer_time', 0):.3f} s / "
            f"{details.get('ideal_transfer_time', 0):.3f} s",
        ]
    )
    rows.append(["RTT source", str(details.get("rtt_source", ""))])
    return rows


def _rates(values: dict[str, float] | None) -> str:
    """'18.9 Mbit/s', or one rate per direction: 'up 9.4 Mbit/s, down 9.5 Mbit/s'."""
    if not values:
        return "—"
    if len(values) == 1:
        return _rate(next(iter(values.values())))
    short = {"upload": "up", "download": "down"}
    return ", ".join(f"{short.get(name, name)} {_rate(value)}" for name, value in values.items())


def rpm_rows(phase: dict[str, Any]) -> list[list[str]]:
    """One row per interval of an rpm phase: the load, the stage reached, the probes, RPM."""
    rows = []
    for step in phase.get("steps", []):
        sent, answered = step.get("sent", {}), step.get("answered", {})
        probes = ", ".join(f"{answered.get(k, 0)} ({sent.get(k, 0)})" for k in ("tcp", "udp"))
        rows.append(
            [
                str(step["index"]),
                f"{round(step['start'], 2):g} s",
                str(step["connections"]),
                _rates(step.get("goodput")),
                _rates(step.get("moving_goodput")),
                step["stage"],
                probes,
                str(step.get("loaded_samples", 0)),
                _time(step.get("foreign_rtt")),
                _time(step.get("loaded_rtt")),
                f"{step['rpm']:.0f}" if step.get("rpm") else "—",
            ]
        )
    return rows


def rpm_title(measurement: Measurement, phase: dict[str, Any], alone: bool) -> str:
    """'RPM upload: 167 (foreign 167, loaded 168), grade D, …; confidence …'."""
    suffix = "" if alone else f".{phase['label']}"
    metrics = measurement.metrics
    parts = [f"RPM {phase['label']}: {format_metric('rpm', metrics.get('rpm' + suffix))}"]
    parts.append(
        f"(foreign {format_metric('rpm', metrics.get('rpm.foreign' + suffix))}, "
        f"loaded {format_metric('rpm', metrics.get('rpm.loaded' + suffix))})"
    )
    if f"bufferbloat.grade{suffix}" in metrics:
        parts.append(
            f"grade {format_metric('bufferbloat.grade', metrics['bufferbloat.grade' + suffix])}: "
            f"{_time(metrics.get('latency.idle'))} idle, "
            f"{_time(metrics.get('latency.loaded' + suffix))} loaded"
        )
    confidence = phase.get("confidence", {})
    stable = phase.get("stable_at")
    parts.append(
        f"{'stable at interval ' + str(stable) if stable is not None else 'not stable'}; "
        f"confidence: goodput {confidence.get('goodput')}, "
        f"responsiveness {confidence.get('responsiveness')}"
    )
    return " ".join(parts[:2]) + ", " + ", ".join(parts[2:])


def method_tables(result: QosResult) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, headers, rows) for each method measurement of `result`."""
    tables = []
    for measurement in result.measurements:
        if measurement.tool == "rfc2544":
            tables.append(
                ("RFC 2544 trials", HEADERS["rfc2544"], rfc2544_rows(measurement.details))
            )
        elif measurement.tool == "y1564":
            verdicts = measurement.details.get("verdicts", {})
            title = "Y.1564 steps (" + ", ".join(f"{k}: {v}" for k, v in verdicts.items()) + ")"
            tables.append((title, HEADERS["y1564"], y1564_rows(measurement.details)))
        elif measurement.tool == "rfc6349":
            tables.append(("RFC 6349", HEADERS["rfc6349"], rfc6349_rows(measurement)))
        elif measurement.tool == "rpm":
            phases = measurement.details.get("phases", [])
            for phase in phases:
                title = rpm_title(measurement, phase, alone=len(phases) == 1)
                tables.append((title, HEADERS["rpm"], rpm_rows(phase)))
    return tables


def render_text(results: Iterable[QosResult]) -> str:
    """Plain-text tables for the terminal: one block per method test ('' when none)."""
    blocks = []
    for result in results:
        for title, headers, rows in method_tables(result):
            table = tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)
            blocks.append(f"{result.test} — {title}\n{table}")
    return "\n\n".join(blocks)


def render_markdown(results: Iterable[QosResult], escape: Any) -> list[str]:
    """Markdown lines: a heading and a GitHub table per method test."""
    lines: list[str] = []
    for result in results:
        for title, headers, rows in method_tables(result):
            lines += ["", f"#### {escape(result.test)} — {escape(title)}", ""]
            lines.append("| " + " | ".join(headers) + " |")
            lines.append("|" + "|".join(" --- " for _ in headers) + "|")
            lines += ["| " + " | ".join(escape(cell) for cell in row) + " |" for row in rows]
    return lines
