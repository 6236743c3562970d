"""The live progress line: on a TTY for measurements over 2 s; silent elsewhere and with -q."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_qos.measure.iperf3 import Iperf3
from pytest_qos.measure.traffic import Traffic

SCENARIO = """\
tests:
  udp-3s:
    traffic: {protocol: udp, bitrate: 2 Mbit/s, duration: 3 s}
"""


def _run_on_tty(tmp_path: Path, *options: str) -> str:
    """Run pytest with a pseudo-terminal as stdout and return everything it drew."""
    (tmp_path / "scenarios").mkdir(exist_ok=True)
    (tmp_path / "scenarios" / "s.yaml").write_text(SCENARIO)
    primary, secondary = pty.openpty()
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--qos", "-p", "no:cacheprovider", *options],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=secondary,
    )
    os.close(secondary)
    output = b""
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(primary, 4096)
                except OSError:  # the terminal closed: pytest ended
                    break
                if not chunk:
                    break
                output += chunk
            elif run.poll() is not None:
                break
    finally:
        os.close(primary)
        if run.poll() is None:
            run.kill()
        run.wait(timeout=10)
    return output.decode(errors="replace")


def test_tty_shows_elapsed_of_total(tmp_path: Path) -> None:
    drawn = _run_on_tty(tmp_path)
    assert "1 passed" in drawn
    assert "\rscenarios/s.yaml::udp-3s" in drawn
    assert "/3 s" in drawn
    # The line is erased and the cursor goes back to the end of pytest's own line.
    assert "\x1b[2K\x1b[1A\r\x1b[17C" in drawn
    assert "udp-3s  throughput  (reported)" in drawn


def test_quiet_tty_shows_nothing_extra(tmp_path: Path) -> None:
    drawn = _run_on_tty(tmp_path, "-q")
    assert "1 passed" in drawn
    assert "/3 s" not in drawn


def test_non_tty_prints_nothing_extra(pytester: pytest.Pytester) -> None:
    pytester.mkdir("scenarios")
    pytester.path.joinpath("scenarios", "s.yaml").write_text(SCENARIO)
    result = pytester.runpytest("--qos")  # in this process: its output is captured, no TTY
    result.assert_outcomes(passed=1)
    assert "/3 s" not in result.stdout.str()


FAKE_STREAMING_IPERF3 = r'''#!/usr/bin/env python3
"""A fake iperf3 3.17 printing --json-stream events, one per 0.2 s."""
import json, sys, time
if "--version" in sys.argv:
    print("iperf 3.17.1 (cJSON 1.7.15)")
    sys.exit(0)
assert "--json-stream" in sys.argv, sys.argv
def event(name, data):
    print(json.dumps({"event": name, "data": data}), flush=True)
event("start", {"version": "iperf 3.17.1", "tcp_mss_default": 1448,
                "test_start": {"protocol": "TCP", "num_streams": 1, "blksize": 131072,
                               "duration": 3, "reverse": 0, "tos": 0}})
for second in (1, 2, 3):
    time.sleep(0.2)
    event("interval", {"streams": [], "sum": {"start": second - 1, "end": second,
                                               "bits_per_second": second * 1e6}})
rate = {"bits_per_second": 2e6, "bytes": 750000, "seconds": 3}
event("end", {"sum_sent": {**rate, "retransmits": 0}, "sum_received": rate,
              "cpu_utilization_percent": {"host_total": 1.0, "remote_total": 2.0}})
'''


def test_json_stream_reports_intervals_live(tmp_path: Path) -> None:
    fake = tmp_path / "iperf3"
    fake.write_text(FAKE_STREAMING_IPERF3)
    fake.chmod(0o755)
    iperf3 = Iperf3(str(fake))
    assert iperf3.streams_json
    seen: list[tuple[float, float, float]] = []
    started = time.monotonic()
    measurement = iperf3.run(
        Traffic.from_options({"duration": "3 s"}),
        "127.0.0.1",
        5201,
        on_interval=lambda t, bps: seen.append((time.monotonic() - started, t, bps)),
    )
    assert [(t, bps) for _, t, bps in seen] == [(1.0, 1e6), (2.0, 2e6), (3.0, 3e6)]
    assert seen[0][0] < seen[-1][0] - 0.3  # arrived while it ran, not all at the end
    assert measurement.metrics["throughput"] == 2e6
    assert measurement.series["throughput"] == [(1.0, 1e6), (2.0, 2e6), (3.0, 3e6)]
    assert "--json-stream" in measurement.command
    json.dumps(measurement.to_json())
