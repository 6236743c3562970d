"""Probes on time or saying so: probe.send_late on every result, the send_late bound, priority."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from conftest import ScenarioWriter
from pytest_qos.errors import InputError, MeasurementError, ScenarioError
from pytest_qos.hosts.target import local_target
from pytest_qos.judge.compare import compared_metrics
from pytest_qos.judge.metrics import lookup
from pytest_qos.probes import Probe, clock, lateness, run_probe
from pytest_qos.probes.icmp import parse_ping
from pytest_qos.results import Measurement, QosResult
from pytest_qos.scenario.reader import load_scenario

FIGURES = ("p50", "p99", "max", "over_1ms")
IS_ROOT = os.geteuid() == 0


def test_limits_parse_with_units() -> None:
    probe = Probe.from_options(
        {"interval": "1 ms", "send_late": {"p99": "2 ms", "over_1ms": "1 %"}}
    )
    assert probe.send_late_limits(5) == (("p99", 0.002), ("over_1ms", 1.0))


def test_default_limit_is_one_interval_and_at_least_50_ms() -> None:
    assert Probe.from_options({"interval": "1 ms"}).send_late_limits(100) == (("p99", 0.050),)
    assert Probe.from_options({"interval": "80 ms"}).send_late_limits(500) == (("p99", 0.080),)
    assert Probe.from_options({"send_late": {}}).send_late_limits(1000) == ()
    # ping keeps its own schedule: only limits the probe states apply to it.
    assert Probe.from_options({"kind": "icmp"}).send_late_limits(1000) == ()


def test_default_limit_waits_for_a_p99_that_is_not_the_maximum() -> None:
    """25 sends: their p99 is their slowest, one hiccup of a busy runner; no default limit."""
    default = Probe.from_options({"interval": "10 ms"})
    assert default.send_late_limits(99) == ()
    late = {"probe.send_late.p99": 0.0144, "probe.send_late.over_1ms": 12.0}
    assert lateness.slipped(late, default.send_late_limits(25), 25) == ""
    stated = Probe.from_options({"interval": "10 ms", "send_late": {"p99": "10 ms"}})
    assert "send lateness p99 14.4 ms" in lateness.slipped(late, stated.send_late_limits(25), 25)


@pytest.mark.parametrize(
    ("value", "key", "words"),
    [
        ({"p90": "1 ms"}, "send_late.p90", "unknown send_late figure 'p90' — did you mean 'p99'?"),
        ({"p99": "1"}, "send_late.p99", "'1' needs a unit"),
        ({"over_1ms": "1 ms"}, "send_late.over_1ms", "send_late.over_1ms"),
        ({"max": "-1 ms"}, "send_late.max", "0 or more"),
        ("2 ms", "send_late", "a mapping of upper limits such as {p99: 2 ms, over_1ms: 1 %}"),
    ],
)
def test_bad_limits_name_the_key(value: object, key: str, words: str) -> None:
    with pytest.raises(InputError) as caught:
        Probe.from_options({"send_late": value})
    assert caught.value.key == key
    assert words in caught.value.message


def test_bad_limit_in_a_scenario_names_file_line_and_key(write_scenario: ScenarioWriter) -> None:
    path = write_scenario(
        "tests:\n  a:\n    probe:\n      send_late: {p99: 2 ms, ovre_1ms: 1 %}\n", "bad.yaml"
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert (caught.value.line, caught.value.key) == (4, "tests.a.probe.send_late.ovre_1ms")
    assert "did you mean 'over_1ms'?" in caught.value.message


def test_metrics_are_catalogued_and_not_compared_unless_asked() -> None:
    for figure in FIGURES:
        assert lookup(f"probe.send_late.{figure}").of_path is False
    assert lookup("ef.probe.send_late.p99").name == "probe.send_late.p99"
    metrics = {"latency.p50": 0.001, "probe.send_late.p99": 0.0002}
    now = QosResult("t", [Measurement(tool="probe:udp", metrics=metrics)])
    before = QosResult("t", [Measurement(tool="probe:udp", metrics=dict(metrics))])
    assert compared_metrics(now, before, {}) == ["latency.p50"]


def test_the_reason_names_the_figures() -> None:
    metrics = {
        "probe.send_late.p50": 0.0004,
        "probe.send_late.p99": 0.0123,
        "probe.send_late.max": 0.087,
        "probe.send_late.over_1ms": 31.25,
    }
    assert lateness.slipped(metrics, (("p99", 0.02),), 5000) == ""  # within
    message = lateness.slipped(metrics, (("p99", 0.010), ("over_1ms", 40.0)), 5000)
    assert "send lateness p99 12.3 ms is over the 10 ms allowed (send_late.p99)" in message
    assert "31.2 % of 5000 sends left more than 1 ms late, p50 0.4 ms, max 87 ms" in message
    assert "over_1ms" not in message.split(";")[1]  # only the limit exceeded is named as such


def test_ping_lateness_is_estimated_against_the_previous_send() -> None:
    # 10 ms asked; ping sent every 14 ms (4 ms late each), one reply lost, one 9 ms stall.
    printed, rtt = [0.0, 0.014, 0.028, 0.056, 0.079], 0.0005
    seqs = [1, 2, 3, 5, 6]  # icmp_seq counts from 1
    lines = [
        f"[{1700000000 + at + rtt:.6f}] 64 bytes from 127.0.0.1: icmp_seq={seq} ttl=64 "
        f"time={rtt * 1000:.3f} ms"
        for seq, at in zip(seqs, printed, strict=True)
    ]
    lines += ["", "6 packets transmitted, 5 received, 16.7% packet loss, time 79ms"]
    record = parse_ping("\n".join(lines), 0.010, 1.0)
    # late: 4, 4, 8 (28 -> 56 over two intervals), 13 ms
    assert record["send_late_max"] == pytest.approx(0.013, abs=2e-6)
    assert record["send_late_p50"] == pytest.approx(0.004, abs=2e-6)
    assert record["send_late_over_1ms"] == 100.0
    assert record["send_late_basis"].startswith("estimated from 5 replies")


def test_udp_result_carries_send_lateness_and_priority() -> None:
    probe = Probe.from_options({"interval": "2 ms", "duration": "0.4 s"})
    measurement = run_probe(probe, local_target())
    for figure in FIGURES:
        assert f"probe.send_late.{figure}" in measurement.metrics
    late = measurement.metrics
    assert 0 <= late["probe.send_late.p50"] <= late["probe.send_late.p99"]
    assert late["probe.send_late.p99"] <= late["probe.send_late.max"]
    expected = "realtime" if IS_ROOT else "normal (no real-time priority"
    assert measurement.details["send_priority"].startswith(expected)
    # The thread that sent is back at its own policy.
    assert os.sched_getscheduler(0) == os.SCHED_OTHER


@pytest.mark.parametrize("kind", ["tcp", "icmp"])
def test_tcp_and_icmp_results_carry_send_lateness(kind: str) -> None:
    probe = Probe.from_options({"kind": kind, "interval": "10 ms", "count": 20})
    measurement = run_probe(probe, local_target())
    assert {f"probe.send_late.{figure}" for figure in FIGURES} <= set(measurement.metrics)
    if kind == "icmp":
        assert measurement.details["send_late_basis"].startswith("estimated from")


def test_send_priority_falls_back_when_not_permitted(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    with clock.send_priority() as priority:
        assert priority == "normal (no real-time priority: Operation not permitted)"
    with clock.send_priority(realtime=False) as priority:
        assert priority.startswith("normal")


@pytest.mark.skipif(not IS_ROOT, reason="real-time priority needs root (or CAP_SYS_NICE)")
def test_send_priority_is_realtime_inside_and_restored_after() -> None:
    with clock.send_priority() as priority:
        assert priority == "realtime"
        assert os.sched_getscheduler(0) & ~getattr(os, "SCHED_RESET_ON_FORK", 0) == os.SCHED_FIFO
    assert os.sched_getscheduler(0) == os.SCHED_OTHER


def _hold_the_interpreter(stop: threading.Event) -> None:
    """A busy thread until `stop` (30 s at most): sum() over a range is one C call that never
    lets the GIL go; between calls the others run for 20 ms."""
    deadline = time.monotonic() + 30.0
    while not stop.is_set() and time.monotonic() < deadline:
        sum(range(6_000_000))  # ~0.09 s without a switch: beyond the 50 ms default
        time.sleep(0.02)


def test_a_probe_that_fell_behind_is_an_error_naming_its_figures() -> None:
    """Another thread holds the interpreter: the in-process sender cannot send on time."""
    probe = Probe.from_options({"interval": "1 ms", "duration": "1 s"})
    # Held (most of the time) from before the probe starts until it ends: a fixed window
    # (0.2-0.7 s) ended before the schedule began when starting the responder took longer
    # beside four busy workers.
    stop = threading.Event()
    busy = threading.Thread(target=_hold_the_interpreter, args=(stop,), daemon=True)
    busy.start()
    try:
        with pytest.raises(MeasurementError) as caught:
            run_probe(probe, local_target())
    finally:
        stop.set()
        busy.join(10)
    message = caught.value.message
    assert message.startswith("the probe fell behind its schedule: send lateness p99 ")
    assert "over the 50 ms allowed (send_late.p99)" in message
    assert caught.value.command[1:4] == ["-m", "pytest_qos", "probe"]


def test_a_late_probe_in_a_scenario_is_an_error_that_keeps_its_figures(
    pytester: pytest.Pytester, write_scenario: ScenarioWriter
) -> None:
    # No send leaves within 1 ns of its time: the limit is always exceeded.
    write_scenario(
        "tests:\n  strict:\n    probe: {interval: 5 ms, count: 20, send_late: {max: 1 ns}}\n"
        "    expect: {latency.p99: '<= 1 s'}\n"
        "  reported:\n    probe: {interval: 5 ms, count: 20}\n"
        "    expect: {probe.send_late.p99: '<= 1 s', latency.p99: '<= 1 s'}\n",
        "scenarios/late.yaml",
    )
    result = pytester.runpytest("--qos", "--qos-json=r.json")
    result.assert_outcomes(errors=1, passed=1)
    result.stdout.fnmatch_lines(["*the probe fell behind its schedule: send lateness max *"])
    result.stdout.fnmatch_lines(["*probe.send_late.p99*<= 1 s*pass*"])
    assert "Traceback" not in result.stdout.str()
    document = json.loads((pytester.path / "r.json").read_text())
    strict = next(r for r in document["results"] if r["test"].endswith("::strict"))
    assert strict["outcome"] == "error"
    assert strict["error"].startswith("the probe fell behind its schedule")
    assert strict["metrics"]["probe.send_late.max"] > 0  # the figures stay in the document
