"""Synthetic history documents: results documents as a real run writes them, for tests and
benchmarks of pytest_qos.history (a real history is built through the lab in
test_history_lab.py)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_qos.history.store import new_file_name

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def iperf3_command(duration: int = 2, streams: int = 1, port: int = 20000) -> list[str]:
    """The client argv of a lab run, as iperf3.py builds it (namespace and port vary)."""
    argv = ["ip", "netns", "exec", f"qos-{port}-1-client", "/usr/bin/iperf3", "-c", "198.18.2.2"]
    argv += ["-p", str(port), "--json", "-t", str(duration), "--connect-timeout", "3000"]
    return argv + (["-P", str(streams)] if streams != 1 else [])


def result(
    test: str,
    metrics: Mapping[str, float],
    bounds: Mapping[str, str] | None = None,
    command: list[str] | None = None,
) -> dict[str, Any]:
    """One `results[]` entry with an iperf3 measurement."""
    argv = command if command is not None else iperf3_command()
    return {
        "test": test,
        "outcome": "passed",
        "metrics": dict(metrics),
        "spread": {},
        "bounds": [
            {"metric": name, "bound": text, "measured": metrics.get(name), "passed": True}
            for name, text in (bounds or {}).items()
        ],
        "command": argv,
        "measurements": [
            {
                "tool": "iperf3",
                "metrics": dict(metrics),
                "command": argv,
                "started": START,
                "details": {"protocol": "tcp", "streams": 1, "duration": 2.0},
                "series": {"throughput": [[1.0, 2e7], [2.0, 2e7]]},
            }
        ],
        "loads": [],
    }


def document(
    results: list[dict[str, Any]], when: float, run: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A complete run's history document."""
    stamp = _iso(when)
    return {
        "version": 1,
        "complete": True,
        "environment": {
            "host": "bench",
            "kernel": "6",
            "python": "3",
            "iperf3": "3.12",
            "time": stamp,
        },
        "results": results,
        "run": {
            "time": stamp,
            "host": "bench",
            "commit": hashlib.sha1(str(when).encode()).hexdigest(),
            **(run or {}),
        },
    }


def _iso(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def write_run(directory: Path, doc: Mapping[str, Any], when: float) -> Path:
    """Store `doc` as the history does, named for `when`."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / new_file_name(doc.get("run", {}), when)
    path.write_text(json.dumps(doc))
    return path
