"""Tool faults as a user meets them: one clear failure line, bounded time, nothing left running."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import ScenarioWriter
from pytest_qos.hosts.endpoints import wait_until
from pytest_qos.measure.iperf3 import Iperf3Server

FAKE = Path(__file__).with_name("fake_iperf3.py")


def _scenario(write_scenario: ScenarioWriter, port: int) -> None:
    write_scenario(
        f"target: {{host: 127.0.0.1, port: {port}}}\n"
        "tests:\n  flow:\n    traffic: {protocol: tcp, duration: 1 s}\n"
        "    expect: {throughput: '>= 1 Mbit/s'}\n",
        "scenarios/fault.yaml",
    )


def test_iperf3_error_json_fails_with_its_text(
    write_scenario: ScenarioWriter,
    pytester: pytest.Pytester,
    iperf3_server: Callable[..., Iperf3Server],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _scenario(write_scenario, iperf3_server().port)
    monkeypatch.setenv("FAKE_IPERF3_MODE", "error")
    monkeypatch.setenv("FAKE_IPERF3_ERROR", "unable to send cookie to server: injected")
    result = pytester.runpytest("--qos", f"--qos-iperf3={FAKE}", "--qos-json=r.json")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*iperf3 failed: unable to send cookie to server: injected*",
            "*reproduce: *fake_iperf3.py -c 127.0.0.1*",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*fault.yaml::flow*(error)*unable to send cookie*ERROR*"])


def test_truncated_output_fails_clearly(
    write_scenario: ScenarioWriter,
    pytester: pytest.Pytester,
    iperf3_server: Callable[..., Iperf3Server],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _scenario(write_scenario, iperf3_server().port)
    monkeypatch.setenv("FAKE_IPERF3_MODE", "truncated")
    result = pytester.runpytest("--qos", f"--qos-iperf3={FAKE}")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*iperf3 printed no complete JSON (exit 0)*"])


def test_hung_iperf3_is_killed_within_its_timeout(
    write_scenario: ScenarioWriter,
    pytester: pytest.Pytester,
    iperf3_server: Callable[..., Iperf3Server],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    pidfile = tmp_path / "pids"
    _scenario(write_scenario, iperf3_server().port)
    monkeypatch.setenv("FAKE_IPERF3_MODE", "stubborn")  # ignores SIGTERM, has a grandchild
    monkeypatch.setenv("FAKE_IPERF3_PIDFILE", str(pidfile))
    started = time.monotonic()
    result = pytester.runpytest("--qos", f"--qos-iperf3={FAKE}")
    elapsed = time.monotonic() - started
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*did not finish within 11.0 s and was killed*"])
    assert elapsed < 11.0 + 8.0  # the 1 s test's hard timeout, plus the kill grace
    pids = [int(pid) for pid in pidfile.read_text().split()]
    assert pids

    def all_gone() -> bool:
        return not any(Path(f"/proc/{pid}").exists() for pid in pids)

    assert wait_until(all_gone, timeout=5), [p for p in pids if os.path.exists(f"/proc/{p}")]
