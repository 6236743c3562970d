"""The trend page's plots: hand-written SVG, numbers mapped to pixels (hypothesis)."""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from history_docs import START, document, result, write_run
from hypothesis import example, given
from hypothesis import strategies as st

from pytest_qos.history.axis import Scale, data_range, tick_label, tick_step, ticks
from pytest_qos.history.changepoints import Step
from pytest_qos.history.page import render_html
from pytest_qos.history.plot import Frame, levels, limit_lines, plot_svg
from pytest_qos.history.series import Series
from pytest_qos.history.trends import find_trends

SVG = "{http://www.w3.org/2000/svg}"
finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False)


def spans() -> st.SearchStrategy[tuple[float, float]]:
    """low < high, the span not lost in the numbers' own rounding."""
    return st.tuples(finite, finite).filter(
        lambda pair: pair[1] - pair[0] > 1e-6 * max(1.0, abs(pair[0]), abs(pair[1]))
    )


@given(spans(), st.lists(st.floats(0, 1), min_size=2, max_size=20))
def test_a_scale_maps_its_range_onto_its_pixels_in_order(
    span: tuple[float, float], fractions: list[float]
) -> None:
    low, high = span
    y = Scale(low, high, 204.0, 24.0)  # y pixels grow downwards
    assert math.isclose(y.at(low), 204.0) and math.isclose(y.at(high), 24.0, abs_tol=1e-6)
    values = sorted(low + fraction * (high - low) for fraction in fractions)
    pixels = [y.at(value) for value in values]
    assert all(24.0 - 1e-6 <= pixel <= 204.0 + 1e-6 for pixel in pixels)
    assert all(a >= b - 1e-9 for a, b in itertools.pairwise(pixels))


def test_a_scale_of_one_number_puts_it_in_the_middle() -> None:
    assert Scale(3.0, 3.0, 0.0, 100.0).at(3.0) == 50.0


@given(st.lists(finite, min_size=1, max_size=50))
def test_the_data_range_holds_every_value_inside_a_margin(values: list[float]) -> None:
    low, high = data_range(values)
    assert low < min(values) <= max(values) < high


@given(spans(), st.integers(2, 10))
def test_ticks_are_round_evenly_spaced_and_inside_the_range(
    span: tuple[float, float], most: int
) -> None:
    low, high = span
    found = ticks(low, high, most)
    step = tick_step(low, high, most)
    assert 1 <= len(found) <= most + 1
    assert len(found) >= 2 or most < 4
    slack = step * 1e-6
    assert all(low - slack <= tick <= high + slack for tick in found)
    assert all(math.isclose(b - a, step, rel_tol=1e-6) for a, b in itertools.pairwise(found))
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert any(math.isclose(mantissa, nice) for nice in (1, 2, 2.5, 5, 10))


@given(st.integers(0, 5000), st.integers(1, 5000))
@example(first=0, length=14)  # 15 runs: a step of 2.5 put ticks between runs
def test_run_ticks_are_whole_runs(first: int, length: int) -> None:
    low, high = data_range([first - 0.5, first + length + 0.5])
    found = ticks(low, high, 8, integer=True)
    assert found and all(tick == int(tick) for tick in found)


def test_tick_labels_show_the_digits_of_their_step_and_no_float_noise() -> None:
    assert tick_label(0.1 + 0.2, 0.1) == "0.3"
    assert [tick_label(v, 2.5) for v in (0, 2.5, 5.0)] == ["0", "2.5", "5.0"]
    assert tick_label(-0.0, 0.5) == "0" and tick_label(100.0, 25) == "100"
    assert tick_label(4.25, 0.25) == "4.25"
    # Steps whose fixed-point digits would be noise (or overflow an int) get 4 significant ones.
    assert tick_label(3.0685e-305, 2e-307) == "3.069e-305" and tick_label(3e16, 1e16) == "3e+16"


def test_bound_lines_step_between_runs_and_break_where_a_run_has_none() -> None:
    runs = [0, 1, 2, 4, 5, 6]
    limits = [(1.0, None), (1.0, None), (2.0, 9.0), (None, 9.0), (3.0, 9.0), (3.0, 9.0)]
    assert limit_lines(runs, limits, 0) == [
        [(0, 1.0), (1.5, 1.0), (1.5, 2.0), (3.0, 2.0)],
        [(4.5, 3.0), (6, 3.0)],
    ]
    assert limit_lines(runs, limits, 1) == [[(1.5, 9.0), (6, 9.0)]]
    assert limit_lines(runs, [(None, None)] * len(runs), 0) == []


def test_each_stretch_between_change_points_is_drawn_at_its_median() -> None:
    steps = [Step(3, 10.0, 8.0, 1e-5), Step(6, 8.0, 9.0, 1e-5)]
    runs = list(range(10, 20))
    assert levels(runs, steps) == [
        ((10, 10.0), (12, 10.0)),
        ((13, 8.0), (15, 8.0)),
        ((16, 9.0), (19, 9.0)),
    ]
    assert levels(runs, []) == []


def _points(element: ElementTree.Element) -> list[tuple[float, float]]:
    pairs = element.attrib["points"].split()
    return [(float(x), float(y)) for x, y in (pair.split(",") for pair in pairs)]


@given(
    st.lists(st.floats(0, 1e10, allow_nan=False), min_size=1, max_size=200),
    st.sampled_from([None, 0.0, 1e6, 5e9]),
    st.integers(0, 900),
)
def test_every_value_and_bound_is_drawn_inside_the_plotting_area(
    values: list[float], bound: float | None, first: int
) -> None:
    runs = list(range(first, first + len(values)))
    series = Series("t.yaml::x", "throughput", "id", "iperf3 -c h", runs, values)
    series.limits = [(bound, None)] * len(values)
    steps = [Step(len(values) // 2, 1.0, 2.0, 1e-4)] if len(values) >= 6 else []
    frame = Frame()
    svg = ElementTree.fromstring(plot_svg(series, steps, "t.yaml::x · throughput", frame))
    lines = svg.findall(f"{SVG}polyline")
    drawn = [_points(line) for line in lines if "marker-mid" in line.attrib]
    assert len(drawn) == 1 and len(drawn[0]) == len(values)
    left, right = frame.left, frame.width - frame.right
    top, bottom = frame.top, frame.height - frame.bottom
    for line in lines:
        assert all(left <= x <= right and top <= y <= bottom for x, y in _points(line))
    xs = [x for x, _ in drawn[0]]
    assert xs == sorted(xs)  # runs left to right
    # a larger value is higher up (a smaller y), to the 0.1 px the coordinates are written in
    order = sorted(range(len(values)), key=values.__getitem__)
    ys = [drawn[0][index][1] for index in order]
    assert all(a >= b for a, b in itertools.pairwise(ys))
    dashed = [line for line in lines if "stroke-dasharray" in line.attrib]
    assert len(dashed) == (bound is not None)
    assert len(re.findall("change point", plot_svg(series, steps, "x", frame))) == len(steps)


def test_the_page_has_one_svg_plot_per_series_with_its_change_point(tmp_path: Path) -> None:
    for index, rate in enumerate([20e6] * 12 + [16e6] * 6):
        when = START + index * 3600
        rate *= 1 + 0.002 * ((index * 7) % 5 - 2)
        doc = document(
            [result("s.yaml::bulk", {"throughput": rate}, {"throughput": ">= 15 Mbit/s"})], when
        )
        write_run(tmp_path, doc, when)
    page = render_html(find_trends(tmp_path))
    assert page.count("<svg xmlns=") == 1 and "data:image/png" not in page
    [svg] = re.findall(r"<svg xmlns=.*?</svg>", page)
    root = ElementTree.fromstring(svg)
    assert root.attrib["aria-label"] == "s.yaml::bulk · throughput"
    assert len(re.findall("change point: a new level from run 12", svg)) == 1
    labels = [text.text for text in root.iter(f"{SVG}text")]
    assert "throughput (Mbit/s)" in labels and "run" in labels
    assert 'id="qos-dot"' in page  # the marker the values are dotted with, once per page
