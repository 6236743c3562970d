"""The methods' logic with fake trials: RFC 2544 search, Y.1564 steps, RFC 6349 formulas, Y.1541."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest
from fake_trials import ShaperTrial
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_qos.errors import InputError
from pytest_qos.methods import rfc2544, rfc6349, y1541, y1564
from pytest_qos.methods.frames import frames_per_second, overhead, payload_rate, udp_payload
from pytest_qos.results import Measurement

DATA = Path(__file__).parent / "data"


def test_frame_overhead_is_46_bytes_over_ipv4_and_66_over_ipv6() -> None:
    # Ethernet header 14 + FCS 4 + UDP 8, and IPv4 20 / IPv6 40.
    assert overhead() == 46 and overhead(ipv6=True) == 66
    assert udp_payload(1518) == 1472 and udp_payload(64) == 18
    assert udp_payload(1518, ipv6=True) == 1452
    with pytest.raises(InputError, match="82 B to 1518 B"):
        udp_payload(64, ipv6=True)
    assert payload_rate(1518e4, 1518) == pytest.approx(1472e4)
    assert frames_per_second(8 * 1518 * 1000, 1518) == pytest.approx(1000)


@settings(max_examples=300, deadline=None)
@given(
    low=st.floats(1e3, 1e8),
    span=st.floats(1.05, 1e4),
    where=st.floats(-0.2, 1.2),
    resolution=st.sampled_from([0.5, 1.0, 2.0, 5.0]),
    shaper=st.booleans(),
    collapse=st.floats(0.0, 0.99),
)
def test_search_terminates_within_its_bound_and_finds_the_threshold(
    low: float, span: float, where: float, resolution: float, shaper: bool, collapse: float
) -> None:
    high = low * span
    threshold = low * span**where  # may lie below or above the range
    calls: list[float] = []

    def offer(rate: float) -> tuple[float, float]:
        calls.append(rate)
        if rate <= threshold:
            return 0.0, rate
        # A shaper delivers its rate; another DUT may collapse (deliver far less) when overloaded.
        delivered = threshold if shaper else rate * collapse
        return 100.0 * (1 - delivered / rate), delivered

    bound = rfc2544.trial_bound(low, high, resolution)
    found = rfc2544.search(offer, low, high, resolution=resolution, max_trials=bound)
    assert len(found.trials) == len(calls) <= bound
    assert found.converged
    if threshold >= high:
        assert found.throughput == high
    elif threshold < low:
        assert found.throughput == 0.0
    else:
        assert threshold / (1 + resolution / 100) * (1 - 1e-9) <= found.throughput <= threshold


@given(max_trials=st.integers(2, 8))
def test_search_stops_at_max_trials_and_says_so(max_trials: int) -> None:
    found = rfc2544.search(
        lambda rate: (0.0, rate) if rate < 1234.5 else (50.0, 1.0),
        1.0,
        1e9,
        max_trials=max_trials,
    )
    assert len(found.trials) <= max_trials
    if not found.converged:
        assert "max_trials" in found.note


def test_search_of_a_shaper_takes_four_trials() -> None:
    capacity = 30e6

    def offer(rate: float) -> tuple[float, float]:
        return (0.0, rate) if rate <= capacity else (100 * (1 - capacity / rate), capacity)

    found = rfc2544.search(offer, 1e6, 1e9)
    assert len(found.trials) <= 4
    assert capacity / 1.01 <= found.throughput <= capacity


def test_rfc2544_reports_every_trial_and_per_frame_metrics() -> None:
    spec = rfc2544.Rfc2544.from_options(
        {"range": "1 Mbit/s .. 1 Gbit/s", "frame_sizes": [512, 1518], "trial": "1 s"}
    )
    result = rfc2544.run(spec, ShaperTrial(20e6))
    searches = result.details["searches"]
    assert [s["frame_size"] for s in searches] == [512, 1518]
    assert all(s["trials"] and {"rate", "loss"} <= s["trials"][0].keys() for s in searches)
    assert result.metrics["rfc2544.throughput.1518"] == pytest.approx(20e6, rel=0.011)
    assert result.metrics["rfc2544.frame_rate.1518"] == pytest.approx(
        result.metrics["rfc2544.throughput.1518"] / (8 * 1518)
    )
    assert result.metrics["rfc2544.throughput"] == min(s["throughput"] for s in searches)


def test_y1564_steps_policing_and_performance_with_a_shaper_at_cir() -> None:
    spec = y1564.Y1564.from_options(
        {
            "trial": "1 s",
            "performance": "2 s",
            "services": {"data": {"cir": "20 Mbit/s", "ftd": "5 ms"}},
        }
    )
    trial = ShaperTrial(20e6)
    result = y1564.run(spec, trial)
    steps = {row["step"]: row for row in result.details["steps"]}
    assert list(steps) == ["cir25", "cir50", "cir75", "cir100", "policing", "performance"]
    assert steps["policing"]["rate"] == pytest.approx(25e6)
    assert steps["policing"]["flr"] == pytest.approx(20.0, abs=0.5)  # the probe shares the rate
    assert all(row["passed"] for row in steps.values())
    assert result.details["verdicts"] == {"data": "pass"}
    assert result.metrics["y1564.data.cir50.ir"] == pytest.approx(10e6, rel=0.01)
    assert "y1564.data.policing.ftd" in result.metrics


def test_y1564_fails_a_service_whose_cir_the_path_cannot_carry() -> None:
    spec = y1564.Y1564.from_options(
        {"performance": "0 s", "services": {"video": {"cir": "10 Mbit/s"}}}
    )
    result = y1564.run(spec, ShaperTrial(6e6))
    failed = [c.metric for c in result.checks if not c.passed]
    assert "y1564.video.cir100.flr" in failed and "y1564.video.cir25.flr" not in failed
    assert result.details["verdicts"] == {"video": "FAIL"}


def test_y1564_runs_all_services_together_in_the_performance_test() -> None:
    spec = y1564.Y1564.from_options(
        {
            "steps": ["100 %"],
            "services": {"a": {"cir": "5 Mbit/s"}, "b": {"cir": "5 Mbit/s", "eir": "5 Mbit/s"}},
        }
    )
    trial = ShaperTrial(100e6)
    y1564.run(spec, trial)
    assert [len(call) for call in trial.calls] == [1, 1, 1, 1, 1, 2]
    assert [flow.name for flow in trial.calls[-1]] == ["a", "b"]


@pytest.mark.parametrize(
    ("cir", "eir", "offered"),
    [(20e6, 0.0, 25e6), (20e6, 2e6, 27e6), (20e6, 10e6, 32.5e6)],
)
def test_y1564_policing_rate(cir: float, eir: float, offered: float) -> None:
    assert y1564.Service("s", cir, eir).policing_rate == pytest.approx(offered)


def test_rfc6349_figures_agree_with_the_formulas_by_hand_on_a_captured_lab_run() -> None:
    captured = json.loads((DATA / "rfc6349-lab.json").read_text())
    document = captured["transfer_iperf3"]
    baseline = [rtt for _, rtt in captured["baseline_probe"]["replies"]]
    during = [rtt for _, rtt in captured["transfer_probe"]["replies"]]
    found = rfc6349.figures(
        bottleneck=captured["bottleneck"],
        baseline_rtts=baseline,
        transfer_rtts=during,
        transfer=document,
    )
    # By hand, RFC 6349 §3.3: the captured run sent 4 830 528 bytes in 2.028253 s, MSS 1448,
    # 11 retransmitted segments, through a tbf of 20 Mbit/s (frames of 1448 + 66 bytes).
    assert document["end"]["sum_received"]["bytes"] == 4_830_528
    max_tcp = 20e6 * 1448 / (1448 + 66)  # 19.128 Mbit/s
    ideal = 4_830_528 * 8 / max_tcp  # 2.0203 s
    assert found.transfer_time_ratio == pytest.approx(2.028253 / ideal)
    sent = document["end"]["sum_sent"]["bytes"]
    retransmitted = 11 * 1448
    assert found.efficiency == pytest.approx(100 * sent / (sent + retransmitted))
    average, minimum = statistics.fmean(during), min(baseline)
    assert found.buffer_delay == pytest.approx(100 * (average - minimum) / minimum)
    assert found.bdp == pytest.approx(20e6 * minimum / 8)
    # ... and the method's own report of that run said the same.
    for name, value in captured["reported"].items():
        assert getattr(found, _FIELD[name]) == pytest.approx(value), name


_FIELD = {
    "tcp.transfer_time_ratio": "transfer_time_ratio",
    "tcp.efficiency": "efficiency",
    "tcp.buffer_delay": "buffer_delay",
    "tcp.baseline_rtt": "baseline_rtt",
    "tcp.rtt": "average_rtt",
    "tcp.bottleneck": "bottleneck",
    "tcp.bdp": "bdp",
    "tcp.max_throughput": "max_throughput",
}


def test_rfc6349_worked_example_from_the_rfc() -> None:
    # RFC 6349 §3.3.2: 100 000 bytes delivered, 2 000 retransmitted -> 98.04 %;
    # §3.3.3: baseline 25 ms, average 32 ms -> 28 %.
    document = {
        "start": {"tcp_mss_default": 1000},
        "end": {
            "sum_received": {"bytes": 100_000, "seconds": 1.0},
            "sum_sent": {"bytes": 100_000, "retransmits": 2},
        },
    }
    found = rfc6349.figures(
        bottleneck=1e6, baseline_rtts=[0.025, 0.030], transfer_rtts=[0.032], transfer=document
    )
    assert found.efficiency == pytest.approx(100 * 100_000 / 102_000)
    assert round(found.efficiency, 2) == 98.04
    assert found.buffer_delay == pytest.approx(28.0)


@pytest.mark.parametrize(
    ("value", "bounds"),
    [
        (
            "class-0",
            {"y1541.iptd": "<= 100 ms", "y1541.ipdv": "<= 50 ms", "y1541.iplr": "<= 0.1 %"},
        ),
        (
            "class-1",
            {"y1541.iptd": "<= 400 ms", "y1541.ipdv": "<= 50 ms", "y1541.iplr": "<= 0.1 %"},
        ),
        ("class-2", {"y1541.iptd": "<= 100 ms", "y1541.iplr": "<= 0.1 %"}),
        ("class 3", {"y1541.iptd": "<= 400 ms", "y1541.iplr": "<= 0.1 %"}),
        ("class-4", {"y1541.iptd": "<= 1000 ms", "y1541.iplr": "<= 0.1 %"}),
    ],
)
def test_y1541_classes_expand_to_table_1(value: str, bounds: dict[str, str]) -> None:
    assert y1541.expand(value) == bounds


@pytest.mark.parametrize(
    ("value", "words"), [("class-5", "unspecified"), ("class-9", "class-0 to class-5")]
)
def test_y1541_bad_classes(value: str, words: str) -> None:
    with pytest.raises(InputError, match=words):
        y1541.expand(value)


def test_y1541_estimates_one_way_figures_from_round_trips() -> None:
    rtts = [0.010 + 0.0001 * i for i in range(1000)]
    probe = Measurement(
        "probe:udp",
        {"latency.mean": statistics.fmean(rtts), "latency.loss": 0.2},
        series={"rtt": [(i * 0.01, rtt) for i, rtt in enumerate(rtts)]},
    )
    derived = y1541.derive(probe)
    assert derived["y1541.iptd"] == pytest.approx(statistics.fmean(rtts) / 2)
    assert derived["y1541.ipdv"] == pytest.approx(rtts[998] - rtts[0])  # the 999th of 1000
    assert derived["y1541.iplr"] == 0.2
    assert math.isfinite(derived["y1541.ipdv"])
