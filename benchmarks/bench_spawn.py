"""Spawning without forking pytest (issue 21 goal 4): setpriv vs the fork path, side by side.

Each figure interleaves both methods round by round in this one pytest process (the process
whose size a fork copies), so both see the same machine load; medians and their ratio are
printed and kept in extra_info. Run with
`pytest benchmarks/bench_spawn.py --benchmark-only -p no:cacheprovider -s`; the lab figures
need root.
"""

from __future__ import annotations

import os
import resource
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pytest_qos.hosts import endpoints
from pytest_qos.hosts.endpoints import Local
from pytest_qos.lab.routerlab import Lab, kernel_qdiscs, lab_unavailable_reason
from pytest_qos.lab.wan import parse_wan

METHODS = ("fork", "setpriv")  # fork: today's main (preexec_fn); setpriv: vfork + setpriv
SPAWN_ROUNDS = 60
LAB_ROUNDS = 15
LAB_TARGET_S = 0.100  # build + teardown of the router lab
WAN_TARGET_S = 0.150  # ... with a WAN hop (the userspace delay line here: no netem)

UNAVAILABLE = lab_unavailable_reason()


@pytest.fixture(autouse=True)
def method_restored() -> Iterator[None]:
    yield
    endpoints.SPAWN_METHOD = "auto"


def _side_by_side(action: Callable[[], object], rounds: int) -> dict[str, list[float]]:
    """Seconds per call of `action` under each method, interleaved round by round."""
    action()  # warm-up: the setpriv check, page cache
    times: dict[str, list[float]] = {method: [] for method in METHODS}
    for _ in range(rounds):
        for method in METHODS:
            endpoints.SPAWN_METHOD = method
            started = time.perf_counter()
            action()
            times[method].append(time.perf_counter() - started)
    return times


def _report(benchmark: Any, name: str, times: dict[str, list[float]]) -> dict[str, float]:
    medians = {method: statistics.median(values) for method, values in times.items()}
    ratio = medians["setpriv"] / medians["fork"]
    load = os.getloadavg()[0]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    benchmark.extra_info.update(
        {f"{name}_{method}_median_ms": round(value * 1e3, 2) for method, value in medians.items()}
    )
    benchmark.extra_info.update(
        {f"{name}_ratio": round(ratio, 3), "load_average": load, "pytest_max_rss_mib": rss}
    )
    print(
        f"\n{name}: fork {medians['fork'] * 1e3:.1f} ms, setpriv {medians['setpriv'] * 1e3:.1f} "
        f"ms (median of {len(times['fork'])}), ratio {ratio:.2f}; load average {load:.1f}, "
        f"this pytest's max RSS {rss:.0f} MiB"
    )
    return medians


@pytest.mark.parametrize("ballast_mib", [0, 256])
def test_spawn_cost(benchmark: Any, ballast_mib: int) -> None:
    """One `run(["true"])`: spawn, wait, reap; with 256 MiB more in this process, as a
    session that loaded matplotlib and holds many results has: fork copies its page tables."""
    if endpoints.spawn_method() != "setpriv":
        pytest.skip("setpriv cannot set the death signal here")
    ballast = bytearray(ballast_mib * 2**20)
    for page in range(0, len(ballast), 4096):
        ballast[page] = 1  # resident, not just reserved
    times: dict[str, dict[str, list[float]]] = {}
    benchmark.pedantic(
        lambda: times.update(
            run=_side_by_side(lambda: Local().run(["true"], timeout=10), SPAWN_ROUNDS)
        ),
        rounds=1,
        iterations=1,
    )
    medians = _report(benchmark, f"spawn_{ballast_mib}mib_more", times["run"])
    del ballast
    assert medians["setpriv"] < medians["fork"]


@pytest.mark.root
@pytest.mark.skipif(UNAVAILABLE is not None, reason=f"router lab {UNAVAILABLE}")
@pytest.mark.parametrize("hop", ["no WAN", "WAN hop"])
def test_lab_build_and_teardown(benchmark: Any, hop: str) -> None:
    """Lab.create() + destroy(); with a WAN hop, the delay line's start and stop too."""
    wan = parse_wan({"delay": "20 ms"}) if hop == "WAN hop" else None
    kernel_qdiscs()  # probed once per process, not part of a lab's build
    times: dict[str, dict[str, list[float]]] = {}
    benchmark.pedantic(
        lambda: times.update(lab=_side_by_side(lambda: Lab.create(wan=wan).destroy(), LAB_ROUNDS)),
        rounds=1,
        iterations=1,
    )
    name = "lab_wan" if wan else "lab"
    medians = _report(benchmark, name, times["lab"])
    assert medians["setpriv"] <= (WAN_TARGET_S if wan else LAB_TARGET_S)
