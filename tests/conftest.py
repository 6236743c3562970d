"""Seams shared by the test modules: scenario files where a test's pytest runs, own labs."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_qos.lab.namespaces import lab_namespaces

ScenarioWriter = Callable[..., Path]


def own_namespaces() -> set[str]:
    """This process's lab namespaces: labs other test processes build meanwhile do not count."""
    return {name for name in lab_namespaces() if name.startswith(f"qos-{os.getpid()}-")}


@pytest.fixture
def no_lab_left(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every lab namespace a test's pytest runs made is gone when the test ends.

    Those runs' own labs (`qos-<its pid>-…`), not every orphan: beside it (-n) a test that
    SIGKILLs a pytest leaves an orphan lab for the next build to sweep.
    """
    runs: list[int] = []
    popen = pytester.popen

    def recorded(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        process = popen(*args, **kwargs)
        runs.append(process.pid)
        return process

    monkeypatch.setattr(pytester, "popen", recorded)
    yield
    assert runs, "no pytest run was started"
    left = [name for name in lab_namespaces() if int(name.split("-")[1]) in runs]
    assert not left, left


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
