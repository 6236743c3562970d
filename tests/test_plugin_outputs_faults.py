"""Session end under faults (issue 15): complete runs only as baselines; outputs fail alone."""

from __future__ import annotations

import json
import random
import signal
import time
from pathlib import Path

import pytest
from interrupts import RunOutput, verbose_pytest
from plots_loaded import PLOTS

from pytest_qos.report.markdown import render_markdown
from pytest_qos.report.outputs import Asked, Output, Run, standard_outputs, write_outputs
from pytest_qos.report.terminal import summary
from pytest_qos.results import Check, Measurement, QosResult

FAKE = Path(__file__).with_name("fake_iperf3.py")

VALUES = """
import time
import pytest
from pytest_qos.results import Measurement

@pytest.mark.qos
def test_first(qos_check):
    series = {"throughput": [(1.0, 5e6), (2.0, 5.2e6)]}
    qos_check(Measurement("iperf3", {"throughput": 5e6}, series=series), throughput=">= 1 Mbit/s")

@pytest.mark.qos
def test_second(qos_check):
    time.sleep(SLEEP)
    qos_check({"throughput": 6e6}, throughput=">= 1 Mbit/s")
"""
OLD = '{"version": 1, "complete": true, "results": []}\n'


def _values(pytester: pytest.Pytester, sleep: float = 0.0) -> None:
    pytester.makepyfile(test_values=VALUES.replace("SLEEP", str(sleep)))
    (pytester.path / ".qos").mkdir()
    (pytester.path / ".qos" / "main.json").write_text(OLD)


def test_second_interrupt_before_pytest_marks_the_session_keeps_the_baseline(
    pytester: pytest.Pytester,
) -> None:
    """The double Ctrl-C: pytest_sessionfinish is told OK; our own count says incomplete."""
    _values(pytester)
    pytester.makeconftest(
        """
        import pytest

        @pytest.hookimpl(tryfirst=True)
        def pytest_runtest_call(item):
            if item.name == "test_second":
                raise KeyboardInterrupt  # the first Ctrl-C, during a test

        @pytest.hookimpl(tryfirst=True)
        def pytest_keyboard_interrupt(excinfo):
            raise KeyboardInterrupt  # the second, before pytest marks the session interrupted
        """
    )
    result = pytester.runpytest_subprocess("--qos", "--qos-save=main", "--qos-json=r.json")
    assert (pytester.path / ".qos" / "main.json").read_text() == OLD
    document = json.loads((pytester.path / "r.json").read_text())
    assert document["complete"] is False
    assert "1 of 2 collected tests did not finish" in document["incomplete"]
    assert "not saved: the run is incomplete" in result.stdout.str()


def test_exitfirst_run_is_incomplete(pytester: pytest.Pytester) -> None:
    _values(pytester)
    pytester.makepyfile(
        test_values=VALUES.replace("SLEEP", "0").replace(
            "def test_second",
            "def test_fails():\n    assert False\n\n@pytest.mark.qos\ndef test_second",
        )
    )
    result = pytester.runpytest("--qos", "--qos-save=main", "-x")
    assert (pytester.path / ".qos" / "main.json").read_text() == OLD
    result.stdout.fnmatch_lines(["*QoS baseline 'main' not saved: the run is incomplete*"])


@pytest.mark.parametrize("seed", [1, 2])
def test_double_sigint_at_a_random_moment_keeps_the_baseline(tmp_path: Path, seed: int) -> None:
    (tmp_path / "test_values.py").write_text(VALUES.replace("SLEEP", "3"))
    (tmp_path / ".qos").mkdir()
    baseline = tmp_path / ".qos" / "main.json"
    baseline.write_text(OLD)
    run = verbose_pytest(tmp_path, "--qos", "--qos-save=main", "--qos-json=r.json")
    output = RunOutput(run)
    moments = random.Random(seed)
    try:
        assert output.reached("test_first PASSED"), output.text()
        time.sleep(moments.uniform(0, 1.0))  # during test_second's 3 s sleep
        run.send_signal(signal.SIGINT)
        time.sleep(moments.uniform(0, 0.05))
        if run.poll() is None:
            run.send_signal(signal.SIGINT)
        run.wait(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert baseline.read_text() == OLD, output.text()
    written = tmp_path / "r.json"
    if written.exists():  # the second Ctrl-C may land while sessionfinish writes
        assert json.loads(written.read_text())["complete"] is False


def test_compare_refuses_an_incomplete_document(pytester: pytest.Pytester) -> None:
    _values(pytester)
    (pytester.path / "partial.json").write_text(
        json.dumps({"version": 1, "complete": False, "incomplete": "interrupted", "results": []})
    )
    result = pytester.runpytest("--qos", "--qos-compare=partial.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*partial.json is from an incomplete run (interrupted)*"])


def test_compare_refuses_a_nan_baseline(pytester: pytest.Pytester) -> None:
    _values(pytester)
    (pytester.path / "nan.json").write_text(
        '{"version": 1, "results": [{"test": "t", "metrics": {"throughput": NaN}}]}'
    )
    result = pytester.runpytest("--qos", "--qos-compare=nan.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*nan.json holds NaN, which is no measurement*"])


def test_complete_run_is_marked_complete_and_saved(pytester: pytest.Pytester) -> None:
    _values(pytester)
    result = pytester.runpytest("--qos", "--qos-save=main", "--qos-json=r.json")
    result.assert_outcomes(passed=2)
    assert json.loads((pytester.path / "r.json").read_text())["complete"] is True
    assert len(json.loads((pytester.path / ".qos" / "main.json").read_text())["results"]) == 2


@pytest.mark.parametrize(
    ("broken", "line"),
    [
        ("--qos-json=blocker/r.json", "pytest-qos: --qos-json: cannot write*blocker/r.json*"),
        ("--qos-md=blocker/r.md", "pytest-qos: --qos-md: cannot write*blocker/r.md*"),
        ("--qos-save-dir=blocker/base", "pytest-qos: --qos-save: cannot write baseline*"),
        ("--qos-plot-dir=blocker/plots", "pytest-qos: --qos-plot-dir: cannot write*"),
    ],
)
def test_each_output_fails_alone_with_one_line(
    pytester: pytest.Pytester, broken: str, line: str
) -> None:
    _values(pytester)
    (pytester.path / "blocker").write_text("a file where a directory is wanted")
    wanted = {
        "--qos-json": "--qos-json=ok/r.json",
        "--qos-md": "--qos-md=ok/r.md",
        "--qos-save-dir": "--qos-save-dir=ok/base",
        "--qos-plot-dir": "--qos-plot-dir=ok/plots",
    }
    option = broken.split("=")[0]
    wanted[option] = broken
    # In this process: tests/plots_loaded.py keeps matplotlib (numpy) loaded across runs.
    result = pytester.runpytest("--qos", "--qos-save=main", *wanted.values())
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output and "Traceback" not in output, output
    result.stdout.fnmatch_lines([line])
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    ok = pytester.path / "ok"
    expected = {"--qos-json": "r.json", "--qos-md": "r.md", "--qos-save-dir": "base"}
    if PLOTS:
        expected["--qos-plot-dir"] = "plots"
    expected.pop(option, None)
    assert {p.name for p in ok.iterdir()} == set(expected.values())


@pytest.mark.parametrize("how", ["hang", "bad-utf8"])
def test_broken_iperf3_version_does_not_stop_the_outputs(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    _values(pytester)
    monkeypatch.setenv("FAKE_IPERF3_VERSION", how)
    monkeypatch.setattr("pytest_qos.measure.iperf3.VERSION_TIMEOUT", 1.0)
    result = pytester.runpytest(
        "--qos", f"--qos-iperf3={FAKE}", "--qos-save=main", "--qos-json=r.json"
    )
    result.assert_outcomes(passed=2)
    document = json.loads((pytester.path / "r.json").read_text())
    assert document["environment"]["iperf3"]
    assert "\n" not in document["environment"]["iperf3"]
    assert json.loads((pytester.path / ".qos" / "main.json").read_text())["complete"] is True


def test_infinite_values_in_tables_do_not_crash() -> None:
    result = QosResult(
        test="t.py::test_inf",
        measurements=[Measurement("values", {"throughput": 1e6})],
        checks=[Check("throughput", ">= 1 Mbit/s", float("inf"), True, float("inf"))],
    )
    assert "∞" in summary([result], None, None)
    assert "∞" in render_markdown([result], None, None)


def test_non_finite_metric_is_a_measurement_error_naming_the_tool() -> None:
    from pytest_qos.errors import MeasurementError

    with pytest.raises(MeasurementError, match=r"probe:udp reported latency\.p99 = nan"):
        Measurement("probe:udp", {"latency.p99": float("nan")})


@pytest.mark.parametrize("name", ["main\n", "main\n.json", "v1\r"])
def test_baseline_names_with_a_trailing_newline_are_refused(name: str) -> None:
    from pytest_qos.errors import InputError
    from pytest_qos.store.baselines import check_name

    with pytest.raises(InputError, match="not usable as a file name"):
        check_name(name)


def test_outputs_fail_alone_and_one_more_joins_the_list(tmp_path: Path) -> None:
    """The session-end library call: a failing output is one line, the others still written;
    another output (a history store, an OpenMetrics file) is one more entry."""
    run = Run([QosResult("t.py::a", [Measurement("values", {"throughput": 6e6})])])
    seen: list[int] = []

    def full_disk(run: Run) -> None:
        raise OSError(28, "No space left on device", str(tmp_path / "full"))

    def extra(run: Run) -> str:
        seen.append(len(run.results))
        return "extra output written"

    outputs = [
        Output("--qos-broken", full_disk),
        *standard_outputs(Asked(json_path=tmp_path / "r.json", md_path=tmp_path / "r.md")),
        Output("--qos-extra", extra),
    ]
    written = write_outputs(run, outputs)
    assert written.failures == [
        f"pytest-qos: --qos-broken: cannot write {tmp_path / 'full'}: No space left on device"
    ]
    assert json.loads((tmp_path / "r.json").read_text())["results"][0]["test"] == "t.py::a"
    assert "t.py::a" in (tmp_path / "r.md").read_text()
    assert written.notes == ["extra output written"] and seen == [1]
