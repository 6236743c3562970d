"""Per-item overhead over ssh: a 3-site mesh of 12 x 2 s items with `-n 1`, wall / measuring.

Issue 21, goal 2: per-item overhead <= 0.2 s median, the mesh's wall time <= 1.15 x its
measuring time. Each run is a pytest of its own (`--qos -n 1`) against one site lab (sshd in
each site, the ControlMaster on); with QOS_REFERENCE=PATH (a checkout of another revision, e.g.
main), the same mesh runs with that checkout's package too, alternating, for a ratio taken in
one session. Run with
`QOS_REFERENCE=/tmp/ref pytest benchmarks/bench_site_overhead.py --benchmark-only -s`; needs
root.

What bounds it here: every item's client is one ssh session, and each session through the
ControlMaster costs what the far side's login shell costs to start (test_session_floor
measures it: root's ~/.bashrc on this machine runs `pyenv init`, ~0.2 s).
"""

from __future__ import annotations

import contextlib
import os
import re
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_qos.hosts.serverpool import POOL
from pytest_qos.hosts.ssh import MUX
from pytest_qos.lab.sitelab import SiteLab, sites_unavailable_reason
from pytest_qos.measure.iperf3 import Iperf3
from pytest_qos.scenario.reader import load_scenario
from pytest_qos.scenario.run import run_test
from pytest_qos.scenario.sites import pair_target

UNAVAILABLE = sites_unavailable_reason()
pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(UNAVAILABLE is not None, reason=f"site lab {UNAVAILABLE}"),
]
SHAPE = Path(__file__).resolve().parent.parent / "scenarios" / "sites" / "shape.sh"
ITEM_SECONDS = 2
ITEMS = 12  # 3 sites: 6 ordered pairs x (a TCP flow, a UDP probe)
RUNS = 3  # per checkout, alternating
GOAL_RATIO = 1.15
GOAL_OVERHEAD = 0.2
MESH = f"""\
mesh: {{group: sites}}
defaults: {{duration: {ITEM_SECONDS} s, settle: 0 s}}
tests:
  tcp:
    traffic: {{protocol: tcp}}
  voice:
    probe: {{kind: udp, dscp: EF, duration: {ITEM_SECONDS} s}}
"""


@pytest.fixture(scope="module")
def sites() -> Iterator[SiteLab]:
    lab = SiteLab.create(3, router_config=SHAPE)
    try:
        yield lab
    finally:
        lab.destroy()
        POOL.close()
        MUX.close()


def _mesh_run(directory: Path, lab: SiteLab, package: Path | None) -> dict[str, float]:
    """One `pytest --qos -n 1` of the mesh (the package from `package` when given): its wall
    time and each item's time (setup + call + teardown, from its JUnit XML)."""
    junit = directory / "mesh.xml"
    argv = [sys.executable, "-m", "pytest", "--qos", "-p", "no:cacheprovider", "-q", "-n", "1"]
    argv += [f"--qos-testbed={lab.testbed}", f"--junitxml={junit}", "mesh.qos.yaml"]
    env = dict(os.environ)
    if package is not None:
        env["PYTHONPATH"] = str(package)
    started = time.monotonic()
    done = subprocess.run(argv, cwd=directory, capture_output=True, text=True, env=env)
    wall = time.monotonic() - started
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    items = [float(t) for t in re.findall(r'<testcase [^>]*time="([0-9.]+)"', junit.read_text())]
    assert len(items) == ITEMS, done.stdout[-2000:]
    measuring = ITEMS * ITEM_SECONDS
    return {
        "wall_s": wall,
        "ratio": wall / measuring,
        "items_ratio": sum(items) / measuring,
        "overhead_s": statistics.median(t - ITEM_SECONDS for t in items),
    }


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def test_session_floor(benchmark: Any, sites: SiteLab) -> None:
    """The least an ssh command costs: `true` through the master (the far login shell)."""
    host = sites.endpoint("site1")
    host.run(["true"], timeout=10)
    benchmark.pedantic(lambda: host.run(["true"], timeout=10), rounds=15, warmup_rounds=1)
    median = float(benchmark.stats.stats.median)
    benchmark.extra_info["session_ms"] = round(median * 1e3, 1)
    print(f"\none ssh command through the master: median {median * 1e3:.0f} ms")


def _library_items(lab: SiteLab, directory: Path, keep: bool) -> list[float]:
    """Each item's overhead (s beyond its measuring) through the library, no pytest."""
    (directory / "mesh.qos.yaml").write_text(textwrap.dedent(MESH))
    specs = load_scenario(directory / "mesh.qos.yaml").tests
    pairs = [(a.name, b.name) for a in lab.sites for b in lab.sites if a is not b]
    tool, took = Iperf3(), []
    for spec in specs:
        for pair in pairs:
            started = time.monotonic()
            with POOL.lending() if keep else contextlib.nullcontext():
                run_test(spec, pair_target(lab.hosts, pair), iperf3=tool)
            took.append(time.monotonic() - started - ITEM_SECONDS)
    POOL.close()
    return took


def test_item_overhead_library(benchmark: Any, sites: SiteLab, tmp_path: Path) -> None:
    """The same 12 items through the library (no pytest, no xdist): what the measuring path
    itself adds per item, servers kept (as a pytest session does) and not kept."""
    runs: dict[str, list[float]] = {}

    def one_round() -> None:
        runs["not kept"] = _library_items(sites, tmp_path, keep=False)
        runs["kept"] = _library_items(sites, tmp_path, keep=True)

    benchmark.pedantic(one_round, rounds=1, warmup_rounds=0)
    medians = {name: statistics.median(values) for name, values in runs.items()}
    benchmark.extra_info.update(
        {f"{k.replace(' ', '_')}_s": round(v, 3) for k, v in medians.items()}
    )
    print(
        f"\nper-item overhead through the library (median of 12): servers kept "
        f"{medians['kept']:.3f} s, not kept {medians['not kept']:.3f} s"
    )


def test_mesh_overhead(benchmark: Any, sites: SiteLab, tmp_path: Path) -> None:
    """12 x 2 s items with -n 1: wall / measuring and the median item's overhead."""
    (tmp_path / "mesh.qos.yaml").write_text(textwrap.dedent(MESH))
    reference = os.environ.get("QOS_REFERENCE")
    ours: list[dict[str, float]] = []
    theirs: list[dict[str, float]] = []

    def one_round() -> None:
        ours.append(_mesh_run(tmp_path, sites, None))
        if reference:
            theirs.append(_mesh_run(tmp_path, sites, Path(reference)))

    benchmark.pedantic(one_round, rounds=RUNS, warmup_rounds=0)
    figures = {key: round(_median(ours, key), 3) for key in ours[0]}
    benchmark.extra_info.update(figures)
    print(
        f"\nmesh of 12 x {ITEM_SECONDS} s items, -n 1 (medians of {RUNS}): wall "
        f"{figures['wall_s']:.1f} s = {figures['ratio']:.2f} x measuring "
        f"({figures['items_ratio']:.2f} x counting the items only), per-item overhead "
        f"{figures['overhead_s']:.2f} s"
    )
    if theirs:
        before = {key: round(_median(theirs, key), 3) for key in theirs[0]}
        benchmark.extra_info.update({f"reference_{key}": value for key, value in before.items()})
        print(
            f"reference {reference}: wall {before['wall_s']:.1f} s = {before['ratio']:.2f} x, "
            f"items {before['items_ratio']:.2f} x, per-item overhead "
            f"{before['overhead_s']:.2f} s; wall ratio ours/reference "
            f"{figures['wall_s'] / before['wall_s']:.3f}"
        )
    print(
        f"goal: <= {GOAL_RATIO} x and <= {GOAL_OVERHEAD} s per item: "
        f"{'met' if figures['ratio'] <= GOAL_RATIO else 'not met'} / "
        f"{'met' if figures['overhead_s'] <= GOAL_OVERHEAD else 'not met'}"
    )
