"""Delay percentiles with lost probes (RFC 2679 §5.1, RFC 7679): a lost probe is infinitely late,
so a percentile past the delivered share is infinite ("lost") — judged, compared, reported,
serialised and plotted as such (issue 23: 71.5 % loss passed a latency.p99 bound)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nft_namespace import nft_namespace

from pytest_qos.errors import MeasurementError
from pytest_qos.hosts.endpoints import Netns
from pytest_qos.hosts.target import Target
from pytest_qos.judge.bounds import check_bounds, parse_expectations
from pytest_qos.judge.compare import Verdict, compare, judge_change
from pytest_qos.judge.metrics import format_metric
from pytest_qos.probes import Probe, run_probe
from pytest_qos.probes.hdr import Recorder
from pytest_qos.probes.stats import Reply, latency_metrics, percentile
from pytest_qos.report.markdown import render_markdown
from pytest_qos.report.plots import matplotlib_available, plot_measurement
from pytest_qos.report.terminal import summary
from pytest_qos.results import Measurement, QosResult, aggregate
from pytest_qos.store.baselines import load_baseline, save_baseline
from pytest_qos.store.document import build_document, to_json

pytest_plugins = ["pytester"]


def _lossy(sent: int, lost: int) -> Measurement:
    replies = [Reply(seq, 0.001 * (1 + seq % 7)) for seq in range(sent - lost)]
    metrics = latency_metrics(sent, replies, [r.seq for r in replies])
    return Measurement("probe:udp", metrics, details={"sent": sent, "received": sent - lost})


def test_issue_case_715_percent_loss_fails_its_p99_bound() -> None:
    """Issue 23: 71.5 % loss passed `latency.p99 <= 50 ms`; percentiles were over replies."""
    measured = _lossy(200, 143)
    assert measured.metrics["latency.loss"] == pytest.approx(71.5)
    assert measured.metrics["latency.p99"] == math.inf
    (check,) = check_bounds(measured.metrics, parse_expectations({"latency.p99": "<= 50 ms"}))
    assert not check.passed and format_metric("latency.p99", check.measured) == "lost"


@pytest.mark.parametrize(("sent", "lost", "p99_lost"), [(100, 1, False), (100, 2, True)])
def test_p99_is_lost_above_one_percent_loss(sent: int, lost: int, p99_lost: bool) -> None:
    assert (_lossy(sent, lost).metrics["latency.p99"] == math.inf) is p99_lost


@given(
    st.lists(st.integers(min_value=0, max_value=10**9), min_size=0, max_size=200),
    st.integers(min_value=0, max_value=200),
    st.sampled_from([1 << 30, 8]),  # exact samples, and the histogram alone
)
def test_percentiles_rank_lost_probes_as_infinitely_late(
    delays: list[int], lost: int, exact_limit: int
) -> None:
    """The oracle: nearest rank over every probe sent, the lost ones as +inf."""
    if not delays and not lost:
        return
    recorder = Recorder(exact_limit=exact_limit)
    for seq, delay in enumerate(delays):
        recorder.add(seq, delay)
    figures = recorder.summary(len(delays) + lost)
    everything = sorted([*map(float, delays), *[math.inf] * lost])
    for p in (50, 90, 95, 99):
        expected = percentile(everything, p)
        if expected == math.inf:
            assert figures[f"p{p}"] is None
        elif exact_limit > len(delays):
            assert figures[f"p{p}"] == expected
        else:  # the histogram: within its stated relative error
            assert abs(figures[f"p{p}"] - expected) <= expected / 2048 + 1


def test_only_delay_percentiles_may_be_lost() -> None:
    Measurement("probe:udp", {"latency.p99": math.inf, "ef.latency.up.p95": math.inf})
    for name in ("latency.mean", "throughput", "latency.max"):
        with pytest.raises(MeasurementError, match="not a finite number"):
            Measurement("probe:udp", {name: math.inf})
    with pytest.raises(MeasurementError):
        Measurement("probe:udp", {"latency.p99": -math.inf})


def _result(test: str, p99: float, passed: bool = False) -> QosResult:
    measured = Measurement("probe:udp", {"latency.p99": p99, "latency.loss": 5.0})
    checks = check_bounds(measured.metrics, parse_expectations({"latency.p99": "<= 50 ms"}))
    return QosResult(test, [measured], checks)


def test_json_writes_lost_and_reads_it_back(tmp_path: Path) -> None:
    """Strict JSON (no Infinity): the string "lost" stands for an infinite percentile."""
    result = _result("t::voice", math.inf)
    text = to_json(build_document([result], {}))
    document = json.loads(text, parse_constant=lambda name: pytest.fail(name))
    entry = document["results"][0]
    assert entry["metrics"]["latency.p99"] == "lost"
    assert entry["bounds"][0]["measured"] == "lost"
    assert entry["measurements"][0]["metrics"]["latency.p99"] == "lost"
    save_baseline(document, "main", tmp_path)
    again = load_baseline("main", tmp_path)["t::voice"]
    assert again.metrics["latency.p99"] == math.inf
    assert again.checks[0].measured == math.inf


def test_compare_with_lost_percentiles() -> None:
    now_lost = judge_change("latency.p99", 0.010, math.inf, 20.0, 0.0)
    assert now_lost.verdict is Verdict.REGRESSION and now_lost.change is None
    recovered = judge_change("latency.p99", math.inf, 0.010, 20.0, 0.0)
    assert recovered.verdict is Verdict.BETTER
    both = judge_change("latency.p99", math.inf, math.inf, 20.0, 0.0)
    assert both.verdict is Verdict.SAME
    comparison = compare(_result("t", math.inf), _result("t", 0.01), {"latency.p99": 20.0})
    text = json.dumps(comparison.to_json(), allow_nan=False)
    assert '"now": "lost"' in text and comparison.failed


def test_a_tiny_baseline_gives_no_infinite_change() -> None:
    """A hand-edited 5e-324 made the change infinite and the run's --qos-json unwritable."""
    change = judge_change("latency.p99", 5e-324, 0.010, 20.0, 0.0)
    assert change.change is None or math.isfinite(change.change)
    json.dumps(change.to_json(), allow_nan=False)


def test_repeats_with_a_lost_percentile_leave_its_spread_unknown() -> None:
    runs = [Measurement("p", {"latency.p99": v, "latency.p50": 0.001}) for v in (0.01, math.inf)]
    merged, spread = aggregate(runs)
    assert merged.metrics["latency.p99"] == math.inf
    assert "latency.p99" not in spread and spread["latency.p50"] == 0.0


def test_reports_show_lost() -> None:
    result = _result("t::voice", math.inf)
    assert "lost" in summary([result], {}, None)
    assert "lost" in render_markdown([result], {}, None)


@pytest.mark.skipif(not matplotlib_available(), reason="needs matplotlib (the plots extra)")
def test_the_cdf_plot_of_a_lossy_probe_is_drawn() -> None:
    measured = _lossy(100, 30)
    measured.series = {"rtt": [(i * 0.01, 0.001 + i * 1e-5) for i in range(70)]}
    png = plot_measurement(measured, "voice")
    assert png is not None and png.startswith(b"\x89PNG")


def test_qos_check_fails_a_lost_p99_and_every_output_says_lost(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import math

        def test_voice(qos_check):
            qos_check({"latency.p99": math.inf, "latency.loss": 30.0}, {"latency.p99": "<= 50 ms"})
        """
    )
    result = pytester.runpytest("--qos-json=out.json", "--qos-md=out.md", "--qos-save=main")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*latency.p99*<= 50 ms*lost*FAIL*"])
    document = json.loads((pytester.path / "out.json").read_text())
    assert document["results"][0]["metrics"]["latency.p99"] == "lost"
    assert "lost" in (pytester.path / "out.md").read_text()
    again = pytester.runpytest("--qos-compare=main", "--qos-compare-fail=latency.p99:20%")
    again.assert_outcomes(failed=1)
    assert "Traceback" not in again.stdout.str()


@pytest.fixture
def lossy_namespace() -> Iterator[str]:
    """A namespace of our own whose loopback drops 30 % of UDP and TCP SYNs, ICMP echo too."""
    rules = (
        "add table inet lossy\n"
        "add chain inet lossy input { type filter hook input priority 0; }\n"
        "add rule inet lossy input meta l4proto udp numgen random mod 100 < 30 drop\n"
        "add rule inet lossy input tcp flags & (syn | ack) == syn numgen random mod 100 < 30 drop\n"
        "add rule inet lossy input icmp type echo-request numgen random mod 100 < 30 drop\n"
    )
    with nft_namespace("lossy", rules) as name:
        yield name


@pytest.mark.root
@pytest.mark.parametrize("kind", ["udp", "icmp", "tcp"])
def test_real_probes_through_random_loss(lossy_namespace: str, kind: str) -> None:
    """30 % random loss each way: the median is a delay, the 90th percentile and up are lost."""
    inside = Netns(lossy_namespace)
    target = Target(name="lossy", host="127.0.0.1", client=inside, server=inside)
    probe = Probe.from_options(
        {"kind": kind, "interval": "5 ms", "count": 300, "timeout": "300 ms"}
    )
    metrics = run_probe(probe, target).metrics
    print(kind, {k: v for k, v in metrics.items() if "loss" in k or ".p" in k})
    assert metrics["latency.loss"] > 15.0  # udp and icmp: 1 - 0.7² ≈ 51 %; tcp 30 %
    assert metrics["latency.p99"] == math.inf and metrics["latency.p90"] == math.inf
    if metrics["latency.loss"] < 45.0:
        assert metrics["latency.p50"] < 0.1
    if kind == "udp":
        # Per direction: ~30 % lost on the way up, ~30 % of the rest on the way down.
        assert metrics["latency.up.p99"] == math.inf == metrics["latency.down.p99"]
        if "latency.up.loss" in metrics:  # the reflector's count came back: lost ways known
            assert metrics["latency.up.p50"] < 0.1 and metrics["latency.down.p50"] < 0.1
