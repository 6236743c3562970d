"""Baselines: atomic save, load with clear errors, thresholds, and comparing real iperf3 runs."""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_qos.errors import InputError
from pytest_qos.hosts.endpoints import Local
from pytest_qos.judge.bounds import check_bounds, parse_expectations
from pytest_qos.judge.compare import Verdict, compare, compare_all, judge_change, not_in_baseline
from pytest_qos.judge.metrics import CATALOGUE, Better
from pytest_qos.judge.thresholds import Threshold, parse_compare_fail
from pytest_qos.measure.iperf3 import Iperf3, Iperf3Server
from pytest_qos.measure.traffic import Traffic
from pytest_qos.report.changes import describe, explain, failure_message
from pytest_qos.results import Measurement, QosResult
from pytest_qos.store.baselines import list_baselines, load_baseline, save_baseline
from pytest_qos.store.document import build_document, environment

REPO = Path(__file__).resolve().parent.parent


def result(test: str, spread: dict[str, float] | None = None, **metrics: float) -> QosResult:
    """A result holding `metrics` (names with '_' for '.'), as a document would rebuild it."""
    named = {name.replace("__", "."): value for name, value in metrics.items()}
    return QosResult(test=test, measurements=[Measurement("iperf3", named)], spread=spread or {})


def document(*results: QosResult) -> dict[str, object]:
    """A --qos-json document of `results`."""
    return build_document(results, environment("iperf 3.12"))


# -- save / load ------------------------------------------------------------------------------


def test_save_then_load_round_trips_every_result(tmp_path: Path) -> None:
    saved = save_baseline(
        document(result("t.py::a", throughput=9.5e6), result("t.py::b", latency__p99=0.002)),
        "main",
        tmp_path / ".qos",
    )
    assert saved == tmp_path / ".qos" / "main.json"
    by_name = load_baseline("main", tmp_path / ".qos")
    by_path = load_baseline(str(saved), tmp_path / "elsewhere")
    assert by_name.keys() == by_path.keys() == {"t.py::a", "t.py::b"}
    assert by_name["t.py::a"].metrics == {"throughput": 9.5e6}
    assert by_name["t.py::b"].metrics == {"latency.p99": 0.002}
    assert list_baselines(tmp_path / ".qos") == ["main"]


def test_saving_again_replaces_the_baseline_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    save_baseline(document(result("t::a", throughput=1e6)), "main", tmp_path)
    save_baseline(document(result("t::a", throughput=2e6)), "main", tmp_path)
    assert load_baseline("main", tmp_path)["t::a"].metrics["throughput"] == 2e6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["main.json"]


@pytest.mark.parametrize("name", ["../up", "a/b", ".hidden", "", "with space", "x" * 101])
def test_unsafe_baseline_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(InputError, match="not usable as a file name") as error:
        save_baseline(document(), name, tmp_path)
    assert error.value.key == "--qos-save"
    assert not any(tmp_path.iterdir())


def test_a_missing_baseline_names_the_stored_ones_and_the_closest(tmp_path: Path) -> None:
    save_baseline(document(), "main", tmp_path)
    save_baseline(document(), "release-1.0", tmp_path)
    with pytest.raises(InputError) as error:
        load_baseline("mian", tmp_path)
    message = str(error.value)
    assert "did you mean 'main'?" in message
    assert "stored: main, release-1.0" in message
    assert "--qos-save=mian" in message
    assert error.value.key == "--qos-compare"


def test_a_missing_baseline_in_an_empty_directory_says_none_is_stored(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="none is stored there yet"):
        load_baseline("main", tmp_path / "absent")
    with pytest.raises(InputError, match="no baseline file at"):
        load_baseline(str(tmp_path / "nope.json"), tmp_path)


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ('{"version": 1, "results": [', "is not valid JSON"),
        ("[1, 2]", "is not a pytest-qos results document"),
        ('{"version": 99, "results": []}', "has schema version 99"),
        ('{"version": 1, "results": [{"no_test_key": 1}]}', "results.0: has no 'test'"),
    ],
)
def test_a_bad_baseline_file_gets_one_clear_error(
    tmp_path: Path, content: str, complaint: str
) -> None:
    (tmp_path / "main.json").write_text(content)
    with pytest.raises(InputError, match=complaint):
        load_baseline("main", tmp_path)


# -- killed while saving ----------------------------------------------------------------------

_SAVER = textwrap.dedent(
    """
    import os, sys, time
    from pytest_qos.store.baselines import save_baseline
    from pytest_qos.store.document import build_document, environment
    from pytest_qos.results import Measurement, QosResult

    directory, mode = sys.argv[1], sys.argv[2]
    if mode == "stall":
        # Fault injection: a disk that never finishes flushing, so the kill lands mid-save.
        def stall(fd):
            print("flushing", flush=True)
            time.sleep(60)
        os.fsync = stall
    tests = 3 if mode == "stall" else 60000
    results = [
        QosResult(f"t.py::test_{i}", [Measurement("iperf3", {"throughput": 2e6})])
        for i in range(tests)
    ]
    print("saving", flush=True)
    save_baseline(build_document(results, environment()), "main", directory)
    print("saved", flush=True)
    """
)


def _start_saver(directory: Path, mode: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", _SAVER, str(directory), mode],
        stdout=subprocess.PIPE,
        bufsize=0,  # unbuffered: select() below must see every byte not yet read
        cwd=REPO,
        start_new_session=True,
    )


def read_line(process: subprocess.Popen[bytes], timeout: float = 30.0) -> str:
    """The saver's next line of output, or what came of it before `timeout` s passed."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    line = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while not line.endswith(b"\n") and len(line) < 1000:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                break
            byte = process.stdout.read(1)
            if not byte:
                break
            line += byte
    return line.decode()


@pytest.fixture
def saver_processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Saver subprocesses a test starts; killed and reaped however the test ends."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_sigkill_during_a_save_leaves_the_previous_baseline_intact(
    tmp_path: Path, saver_processes: list[subprocess.Popen[bytes]]
) -> None:
    previous = document(result("t.py::test_0", throughput=1e6))
    save_baseline(previous, "main", tmp_path)
    saver = _start_saver(tmp_path, "stall")
    saver_processes.append(saver)
    assert read_line(saver) == "saving\n"
    assert read_line(saver) == "flushing\n"  # the new file is written, not yet renamed
    os.killpg(saver.pid, signal.SIGKILL)
    assert saver.wait(timeout=10) == -signal.SIGKILL
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".main.json.")]
    assert leftovers, "the kill should have landed before the rename"
    assert load_baseline("main", tmp_path)["t.py::test_0"].metrics == {"throughput": 1e6}
    assert json.loads((tmp_path / "main.json").read_text()) == previous
    assert list_baselines(tmp_path) == ["main"]  # the half-saved temporary file is not listed


def test_sigkill_at_any_moment_of_a_big_save_leaves_old_or_whole_new(
    tmp_path: Path, saver_processes: list[subprocess.Popen[bytes]]
) -> None:
    save_baseline(document(result("t.py::test_0", throughput=1e6)), "main", tmp_path)
    saver = _start_saver(tmp_path, "big")
    saver_processes.append(saver)
    assert read_line(saver) == "saving\n"
    deadline = time.monotonic() + 20
    # Kill as soon as the temporary file has bytes in it (or the save finished).
    while time.monotonic() < deadline and saver.poll() is None:
        if any(p.name.startswith(".main.json.") and p.stat().st_size for p in tmp_path.iterdir()):
            break
        time.sleep(0.001)
    os.killpg(saver.pid, signal.SIGKILL)
    saver.wait(timeout=10)
    loaded = load_baseline("main", tmp_path)
    assert len(loaded) in (1, 60000)  # never a mix, never a parse error
    assert loaded["t.py::test_0"].metrics["throughput"] in (1e6, 2e6)


# -- thresholds -------------------------------------------------------------------------------


def test_parse_compare_fail_reads_metrics_and_percentages() -> None:
    assert parse_compare_fail("throughput:5%,latency.p99:20%") == {
        "throughput": Threshold(5.0),
        "latency.p99": Threshold(20.0),
    }
    assert parse_compare_fail(" loss : 0.5 % , jitter:10 ,") == {
        "loss": Threshold(0.5),
        "jitter": Threshold(10.0),
    }


def test_compare_fail_takes_an_absolute_floor_in_the_metrics_unit() -> None:
    assert parse_compare_fail("latency.p99:20%+1ms,throughput:5% + 2 Mbit/s") == {
        "latency.p99": Threshold(20.0, 0.001),
        "throughput": Threshold(5.0, 2e6),
    }


def test_a_change_must_pass_both_the_percentage_and_the_floor_to_regress() -> None:
    """78.6 µs → 105 µs is +33 %, but 26 µs: under a 1 ms floor it is noise."""
    limit = parse_compare_fail("latency.p99:20%+1ms")["latency.p99"]
    small = judge_change("latency.p99", 78.6e-6, 105e-6, limit, 0.0)
    assert small.verdict is Verdict.WORSE and not small.failed
    assert explain(small) == "worse, within 20 % + 1 ms"
    large = judge_change("latency.p99", 1e-3, 2.5e-3, limit, 0.0)
    assert large.failed
    assert explain(large) == "REGRESSION (+150 %, allowed 20 % + 1 ms)"
    # Without the floor the small change regresses, as before.
    assert judge_change("latency.p99", 78.6e-6, 105e-6, 20.0, 0.0).failed


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "no thresholds given"),
        ("throughput", "is not METRIC:PCT"),
        ("throughput:5Mbit/s", "is not METRIC:PCT"),
        ("latency.p99:20%+1 Mbit/s", "'1 Mbit/s' is a rate, but latency.p99 is a duration"),
        ("latency.p99:20%+", "is not METRIC:PCT"),
        ("througput:5%", "did you mean 'throughput'"),
        ("packets:5%", "cannot regress"),
        ("throughput:-5%", "percentage >= 0"),
        ("loss:1%,loss:2%", "given twice"),
    ],
)
def test_bad_compare_fail_text_gets_one_clear_error(text: str, complaint: str) -> None:
    with pytest.raises(InputError, match=complaint) as error:
        parse_compare_fail(text)
    assert error.value.key == "--qos-compare-fail"


directional = sorted(name for name, m in CATALOGUE.items() if m.better is not Better.NEITHER)


@given(
    st.dictionaries(
        st.sampled_from(directional),
        st.floats(0, 1000, allow_nan=False).map(lambda x: round(x, 3)),
        min_size=1,
    )
)
def test_parse_compare_fail_round_trips(thresholds: dict[str, float]) -> None:
    text = ",".join(f"{name}:{value!r}%" for name, value in thresholds.items())
    assert parse_compare_fail(text) == {name: Threshold(v) for name, v in thresholds.items()}


# -- judging changes --------------------------------------------------------------------------

positive = st.floats(1e-6, 1e12, allow_nan=False, allow_infinity=False)


@given(
    st.sampled_from(directional),
    positive,
    positive,
    st.floats(0, 200),
    st.floats(0, 1e12),
)
def test_a_regression_is_worse_beyond_both_threshold_and_noise(
    name: str, before: float, now: float, threshold: float, noise: float
) -> None:
    change = judge_change(name, before, now, threshold, noise)
    worse = now < before if CATALOGUE[name].better is Better.HIGHER else now > before
    percent = abs(now - before) / before * 100
    expected = worse and percent > threshold and abs(now - before) > noise
    assert change.failed == expected
    if abs(now - before) <= noise and now != before:
        assert change.verdict is Verdict.NOISE


def test_direction_decides_better_or_worse() -> None:
    assert judge_change("throughput", 100.0, 90.0, None, 0).verdict is Verdict.WORSE
    assert judge_change("throughput", 100.0, 110.0, 5, 0).verdict is Verdict.BETTER
    assert judge_change("latency.p99", 0.010, 0.009, 5, 0).verdict is Verdict.BETTER
    assert judge_change("latency.p99", 0.010, 0.013, 20, 0).verdict is Verdict.REGRESSION
    assert judge_change("latency.p99", 0.010, 0.011, 20, 0).verdict is Verdict.WORSE
    assert judge_change("packets", 100.0, 50.0, None, 0).verdict is Verdict.CHANGED
    assert judge_change("loss", 0.0, 0.0, 1, 0).verdict is Verdict.SAME
    from_zero = judge_change("loss", 0.0, 0.4, 50, 0)
    assert from_zero.verdict is Verdict.REGRESSION
    assert describe(from_zero) == "from 0"


def test_a_change_within_the_spread_of_repeats_is_flagged_not_failed() -> None:
    now = result("t::a", spread={"throughput": 3e6}, throughput=90e6)
    before = result("t::a", spread={"throughput": 12e6}, throughput=100e6)
    comparison = compare(now, before, {"throughput": 5})
    change = comparison.change_of("throughput")
    assert change is not None
    assert change.verdict is Verdict.NOISE
    assert explain(change) == "within noise (spread 12 Mbit/s)"
    assert not comparison.failed
    assert comparison.checks()[0].passed


def test_tests_missing_from_the_baseline_are_reported_not_failed() -> None:
    baseline = {"t::old": result("t::old", throughput=1e6)}
    comparisons = compare_all(
        [result("t::old", throughput=1e6), result("t::new", throughput=1e6)],
        baseline,
        {"throughput": 1},
    )
    assert not_in_baseline(comparisons) == ["t::new"]
    new = comparisons["t::new"]
    assert not new.failed
    assert [c.verdict for c in new.changes] == [Verdict.NEW]
    assert new.checks() == []


# -- real iperf3 on loopback ------------------------------------------------------------------


@pytest.fixture(scope="module")
def loopback_server() -> Iterator[tuple[Iperf3, Iperf3Server]]:
    """One iperf3 server on 127.0.0.1 for this module's runs."""
    try:
        tool = Iperf3()
    except Exception as error:  # ToolMissingError: say what is missing
        pytest.skip(f"iperf3 is not installed: {error}")
    with tool.server(Local(), "127.0.0.1") as server:
        yield tool, server


def measure(server: tuple[Iperf3, Iperf3Server], test: str, bitrate: str) -> QosResult:
    """A 1 s paced TCP flow on loopback as a QosResult with a `throughput` bound checked."""
    tool, running = server
    traffic = Traffic.from_options({"bitrate": bitrate, "duration": "1 s"})
    measurement = tool.run(traffic, "127.0.0.1", running.port, server=running)
    checks = check_bounds(measurement.metrics, parse_expectations({"throughput": ">= 1 Mbit/s"}))
    return QosResult(test=test, measurements=[measurement], checks=checks)


def test_a_slower_bitrate_fails_compare_fail_with_the_change_shown(
    tmp_path: Path, loopback_server: tuple[Iperf3, Iperf3Server]
) -> None:
    test_id = "tests/test_link.py::test_throughput"
    fast = measure(loopback_server, test_id, "40 Mbit/s")
    save_baseline(document(fast), "main", tmp_path)
    slow = measure(loopback_server, test_id, "20 Mbit/s")
    baseline = load_baseline("main", tmp_path)
    thresholds = parse_compare_fail("throughput:5%")

    comparison = compare(slow, baseline.get(slow.test), thresholds)

    change = comparison.change_of("throughput")
    assert change is not None and change.change is not None
    print(f"baseline {change.baseline:.4g} bit/s, now {change.now:.4g} bit/s, {describe(change)}")
    assert comparison.failed
    assert -65 < change.change < -35  # paced by iperf3: 20 of 40 Mbit/s, with margin for noise
    message = failure_message(comparison)
    shown = r"throughput: [\d.]+ Mbit/s → [\d.]+ Mbit/s \(-\d\d\.\d %; allowed 5 % lower\)"
    assert re.search(shown, message), message
    [check] = comparison.checks()
    assert not check.passed and check.baseline == change.baseline
    # The same run compared with itself is unchanged and passes.
    assert not compare(fast, baseline[test_id], thresholds).failed


def test_a_bound_relative_to_the_baseline_uses_the_stored_metrics(
    tmp_path: Path, loopback_server: tuple[Iperf3, Iperf3Server]
) -> None:
    save_baseline(document(measure(loopback_server, "t::x", "30 Mbit/s")), "main", tmp_path)
    stored = load_baseline("main", tmp_path)["t::x"].metrics
    now = measure(loopback_server, "t::x", "15 Mbit/s")
    [check] = check_bounds(
        now.metrics, parse_expectations({"throughput": ">= 95% of baseline"}), stored
    )
    assert not check.passed
    assert check.baseline == stored["throughput"]


def test_an_unwritable_save_directory_gets_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(InputError, match=r"cannot write baseline .*--qos-save-dir") as error:
        save_baseline(document(), "main", tmp_path / "file" / "qos")
    assert error.value.key == "--qos-save"
