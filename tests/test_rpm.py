"""The rpm method's logic without a network: trimming, stability, RPM arithmetic, the grade,
the options, and the algorithm replayed over intervals recorded in the router lab."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_qos.errors import InputError
from pytest_qos.judge.bounds import check_bounds, parse_expectations
from pytest_qos.methods import rpm
from pytest_qos.methods.responsiveness import (
    PROBE_PAIR_BYTES,
    Interval,
    assess,
    figures,
    is_stable,
    probe_rate,
    trimmed_mean,
)
from pytest_qos.units import Kind, format_value, parse

DATA = Path(__file__).parent / "data"
rtts = st.floats(min_value=1e-6, max_value=10.0, allow_nan=False)


# -- the trimmed mean (the draft: single-sided, at the 95th percentile) -------------------------


def test_trimmed_mean_drops_the_largest_five_percent() -> None:
    assert trimmed_mean(list(range(1, 21)), 5.0) == pytest.approx(10.0)  # 20 dropped: mean 1..19
    assert trimmed_mean(list(range(1, 20)), 5.0) == pytest.approx(10.0)  # 19 × 5 % < 1: none
    assert trimmed_mean([3.0], 5.0) == 3.0
    with pytest.raises(ValueError):
        trimmed_mean([], 5.0)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(rtts, min_size=1, max_size=400), trim=st.floats(0.0, 49.0))
def test_trimmed_mean_lies_between_the_smallest_value_and_the_mean(
    values: list[float], trim: float
) -> None:
    found = trimmed_mean(values, trim)
    assert min(values) * (1 - 1e-12) <= found <= statistics.fmean(values) * (1 + 1e-12)
    assert found == trimmed_mean(list(reversed(values)), trim)
    assert trimmed_mean(values, 0.0) == pytest.approx(statistics.fmean(values), rel=1e-12)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(rtts, min_size=20, max_size=400), factor=st.floats(1.0, 1e6))
def test_trimmed_mean_ignores_how_large_the_trimmed_outliers_are(
    values: list[float], factor: float
) -> None:
    """At 5 % of 20 or more samples at least the largest is dropped: its size cannot matter."""
    ordered = sorted(values)
    inflated = [*ordered[:-1], ordered[-1] * factor]
    assert trimmed_mean(inflated, 5.0) == pytest.approx(trimmed_mean(ordered, 5.0), rel=1e-12)
    kept = len(values) - math.floor(len(values) * 0.05 + 1e-9)
    assert trimmed_mean(values, 5.0) == pytest.approx(statistics.fmean(ordered[:kept]))


# -- stability ----------------------------------------------------------------------------------


def test_stability_is_a_standard_deviation_under_the_tolerance_of_the_newest_average() -> None:
    # Moving averages of goodput recorded in the lab (Mbit/s): the ramp, then the plateau.
    assert not is_stable([12.0, 15.0, 17.0, 18.2], 5.0)  # pstdev 2.35 > 5 % of 18.2
    assert is_stable([16.15, 17.5, 17.97, 18.2], 5.0)  # pstdev 0.79 < 0.91
    assert is_stable([18.2, 18.4, 18.87, 18.9], 5.0)  # pstdev 0.30 < 0.945
    assert not is_stable([18.9], 5.0)  # one value is no evidence
    assert not is_stable([0.0, 0.0, 0.0, 0.0], 5.0)  # nothing moved: never "stable"
    assert is_stable([100.0, 104.0, 96.0, 100.0], 3.0)  # pstdev √8 = 2.83 < 3 % of 100
    assert not is_stable([100.0, 104.0, 96.0, 100.0], 2.8)


def _steps(goodputs: list[float], rtt: float = 0.05, probed: bool = True) -> list[Interval]:
    return [
        Interval(
            index=index,
            start=float(index),
            seconds=1.0,
            connections=index + 1,
            goodput={"upload": value},
            loaded=[rtt] * 10,
            tcp=[rtt] * 10,
            udp=[rtt] * 10,
            probed=probed,
        )
        for index, value in enumerate(goodputs)
    ]


def test_goodput_then_responsiveness_at_the_earliest_intervals_the_draft_allows() -> None:
    found = assess(_steps([19e6] * 12), window=4, tolerance=5.0, trim=5.0)
    # MAD moving averages need 2 × MAD - 1 intervals; then MAD responsiveness values.
    assert (found.saturated_at, found.stable_at) == (6, 9)
    assert rpm.fewest_intervals(4) == 10
    assert found.done and found.confidence == {"goodput": "high", "responsiveness": "high"}
    assert found.final is not None and found.final.rpm == pytest.approx(1200.0)
    assert found.final_at == 9


def test_no_responsiveness_before_its_probes_are_in() -> None:
    steps = _steps([19e6] * 12)
    for step in steps[8:]:
        step.probed = False
    found = assess(steps, window=4, tolerance=5.0, trim=5.0)
    assert found.saturated_at == 6 and found.stable_at is None
    assert [f is not None for f in found.rpm] == [False] * 6 + [True, True] + [False] * 4
    assert found.final_at == 7 and found.confidence["responsiveness"] == "low"


def test_unstable_goodput_reports_the_last_window_with_its_confidence() -> None:
    # Still ramping (a moving average smooths a swing, not a climb): 2, 4, … 16 Mbit/s.
    climbing = [2e6 * (index + 1) for index in range(8)]
    found = assess(_steps(climbing), window=4, tolerance=5.0, trim=5.0)
    assert found.saturated_at is None and not found.done
    assert found.confidence == {"goodput": "medium", "responsiveness": "low"}
    assert found.final is not None and found.final_at == 7  # the last four intervals' probes
    short = assess(_steps([19e6] * 3), window=4, tolerance=5.0, trim=5.0)
    assert short.confidence["goodput"] == "low"  # fewer than MAD intervals ran


@pytest.mark.parametrize(
    ("name", "saturated", "stable", "low", "high"),
    [("deep", 6, 10, 150, 200), ("short", 6, 9, 4000, 7000)],
)
def test_recorded_lab_runs_replay_to_the_same_decisions(
    name: str, saturated: int, stable: int, low: float, high: float
) -> None:
    """Intervals recorded through a 20 Mbit/s tbf (CUBIC, 16 connections at most): with a
    400 ms queue and a 5 ms one; the live run decided these same intervals."""
    recorded = json.loads((DATA / f"rpm-lab-{name}.json").read_text())
    steps = [Interval(**step) for step in recorded["steps"]]
    found = assess(steps, window=4, tolerance=5.0, trim=5.0)
    assert (found.saturated_at, found.stable_at) == (
        recorded["saturated_at"],
        recorded["stable_at"],
    )
    assert (found.saturated_at, found.stable_at) == (saturated, stable)
    assert found.final is not None and low < found.final.rpm < high
    assert found.final.rpm == pytest.approx(recorded["rpm"])
    # Replayed interval by interval, as the live loop saw them: no earlier decision.
    for end in range(1, len(steps)):
        assert not assess(steps[:end], 4, 5.0, 5.0).done or end > stable


# -- RPM arithmetic, probe budget, grade --------------------------------------------------------


def test_responsiveness_is_the_mean_of_foreign_and_loaded_rpm() -> None:
    """The draft's TCP-only formula, a UDP round trip in the place of the HTTP request."""
    step = Interval(0, 0.0, 1.0, 1, {"upload": 1e6}, loaded=[0.1], tcp=[0.1], udp=[0.3])
    found = figures([step], trim=5.0)
    assert found is not None
    assert found.foreign_rtt == pytest.approx(0.2) and found.loaded_rtt == pytest.approx(0.1)
    assert (found.rpm_foreign, found.rpm_loaded) == (pytest.approx(300), pytest.approx(600))
    assert found.rpm == pytest.approx(450)  # (300 + 600) / 2
    assert found.rpm_of_mean_rtt == pytest.approx(400)  # 60 / 0.15: goresponsiveness' figure
    no_udp = figures([Interval(0, 0.0, 1.0, 1, {}, loaded=[0.1], tcp=[0.1])], trim=5.0)
    assert no_udp is not None and no_udp.rpm == pytest.approx(600)
    assert figures([Interval(0, 0.0, 1.0, 1, {})], trim=5.0) is None


def test_probes_stay_within_the_drafts_rate_and_share_of_capacity() -> None:
    assert probe_rate(None, 100.0, 5.0, 1.0) == 100.0  # MPS before any goodput is known
    assert probe_rate(1e9, 100.0, 5.0, 1.0) == 100.0
    one_mbit = probe_rate(1e6, 100.0, 5.0, 1.0)
    assert one_mbit == pytest.approx(0.05 * 1e6 / (8 * PROBE_PAIR_BYTES))
    assert one_mbit * 8 * PROBE_PAIR_BYTES <= 0.05 * 1e6 * (1 + 1e-12)
    assert probe_rate(1e3, 100.0, 5.0, 0.5) == 2.0  # never below one pair an interval


@pytest.mark.parametrize(
    ("increase_ms", "letter"),
    [
        *[(-1, "A+"), (4.9, "A+"), (5, "A"), (29.9, "A"), (30, "B"), (59.9, "B")],
        *[(60, "C"), (199.9, "C"), (200, "D"), (399.9, "D"), (400, "F"), (5000, "F")],
    ],
)
def test_grade_boundaries_are_the_dslreports_ones(increase_ms: float, letter: str) -> None:
    assert rpm.grade(increase_ms / 1e3) == letter


def test_grades_are_bounded_as_letters() -> None:
    assert parse("b", Kind.GRADE) == 3.0 and parse("A+", Kind.GRADE) == 5.0
    assert format_value(3.0, Kind.GRADE) == "B" and format_value(0.0, Kind.GRADE) == "F"
    with pytest.raises(InputError, match="'E' is not a grade; write one of A\\+, A, B, C, D, F"):
        parse("E", Kind.GRADE)
    expect = parse_expectations({"bufferbloat.grade": ">= B", "rpm": ">= 1000"})
    checks = check_bounds({"bufferbloat.grade": 2.0, "rpm": 1500.0}, expect)
    assert [(c.metric, c.passed, c.bound) for c in checks] == [
        ("bufferbloat.grade", False, ">= B"),
        ("rpm", True, ">= 1000"),
    ]


# -- the options --------------------------------------------------------------------------------


def test_defaults_are_the_drafts() -> None:
    spec = rpm.Rpm.from_options({})
    assert (spec.interval, spec.connections, spec.moving_average) == (1.0, 16, 4)
    assert (spec.tolerance, spec.trim, spec.duration) == (5.0, 5.0, 20.0)
    assert (spec.probe_rate, spec.probe_share) == (100.0, 5.0)
    assert spec.phases == (("upload",),) and spec.intervals == 20
    both = rpm.Rpm.from_options({"direction": "both"})
    assert both.phases == (("upload", "download"),)
    turns = rpm.Rpm.from_options({"direction": "both", "sequential": True})
    assert turns.phases == (("upload",), ("download",))
    tuned = rpm.Rpm.from_options(
        {"interval": "0.5 s", "congestion": "cubic", "dscp": "AF11", "trim": "0 %"}
    )
    assert (tuned.interval, tuned.congestion, tuned.dscp, tuned.trim) == (0.5, "cubic", 10, 0.0)


@pytest.mark.parametrize(
    ("options", "key", "words"),
    [
        ({"connections": 0}, "connections", "connections must be a whole number from 1 to 64"),
        ({"tolerance": "100 %"}, "tolerance", "tolerance must be above 0 % and below 100 %"),
        ({"duration": "0.5 s"}, "duration", "duration 0.5 s is below one interval (1 s)"),
        ({"intervall": "1 s"}, "intervall", "unknown rpm key 'intervall' — did you mean"),
        ({"direction": "sideways"}, "direction", "is not upload, download or both"),
        ({"sequential": True}, "sequential", "needs 'direction: both'"),
        ({"congestion": "ve gas"}, "congestion", "is not the name of a TCP congestion control"),
        ({"moving_average": 1}, "moving_average", "from 2 to 20"),
        ({"probe_rate": 0}, "probe_rate", "1 to 1000"),
    ],
)
def test_bad_options_name_their_key(options: dict[str, Any], key: str, words: str) -> None:
    with pytest.raises(InputError) as caught:
        rpm.Rpm.from_options(options)
    assert caught.value.key == key and words in caught.value.message


# -- the metrics of a run -----------------------------------------------------------------------


def _phase(direction: str, rtt: float) -> rpm.Phase:
    steps = _steps([19e6] * 10, rtt=rtt)
    for step in steps:
        step.goodput = {direction: 19e6}
    return rpm.Phase((direction,), steps, assess(steps, 4, 5.0, 5.0))


def test_one_phase_gives_plain_metrics_and_a_grade() -> None:
    idle = rpm.Idle(tcp=[0.001] * 10, udp=[0.001] * 10)
    result = rpm.outcome(rpm.Rpm(), idle, [_phase("upload", 0.1)])
    metrics = result.metrics
    assert metrics["rpm"] == pytest.approx(600) and metrics["latency.loaded"] == pytest.approx(0.1)
    assert metrics["latency.increase"] == pytest.approx(0.099)
    assert format_value(metrics["bufferbloat.grade"], Kind.GRADE) == "C"
    assert metrics["rpm.goodput"] == pytest.approx(19e6) and metrics["rpm.connections"] == 10
    phase = result.details["phases"][0]
    assert phase["stable_at"] == 9 and [row["stage"] for row in phase["steps"]][5:8] == [
        "goodput",
        "goodput stable",
        "responsiveness",
    ]
    assert result.details["grade"] == "C" and result.details["draft"].endswith("-08")


def test_phases_in_turn_report_each_direction_and_the_worse_one() -> None:
    idle = rpm.Idle(tcp=[0.0], udp=[0.0])
    spec = rpm.Rpm(direction="both", sequential=True)
    metrics = rpm.outcome(spec, idle, [_phase("upload", 0.02), _phase("download", 0.2)]).metrics
    assert metrics["rpm.upload"] == pytest.approx(3000) and metrics["rpm.download"] == 300
    assert metrics["rpm"] == pytest.approx(300)  # the worse direction: one bound covers both
    assert metrics["latency.loaded"] == pytest.approx(0.2)
    # DSLReports grades the average of the up and down increase: (20 + 200) / 2 = 110 ms.
    assert metrics["latency.increase"] == pytest.approx(0.11)
    assert format_value(metrics["bufferbloat.grade"], Kind.GRADE) == "C"
    assert format_value(metrics["bufferbloat.grade.upload"], Kind.GRADE) == "A"
