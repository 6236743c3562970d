"""Generator limits: a trial whose sender fell short is neither clean nor lossy.

Unit tests on fake trials (tests/fake_trials.py): a shaper of some capacity behind a sender
that cannot send more than `sender_limit`.
"""

from __future__ import annotations

import json
import shutil

import pytest
from fake_trials import ShaperTrial
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ScenarioWriter
from pytest_qos.judge.bounds import check_bounds, parse_expectations
from pytest_qos.measure.sender import sender_error
from pytest_qos.methods import rfc2544, y1564
from pytest_qos.report import methods
from pytest_qos.results import Measurement, QosResult


def _spec(**options: object) -> rfc2544.Rfc2544:
    return rfc2544.Rfc2544.from_options(
        {"range": "1 Mbit/s .. 1 Gbit/s", "frame_sizes": [64], "trial": "1 s", **options}
    )


def test_an_unshaped_path_behind_a_slow_sender_is_limited_not_found() -> None:
    """The issue's run: 1 Gbit/s asked of 64-byte frames, 82 Mbit/s sent; the path is faster."""
    result = rfc2544.run(_spec(), ShaperTrial(10e9, sender_limit=82e6))
    [found] = result.details["searches"]
    assert found["trials"][0] == {
        "rate": 1e9,
        "loss": 0.0,
        "delivered": pytest.approx(82e6, rel=0.001),
        "passed": False,
        "sent": pytest.approx(82e6, rel=0.001),
        "limited": True,
    }
    assert found["limited_by"] == pytest.approx(82e6, rel=0.001)
    assert 82e6 / 1.011 <= found["throughput"] <= 82e6
    assert found["note"].startswith("limited by the sender at 160,156 frames/s (82 Mbit/s of")
    # No trial above the sender's limit after the first: the search stays where it can send.
    assert all(t["rate"] <= 82e6 * 1.0001 for t in found["trials"][1:])
    assert len(found["trials"]) <= 6


def test_a_shaper_below_the_senders_limit_is_found_as_before() -> None:
    result = rfc2544.run(_spec(), ShaperTrial(30e6, sender_limit=82e6))
    [found] = result.details["searches"]
    assert found["trials"][0]["limited"] is True  # 1 Gbit/s could not be sent
    assert "limited_by" not in found and found["note"] == ""
    assert 30e6 / 1.011 <= found["throughput"] <= 30e6 * 1.0001  # the fake counts whole frames
    assert rfc2544.limit_error(result.details, []) == ""


@pytest.mark.parametrize(
    ("expect", "error"),
    [
        ({}, True),  # nothing bounds the figure: an unknown throughput cannot pass
        ({"rfc2544.throughput": ">= 50 Mbit/s"}, False),  # bounded below what was sent: held
        ({"rfc2544.throughput.64": ">= 50 Mbit/s"}, False),
        ({"rfc2544.throughput": ">= 100 Mbit/s"}, True),  # above it: the sender decides, error
        ({"rfc2544.frame_rate": ">= 200000"}, True),
    ],
)
def test_a_limited_search_errors_unless_the_user_bounds_below_it(
    expect: dict[str, str], error: bool
) -> None:
    result = rfc2544.run(_spec(), ShaperTrial(10e9, sender_limit=82e6))
    checks = check_bounds(result.metrics, parse_expectations(expect))
    said = rfc2544.limit_error(result.details, checks)
    assert bool(said) is error, said
    if error:
        assert said.startswith(
            "RFC 2544 at 64-byte frames: limited by the sender at 160,156 frames/s"
        ), said
        assert "lower the range's high end below 82 Mbit/s" in said
    QosResult("t", checks=checks)  # the checks themselves stay as judged


def test_the_low_end_beyond_the_sender_is_said() -> None:
    spec = rfc2544.Rfc2544.from_options(
        {"range": "100 Mbit/s .. 1 Gbit/s", "frame_sizes": [64], "trial": "1 s"}
    )
    [found] = rfc2544.run(spec, ShaperTrial(10e9, sender_limit=82e6)).details["searches"]
    assert found["throughput"] == 0.0
    assert found["note"] == "the sender could not send it even at the range's low end"


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.floats(2e6, 900e6),
    limit=st.floats(2e6, 900e6),
    resolution=st.sampled_from([0.5, 1.0, 2.0, 5.0]),
)
def test_the_search_never_reports_more_than_the_sender_sent(
    capacity: float, limit: float, resolution: float
) -> None:
    """Whatever the shaper and the sender: the figure is the smaller of the two, within the
    resolution, flagged as the sender's exactly when the sender was the smaller."""

    def offer(rate: float) -> rfc2544.Observation:
        sent = min(rate, limit)
        delivered = min(sent, capacity)
        return rfc2544.Observation(100 * (1 - delivered / sent), delivered, sent)

    found = rfc2544.search(offer, 1e6, 1e9, resolution=resolution, max_trials=40)
    ceiling = min(capacity, limit)
    assert ceiling / (1 + resolution / 100) ** 2 <= found.throughput <= ceiling * 1.000001
    assert len(found.trials) <= rfc2544.trial_bound(1e6, 1e9, resolution) + 2
    if limit < capacity / (1 + resolution / 100):
        assert found.limited_by is not None
    if capacity < limit / (1 + resolution / 100) ** 2:
        assert found.limited_by is None


def _y1564(cir: str) -> y1564.Y1564:
    return y1564.Y1564.from_options(
        {"services": {"data": {"cir": cir}}, "trial": "1 s", "performance": "1 s"}
    )


def test_y1564_steps_beyond_the_sender_are_limited_and_the_test_errors() -> None:
    """CIR 100 Mbit/s behind a sender that manages 90: cir25..75 are tested, cir100, policing and
    the performance test are not (their rate was never offered)."""
    result = y1564.run(_y1564("100 Mbit/s"), ShaperTrial(1e9, sender_limit=90e6))
    rows = {row["step"]: row for row in result.details["steps"]}
    assert [step for step, row in rows.items() if row.get("limited")] == [
        "cir100",
        "policing",
        "performance",
    ]
    assert rows["cir75"]["passed"] is True and "limited" not in rows["cir75"]
    assert rows["cir100"]["sent"] == pytest.approx(90e6, rel=0.01)
    assert result.details["verdicts"] == {"data": "limited (sender)"}
    said = y1564.limit_error(result.details)
    assert said.startswith(
        "Y.1564: the sender fell short of the step's rate beyond the IR tolerance at "
        "data cir100 (sent 90"
    ), said
    table = methods.rfc2544_rows({}) + methods.y1564_rows(result.details)
    assert [r[-1] for r in table if r[1] == "cir100"] == ["limited (sender)"]


def test_y1564_within_the_senders_reach_is_judged_as_before() -> None:
    result = y1564.run(_y1564("20 Mbit/s"), ShaperTrial(20e6, sender_limit=90e6))
    assert y1564.limit_error(result.details) == ""
    assert result.details["verdicts"] == {"data": "pass"}


# -- for real: iperf3 on loopback cannot send 64-byte frames at 1 Gbit/s ----------------------

needs_iperf3 = pytest.mark.skipif(shutil.which("iperf3") is None, reason="iperf3 is not installed")


def test_a_short_udp_sender_is_named_in_flows_and_traffic() -> None:
    flow = Measurement(
        "iperf3",
        {"video.throughput.sent": 8e6, "video.throughput": 8e6},
        details={"protocol": "udp", "bitrate": 12_000_000, "blksize": 1448, "name": "video"},
    )
    flow.details["window"] = [1.0, 4.0]
    assert sender_error([flow]).startswith(
        "the UDP sender of flow 'video' sent 8 Mbit/s of the 12 Mbit/s asked (33 % short)"
    )
    flow.metrics["video.throughput.sent"] = 11.99e6  # iperf3's pacing: within 0.2 %
    assert sender_error([flow]) == ""
    tcp = Measurement(
        "iperf3", {"throughput.sent": 1e6}, details={"protocol": "tcp", "bitrate": 9e6}
    )
    assert sender_error([tcp]) == ""  # TCP held back by congestion control: the path's doing


@needs_iperf3
def test_rfc2544_on_an_unshaped_path_errors_with_the_senders_limit(
    write_scenario: ScenarioWriter, pytester: pytest.Pytester
) -> None:
    write_scenario(
        "tests:\n"
        "  unknown:\n"
        "    rfc2544: {range: 1 Mbit/s .. 2 Gbit/s, frame_sizes: [64], trial: 1 s, max_trials: 8}\n"
        "  bounded-below:\n"
        "    rfc2544: {range: 1 Mbit/s .. 2 Gbit/s, frame_sizes: [64], trial: 1 s, max_trials: 8}\n"
        "    expect: {rfc2544.throughput: '>= 1 Mbit/s'}\n"
        "  short-udp:\n"
        "    traffic: {protocol: udp, bitrate: 5 Gbit/s, length: 18, duration: 1 s}\n"
        "    expect: {loss: '<= 1 %'}\n"
    )
    result = pytester.runpytest("--qos", "--qos-json=r.json")
    document = json.loads((pytester.path / "r.json").read_text())
    outcomes = {r["test"].split("::")[1]: r["outcome"] for r in document["results"]}
    [search] = document["results"][0]["measurements"][0]["details"]["searches"]
    # Trial 1 asked 2 Gbit/s of 64-byte frames; this host's sender manages a few % of that.
    assert search["trials"][0]["limited"] is True and search["trials"][0]["sent"] < 0.5e9
    result.stdout.fnmatch_lines(["*64       1        2 Gbit/s*limited (sender)*"])
    # On loopback the receiving iperf3 may lose frames below the sender's limit (then that is
    # the figure, with nothing to hide); else the figure is the sender's, and unknown is an error.
    if "limited_by" in search:
        assert outcomes["unknown"] == "error"
        result.stdout.fnmatch_lines(
            [
                "*RFC 2544 at 64-byte frames: limited by the sender at * frames/s (* of 64-byte "
                "frames); the path lost nothing up to there*"
            ]
        )
    else:
        assert outcomes["unknown"] == "passed"
    assert outcomes["bounded-below"] == "passed"
    assert outcomes["short-udp"] == "error"
    result.stdout.fnmatch_lines(
        [
            "*the UDP sender sent * of the 5 Gbit/s asked (* % short): the generator, not the "
            "path, limited it*"
        ]
    )
    assert "FAIL" not in result.stdout.str()  # an error's figures are not judged
