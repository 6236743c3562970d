"""Baselines through the plugin: save, compare, fail on regressions; Markdown and plots."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from interrupts import RunOutput, verbose_pytest
from plots_loaded import PLOTS

from conftest import ScenarioWriter

WAN = "scenarios/wan.yaml"


def udp_scenario(bitrate: str, extra_test: str = "", bound: str = ">= 1 Mbit/s") -> str:
    return (
        "tests:\n"
        "  udp-flow:\n"
        f"    traffic: {{protocol: udp, bitrate: {bitrate}, duration: 1 s}}\n"
        f"    expect: {{throughput: '{bound}'}}\n" + extra_test
    )


@dataclass(frozen=True)
class SavedRun:
    """A real `pytest --qos --qos-save=main` of the 10 Mbit/s flow: its output, its baseline."""

    output: pytest.LineMatcher
    outcomes: dict[str, int]
    baseline: bytes

    def copy_to(self, directory: Path, name: str = "main") -> Path:
        """The saved baseline as `directory`/.qos/NAME.json, as if saved there."""
        assert self.outcomes == {"passed": 1}, self.output.str()
        path = directory / ".qos" / f"{name}.json"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(self.baseline)
        return path


@pytest.fixture(scope="module")
def saved_main(tmp_path_factory: pytest.TempPathFactory) -> SavedRun:
    """One measured save shared by the tests that compare with it (each gets its own copy)."""
    directory = tmp_path_factory.mktemp("saved")
    (directory / "scenarios").mkdir()
    (directory / WAN).write_text(udp_scenario("10 Mbit/s"))
    command = [sys.executable, "-m", "pytest", "--qos", "--qos-save=main", "-p", "no:cacheprovider"]
    done = subprocess.run(command, cwd=directory, capture_output=True, text=True, timeout=120)
    lines = done.stdout.splitlines()
    outcomes = pytest.RunResult.parse_summary_nouns(lines)
    return SavedRun(
        pytest.LineMatcher(lines), outcomes, (directory / ".qos/main.json").read_bytes()
    )


def test_slower_path_fails_compare_with_the_change_shown(
    write_scenario: ScenarioWriter, pytester: pytest.Pytester, saved_main: SavedRun
) -> None:
    assert saved_main.outcomes == {"passed": 1}
    saved_main.output.fnmatch_lines(["*QoS baseline 'main' saved to .qos/main.json*"])
    saved_main.copy_to(pytester.path)

    new_test = (
        "  new-flow:\n    traffic: {protocol: udp, bitrate: 1 Mbit/s, duration: 1 s}\n"
        "    expect: {loss: '<= 5 %'}\n"
    )
    write_scenario(udp_scenario("5 Mbit/s", new_test), WAN)  # the path got slower
    result = pytester.runpytest(
        "--qos", "--qos-compare=main", "--qos-compare-fail=throughput:5%", "--qos-md=qos.md"
    )
    result.assert_outcomes(passed=1, failed=1)  # the new test is reported, not failed
    result.stdout.fnmatch_lines(
        [
            "*QoS regression against the baseline: scenarios/wan.yaml::udp-flow*",
            # Measured values vary a little (UDP datagrams are counted whole): match loosely.
            "*throughput: [19]?* Mbit/s → *5* Mbit/s (-*%; allowed 5 % lower)*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*= QoS results =*",
            "*test*metric*expected*measured*verdict*baseline*change*vs baseline*",
            "*udp-flow*throughput*change within 5 % of baseline*5* Mbit/s"
            "*FAIL (-*%, allowed 5 %)*"
            "[19]?* Mbit/s*-*REGRESSION*",
            "*new-flow*loss*not in baseline*",
            "compared with baseline 'main'; not in the baseline (reported, not failed): "
            "scenarios/wan.yaml::new-flow",
        ]
    )
    markdown = (pytester.path / "qos.md").read_text()
    assert "| `scenarios/wan.yaml::udp-flow` |" in markdown
    assert "REGRESSION" in markdown


def test_bound_relative_to_baseline(
    write_scenario: ScenarioWriter, pytester: pytest.Pytester, saved_main: SavedRun
) -> None:
    saved_main.copy_to(pytester.path, "before")
    write_scenario(udp_scenario("5 Mbit/s", bound=">= 95% of baseline"), WAN)
    result = pytester.runpytest("--qos", "--qos-compare=before")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*throughput*>= 95% of baseline*5* Mbit/s*FAIL*[19]?* Mbit/s*"])
    # A first run (no --qos-compare, or a baseline not saved yet): passes, and says why.
    without = pytester.runpytest("--qos")
    without.assert_outcomes(passed=1)
    without.stdout.fnmatch_lines(["*>= 95% of baseline*pass (no baseline yet)*"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--qos-compare-fail=throughput:5%"], "--qos-compare-fail: needs --qos-compare"),
        (["--qos-compare=main", "--qos-compare-fail=througput:5%"], "*did you mean 'throughput'?*"),
        (["--qos-save=../up"], "*--qos-save*"),
    ],
)
def test_bad_baseline_options_are_usage_errors(
    write_scenario: ScenarioWriter, pytester: pytest.Pytester, options: list[str], message: str
) -> None:
    write_scenario(udp_scenario("1 Mbit/s"), WAN)
    (pytester.path / ".qos").mkdir()
    (pytester.path / ".qos" / "main.json").write_text('{"version": 1, "results": []}')
    result = pytester.runpytest("--qos", *options)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])
    assert "Traceback" not in result.stderr.str()


def test_interrupted_save_leaves_the_previous_baseline(
    tmp_path: Path, saved_main: SavedRun
) -> None:
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    baseline = saved_main.copy_to(tmp_path)
    before = baseline.read_bytes()
    (scenarios / "wan.yaml").write_text(
        udp_scenario("10 Mbit/s") + "  long:\n    traffic: {protocol: udp, duration: 20 s}\n"
    )
    run = verbose_pytest(tmp_path, "--qos", "--qos-save=main", "-p", "no:cacheprovider")
    output = RunOutput(run)
    try:
        # Interrupt during the second test: the first result is in, the run is incomplete.
        assert output.reached("udp-flow PASSED"), output.text()
        time.sleep(0.5)  # into the second test's measurement
        run.send_signal(signal.SIGINT)
        run.wait(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    text = output.text()
    assert "KeyboardInterrupt" in text or "Interrupted" in text, text
    assert baseline.read_bytes() == before
    assert sorted(p.name for p in baseline.parent.iterdir()) == ["main.json"]


def test_markdown_to_step_summary_and_plots(
    write_scenario: ScenarioWriter, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not PLOTS:
        pytest.skip("plots need matplotlib: pip install 'pytest-qos[plots]'")
    summary = pytester.path / "summary.md"
    summary.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    write_scenario(udp_scenario("2 Mbit/s"), WAN)
    # In this process: tests/plots_loaded.py keeps matplotlib (numpy) loaded across runs.
    result = pytester.runpytest("--qos", "--qos-plot-dir=plots")
    result.assert_outcomes(passed=1)
    text = summary.read_text()
    assert text.startswith("# earlier step\n")
    assert "### QoS results" in text and "`scenarios/wan.yaml::udp-flow`" in text
    plots = list((pytester.path / "plots").glob("*.png"))
    assert plots and all(p.read_bytes().startswith(b"\x89PNG") for p in plots)


def test_a_first_run_without_a_baseline_file_notes_it_and_saves(
    write_scenario: ScenarioWriter, pytester: pytest.Pytester
) -> None:
    """--qos-compare(-fail) before any baseline exists: a note, relative bounds pass, saved."""
    write_scenario(udp_scenario("2 Mbit/s", bound=">= 95% of baseline"))
    result = pytester.runpytest(
        "--qos", "--qos-compare=main", "--qos-compare-fail=throughput:5%", "--qos-save=main"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*>= 95% of baseline*pass (no baseline yet)*",
            "QoS baseline: --qos-compare: no baseline 'main' in .qos (none is stored there yet);"
            " save one with --qos-save=main. Nothing was compared with a baseline.",
        ]
    )
    assert (pytester.path / ".qos" / "main.json").is_file()
    second = pytester.runpytest("--qos", "--qos-compare=main", "--qos-compare-fail=throughput:5%")
    second.assert_outcomes(passed=1)
    second.stdout.fnmatch_lines(["*>= 95% of baseline*pass*"])


def test_a_tests_own_compare_threshold_has_a_floor(
    write_scenario: ScenarioWriter, pytester: pytest.Pytester, saved_main: SavedRun
) -> None:
    """`compare: {throughput: "5% + 1 Mbit/s"}`: -7 % but 0.7 Mbit/s is within; without, not."""
    saved_main.copy_to(pytester.path)
    floor = "    compare: {throughput: '5% + 1 Mbit/s'}\n"
    write_scenario(udp_scenario("9.3 Mbit/s") + floor, WAN)
    within = pytester.runpytest("--qos", "--qos-compare=main", "--qos-compare-fail=throughput:5%")
    within.assert_outcomes(passed=1)
    within.stdout.fnmatch_lines(["*worse, within 5 % + 1 Mbit/s*"])
    write_scenario(udp_scenario("9.3 Mbit/s"), WAN)
    beyond = pytester.runpytest("--qos", "--qos-compare=main", "--qos-compare-fail=throughput:5%")
    beyond.assert_outcomes(failed=1)
    beyond.stdout.fnmatch_lines(["*REGRESSION (-7.* %, allowed 5 %)*"])
