"""Probe statistics, the E-model and probe options: pure code, hypothesis where it fits."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_qos.errors import InputError
from pytest_qos.probes import Probe
from pytest_qos.probes.emodel import (
    delay_impairment,
    effective_equipment_impairment,
    mos_from_path,
    mos_from_r,
    r_factor,
)
from pytest_qos.probes.hdr import (
    MAX_RELATIVE_ERROR,
    Histogram,
    Recorder,
    Series,
    bucket_bounds,
    bucket_of,
    series_period,
)
from pytest_qos.probes.icmp import parse_ping, ping_command
from pytest_qos.probes.stats import (
    PERCENTILES,
    Reply,
    latency_metrics,
    mean_abs_ipdv,
    percentile,
    reordered_count,
)

samples = st.lists(st.floats(0, 10, allow_nan=False), min_size=1, max_size=200)
percents = st.floats(0.5, 100)


@given(samples, percents)
def test_percentile_is_a_raw_sample_with_the_nearest_rank_property(
    values: list[float], percent: float
) -> None:
    ordered = sorted(values)
    result = percentile(ordered, percent)
    assert result in ordered
    at_or_below = sum(1 for v in ordered if v <= result)
    below = sum(1 for v in ordered if v < result)
    assert at_or_below >= percent / 100 * len(ordered) - 1e-6
    assert below < percent / 100 * len(ordered) + 1e-6


def test_percentile_hand_computed() -> None:
    ordered = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    assert percentile(ordered, 50) == 5.0  # rank ceil(5) = 5: the lower median, never 5.5
    assert percentile(ordered, 90) == 9.0
    assert percentile(ordered, 95) == 10.0
    assert percentile(ordered, 99) == 10.0
    assert percentile([3.0], 50) == 3.0


@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=2, max_size=100))
def test_jitter_is_zero_for_constant_and_bounded_by_the_range(values: list[float]) -> None:
    jitter = mean_abs_ipdv(values)
    assert 0 <= jitter <= max(values) - min(values) + 1e-12
    assert mean_abs_ipdv([values[0]] * len(values)) == 0


def test_jitter_hand_computed() -> None:
    # |2-1| + |1-2| + |4-1| = 5 over 3 pairs
    assert mean_abs_ipdv([1.0, 2.0, 1.0, 4.0]) == pytest.approx(5 / 3)
    assert mean_abs_ipdv([7.0]) == 0.0


def test_reordering_counts_replies_behind_a_higher_sequence() -> None:
    assert reordered_count([0, 1, 2, 3]) == 0
    assert reordered_count([0, 2, 1, 3]) == 1
    assert reordered_count([3, 0, 1, 2]) == 3


@given(st.permutations(list(range(30))))
def test_reordering_is_zero_only_in_order(order: list[int]) -> None:
    assert (reordered_count(order) == 0) == (order == sorted(order))


def test_latency_metrics_from_raw_samples() -> None:
    replies = [Reply(0, 0.010), Reply(2, 0.030), Reply(1, 0.020), Reply(3, 0.040)]
    metrics = latency_metrics(5, replies, [0, 2, 1, 3])
    assert metrics["latency.loss"] == pytest.approx(20.0)
    assert metrics["latency.min"] == 0.010
    assert metrics["latency.max"] == 0.040
    assert metrics["latency.mean"] == pytest.approx(0.025)
    # Ranked among all 5 probes sent, the lost one infinitely late (RFC 2679 §5.1): the median
    # is the 3rd of 5, and the 99th percentile falls on the lost probe.
    assert metrics["latency.p50"] == 0.030
    assert metrics["latency.p99"] == math.inf
    assert metrics["latency.stdev"] == pytest.approx(math.sqrt(5e-4 / 3))
    # jitter in sequence order 10, 20, 30, 40 ms: every step 10 ms
    assert metrics["latency.jitter"] == pytest.approx(0.010)
    assert metrics["latency.reordered"] == pytest.approx(25.0)
    assert 1.0 <= metrics["mos"] <= 4.5


def test_no_reply_at_all_is_full_loss_with_every_percentile_lost() -> None:
    metrics = latency_metrics(10, [])
    lost = {f"latency.p{p}": math.inf for p in (50, 90, 95, 99)}
    assert metrics == {"latency.loss": 100.0, "latency.reordered": 0.0, "mos": 1.0, **lost}


# --- E-model: values computed by hand from the formulas in docs/probes.md -------------------


def test_emodel_perfect_path_is_the_g107_default() -> None:
    assert r_factor(0.0, 0.0) == pytest.approx(93.2)
    # 1 + 0.035·93.2 + 93.2·33.2·6.8·7e-6 = 1 + 3.262 + 0.14728...
    assert mos_from_r(93.2) == pytest.approx(4.40928, abs=1e-4)
    assert mos_from_path(0.0001, 0.0, 0.0) == pytest.approx(4.40928, abs=1e-4)


def test_emodel_delay_impairment_hand_computed() -> None:
    assert delay_impairment(0.100) == 0.0
    # Ta = 200 ms: X = 1; 25·((2)^(1/6) − 3·(1 + 1/729)^(1/6) + 2) = 25·0.121777 = 3.0444
    assert delay_impairment(0.200) == pytest.approx(3.0444, abs=1e-3)
    # Ta = 400 ms: X = 2; 25·(65^(1/6) − 3·(1 + 64/729)^(1/6) + 2) = 25·(2.00517 − 3.04237 + 2)
    assert delay_impairment(0.400) == pytest.approx(24.070, abs=1e-2)
    # R = 93.2 − 3.0444 = 90.1556 → MOS = 1 + 3.15545 + 90.1556·30.1556·9.8444·7e-6 = 4.34279
    assert mos_from_path(0.200, 0.0, 0.0) == pytest.approx(4.3428, abs=1e-3)


def test_emodel_loss_impairment_hand_computed() -> None:
    # G.711 with PLC, random loss: Ie,eff = 95·Ppl/(Ppl + 25.1)
    assert effective_equipment_impairment(1.0) == pytest.approx(95 / 26.1)
    assert effective_equipment_impairment(5.0) == pytest.approx(95 * 5 / 30.1)
    # R = 93.2 − 15.78073 = 77.41927 → MOS = 1 + 2.70967 + 77.419·17.419·22.581·7e-6 = 3.9228
    assert mos_from_path(0.0, 0.0, 5.0) == pytest.approx(3.9228, abs=1e-3)


def test_emodel_jitter_adds_a_buffer_of_twice_the_jitter() -> None:
    assert mos_from_path(0.150, 0.025, 0.0) == pytest.approx(mos_from_path(0.200, 0.0, 0.0))


@given(st.floats(0, 2), st.floats(0, 0.2), st.floats(0, 100))
def test_mos_is_within_scale_and_never_improves_with_worse_paths(
    delay: float, jitter: float, loss: float
) -> None:
    mos = mos_from_path(delay, jitter, loss)
    assert 1.0 <= mos <= 4.5
    assert mos_from_path(delay + 0.05, jitter, loss) <= mos + 1e-12
    assert mos_from_path(delay, jitter, min(100.0, loss + 1)) <= mos + 1e-12


def test_mos_clamps_outside_the_rating_scale() -> None:
    assert mos_from_r(-5) == 1.0
    assert mos_from_r(5) == 1.0  # the Annex B polynomial dips to 0.992 here
    assert mos_from_r(120) == 4.5


# --- Probe options ----------------------------------------------------------------------------


def test_probe_options_parse_to_base_units() -> None:
    probe = Probe.from_options(
        {"kind": "udp", "interval": "20 ms", "duration": "3 s", "dscp": "EF"}
    )
    assert (probe.kind, probe.interval, probe.duration, probe.dscp) == ("udp", 0.02, 3.0, 46)
    assert probe.packets == 150
    assert probe.timeout_total == pytest.approx(149 * 0.02 + 1.0 + 10.0)
    assert Probe.from_options({"interval": "0.5 s", "duration": "1.5 s"}).packets == 3
    assert Probe.from_options({"count": 7}).packets == 7
    assert Probe.from_options({}).packets == 50  # 1 s at 20 ms
    target = Probe.from_options({"target": {"host": "198.18.1.2", "port": 7001}})
    assert (target.host, target.port, target.explicit_target) == ("198.18.1.2", 7001, True)


@pytest.mark.parametrize(
    ("options", "key", "words"),
    [
        ({"interval": "0 ms"}, "interval", "interval must be above 0"),
        ({"interval": "-5 ms"}, "interval", "above 0"),
        ({"interval": "20"}, "interval", "needs a unit"),
        ({"count": 10, "duration": "1 s"}, "duration", "either 'count'"),
        ({"kind": "upd"}, "kind", "did you mean 'udp'"),
        ({"kind": "imcp"}, "kind", "did you mean 'icmp'"),
        ({"intervall": "20 ms"}, "intervall", "did you mean 'interval'"),
        ({"count": 0}, "count", "whole number from 1"),
        ({"count": 2.5}, "count", "whole number"),
        ({"size": "8 B"}, "size", "from 44 B"),
        ({"dscp": "EFF"}, "dscp", "did you mean 'EF'"),
        ({"timeout": "0 s"}, "timeout", "above 0"),
        ({"target": "198.18.1.2"}, "target", "must be a mapping"),
        ({"target": {"hots": "h"}}, "target.hots", "did you mean 'host'"),
        ({"target": {"port": 70000}}, "target.port", "1 to 65535"),
        ({"kind": "tcp", "size": "100 B"}, "size", "no meaning for a tcp probe"),
        ({"interval": "1 ms", "duration": "2000 s"}, "duration", "too many"),
    ],
)
def test_bad_probe_options_name_the_key_and_the_fix(
    options: dict[str, object], key: str, words: str
) -> None:
    with pytest.raises(InputError) as raised:
        Probe.from_options(options)
    assert raised.value.key == key
    assert words in raised.value.message


# --- ping parsing -----------------------------------------------------------------------------

PING_OUTPUT = """\
PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.
[1732435000.100000] 64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.045 ms
[1732435000.120000] 64 bytes from 127.0.0.1: icmp_seq=3 ttl=64 time=0.050 ms
[1732435000.120100] 64 bytes from 127.0.0.1: icmp_seq=2 ttl=64 time=21.2 ms
[1732435000.120200] 64 bytes from 127.0.0.1: icmp_seq=3 ttl=64 time=0.051 ms (DUP!)
[1732435002.200000] 64 bytes from 127.0.0.1: icmp_seq=4 ttl=64 time=1500 ms

--- 127.0.0.1 ping statistics ---
5 packets transmitted, 4 received, +1 duplicates, 20% packet loss, time 80ms
rtt min/avg/max/mdev = 0.045/380.3/1500/650.1 ms
"""


def test_ping_output_parsed_per_reply() -> None:
    record = parse_ping(PING_OUTPUT, interval=0.02, timeout=1.0)
    assert record["sent"] == 5
    # the duplicate is dropped, the 1.5 s reply is later than the timeout: lost
    assert [seq for seq, _ in record["replies"]] == [0, 2, 1]
    assert [rtt for _, rtt in record["replies"]] == pytest.approx([0.045e-3, 0.050e-3, 21.2e-3])
    metrics = latency_metrics(
        record["sent"],
        [Reply(s, r) for s, r in record["replies"]],
        [s for s, _ in record["replies"]],
    )
    assert metrics["latency.loss"] == pytest.approx(40.0)
    assert metrics["latency.reordered"] == pytest.approx(100 / 3)


def test_ping_sequence_numbers_unwrap_past_65535() -> None:
    lines = [
        f"[1.0] 64 bytes from ::1: icmp_seq={seq} ttl=64 time=0.010 ms"
        for seq in (65534, 65535, 0, 1)
    ]
    record = parse_ping("\n".join([*lines, "4 packets transmitted, 4 received"]), 0.001, 1.0)
    assert [seq for seq, _ in record["replies"]] == [65533, 65534, 65535, 65536]


def test_ping_command_uses_count_without_deadline() -> None:
    argv = ping_command("ping", "198.18.1.2", interval=0.02, count=50, size=64, timeout=1, dscp=46)
    assert "-w" not in argv
    assert argv[argv.index("-c") + 1] == "50"
    assert argv[argv.index("-Q") + 1] == str(46 << 2)
    assert argv[-1] == "198.18.1.2"


# --- constant-memory statistics (hdr.py) ---------------------------------------------------

_ns_values = st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=300)


@given(st.integers(min_value=0, max_value=2**62))
def test_histogram_buckets_hold_their_value_within_the_error_bound(value: int) -> None:
    low, high = bucket_bounds(bucket_of(value))
    assert low <= value < high
    assert high - low == 1 or (high - low) / low <= 2 * MAX_RELATIVE_ERROR


@given(_ns_values)
def test_histogram_percentiles_are_within_0_05_percent_of_nearest_rank(values: list[int]) -> None:
    histogram = Histogram()
    for value in values:
        histogram.add(value)
    ordered = sorted(values)
    ranks = histogram.percentiles(PERCENTILES)
    for percent in PERCENTILES:
        exact = ordered[max(1, math.ceil(percent / 100 * len(ordered) - 1e-9)) - 1]
        assert abs(ranks[percent] - exact) <= max(1, exact * MAX_RELATIVE_ERROR)
    assert (histogram.min, histogram.max) == (ordered[0], ordered[-1])
    assert histogram.mean() == pytest.approx(sum(values) / len(values), rel=1e-12)


@given(_ns_values)
def test_recorder_past_its_exact_limit_still_answers_within_the_bound(values: list[int]) -> None:
    exact, bounded = Recorder(), Recorder(exact_limit=0)
    for seq, value in enumerate(values):
        exact.add(seq, value)
        bounded.add(seq, value)
    a, b = exact.summary(), bounded.summary()
    assert a["exact"] and not b["exact"]
    for key in ("min", "max", "mean", "stdev", "jitter", "count"):
        assert a[key] == pytest.approx(b[key])
    for key in ("p50", "p90", "p95", "p99"):
        assert abs(a[key] - b[key]) <= max(1, a[key] * MAX_RELATIVE_ERROR)
    # Each kept only its own samples, never more than the limit.
    assert bounded.exact is None and len(a["histogram"]["buckets"]) <= len(values)


def test_recorder_jitter_is_in_sequence_order_despite_arrival_order() -> None:
    recorder = Recorder()
    for seq, value in [(0, 10), (2, 30), (1, 20), (3, 40)]:
        recorder.add(seq, value)
    assert recorder.summary()["jitter"] == 10.0


def test_series_has_one_point_per_period_with_loss() -> None:
    series = Series(count=10, per_point=5, lag_points=1)
    for seq in (0, 1, 2, 3, 4, 5, 7):
        series.add(seq, 100 + seq)
    points = series.finish()
    assert [p[0] for p in points] == [0, 1]
    assert points[0][1:] == [100, 102, 104, 104, 0.0, 5]
    assert points[1][5] == pytest.approx(60.0) and points[1][6] == 2


def test_series_period_is_per_probe_when_short_and_round_when_long() -> None:
    assert series_period(0.02, 50) == 1
    assert series_period(0.001, 86_400_000) == 120_000  # 24 h at 1000/s: a point per 2 min
