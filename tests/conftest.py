"""Seams shared by the test modules: scenario files where a test's pytest runs, own labs."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_qos.lab.namespaces import lab_namespaces

ScenarioWriter = Callable[..., Path]


def own_namespaces() -> set[str]:
    """This process's lab namespaces: labs other test processes build meanwhile do not count."""
    return {name for name in lab_namespaces() if name.startswith(f"qos-{os.getpid()}-")}


def leaked_namespaces(before: set[str]) -> set[str]:
    """Lab namespaces new since `before` whose owner process is gone (a pytest run a test
    started and that ended); labs of processes still running do not count."""
    return {
        name
        for name in set(lab_namespaces()) - before
        if not Path(f"/proc/{name.split('-')[1]}").exists()
    }


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytester whose runs leave hypothesis's plugin out: it imports all of hypothesis as a
    session ends (~0.7 s of every pytest process the suite starts); no run holds its tests."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")
    return pytester


@pytest.fixture
def write_scenario(request: pytest.FixtureRequest) -> ScenarioWriter:
    """Write YAML to NAME (default scenarios/path.yaml) under pytester's dir, else tmp_path."""
    uses_pytester = "pytester" in request.fixturenames
    root: Path = (
        request.getfixturevalue("pytester").path
        if uses_pytester
        else request.getfixturevalue("tmp_path")
    )

    def write(text: str, name: str = "scenarios/path.yaml") -> Path:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    return write
