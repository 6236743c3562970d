"""Seams shared by the test modules: writing scenario files where a test's pytest runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

ScenarioWriter = Callable[..., Path]


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
