"""PNG plots of a measurement's time series (needs the optional extra: pytest-qos[plots])."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import InputError, ToolMissingError
from ..judge.bounds import parse_bound
from ..judge.metrics import find, split_name
from ..results import Check, Measurement, QosResult, keyed, prefixes
from ..store.output import write_output

INSTALL_HINT = "plots need matplotlib: pip install 'pytest-qos[plots]'"
_WIDTH, _HEIGHT, _DPI = 7.0, 3.0, 100
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
Layout = Literal["constrained", "compressed", "tight"] | None


def matplotlib_available() -> bool:
    """True when matplotlib can be imported."""
    try:
        import matplotlib  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
    except ImportError:
        return False
    return True


def new_figure(
    rows: int, height: float = _HEIGHT, layout: Layout = "constrained", width: float = _WIDTH
) -> Any:
    """A matplotlib Figure with an Agg canvas: no pyplot, no global state, no display."""
    from matplotlib.backends.backend_agg import (  # type: ignore[import-not-found,unused-ignore]
        FigureCanvasAgg,
    )
    from matplotlib.figure import Figure  # type: ignore[import-not-found,unused-ignore]

    figure = Figure(figsize=(width, height * rows), dpi=_DPI, layout=layout)
    FigureCanvasAgg(figure)
    return figure


def png_bytes(figure: Any) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


@dataclass(frozen=True)
class Marks:
    """What a plot shows besides its series: bound lines and the measured window."""

    bounds: tuple[tuple[str, float], ...] = ()  # (label, value in base units)
    window: tuple[float, float] | None = None  # seconds of the run that were measured


def _shade(axes: Any, window: tuple[float, float] | None) -> None:
    if window is not None:
        axes.axvspan(*window, color="0.85", alpha=0.5, zorder=0, label="measured window")


def _bound_lines(axes: Any, bounds: Sequence[tuple[str, float]], scale: float, colour: str) -> None:
    labelled: set[str] = set()
    for label, value in bounds:
        # A range's two ends share one legend entry.
        shown = label if label not in labelled else "_nolegend_"
        labelled.add(label)
        axes.axhline(value * scale, color=colour, linestyle="--", linewidth=1.2, label=shown)


def _step(axes: Any, points: Sequence[tuple[float, float]], colour: str, label: str) -> float:
    """Throughput per interval as steps (Mbit/s); returns the largest value drawn."""
    ends = [t for t, _ in points]
    mbits = [value / 1e6 for _, value in points]
    # Each value is the mean over the interval that ends at its time: draw it across that
    # interval, starting where the first interval began (intervals are equally long).
    first_start = max(0.0, ends[0] - (ends[1] - ends[0])) if len(ends) > 1 else 0.0
    axes.step([first_start, *ends], [mbits[0], *mbits], where="pre", color=colour, label=label)
    axes.plot(ends, mbits, linestyle="none", marker="o", markersize=3, color=colour)
    return max(mbits)


def _rate_axes(axes: Any, top: float, title: str, xlabel: str) -> None:
    """Labels, limits and grid of a throughput axes whose largest value is `top` Mbit/s."""
    axes.set_xlabel(xlabel)
    axes.set_ylabel("throughput (Mbit/s)")
    axes.set_xlim(left=0)
    axes.set_ylim(0, top * 1.15 or 1.0)
    axes.set_title(title)
    axes.grid(True, alpha=0.3)


def _throughput(
    figure: Any, points: Sequence[tuple[float, float]], title: str, marks: Marks
) -> None:
    axes = figure.add_subplot(1, 1, 1)
    _shade(axes, marks.window)
    top = _step(axes, points, "C0", "throughput")
    _bound_lines(axes, marks.bounds, 1e-6, "C3")
    top = max([top, *(value / 1e6 for _, value in marks.bounds)])
    _rate_axes(axes, top, title, "time (s)")
    if marks.bounds or marks.window:
        axes.legend(loc="lower right", fontsize="small")


def _rtt(
    figure: Any,
    points: Sequence[tuple[float, float]],
    title: str,
    marks: Marks,
    delivered: float = 1.0,
) -> None:
    """RTT over time, and its CDF over every probe sent: lost probes never arrive (RFC 2679
    §5.1 counts them infinitely late), so the curve stops at the share `delivered`."""
    times = [t for t, _ in points]
    millis = [value * 1e3 for _, value in points]
    series = figure.add_subplot(2, 1, 1)
    series.plot(times, millis, linestyle="none", marker=".", markersize=3, label="RTT")
    _bound_lines(series, marks.bounds, 1e3, "C3")
    series.set_xlabel("time (s)")
    series.set_ylabel("RTT (ms)")
    series.set_ylim(bottom=0)
    series.set_title(title)
    series.grid(True, alpha=0.3)
    if marks.bounds:
        series.legend(loc="upper right", fontsize="small")
    cdf = figure.add_subplot(2, 1, 2)
    ordered = sorted(millis)
    count = len(ordered)
    cdf.step(ordered, [delivered * (index + 1) / count for index in range(count)], where="post")
    for label, value in marks.bounds:
        cdf.axvline(value * 1e3, color="C3", linestyle="--", linewidth=1.2, label=label)
    if delivered < 1.0:
        cdf.axhline(delivered, linestyle="--", color="C3", linewidth=1)
        cdf.text(
            0.01,
            delivered,
            f" {100 * (1 - delivered):.3g} % lost: percentiles past {100 * delivered:.3g} are lost",
            transform=cdf.get_yaxis_transform(),
            va="bottom",
            color="C3",
        )
    cdf.set_xlabel("RTT (ms)")
    cdf.set_ylabel("fraction of probes ≤ RTT")
    cdf.set_ylim(0, 1.02)
    cdf.grid(True, alpha=0.3)


def plot_measurement(
    measurement: Measurement, title: str | None = None, marks: Marks | None = None
) -> bytes | None:
    """A PNG of throughput per interval or RTT series + CDF; None without matplotlib or data.

    `marks`: bound lines (dashed) and the measured window (shaded)."""
    throughput = measurement.series.get("throughput") or []
    rtt = measurement.series.get("rtt") or []
    if not (throughput or rtt) or not matplotlib_available():
        return None
    label = title or measurement.tool
    marks = marks or Marks()
    if rtt:
        figure = new_figure(2)
        sent = int(measurement.details.get("sent") or 0)
        received = int(measurement.details.get("received", sent) or 0)
        delivered = received / sent if sent > 0 else 1.0
        replies = received or len(rtt)
        _rtt(figure, rtt, f"{label}: round-trip time ({replies} replies)", marks, delivered)
    else:
        figure = new_figure(1)
        _throughput(figure, throughput, f"{label}: throughput per interval", marks)
    return png_bytes(figure)


# Series of a measurement that a bound on these metrics can be drawn over.
_DRAWN = {
    "throughput": ("throughput",),
    "rtt": (
        "latency.min",
        "latency.mean",
        "latency.p50",
        "latency.p90",
        "latency.p95",
        "latency.p99",
        "latency.max",
    ),
}


def _marks(result: QosResult, measurement: Measurement, prefix: str) -> Marks:
    """The bounds of `result` on what `measurement` plots, and its measured window."""
    kind = "rtt" if measurement.series.get("rtt") else "throughput"
    own = keyed(prefix, measurement.metrics)  # a named flow's are 'video.throughput' already
    bounds = []
    for check in result.checks:
        if check.metric in own and split_name(check.metric)[1] in _DRAWN[kind]:
            bounds += [(f"{check.metric} {check.bound}", v) for v in _bound_values(check)]
    window = measurement.details.get("window")
    return Marks(tuple(bounds), (float(window[0]), float(window[1])) if window else None)


def _bound_values(check: Check) -> list[float]:
    """The limits of a check's bound in base units (a relative bound through its baseline)."""
    metric = find(check.metric)
    if metric is None:
        return []
    try:
        bound = parse_bound(check.bound, metric)
    except InputError:
        return []
    if bound.of_baseline:
        return [bound.limit * check.baseline] if check.baseline is not None else []
    return [bound.limit] + ([bound.high] if bound.high is not None else [])


def plot_mix(result: QosResult) -> bytes | None:
    """One view of a mix: every flow's throughput per interval on one axes (each flow its
    colour, its bounds dashed in it), the window shaded; the probes' RTT below."""
    named = list(zip(prefixes(result.measurements), result.measurements, strict=True))
    flows = [(p, m) for p, m in named if m.series.get("throughput") and m.tool == "iperf3"]
    probes = [(p, m) for p, m in named if m.series.get("rtt")]
    if len(flows) < 2 or not matplotlib_available():
        return None
    figure = new_figure(2 if probes else 1, width=_WIDTH + 2.5)  # room for the legend
    axes = figure.add_subplot(2 if probes else 1, 1, 1)
    window = _marks(result, flows[0][1], flows[0][0]).window
    _shade(axes, window)
    top, inside = 0.0, 0.0
    for index, (prefix, flow) in enumerate(flows):
        colour, name = f"C{index}", str(flow.details.get("name") or prefix or index + 1)
        top = max(top, _step(axes, flow.series["throughput"], colour, name))
        inside = max(inside, _largest_in(flow.series["throughput"], window))
        bounds = _marks(result, flow, prefix).bounds
        _bound_lines(axes, bounds, 1e-6, colour)
        inside = max([inside, *(value / 1e6 for _, value in bounds)])
    title = f"mix: {len(flows)} flows at once, throughput per interval"
    if top > inside * 1.5 > 0:
        # A tail or settling burst would squash the window: it is cut, and the title says so.
        title += f" (outside the window up to {top:.3g} Mbit/s, cut)"
        top = inside
    _rate_axes(axes, max(top, inside), title, "time (s) of the flows' run")
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    if probes:
        below = figure.add_subplot(2, 1, 2, sharex=axes)
        _shade(below, window)
        _mix_rtt(below, result, probes, window[0] if window else 0.0)
    return png_bytes(figure)


def _largest_in(points: Sequence[tuple[float, float]], window: tuple[float, float] | None) -> float:
    """The largest value (Mbit/s) of the intervals ending inside `window` (all without one)."""
    values = [v / 1e6 for t, v in points if window is None or window[0] < t <= window[1] + 1e-6]
    return max(values, default=0.0)


def _mix_rtt(
    axes: Any, result: QosResult, probes: list[tuple[str, Measurement]], start: float
) -> None:
    """The probes' RTT on the flows' clock: they send over the window, from its start."""
    for index, (prefix, probe) in enumerate(probes):
        points = probe.series["rtt"]
        colour = f"C{index + 5}"
        name = str(probe.details.get("name") or prefix or "probe")
        axes.plot(
            [start + t for t, _ in points],
            [v * 1e3 for _, v in points],
            linestyle="none",
            marker=".",
            markersize=3,
            color=colour,
            label=f"{name} RTT",
        )
        _bound_lines(axes, _marks(result, probe, prefix).bounds, 1e3, colour)
    axes.set_xlabel("time (s) of the flows' run")
    axes.set_ylabel("RTT (ms)")
    axes.set_ylim(bottom=0)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")


def plot_result(result: QosResult) -> list[tuple[str, bytes]]:
    """(label, PNG) for each plottable measurement and load of a test.

    A mix (named flows over one window) gets one combined view of its flows first, instead
    of one throughput plot per flow; its probes keep their own RTT plots (with the CDF).
    """
    plots = []
    mix = plot_mix(result) if result.window is not None else None
    if mix is not None:
        plots.append(("0-mix", mix))
    named = list(zip(prefixes(result.measurements), result.measurements, strict=True))
    parts = [(p, "", m) for p, m in named] + [("", "load", m) for m in result.loads]
    for index, (prefix, role, measurement) in enumerate(parts, 1):
        if mix is not None and measurement.tool == "iperf3" and not role:
            continue  # drawn in the mix's view
        # A named flow or probe ('video', 'ef') says whose plot it is.
        tool = f"{measurement.details.get('name', '')} {measurement.tool}".strip()
        label = f"{role} {tool}".strip() if role else tool
        marks = _marks(result, measurement, prefix) if not role else Marks()
        title = f"{label} #{index}" if len(parts) > 1 else label
        png = plot_measurement(measurement, title, marks)
        if png is not None:
            plots.append((f"{index}-{_UNSAFE.sub('_', label)}", png))
    return plots


def file_stem(test_id: str) -> str:
    """A readable, unique file name for a node id: 't.py::f[1]' → 't.py__f_1-<hash>'."""
    stem = _UNSAFE.sub("_", test_id.replace("::", "__")).strip("_.")[:120] or "test"
    # Different ids can sanitise alike ('[a b]', '[a_b]'): a short hash keeps files apart.
    return f"{stem}-{hashlib.sha1(test_id.encode()).hexdigest()[:8]}"


def write_plots(result: QosResult, directory: Path | str) -> list[Path]:
    """Write a test's plots as DIR/<test>-<n>-<tool>.png (--qos-plot-dir); return the paths.

    Without matplotlib, a result with something to plot is a ToolMissingError saying how to
    install the extra (it used to write nothing and say nothing).
    """
    parts = [*result.measurements, *result.loads]
    plottable = any(m.series.get("throughput") or m.series.get("rtt") for m in parts)
    if plottable and not matplotlib_available():
        raise ToolMissingError(f"no plots written: {INSTALL_HINT}")
    folder = Path(directory)
    paths = []
    for label, png in plot_result(result):
        path = folder / f"{file_stem(result.test)}-{label}.png"
        folder.mkdir(parents=True, exist_ok=True)
        write_output(path, png)
        paths.append(path)
    return paths
