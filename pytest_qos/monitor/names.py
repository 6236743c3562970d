"""Prometheus names of pytest-qos metrics: one rule, used by the pusher, the file and the rules.

A metric as a test names it ('video.throughput', 'ef.latency.p99', 'router.WAN.class.1:20.drops',
'rfc2544.throughput.1518') becomes one series:

1. What names a *thing* becomes a label: a flow's or probe's prefix (`flow` / `probe`), a
   router counter's qdisc or class id and interface (`router`, `interface`: LAN, WAN or `all`
   for the sum), an RFC 2544 frame size (`frame`), a Y.1564 service and step (`service`,
   `step`).
2. What is left is the metric: `qos_` + its name with every run of characters outside
   [A-Za-z0-9_] as one `_` + its base unit: `_bytes_per_second` for a rate (bit/s divided by
   8: Prometheus's base unit of data is the byte), `_seconds`, `_bytes`, or `_ratio` for a
   percentage (divided by 100, so 0–1); counts and scores have none.
3. A label value keeps its text, except what Prometheus's exposition format and the
   Pushgateway's URL cannot carry: control characters and lone surrogates (bytes of a file
   name that are not UTF-8) each become U+FFFD; an empty value leaves the label out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InputError
from ..judge.metrics import Metric, Needs, find, split_name
from ..lab.counters import parse_name, router_metric
from ..units import Kind

PREFIX = "qos_"
LIVE_PREFIX = "qos_live_"
BOUND_PREFIX = "qos_bound_"
_NOT_NAME = re.compile(r"[^A-Za-z0-9_]+")
_NOT_CARRIED = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_UNITS: dict[Kind, tuple[str, float]] = {
    # Prometheus's base unit of data is the byte (promtool rejects "bits"): rates / 8.
    Kind.RATE: ("_bytes_per_second", 0.125),
    Kind.DURATION: ("_seconds", 1.0),
    Kind.SIZE: ("_bytes", 1.0),
    Kind.PERCENT: ("_ratio", 0.01),
}
_RFC2544 = re.compile(r"^(rfc2544\.(?:throughput|frame_rate))\.(\d+)$")
_Y1564 = re.compile(r"^y1564\.([A-Za-z][A-Za-z0-9_-]*)\.([a-z0-9]+)\.(ir|flr|ftd|fdv)$")
Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class SeriesName:
    """Where one pytest-qos metric goes in Prometheus."""

    name: str  # e.g. qos_latency_p99_seconds
    labels: Labels  # e.g. (("probe", "ef"),)
    scale: float  # the metric's base-unit value times this is the series' value
    help: str

    def value(self, measured: float) -> float:
        """The series' value for a measured value in the metric's base unit."""
        return measured * self.scale

    def renamed(self, prefix: str) -> str:
        """The same series under another prefix (qos_live_…, qos_bound_…)."""
        return prefix + self.name[len(PREFIX) :]


def label_value(text: str) -> str:
    """`text` as a label value Prometheus and the Pushgateway carry (rule 3)."""
    return _NOT_CARRIED.sub("\ufffd", text)


def labels(pairs: dict[str, str] | Labels) -> Labels:
    """Label pairs with rule 3 applied, empty values left out."""
    items = pairs.items() if isinstance(pairs, dict) else pairs
    return tuple((key, label_value(value)) for key, value in items if value)


def metric_name(base: str, kind: Kind | None) -> str:
    """`qos_` + `base` with each run of other characters as '_' + the unit (rule 2)."""
    body = _NOT_NAME.sub("_", base).strip("_") or "unnamed"
    suffix = _UNITS[kind][0] if kind in _UNITS else ""
    if suffix and body.endswith(suffix):
        suffix = ""
    return f"{PREFIX}{body}{suffix}"


def series_name(metric: str) -> SeriesName:
    """The series of `metric` as a test names it (rules 1–3)."""
    base, pairs = _structure(metric)
    known = _known(metric)
    kind = known.kind if known is not None else None
    scale = _UNITS[kind][1] if kind in _UNITS else 1.0
    if base.startswith("router."):
        _, what, counter = base.split(".")
        meaning = f"the lab router's {what} counter '{counter}' over the test"
    else:
        meaning = known.definition if known is not None else f"pytest-qos metric '{base}'"
    unit = _UNITS[kind][0][1:].replace("_", " ") if kind in _UNITS else ""
    if kind is Kind.PERCENT:
        unit = "as a ratio, 0-1"
    help_text = meaning + (f" ({unit})" if unit else "")
    return SeriesName(metric_name(base, kind), labels(pairs), scale, help_text)


def _known(metric: str) -> Metric | None:
    """The catalogue's entry for `metric` (router counters included), or None."""
    if metric.startswith("router."):
        return router_metric(metric) if _router(metric) is not None else None
    return find(metric)


def _router(metric: str) -> tuple[str, dict[str, str]] | None:
    try:
        parsed = parse_name(metric)
    except InputError:
        return None
    side = parsed.side or "all"
    return f"router.{parsed.object}.{parsed.counter}", {"router": parsed.id, "interface": side}


def _structure(metric: str) -> tuple[str, dict[str, str]]:
    """(the metric's own name, the labels its name carries) by rule 1."""
    router = _router(metric) if metric.startswith("router.") else None
    if router is not None:
        return router
    frame = _RFC2544.match(metric)
    if frame:
        return frame.group(1), {"frame": frame.group(2)}
    service = _Y1564.match(metric)
    if service:
        return f"y1564.{service.group(3)}", {"service": service.group(1), "step": service.group(2)}
    prefix, rest = split_name(metric)
    if not prefix:
        return metric, {}
    known = find(rest)
    who = "probe" if known is not None and known.needs is Needs.PROBE else "flow"
    return rest, {who: prefix}
