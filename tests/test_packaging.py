"""The package's own metadata: what `pip install pytest-qos` and PyPI read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11; the project reads it only here

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def test_license_is_an_spdx_expression() -> None:
    """PEP 639: `license = "MIT"`; setuptools deprecates the `{text = ...}` table."""
    data = tomllib.loads(PYPROJECT.read_text())
    license_field = data["project"]["license"]
    assert isinstance(license_field, str), f"license is a table: {license_field!r}"
    assert re.fullmatch(r"[A-Za-z0-9.+-]+( (AND|OR|WITH) [A-Za-z0-9.+-]+)*", license_field)
    # A license expression and a `License ::` classifier together are an error in setuptools.
    assert not any(c.startswith("License ::") for c in data["project"].get("classifiers", []))
    requires = " ".join(data["build-system"]["requires"])
    found = re.search(r"setuptools>=(\d+)", requires)
    assert found is not None and int(found.group(1)) >= 77, requires  # PEP 639 support
