"""Change points and the verdict against the history, on synthetic series (hypothesis)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_qos.history.changepoints import MIN_SEGMENT, find_steps
from pytest_qos.history.noise import resolution
from pytest_qos.history.verdict import MIN_HISTORY, judge_value
from pytest_qos.judge.compare import Verdict

pytest.importorskip("ruptures", reason="the trend extra: pip install 'pytest-qos[trend]'")


def noisy(seed: int, count: int, level: float, noise: float, shape: str) -> list[float]:
    """`count` values around `level` whose noise has standard deviation `noise`."""
    draw = random.Random(seed)
    if shape == "normal":
        return [draw.gauss(level, noise) for _ in range(count)]
    half_width = noise * 3**0.5  # a uniform distribution of this half-width has σ = noise
    return [level + draw.uniform(-half_width, half_width) for _ in range(count)]


series_settings = {
    "seed": st.integers(0, 2**32 - 1),
    "count": st.integers(100, 300),
    "level": st.floats(1e6, 1e9),
    "relative_noise": st.floats(0.006, 0.05),  # above the 0.5 % resolution floor
    "shape": st.sampled_from(["normal", "uniform"]),
}


@settings(max_examples=150, deadline=None)
@given(**series_settings, where=st.floats(0.05, 0.95), up=st.booleans())
def test_a_step_of_five_times_the_noise_is_found_within_two_runs(
    seed: int,
    count: int,
    level: float,
    relative_noise: float,
    shape: str,
    where: float,
    up: bool,
) -> None:
    noise = level * relative_noise
    values = noisy(seed, count, level, noise, shape)
    at = min(max(int(where * count), 2 * MIN_SEGMENT), count - 2 * MIN_SEGMENT)
    step = 5 * noise if up else -5 * noise
    values[at:] = [value + step for value in values[at:]]
    found = find_steps(values, resolution("throughput", values))
    assert any(abs(change.index - at) <= 2 for change in found), (at, found)
    assert len(found) <= 1 + count // 100  # the step, and at most one false change per 100


@settings(max_examples=150, deadline=None)
@given(**series_settings)
def test_noise_alone_gives_at_most_one_false_change_per_100_runs(
    seed: int, count: int, level: float, relative_noise: float, shape: str
) -> None:
    values = noisy(seed, count, level, level * relative_noise, shape)
    assert len(find_steps(values, resolution("throughput", values))) <= count // 100


def test_a_flat_or_short_series_has_no_change_points() -> None:
    assert find_steps([20e6] * 50) == []
    assert find_steps([20e6, 10e6, 20e6, 10e6]) == []
    tiny = [20e6 * (1 + 0.0001 * (i % 3)) for i in range(30)] + [20e6 * 1.0004] * 30
    assert find_steps(tiny, resolution("throughput", tiny)) == []  # 0.04 %: below resolution


# -- the verdict -----------------------------------------------------------------------------

STABLE = noisy(7, 12, 20e6, 0.05e6, "normal")


@pytest.mark.parametrize(
    ("now", "fail", "verdict", "words"),
    [
        (16.1e6, True, Verdict.REGRESSION, "below the last 12 runs"),
        (16.1e6, False, Verdict.WORSE, "below the last 12 runs"),
        (20.02e6, True, Verdict.NOISE, "within the last 12 runs"),
        (24e6, True, Verdict.BETTER, "above the last 12 runs"),
    ],
)
def test_the_newest_value_against_its_history(
    now: float, fail: bool, verdict: Verdict, words: str
) -> None:
    change = judge_value("throughput", now, STABLE, fail)
    assert change.verdict is verdict
    assert change.note.startswith(words), change.note
    assert "Mbit/s, median 20" in change.note
    assert change.failed is (verdict is Verdict.REGRESSION)


def test_latency_is_worse_upwards_and_loss_from_zero() -> None:
    latency = [0.001 + 0.00001 * (i % 4) for i in range(10)]
    assert judge_value("latency.p99", 0.004, latency, True).verdict is Verdict.REGRESSION
    assert judge_value("latency.p99", 0.0005, latency, True).verdict is Verdict.BETTER
    assert judge_value("loss", 0.0, [0.0] * 10, True).verdict is Verdict.NOISE
    assert judge_value("loss", 0.05, [0.0] * 10, True).verdict is Verdict.NOISE  # < 0.1 point
    assert judge_value("loss", 2.0, [0.0] * 10, True).verdict is Verdict.REGRESSION


def test_too_little_history_is_reported_and_never_fails() -> None:
    assert judge_value("throughput", 1e6, [], True).verdict is Verdict.NEW
    short = judge_value("throughput", 1e6, STABLE[: MIN_HISTORY - 1], True)
    assert short.verdict is Verdict.NEW and not short.failed
    assert short.note == f"history too short: {MIN_HISTORY - 1} of {MIN_HISTORY} runs"


def test_after_a_change_point_the_history_restarts_from_it() -> None:
    past = noisy(3, 20, 20e6, 0.05e6, "normal") + noisy(4, 4, 16e6, 0.05e6, "normal")
    change = judge_value("throughput", 16e6, past, True)
    assert change.verdict is Verdict.NEW and "since its last change point" in change.note
    longer = past + noisy(5, 8, 16e6, 0.05e6, "normal")
    assert judge_value("throughput", 16e6, longer, True).verdict is Verdict.NOISE


def test_a_value_of_the_same_noise_is_rarely_called_worse() -> None:
    draw = random.Random(11)
    trials, worse = 2000, 0
    for _ in range(trials):
        past = [draw.gauss(100e6, 2e6) for _ in range(draw.randint(MIN_HISTORY, 30))]
        change = judge_value("throughput", draw.gauss(100e6, 2e6), past, True)
        worse += change.verdict is Verdict.REGRESSION
    assert worse / trials <= 0.005  # SIGNIFICANCE is 0.001 for normally distributed noise
