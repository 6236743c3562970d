"""Method tables in every report: RFC 2544 trials, Y.1564 steps, rpm intervals (terminal,
Markdown, HTML, JSON)."""

from __future__ import annotations

import json
from pathlib import Path

from fake_trials import ShaperTrial

from pytest_qos.judge.bounds import check_bounds, parse_expectations
from pytest_qos.methods import rfc2544, rpm, y1564
from pytest_qos.methods.responsiveness import Interval, assess
from pytest_qos.report import terminal
from pytest_qos.report.html import render_html
from pytest_qos.report.markdown import render_markdown
from pytest_qos.results import QosResult


def _result() -> QosResult:
    spec = rfc2544.Rfc2544.from_options({"range": "1 Mbit/s .. 100 Mbit/s", "frame_sizes": [1518]})
    searched = rfc2544.run(spec, ShaperTrial(20e6))
    stepped = y1564.run(
        y1564.Y1564.from_options({"performance": "0 s", "services": {"v": {"cir": "30 Mbit/s"}}}),
        ShaperTrial(20e6),
    )
    result = QosResult("methods.yaml::both")
    result.measurements = [searched.measurement(), stepped.measurement()]
    expect = parse_expectations({"rfc2544.throughput.1518": ">= 19 Mbit/s"})
    result.checks = stepped.checks + check_bounds(result.metrics, expect)
    return result


def test_terminal_failure_shows_every_trial_and_step() -> None:
    result = _result()
    text = terminal.failure(result)
    trials = result.measurements[0].details["searches"][0]["trials"]
    assert "RFC 2544 trials" in text and text.count("\n1518 ") >= len(trials)
    assert "100 Mbit/s" in text  # the first trial, at the top of the range
    assert "Y.1564 steps (v: FAIL)" in text and "policing" in text
    assert "y1564.v.cir100.flr" in text  # the failing criterion is a row of the main table


def test_markdown_and_html_carry_the_tables() -> None:
    result = _result()
    markdown = render_markdown([result])
    assert "#### methods.yaml::both — RFC 2544 trials" in markdown
    assert "| v | cir100 |" in markdown
    fragment = render_html(result)
    assert "<caption>RFC 2544 trials</caption>" in fragment and "<td>cir100</td>" in fragment


def test_json_keeps_trials_and_steps() -> None:
    data = json.loads(json.dumps(_result().to_json()))
    details = [m["details"] for m in data["measurements"]]
    assert details[0]["searches"][0]["trials"][0].keys() >= {"rate", "loss", "passed"}
    assert {row["step"] for row in details[1]["steps"]} >= {"cir25", "cir100", "policing"}
    assert details[1]["verdicts"] == {"v": "FAIL"}
    rebuilt = QosResult.from_json(data)
    assert rebuilt.measurements[0].details["searches"][0]["throughput"] > 0


def _rpm_result() -> QosResult:
    """An rpm outcome from intervals recorded through a 400 ms tbf queue in the router lab."""
    recorded = json.loads((Path(__file__).parent / "data" / "rpm-lab-deep.json").read_text())
    steps = [Interval(**step) for step in recorded["steps"]]
    phase = rpm.Phase(("upload",), steps, assess(steps, 4, 5.0, 5.0), started=1.7e9)
    idle = rpm.Idle(tcp=[1e-4] * 100, udp=[1e-4] * 100, sent={"tcp": 100, "udp": 100})
    outcome = rpm.outcome(rpm.Rpm(congestion="cubic"), idle, [phase])
    result = QosResult("bloat.yaml::rpm")
    result.measurements = [outcome.measurement()]
    result.checks = check_bounds(
        result.metrics, parse_expectations({"bufferbloat.grade": ">= B", "rpm": ">= 100"})
    )
    return result


def test_rpm_step_table_in_terminal_markdown_html_and_json() -> None:
    result = _rpm_result()
    text = terminal.failure(result)
    assert "bufferbloat.grade" in text and ">= B" in text and "FAIL" in text
    assert "RPM upload: 164 (foreign 164, loaded 165), grade D: 100 µs idle, 365 ms loaded" in text
    assert "stable at interval 10; confidence: goodput high, responsiveness high" in text
    assert "goodput stable" in text and "responsiveness stable" in text
    markdown = render_markdown([result])
    assert "| interval | start | conns | goodput |" in markdown
    assert "<caption>RPM upload: 164" in render_html(result)
    data = json.loads(json.dumps(result.to_json()))
    details = data["measurements"][0]["details"]
    assert details["grade"] == "D" and details["phases"][0]["stable_at"] == 10
    rows = details["phases"][0]["steps"]
    assert [row["stage"] for row in rows].count("after") == len(rows) - 11
    assert QosResult.from_json(data).measurements[0].details["phases"][0]["final_at"] == 10
