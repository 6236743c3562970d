"""Iperf3 pointed at tests/fake_iperf3.py in "ok" mode, for runner tests that measure nothing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pytest_qos.measure.iperf3 import Iperf3

FAKE = Path(__file__).parent / "fake_iperf3.py"


def ok_iperf3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iperf3:
    """The fake as an executable, answering well-formed documents; runs logged to tmp_path/runs."""
    launcher = tmp_path / "iperf3"
    launcher.write_text(f"#!{sys.executable}\n" + FAKE.read_text())
    launcher.chmod(0o755)
    monkeypatch.setenv("FAKE_IPERF3_MODE", "ok")
    monkeypatch.setenv("FAKE_IPERF3_LOG", str(tmp_path / "runs"))
    return Iperf3(str(launcher))
