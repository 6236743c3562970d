"""The history library: series identity, storing runs, reading bad files, trends, the command."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from history_docs import START, document, iperf3_command, result, write_run

from pytest_qos.history import cli
from pytest_qos.history.changepoints import ExtraMissing
from pytest_qos.history.identity import describe_settings, series_identity, tool_arguments
from pytest_qos.history.page import change_rows
from pytest_qos.history.read import History, read_runs
from pytest_qos.history.store import NAME, HistoryOptions, history_files, prune, store_run
from pytest_qos.history.trends import find_trends
from pytest_qos.history.verdict import TrendJudge
from pytest_qos.report import junit
from pytest_qos.report.html import render_html
from pytest_qos.results import QosResult

HOUR = 3600.0
BULK = "s.qos.yaml::bulk"


def steady(test: str = BULK, rate: float = 20e6, command: list[str] | None = None) -> dict:
    return result(test, {"throughput": rate}, {"throughput": ">= 15 Mbit/s"}, command)


def history_of(directory: Path, rates: list[float], **kwargs: object) -> Path:
    """A history of one test whose throughput takes `rates`, one run an hour."""
    for index, rate in enumerate(rates):
        when = START + index * HOUR
        write_run(directory, document([steady(rate=rate, **kwargs)], when), when)  # type: ignore[arg-type]
    return directory


def wobble(level: float, count: int, seed: int = 1) -> list[float]:
    """`count` values at `level` with ±0.3 % of deterministic noise."""
    return [level * (1 + 0.003 * (((index * 7919 + seed) % 13) - 6) / 6) for index in range(count)]


# -- identity ---------------------------------------------------------------------------


def test_run_specific_parts_of_a_command_do_not_split_a_series() -> None:
    one = steady(command=iperf3_command(port=20000))
    two = steady(command=["ssh", "-p", "22", "site-a", "iperf3", *iperf3_command(port=31000)[5:]])
    assert series_identity(one) == series_identity(two)
    assert tool_arguments(one["command"]) == ["iperf3", "-c", "198.18.2.2", "-t", "2"]


@pytest.mark.parametrize(
    "changed",
    [
        iperf3_command(duration=5),
        iperf3_command(streams=4),
        [*iperf3_command(), "-C", "cubic"],
        [*iperf3_command(), "-u", "-b", "30000000"],
        [*iperf3_command()[:6], "198.18.2.3", *iperf3_command()[7:]],
    ],
)
def test_traffic_settings_split_a_series(changed: list[str]) -> None:
    assert series_identity(steady(command=changed)) != series_identity(steady())


def test_bounds_and_measured_values_never_split_a_series() -> None:
    other = result(BULK, {"throughput": 1e6}, {"throughput": ">= 99 Mbit/s"})
    assert series_identity(other) == series_identity(steady())
    assert series_identity(steady(test="s.qos.yaml::renamed")) != series_identity(steady())
    assert describe_settings(steady()) == "iperf3 -c 198.18.2.2 -t 2"


def test_probe_settings_split_and_its_port_does_not() -> None:
    def probe(port: int, interval: str) -> dict:
        argv = ["ip", "netns", "exec", "qos-1-client", "/v/bin/python", "-m", "pytest_qos"]
        argv += ["probe", "--kind", "udp", "--host", "198.18.2.2", "--port", str(port)]
        return result("s::voice", {"latency.p99": 1e-3}, command=[*argv, "--interval", interval])

    assert series_identity(probe(1, "0.02")) == series_identity(probe(2, "0.02"))
    assert series_identity(probe(1, "0.02")) != series_identity(probe(1, "0.01"))


# -- storing -----------------------------------------------------------------------------


def run_document() -> dict:
    doc = document([steady()], START)
    del doc["run"]
    return doc


def test_a_stored_run_carries_its_identity(tmp_path: Path) -> None:
    (tmp_path / "s.qos.yaml").write_text("tests: {}\n")
    options = HistoryOptions(tmp_path / "hist", run_id="ci job 7", root=tmp_path)
    line = store_run(options, run_document())
    [path] = history_files(tmp_path / "hist")
    assert line == f"QoS history: run stored as {path}"
    assert NAME.match(path.name) and "-ci-job-7-" in path.name
    stored = json.loads(path.read_text())
    [measurement] = run_document()["results"][0]["measurements"]
    assert measurement["series"]  # per-interval series are left out: only that run plots them
    assert stored["results"][0]["measurements"] == [
        {key: value for key, value in measurement.items() if key != "series"}
    ]
    assert stored["results"][0]["metrics"] == run_document()["results"][0]["metrics"]
    run = stored["run"]
    assert run["run_id"] == "ci job 7" and run["host"] == "bench"
    assert run["scenarios"]["s.qos.yaml"] and len(run["scenarios"]["s.qos.yaml"]) == 64


def test_an_incomplete_run_is_never_stored(tmp_path: Path) -> None:
    options = HistoryOptions(tmp_path / "hist")
    line = store_run(options, run_document(), incomplete="interrupted: SIGTERM")
    assert "not stored" in line and "interrupted: SIGTERM" in line
    assert not (tmp_path / "hist").exists()


def test_concurrent_runs_never_clobber_each_other(tmp_path: Path) -> None:
    options = HistoryOptions(tmp_path / "hist")
    threads = [
        threading.Thread(target=store_run, args=(options, run_document())) for _ in range(20)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    files = history_files(tmp_path / "hist")
    assert len(files) == 20
    assert all(json.loads(path.read_text())["results"] for path in files)
    assert sorted(p.name for p in (tmp_path / "hist").iterdir()) == [p.name for p in files]


def test_keep_prunes_the_oldest_runs_and_nothing_else(tmp_path: Path) -> None:
    history_of(tmp_path, [20e6] * 5)
    (tmp_path / "notes.txt").write_text("mine")
    newest = [p.name for p in history_files(tmp_path)][-2:]
    assert prune(tmp_path, 2) == 3
    assert [p.name for p in history_files(tmp_path)] == newest
    assert (tmp_path / "notes.txt").exists()


# -- reading bad input ---------------------------------------------------------------------


def bad_files(directory: Path) -> dict[str, str]:
    """File name → the note it must get."""
    name = "20270101T00000{}.000000Z-bad-0000000{}.json"
    cases = {
        name.format(0, 0): ('{"version": 1, "results": [', "not valid JSON"),
        name.format(1, 1): ("", "is empty"),
        name.format(2, 2): ('{"version": 2, "results": []}', "newer pytest-qos"),
        name.format(3, 3): ('{"version": 1, "complete": false, "results": []}', "incomplete"),
        name.format(4, 4): ("[1, 2]", "not a pytest-qos results document"),
        name.format(5, 5): (
            json.dumps(document([result(BULK, {"throughput": "fast"})], START)),  # type: ignore[dict-item]
            'results[0].metrics.throughput is "fast", not a number',
        ),
        name.format(6, 6): (
            '{"version": 1, "results": [{"test": "t", "metrics": {"x": NaN}}]}',
            "NaN",
        ),
        name.format(7, 7): ('{"version": 1, "results": [{"metrics": {}}]}', "results[0].test"),
        "README.md": ("hello", "not a history run file"),
        "results.json": (json.dumps(run_document()), "not a history run file"),
    }
    for file_name, (text, _) in cases.items():
        (directory / file_name).write_text(text)
    (directory / name.format(8, 8)).write_bytes(b"\xff\xfe\x00garbage")
    return {file_name: note for file_name, (_, note) in cases.items()} | {
        name.format(8, 8): "not UTF-8"
    }


def test_every_bad_file_is_skipped_with_one_note(tmp_path: Path) -> None:
    history_of(tmp_path, wobble(20e6, 10))
    expected = bad_files(tmp_path)
    history = History(tmp_path)
    runs = list(read_runs(history))
    assert len(runs) == 10
    assert len(history.notes) == len(expected)
    for file_name, note in expected.items():
        [line] = [line for line in history.notes if file_name in line]
        assert note in line and line.endswith("skipped"), line


@pytest.mark.parametrize("make", ["missing", "empty", "file"])
def test_a_missing_or_empty_directory_is_a_note_and_the_page_renders(
    tmp_path: Path, make: str, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "hist"
    if make == "empty":
        directory.mkdir()
    elif make == "file":
        directory.write_text("x")
    page = tmp_path / "page.html"
    assert cli.main([str(directory), "--html", str(page), "--json", str(tmp_path / "t.json")]) == 0
    out = capsys.readouterr().out
    assert "QoS trends: 0 runs" in out and "note:" in out
    assert "<h1>QoS trends</h1>" in page.read_text()
    assert json.loads((tmp_path / "t.json").read_text())["changes"] == []


def test_the_page_renders_over_bad_files_without_a_traceback(tmp_path: Path) -> None:
    history_of(tmp_path / "hist", wobble(20e6, 12) + wobble(16e6, 6))
    expected = bad_files(tmp_path / "hist")
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pytest_qos", "trend", str(tmp_path / "hist")),
            *("--html", str(tmp_path / "p.html"), "--md", str(tmp_path / "p.md")),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stdout.count("note:") == len(expected)
    assert "WORSE" in done.stdout and "WORSE" in (tmp_path / "p.md").read_text()


# -- trends --------------------------------------------------------------------------------


def test_a_step_is_found_at_its_first_run_with_before_and_after(tmp_path: Path) -> None:
    history_of(tmp_path, wobble(20e6, 14) + wobble(16e6, 5))
    trends = find_trends(tmp_path)
    [change] = trends.changes
    assert change.run.index == 14 and change.worse is True
    assert change.step.before == pytest.approx(20e6, rel=0.005)
    assert change.step.after == pytest.approx(16e6, rel=0.005)
    assert change.change_pct == pytest.approx(-20, abs=0.5)
    data = change.to_json()
    assert {"test", "metric", "run", "index", "before", "after", "change_pct", "worse"} <= set(data)
    assert data["run"] == trends.history.runs[14].name


def test_changes_are_listed_worst_first(tmp_path: Path) -> None:
    for index in range(20):
        when = START + index * HOUR
        results = [
            steady("t::a", wobble(20e6, 20)[index] * (0.9 if index >= 10 else 1)),
            steady("t::b", wobble(20e6, 20)[index] * (0.5 if index >= 10 else 1)),
            steady("t::c", wobble(20e6, 20)[index] * (1.5 if index >= 10 else 1)),
        ]
        write_run(tmp_path, document(results, when), when)
    changes = find_trends(tmp_path).changes
    assert [(c.series.test, c.worse) for c in changes] == [
        ("t::b", True),
        ("t::a", True),
        ("t::c", False),
    ]


def test_changed_settings_and_renamed_metrics_start_new_series(tmp_path: Path) -> None:
    for index in range(12):
        when = START + index * HOUR
        rate = 20e6 if index < 6 else 40e6
        command = iperf3_command(duration=2 if index < 6 else 5)
        metric = "throughput" if index < 9 else "video.throughput"
        doc = result(BULK, {metric: rate}, {metric: ">= 1 Mbit/s"}, command)
        write_run(tmp_path, document([doc], when), when)
    trends = find_trends(tmp_path)
    shapes = [(s.metric, s.runs[0], len(s.runs)) for s in trends.series]
    assert shapes == [("throughput", 0, 6), ("throughput", 6, 3), ("video.throughput", 9, 3)]
    assert trends.changes == []  # the doubled rate came with new settings: no change point
    assert trends.split_at(trends.series[1]) is not None


def test_k_and_metric_choose_what_is_followed(tmp_path: Path) -> None:
    for index in range(6):
        when = START + index * HOUR
        doc = document(
            [steady("a.yaml::up"), result("b.yaml::ping", {"latency.p99": 1e-3, "mos": 4.4})], when
        )
        write_run(tmp_path, doc, when)
    keep = cli.keyword_filter("a.yaml or PING")
    assert [(s.test, s.metric) for s in find_trends(tmp_path, keep_test=keep).series] == [
        ("a.yaml::up", "throughput"),
        ("b.yaml::ping", "latency.p99"),
        ("b.yaml::ping", "mos"),
    ]
    keep = cli.keyword_filter("not up")
    chosen = find_trends(tmp_path, ["latency.*"], keep)
    assert [(s.test, s.metric) for s in chosen.series] == [("b.yaml::ping", "latency.p99")]


def test_a_bad_k_expression_and_an_unwritable_output_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history_of(tmp_path / "h", [20e6] * 3)
    assert cli.main([str(tmp_path / "h"), "-k", "a and ("]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert cli.main([str(tmp_path / "h"), "--html", str(blocked / "page.html")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--html: cannot write" in err


def test_without_the_extra_the_command_says_how_to_install_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing() -> None:
        raise ExtraMissing("change points need ruptures: pip install 'pytest-qos[trend]'")

    monkeypatch.setattr(cli, "libraries", missing)
    assert cli.main([str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'pytest-qos[trend]'" in err


def test_a_change_at_a_new_router_config_says_so(tmp_path: Path) -> None:
    for index, rate in enumerate(wobble(20e6, 10) + wobble(15e6, 4)):
        when = START + index * HOUR
        config = {"path": "/lab/tbf-15.sh" if index >= 10 else "/lab/tbf-20.sh"}
        config["sha256"] = config["path"][-9:-3] * 8
        doc = document([steady(rate=rate)], when, run={"router_config": config})
        write_run(tmp_path, doc, when)
    trends = find_trends(tmp_path)
    [row] = change_rows(trends)
    assert row[2] == "10" and row[-1] == "WORSE; new router config: tbf-15.sh"
    assert trends.history.runs[10].to_json()["router_config"] == "tbf-15.sh"
    assert len(trends.series) == 1


def test_the_verdict_shows_in_the_pytest_html_table_and_junit_properties() -> None:
    past = wobble(20e6, 12)
    current = QosResult.from_json(steady(rate=16.1e6))
    identity = series_identity(current.to_json())
    TrendJudge({(BULK, identity): {"throughput": past}}, fail=True).judge(current)
    page = render_html(current)
    assert "<th>history median</th><th>vs history</th>" in page
    assert '<td class="qos-bad">REGRESSION: below the last 12 runs (' in page
    properties = dict(junit.properties(current))
    assert str(properties["qos.trend.throughput"]).startswith("REGRESSION: below the last 12")
    assert properties["qos.bound.throughput"] == "within its history's noise -> FAIL"
