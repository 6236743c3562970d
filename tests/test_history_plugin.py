"""The history through the plugin: complete runs stored, --qos-trend beside --qos-compare."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET

import pytest

from pytest_qos.history.store import history_files

pytest.importorskip("ruptures", reason="the trend extra: pip install 'pytest-qos[trend]'")

VALUES_TEST = """
import pathlib
import pytest

@pytest.mark.qos
def test_speed(qos_check):
    rate = float(pathlib.Path(__file__).with_name("rate.txt").read_text())
    qos_check({"throughput": rate}, throughput=">= 1 Mbit/s")
"""
STABLE = [20.0, 20.1, 19.9, 20.05, 19.95, 20.0, 20.02, 19.98, 20.01]


def run_at(pytester: pytest.Pytester, mbits: float, *args: str) -> pytest.RunResult:
    (pytester.path / "rate.txt").write_text(str(mbits * 1e6))
    return pytester.runpytest("--qos", "-p", "no:cacheprovider", *args)


def test_runs_are_stored_and_the_newest_is_judged_beside_the_baseline(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_speed=VALUES_TEST)
    first = run_at(pytester, STABLE[0], "--qos-history=hist", "--qos-save=main")
    first.stdout.fnmatch_lines(["QoS history: run stored as hist/*.json"])
    for mbits in STABLE[1:]:
        run_at(pytester, mbits, "--qos-history=hist", "--qos-run-id=nightly").assert_outcomes(
            passed=1
        )
    files = history_files(pytester.path / "hist")
    assert len(files) == len(STABLE)
    assert json.loads(files[-1].read_text())["run"]["run_id"] == "nightly"

    judged = ["--qos-history=hist", "--qos-trend-fail", "--qos-compare=main"]
    stable = run_at(pytester, 20.0, *judged)
    stable.assert_outcomes(passed=1)
    stable.stdout.fnmatch_lines(["*20 Mbit/s*unchanged*within the last 9 runs (19.9–20.1 Mbit/s*"])

    outputs = ["--qos-json=r.json", "--qos-md=r.md", "--junitxml=j.xml"]
    regressed = run_at(pytester, 16.1, *judged, *outputs)
    regressed.assert_outcomes(failed=1)
    regressed.stdout.fnmatch_lines(
        [
            "*history median*vs history*",
            "QoS regression against its history: test_speed.py::test_speed",
            "  throughput 16.1 Mbit/s is below the last 10 runs (19.9–20.1 Mbit/s, median 20*",
            "*QoS results*",
            "*baseline*change*vs baseline*history median*vs history*",
            "*16.1 Mbit/s*20 Mbit/s*-19.5 %*worse*REGRESSION: below the last 10 runs*",
            "*judged against each test's own history (--qos-trend): 1 regressed*",
        ]
    )
    [entry] = json.loads((pytester.path / "r.json").read_text())["results"]
    assert entry["comparison"]["changes"][0]["verdict"] == "worse"
    [change] = entry["trend"]["changes"]
    assert change["verdict"] == "regression" and change["baseline"] == pytest.approx(20e6, 1e-3)
    markdown = (pytester.path / "r.md").read_text()
    assert "vs history: 1 regressed" in markdown
    assert "**REGRESSION: below the last 10 runs" in markdown
    junit = ET.parse(pytester.path / "j.xml")
    properties = {p.get("name"): p.get("value") for p in junit.iter("property")}
    assert properties["qos.trend.throughput"].startswith("REGRESSION: below the last 10 runs")
    failure = junit.find(".//failure")
    assert failure is not None and "is below the last 10 runs" in (failure.text or "")
    assert len(history_files(pytester.path / "hist")) == len(STABLE) + 2  # failed runs count


def test_an_incomplete_run_is_not_stored(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_two="""
        import pytest

        @pytest.mark.qos
        def test_first(qos_check):
            qos_check({"throughput": 1e6}, throughput=">= 5 Mbit/s")

        @pytest.mark.qos
        def test_second(qos_check):
            qos_check({"throughput": 9e6}, throughput=">= 5 Mbit/s")
        """
    )
    result = pytester.runpytest("--qos", "-x", "--qos-history=hist", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["QoS history: this run was not stored: it is incomplete (*)"])
    assert history_files(pytester.path / "hist") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--qos-trend"], "--qos-trend: needs --qos-history=DIR"),
        (["--qos-trend-fail"], "--qos-trend-fail: needs --qos-history=DIR"),
        (["--qos-history-keep=3"], "--qos-history-keep: needs --qos-history=DIR"),
        (["--qos-history=h", "--qos-history-keep=0"], "'0' is not a number of runs"),
        (["--qos-history=h", "--qos-run-id="], "is not a run id"),
    ],
)
def test_bad_history_options_are_usage_errors(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    result = pytester.runpytest("--qos", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])
    assert "Traceback" not in result.stderr.str()


def test_the_ini_key_and_keep_prune_the_oldest(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nqos_history = runs\n")
    pytester.makepyfile(test_speed=VALUES_TEST)
    for mbits in (20, 21, 22):
        run_at(pytester, mbits, "--qos-history-keep=2").assert_outcomes(passed=1)
    files = history_files(pytester.path / "runs")
    rates = [json.loads(p.read_text())["results"][0]["metrics"]["throughput"] for p in files]
    assert rates == [21e6, 22e6]


def test_an_unwritable_history_is_one_line_and_the_other_outputs_are_written(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_speed=VALUES_TEST)
    (pytester.path / "taken").write_text("a file, not a directory")
    result = run_at(pytester, 20, "--qos-history=taken/hist", "--qos-json=r.json")
    result.stdout.fnmatch_lines(["pytest-qos: --qos-history: cannot write taken*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert (pytester.path / "r.json").is_file()
    assert "Traceback" not in result.stdout.str()


def test_skipped_history_files_are_noted_when_judging(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_speed=VALUES_TEST)
    hist = pytester.path / "hist"
    hist.mkdir()
    (hist / "20990101T000000.000000Z-x-00000000.json").write_text('{"version": 7, "results": []}')
    result = run_at(pytester, 20, "--qos-history=hist", "--qos-trend")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["QoS history: */20990101T000000.000000Z-x-00000000.json: was written by a newer*"]
    )
    result.stdout.fnmatch_lines(["*throughput*20 Mbit/s*no history yet*"])


def test_xdist_workers_judge_and_the_controller_stores_one_run(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(test_speed=VALUES_TEST)
    pytester.makepyfile(test_other=VALUES_TEST.replace("test_speed", "test_other"))
    for _ in range(2):
        (pytester.path / "rate.txt").write_text("20e6")
        result = pytester.runpytest_subprocess(
            "--qos", "-n", "2", "--qos-history=hist", "--qos-trend", "-p", "no:cacheprovider"
        )
        result.assert_outcomes(passed=2)
    [_, second] = history_files(pytester.path / "hist")
    stored = json.loads(second.read_text())["results"]
    assert sorted(r["test"] for r in stored) == [
        "test_other.py::test_other",
        "test_speed.py::test_speed",
    ]
    assert all(r["trend"]["changes"][0]["note"] == "history too short: 1 of 8 runs" for r in stored)


def test_a_scenario_test_is_judged_against_copies_of_its_own_run(pytester: pytest.Pytester) -> None:
    scenarios = pytester.path / "scenarios"
    scenarios.mkdir()
    (scenarios / "loop.yaml").write_text(
        "tests:\n  bulk:\n    traffic: {protocol: tcp, duration: 1 s}\n"
        "    expect: {throughput: '>= 10 Mbit/s'}\n"
    )
    pytester.runpytest("--qos", "--qos-history=hist").assert_outcomes(passed=1)
    [stored] = history_files(pytester.path / "hist")
    for day in range(1, 9):  # the same run eight more times: a history of its own settings
        shutil.copy(stored, stored.with_name(f"2000010{day}T000000.000000Z-copy-0000000{day}.json"))
    result = pytester.runpytest("--qos", "--qos-history=hist", "--qos-trend")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*bulk*throughput*>= 10 Mbit/s*the last 9 runs*"])
