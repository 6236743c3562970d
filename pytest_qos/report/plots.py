"""PNG plots of a measurement's time series (needs the optional extra: pytest-qos[plots])."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ToolMissingError
from ..results import Measurement, QosResult
from ..store.output import write_output

INSTALL_HINT = "plots need matplotlib: pip install 'pytest-qos[plots]'"
_WIDTH, _HEIGHT, _DPI = 7.0, 3.0, 100
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def matplotlib_available() -> bool:
    """True when matplotlib can be imported."""
    try:
        import matplotlib  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(rows: int) -> Any:
    """A matplotlib Figure with an Agg canvas: no pyplot, no global state, no display."""
    from matplotlib.backends.backend_agg import (  # type: ignore[import-not-found,unused-ignore]
        FigureCanvasAgg,
    )
    from matplotlib.figure import Figure  # type: ignore[import-not-found,unused-ignore]

    figure = Figure(figsize=(_WIDTH, _HEIGHT * rows), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _throughput(figure: Any, points: Sequence[tuple[float, float]], title: str) -> None:
    axes = figure.add_subplot(1, 1, 1)
    ends = [t for t, _ in points]
    mbits = [value / 1e6 for _, value in points]
    # Each value is the mean over the interval that ends at its time: draw it across that
    # interval, starting where the first interval began (intervals are equally long).
    first_start = max(0.0, ends[0] - (ends[1] - ends[0])) if len(ends) > 1 else 0.0
    axes.step([first_start, *ends], [mbits[0], *mbits], where="pre", color="C0")
    axes.plot(ends, mbits, linestyle="none", marker="o", markersize=3, color="C0")
    axes.set_xlabel("time (s)")
    axes.set_ylabel("throughput (Mbit/s)")
    axes.set_xlim(left=0)
    axes.set_ylim(0, max(mbits) * 1.15 or 1.0)
    axes.set_title(title)
    axes.grid(True, alpha=0.3)


def _rtt(
    figure: Any, points: Sequence[tuple[float, float]], title: str, delivered: float = 1.0
) -> None:
    """RTT over time, and its CDF over every probe sent: lost probes never arrive (RFC 2679
    §5.1 counts them infinitely late), so the curve stops at the share `delivered`."""
    times = [t for t, _ in points]
    millis = [value * 1e3 for _, value in points]
    series = figure.add_subplot(2, 1, 1)
    series.plot(times, millis, linestyle="none", marker=".", markersize=3)
    series.set_xlabel("time (s)")
    series.set_ylabel("RTT (ms)")
    series.set_ylim(bottom=0)
    series.set_title(title)
    series.grid(True, alpha=0.3)
    cdf = figure.add_subplot(2, 1, 2)
    ordered = sorted(millis)
    count = len(ordered)
    cdf.step(ordered, [delivered * (index + 1) / count for index in range(count)], where="post")
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


def plot_measurement(measurement: Measurement, title: str | None = None) -> bytes | None:
    """A PNG of throughput per interval or RTT series + CDF; None without matplotlib or data."""
    throughput = measurement.series.get("throughput") or []
    rtt = measurement.series.get("rtt") or []
    if not (throughput or rtt) or not matplotlib_available():
        return None
    label = title or measurement.tool
    if rtt:
        figure = _figure(2)
        sent = int(measurement.details.get("sent") or 0)
        received = int(measurement.details.get("received", sent) or 0)
        delivered = received / sent if sent > 0 else 1.0
        _rtt(figure, rtt, f"{label}: round-trip time ({received or len(rtt)} replies)", delivered)
    else:
        figure = _figure(1)
        _throughput(figure, throughput, f"{label}: throughput per interval")
    return _png(figure)


def plot_result(result: QosResult) -> list[tuple[str, bytes]]:
    """(label, PNG) for each plottable measurement and load of a test."""
    plots = []
    parts = [("", m) for m in result.measurements] + [("load", m) for m in result.loads]
    for index, (role, measurement) in enumerate(parts, 1):
        # A named flow or probe ('video', 'ef') says whose plot it is.
        tool = f"{measurement.details.get('name', '')} {measurement.tool}".strip()
        label = f"{role} {tool}".strip() if role else tool
        png = plot_measurement(measurement, f"{label} #{index}" if len(parts) > 1 else label)
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
