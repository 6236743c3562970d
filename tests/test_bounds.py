"""Bounds: parsing, judging against a plain reference, and every bad-bound message."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from pytest_qos.errors import InputError
from pytest_qos.judge.bounds import Bound, check_bounds, parse_bound, parse_expectations
from pytest_qos.judge.metrics import CATALOGUE, Metric, keyword_name, lookup
from pytest_qos.judge.verdict import Baseline, judge_part
from pytest_qos.results import Measurement, QosResult
from pytest_qos.units import example

THROUGHPUT = lookup("throughput")
JITTER = lookup("jitter")
LOSS = lookup("loss")
RETRANSMITS = lookup("retransmits")

# Limits as a user writes them: plain decimals, so the text is the number exactly.
limits = st.decimals(min_value=0, max_value=100_000, places=3, allow_nan=False).map(float)
operators = st.sampled_from([">=", ">", "<=", "<", "=="])


def reference(value: float, op: str, limit: float) -> bool:
    """What each comparison means, written out plainly."""
    if op == ">=":
        return value >= limit
    if op == ">":
        return value > limit
    if op == "<=":
        return value <= limit
    if op == "<":
        return value < limit
    if op == "==":
        return value == limit
    raise AssertionError(op)


def near(limit: float) -> st.SearchStrategy[float]:
    """Values on, just around, and far from a limit: where comparisons differ."""
    return st.one_of(
        st.just(limit),
        st.sampled_from([limit * (1 + 1e-9) + 1e-9, limit * (1 - 1e-9) - 1e-9]),
        st.floats(min_value=-1e12, max_value=1e12, allow_nan=False),
    )


@given(data=st.data(), op=operators, limit=limits, space=st.sampled_from(["", " "]))
def test_comparison_judges_like_the_reference(
    data: st.DataObject, op: str, limit: float, space: str
) -> None:
    bound = parse_bound(f"{op}{space}{limit!r} Mbit/s", THROUGHPUT)
    assert (bound.op, bound.limit, bound.high) == (op, limit * 1e6, None)
    value = data.draw(near(limit * 1e6))
    assert bound.judge(value) is reference(value, op, limit * 1e6)


@given(data=st.data(), low=limits, high=limits)
def test_range_is_inclusive_at_both_ends(data: st.DataObject, low: float, high: float) -> None:
    low, high = min(low, high), max(low, high)
    bound = parse_bound(f"{low!r} ms .. {high!r} ms", JITTER)
    assert (bound.op, bound.limit, bound.high) == ("..", low * 1e-3, high * 1e-3)
    value = data.draw(st.one_of(near(low * 1e-3), near(high * 1e-3)))
    assert bound.judge(value) is (low * 1e-3 <= value <= high * 1e-3)
    assert bound.judge(low * 1e-3) and bound.judge(high * 1e-3)


@given(fraction=st.integers(min_value=1, max_value=200), baseline=limits, value=limits)
def test_relative_bound_scales_the_baseline(fraction: int, baseline: float, value: float) -> None:
    assume(baseline > 0)
    bound = parse_bound(f">= {fraction}% of baseline", THROUGHPUT)
    assert bound.of_baseline
    assert bound.judge(value, baseline) is (value >= fraction / 100 * baseline)


@pytest.mark.parametrize(
    ("text", "metric", "op", "limit", "high"),
    [
        (">= 19 Mbit/s", THROUGHPUT, ">=", 19e6, None),
        ("<20ms", JITTER, "<", 0.02, None),
        ("  <= 0.5 %  ", LOSS, "<=", 0.5, None),
        ("== 0", RETRANSMITS, "==", 0, None),
        ("60 kbit/s .. 70 kbit/s", THROUGHPUT, "..", 60e3, 70e3),
        ("1 ms..2 ms", JITTER, "..", 1e-3, 2e-3),
        ("5 MB/s .. 5 MB/s", THROUGHPUT, "..", 40e6, 40e6),
    ],
)
def test_bound_examples(
    text: str, metric: Metric, op: str, limit: float, high: float | None
) -> None:
    bound = parse_bound(text, metric)
    assert bound.op == op
    assert bound.limit == pytest.approx(limit)
    assert bound.high == (None if high is None else pytest.approx(high))


def test_describe_humanises_units() -> None:
    assert parse_bound(">= 19000 kbit/s", THROUGHPUT).describe(THROUGHPUT) == ">= 19 Mbit/s"
    assert parse_bound("0.1 ms .. 2000 us", JITTER).describe(JITTER) == "0.1 ms .. 2 ms"
    assert parse_bound(">= 95% of baseline", THROUGHPUT).describe(THROUGHPUT) == (
        ">= 95% of baseline"
    )


@pytest.mark.parametrize(
    ("text", "metric", "message"),
    [
        # A number without a unit where the metric has one: an error, never a guess.
        (">= 10", THROUGHPUT, "'10' needs a unit, e.g. '10 Mbit/s'"),
        ("< 20", JITTER, "'20' needs a unit, e.g. '20 ms'"),
        ("1 .. 2 ms", JITTER, "'1' needs a unit, e.g. '1 ms'"),
        (">= 10 Mbits", THROUGHPUT, "unknown unit 'Mbits' in '10 Mbits'; a rate takes bit/s"),
        (
            "30 ms .. 20 ms",
            JITTER,
            "range '30 ms .. 20 ms' has its low end above its high end; write '20 ms .. 30 ms'",
        ),
        (
            "10 Mbit/s",
            THROUGHPUT,
            "'10 Mbit/s' is not a bound; write '>= X', '> X', '<= X', '< X', '== X', "
            "'LOW .. HIGH' or '>= 95% of baseline'",
        ),
        ("=> 10 Mbit/s", THROUGHPUT, "'=> 10 Mbit/s' is not a bound; write '>= X'"),
        (10, THROUGHPUT, "bound 10 has no comparison; write e.g. '>= 10 Mbit/s'"),
        (0.5, LOSS, "bound 0.5 has no comparison; write e.g. '>= 0.5 %'"),
        (True, LOSS, "a bound is a string such as '>= X'"),
        (None, LOSS, "a bound is a string such as '>= X'"),
    ],
)
def test_bad_bounds_say_what_is_right(text: object, metric: Metric, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_bound(text, metric)
    assert caught.value.message.startswith(message), caught.value.message


def test_relative_bound_without_baseline_says_how_to_get_one() -> None:
    with pytest.raises(InputError, match="needs a baseline: run with --qos-compare"):
        parse_bound(">= 95% of baseline", THROUGHPUT).judge(1e6)


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("throughput.recieved", "throughput.reverse"),
        ("jiter", "jitter"),
        ("latncy.p99", "latency.p99"),
    ],
)
def test_unknown_metric_suggests_the_closest(name: str, suggestion: str) -> None:
    with pytest.raises(InputError) as caught:
        lookup(name)
    assert caught.value.message.startswith(
        f"unknown metric '{name}' — did you mean '{suggestion}'?"
    )
    assert "(known: throughput, throughput.sent," in caught.value.message


def test_unknown_metric_far_from_any_gets_the_list_only() -> None:
    with pytest.raises(InputError) as caught:
        lookup("zzz")
    assert caught.value.message.startswith("unknown metric 'zzz' (known: throughput,")


def test_parse_expectations_names_the_key_at_fault() -> None:
    parsed = parse_expectations({"throughput": ">= 19 Mbit/s", "loss": "<= 1 %"})
    assert set(parsed) == {"throughput", "loss"}
    with pytest.raises(InputError) as caught:
        parse_expectations({"throughput": ">= 19 Mbit/s", "jitter": "< 20"})
    assert caught.value.key == "jitter"
    assert str(caught.value) == "jitter: '20' needs a unit, e.g. '20 ms'"
    with pytest.raises(InputError) as unknown:
        parse_expectations({"jiter": "< 20 ms"})
    assert unknown.value.key == "jiter"
    assert "did you mean 'jitter'?" in unknown.value.message


def test_check_bounds_judges_and_explains_what_is_missing() -> None:
    expect = parse_expectations(
        {
            "throughput": ">= 19 Mbit/s",
            "loss": "<= 1 %",
            "jitter": "< 5 ms",
            "throughput.sent": ">= 90% of baseline",
        }
    )
    checks = {
        check.metric: check
        for check in check_bounds(
            {"throughput": 20e6, "loss": 2.0, "throughput.sent": 20e6}, expect
        )
    }
    assert checks["throughput"].passed and not checks["loss"].passed
    assert not checks["jitter"].passed and checks["jitter"].note == "not measured by this test"
    # A first run: nothing to be relative to yet, so it passes and says why.
    assert checks["throughput.sent"].passed
    assert checks["throughput.sent"].note == "no baseline yet"
    compared = check_bounds({"throughput.sent": 20e6}, expect, {"throughput.sent": 21e6})
    assert [check.passed for check in compared if check.metric == "throughput.sent"] == [True]


def test_every_catalogued_metric_accepts_a_bound_in_its_own_unit() -> None:
    for metric in CATALOGUE.values():
        bound = parse_bound(f">= {example(metric.kind)}", metric)
        assert isinstance(bound, Bound) and bound.judge(bound.limit)


def test_a_part_of_a_test_is_judged_under_the_name_the_test_gives_it() -> None:
    """qos_check's library call: a second iperf3 measurement is 'iperf3-2' in its test, so
    its checks and the baseline value a relative bound reads carry that name."""
    first, second = (
        Measurement("iperf3", {"throughput": 5e6}),
        Measurement("iperf3", {"throughput": 8e6}),
    )
    result = QosResult("t.py::x", [first, second])
    stored = QosResult(
        "t.py::x",
        [Measurement("iperf3", {"throughput": 1e6}), Measurement("iperf3", {"throughput": 10e6})],
    )
    expect = parse_expectations({"throughput": ">= 90% of baseline"})
    checked = judge_part(result, second.metrics, expect, Baseline({"t.py::x": stored}), second)
    (check,) = checked.checks
    assert (check.metric, check.measured, check.baseline) == ("iperf3-2.throughput", 8e6, 10e6)
    assert not check.passed and result.checks == []  # judged apart; the caller adds it
    assert checked.comparison is not None and checked.comparison.in_baseline


@pytest.mark.parametrize(
    ("keyword", "name"),
    [("latency_p99", "latency.p99"), ("lost_packets", "lost_packets"), ("cpu_local", "cpu.local")],
)
def test_keyword_names_map_to_metric_names(keyword: str, name: str) -> None:
    assert keyword_name(keyword) == name
