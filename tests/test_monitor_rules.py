"""`python -m pytest_qos rules`: alerting rules from scenario files, checked by promtool."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pytest_qos.monitor.rules import hold_duration

SCENARIO = """\
target: local
tests:
  bulk:
    traffic: {protocol: tcp}
    expect:
      throughput: ">= 100 Mbit/s"
      retransmits: "0 .. 50"
  voice:
    probes:
      ef: {kind: udp}
    expect:
      ef.latency.p99: "< 20 ms"
      ef.latency.loss: "<= 0.5 %"
  relative:
    traffic: {protocol: tcp}
    expect:
      throughput: ">= 95% of baseline"
    compare:
      throughput: "5%"
"""


def rules(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_qos", "rules", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "shaper.yaml").write_text(SCENARIO)
    (tmp_path / "scenarios" / "notes.sh").write_text("# not a scenario\n")
    return tmp_path


def test_one_rule_per_bound_on_the_pushed_names(project: Path) -> None:
    done = rules(
        "scenarios", "-o", "rules.yml", "--for", "5m", "--label", "severity=page", cwd=project
    )
    assert done.returncode == 0, done.stderr
    document = yaml.safe_load((project / "rules.yml").read_text())
    (group,) = document["groups"]
    exprs = {
        rule["labels"]["qos_metric"] + "@" + rule["labels"]["test"]: rule for rule in group["rules"]
    }
    assert set(exprs) == {
        "throughput@bulk",
        "retransmits@bulk",
        "ef.latency.p99@voice",
        "ef.latency.loss@voice",
    }
    bulk = exprs["throughput@bulk"]
    assert bulk["expr"] == (
        'qos_throughput_bytes_per_second{scenario="scenarios/shaper.yaml",test="bulk"} < 12500000.0'
    )
    assert bulk["for"] == "5m"
    assert bulk["labels"]["severity"] == "page"
    assert bulk["annotations"]["scenario"] == "scenarios/shaper.yaml:6"
    assert bulk["annotations"]["bound"] == ">= 100 Mbit/s"
    assert exprs["retransmits@bulk"]["expr"].endswith(
        '< 0.0 or qos_retransmits{scenario="scenarios/shaper.yaml",test="bulk"} > 50.0'
    )
    assert exprs["ef.latency.loss@voice"]["expr"] == (
        'qos_latency_loss_ratio{scenario="scenarios/shaper.yaml",test="voice",probe="ef"} > 0.005'
    )
    text = (project / "rules.yml").read_text()
    assert "relative throughput '>= 95% of baseline' has no rule" in text
    assert "relative compare throughput has no rule" in text


def test_promtool_accepts_the_rules(project: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("needs promtool (make test-install)")
    assert rules("scenarios", "-o", "rules.yml", cwd=project).returncode == 0
    checked = subprocess.run(
        [promtool, "check", "rules", "rules.yml"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 4 rules found" in checked.stdout


def test_the_shipped_scenarios_give_rules_promtool_accepts(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("needs promtool (make test-install)")
    root = Path(__file__).parents[1]
    done = rules("scenarios", "-o", str(tmp_path / "rules.yml"), cwd=root)
    assert done.returncode == 0, done.stderr
    checked = subprocess.run(
        [promtool, "check", "rules", str(tmp_path / "rules.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_stdout_by_default_and_root_sets_the_scenario_label(project: Path) -> None:
    done = rules(
        str(project / "scenarios" / "shaper.yaml"),
        "--root",
        str(project / "scenarios"),
        cwd=project,
    )
    assert done.returncode == 0, done.stderr
    assert 'scenario="shaper.yaml"' in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.yaml"], "missing.yaml: no such file or directory"),
        (["scenarios", "--for", "soon"], "--for:"),
        (["scenarios", "--for", "-5 s"], "--for: '-5 s' is negative"),
        (["empty"], "no scenario files"),
    ],
)
def test_bad_input_is_one_line(project: Path, args: list[str], message: str) -> None:
    (project / "empty").mkdir()
    done = rules(*args, cwd=project)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr


def test_a_bad_scenario_names_file_line_and_key(project: Path) -> None:
    (project / "scenarios" / "broken.yaml").write_text(
        "tests:\n  x:\n    traffic: {protocol: tcp}\n    expect: {throughput: 'fast'}\n"
    )
    done = rules("scenarios", "-o", "rules.yml", cwd=project)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "broken.yaml:4" in line and "throughput" in line
    assert not (project / "rules.yml").exists()  # nothing half-written


def test_a_bad_label_option_is_a_usage_error(project: Path) -> None:
    done = rules("scenarios", "--label", "no-equals", cwd=project)
    assert done.returncode == 2
    assert "--label takes NAME=VALUE" in done.stderr


def test_an_unwritable_output_is_one_line(project: Path) -> None:
    (project / "nowhere").write_text("a file, not a directory")
    done = rules("scenarios", "-o", str(project / "nowhere" / "rules.yml"), cwd=project)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "cannot write" in done.stderr


@pytest.mark.parametrize(
    ("text", "held"),
    [("5m", "5m"), ("1h30m", "1h30m"), ("90 s", "90s"), ("250 ms", "250ms"), ("0 s", "0s")],
)
def test_for_durations(text: str, held: str) -> None:
    assert hold_duration(text) == held
