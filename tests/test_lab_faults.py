"""Lab faults (issue 15): a router config under a path containing '=' runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_qos.lab.routerlab import Lab, lab_unavailable_reason

UNAVAILABLE = lab_unavailable_reason()


@pytest.mark.root
@pytest.mark.skipif(UNAVAILABLE is not None, reason=f"router lab {UNAVAILABLE}")
def test_config_under_a_path_with_equals_runs(tmp_path: Path) -> None:
    """`env LAN=... PATH` read '.../cfg=v2/x.sh' as one more assignment and never ran it."""
    folder = tmp_path / "cfg=v2"
    folder.mkdir()
    out = tmp_path / "ran.txt"
    config = folder / "x.sh"
    config.write_text(f'#!/bin/sh\necho "$LAN $WAN" > "{out}"\n')
    config.chmod(0o755)
    with Lab.create(router_config=config) as built:
        assert built.config_result is not None and built.config_result.returncode == 0
    assert out.read_text() == "lan wan\n"
