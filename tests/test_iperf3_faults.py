"""Misbehaving iperf3 output (issue 15): a MeasurementError naming the field, never a traceback."""

from __future__ import annotations

import copy
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from process_checks import process_gone

from pytest_qos.errors import MeasurementError
from pytest_qos.hosts.endpoints import Completed, Endpoint, Local, wait_until
from pytest_qos.measure.iperf3 import (
    IntervalCallback,
    Iperf3,
    _stream_event,
    parse_json,
    parse_result,
    read_stream,
)
from pytest_qos.measure.traffic import Traffic

DATA = Path(__file__).parent / "data"
FAKE = Path(__file__).with_name("fake_iperf3.py")
HOST = "127.0.0.1"


def run_streaming(
    endpoint: Endpoint, command: list[str], timeout: float, on_interval: IntervalCallback
) -> Completed:
    """Run iperf3 --json-stream at `endpoint`, reporting intervals live (as a RunningFlow does)."""
    return read_stream(endpoint.spawn(command), command, timeout, on_interval)


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((DATA / name).read_text())
    return document


def _set(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    *parents, last = path.split(".")
    node: Any = changed
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return changed


@pytest.mark.parametrize(
    ("path", "value", "words"),
    [
        ("intervals", None, "'intervals' that is not a list"),
        ("intervals", 5, "'intervals' that is not a list"),
        ("intervals.0.sum.end", "x", "'intervals.0.sum.end' that is \"x\", not a number"),
        ("intervals.0.sum.bits_per_second", None, "bits_per_second' that is null"),
        ("start.test_start.num_streams", None, "num_streams' that is null, not a number"),
        ("start.test_start.num_streams", "x", 'num_streams\' that is "x", not a number'),
        ("end.sum_sent.bits_per_second", "fast", "'end.sum_sent.bits_per_second' that is"),
        ("end.sum_received", 3, "'end.sum_received.bits_per_second' that is not an object"),
        ("end", [], "'end.sum_sent' that is not an object"),
    ],
)
def test_odd_fields_name_the_field(path: str, value: Any, words: str) -> None:
    with pytest.raises(MeasurementError) as caught:
        parse_result(_set(load("tcp.json"), path, value), ["iperf3"])
    assert words in str(caught.value)


@pytest.mark.parametrize("connected", [None, 5, [5], ["x"], [{"remote_host": 7}], {}])
def test_odd_connected_is_read_as_ipv4(connected: Any) -> None:
    measurement = parse_result(_set(load("tcp.json"), "start.connected", connected), ["iperf3"])
    assert measurement.details["ipv6"] is False


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_metric_is_a_measurement_error_naming_tool_and_field(constant: str) -> None:
    text = json.dumps(_set(load("udp.json"), "end.sum.jitter_ms", "PLACE"))
    text = text.replace('"PLACE"', constant)
    with pytest.raises(MeasurementError) as caught:
        parse_result(parse_json(text, "", 0, ["iperf3"]), ["iperf3"])
    assert "iperf3 reported field 'end.sum.jitter_ms'" in str(caught.value)
    assert "not a finite number" in str(caught.value)


def test_stream_interval_with_text_end_is_skipped_live_and_reported_at_the_end() -> None:
    document: dict[str, Any] = {"intervals": []}
    seen: list[tuple[float, float]] = []
    line = json.dumps({"event": "interval", "data": {"sum": {"end": "x", "bits_per_second": 1}}})
    _stream_event(line, document, [], lambda end, rate: seen.append((end, rate)))
    assert seen == []
    full = {**load("tcp.json"), "intervals": document["intervals"]}
    with pytest.raises(MeasurementError, match=r"intervals\.0\.sum\.end"):
        parse_result(full, ["iperf3"])


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


def _leaves(node: Any, prefix: str = "") -> list[str]:
    if isinstance(node, dict):
        return [p for key, value in node.items() for p in _leaves(value, f"{prefix}{key}.")]
    if isinstance(node, list):
        return [p for i, value in enumerate(node) for p in _leaves(value, f"{prefix}{i}.")]
    return [prefix[:-1]]


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(["tcp.json", "udp.json", "bidir.json", "multistream.json"]),
    index=st.integers(min_value=0),
    value=_JSON,
)
def test_any_replaced_field_gives_a_result_or_a_measurement_error(
    name: str, index: int, value: Any
) -> None:
    document = load(name)
    leaves = [leaf for leaf in _leaves(document) if "." in leaf]
    changed = _set(document, leaves[index % len(leaves)], value)
    try:
        measurement = parse_result(changed, ["iperf3"])
    except MeasurementError as error:
        assert "\n" not in str(error)
        return
    assert all(math.isfinite(v) for v in measurement.metrics.values())
    json.dumps(measurement.to_json(), allow_nan=False)


# --- with the fake iperf3 ----------------------------------------------------------------------


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iperf3:
    launcher = tmp_path / "iperf3"
    launcher.write_text(f"#!{sys.executable}\n" + FAKE.read_text())
    launcher.chmod(0o755)
    monkeypatch.setenv("FAKE_IPERF3_DOCUMENT", str(tmp_path / "document.json"))
    return Iperf3(str(launcher))


def test_invalid_utf8_output_is_one_clear_error(fake: Iperf3, tmp_path: Path) -> None:
    (tmp_path / "document.json").write_bytes(b'{"start": \xff\xfe}')
    with pytest.raises(MeasurementError, match=r"no complete JSON \(exit 0\): \{\"start\": "):
        _run(fake, "document")


def test_invalid_utf8_inside_a_string_still_parses(fake: Iperf3, tmp_path: Path) -> None:
    text = json.dumps(load("tcp.json")).replace('"version": "', '"version": "\udcff', 1)
    (tmp_path / "document.json").write_bytes(text.encode(errors="surrogateescape"))
    assert _run(fake, "document").metrics["throughput"] > 0


def test_non_string_error_is_quoted(fake: Iperf3, tmp_path: Path) -> None:
    (tmp_path / "document.json").write_text(json.dumps({"error": {"code": 5}}))
    with pytest.raises(MeasurementError, match=r'iperf3 failed: \{"code": 5\}'):
        _run(fake, "document")


def test_output_beyond_the_cap_is_a_clear_error(
    fake: Iperf3, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pytest_qos.hosts.endpoints.OUTPUT_LIMIT", 4 * 2**20)
    monkeypatch.setenv("FAKE_IPERF3_FLOOD_MB", "40")
    started = time.monotonic()
    with pytest.raises(MeasurementError, match="printed more than 4 MiB and was stopped"):
        _run(fake, "flood")
    assert time.monotonic() - started < 5


def test_grandchild_in_its_own_session_holding_stdout(fake: Iperf3, tmp_path: Path) -> None:
    """A complete result stays a result, and the setsid grandchild is killed."""
    pidfile = tmp_path / "pid"
    (tmp_path / "document.json").write_text(json.dumps(load("tcp.json")))
    started = time.monotonic()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FAKE_IPERF3_PIDFILE", str(pidfile))
        measurement = _run(fake, "setsid")
    assert time.monotonic() - started < 5  # not the 11 s timeout
    assert measurement.metrics["throughput"] > 0
    grandchild = int(pidfile.read_text())
    assert wait_until(lambda: process_gone(grandchild), 2.0)


def _run(fake: Iperf3, mode: str) -> Any:
    argv = [*fake.command(Traffic(), HOST, 5201), f"--fake-mode={mode}"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fake, "command", lambda *args, **kwargs: list(argv))
        return fake.run(Traffic(), HOST, 5201)


def test_streaming_stops_reading_at_the_end_event(fake: Iperf3, tmp_path: Path) -> None:
    document = load("tcp.json")
    events = [
        {"event": "start", "data": document["start"]},
        *({"event": "interval", "data": interval} for interval in document["intervals"]),
        {"event": "end", "data": document["end"]},
    ]
    (tmp_path / "document.json").write_text("".join(json.dumps(e) + "\n" for e in events))
    pidfile = tmp_path / "pid"
    seen: list[float] = []
    started = time.monotonic()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FAKE_IPERF3_PIDFILE", str(pidfile))
        completed = run_streaming(
            Local(), [fake.path, "--fake-mode=setsid"], 10.0, lambda end, rate: seen.append(end)
        )
    assert time.monotonic() - started < 5  # not the 10 s timeout
    assert len(seen) == len(document["intervals"])
    measurement = parse_result(parse_json(completed.stdout, "", 0, []), [])
    assert measurement.metrics["throughput"] > 0
    grandchild = int(pidfile.read_text())
    assert wait_until(lambda: process_gone(grandchild), 2.0)


def test_streaming_output_beyond_the_cap_is_a_clear_error(
    fake: Iperf3, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pytest_qos.hosts.endpoints.OUTPUT_LIMIT", 2**20)
    monkeypatch.setenv("FAKE_IPERF3_FLOOD_MB", "20")
    with pytest.raises(MeasurementError, match="printed more than 1 MiB and was stopped"):
        run_streaming(Local(), [fake.path, "--fake-mode=flood"], 10.0, lambda end, rate: None)
