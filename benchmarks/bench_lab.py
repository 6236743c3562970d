"""Router lab figures: building and tearing down the topology (target: under 300 ms each).

The WAN delay line's accuracy and limits are measured in benchmarks/bench_wan.py.

Run with `pytest benchmarks/bench_lab.py --benchmark-only -p no:cacheprovider -s`; needs root.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pytest_qos.lab.routerlab import (
    Lab,
    kernel_qdiscs,
    lab_namespaces,
    lab_unavailable_reason,
)
from pytest_qos.lab.wan import parse_wan

GOOD = Path(__file__).resolve().parent.parent / "scenarios" / "router-lab" / "good.sh"
TARGET_S = 0.300
ROUNDS = 20

UNAVAILABLE = lab_unavailable_reason()
pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(UNAVAILABLE is not None, reason=f"router lab {UNAVAILABLE}"),
]


def _check(benchmark: Any, name: str) -> None:
    """Record the median and hold it to the target."""
    median = float(benchmark.stats.stats.median)
    benchmark.extra_info[f"{name}_median_ms"] = round(median * 1e3, 2)
    print(f"\n{name}: median {median * 1e3:.1f} ms over {ROUNDS} rounds")
    assert median < TARGET_S


def test_build_topology(benchmark: Any) -> None:
    """Lab.create() without a config: sweep, namespaces, veths, addresses, routes, sysctls."""
    built: list[Lab] = []
    benchmark.pedantic(
        lambda: built.append(Lab.create()),
        teardown=lambda: built.pop().destroy(),
        rounds=ROUNDS,
        warmup_rounds=1,
    )
    _check(benchmark, "build")


def test_build_topology_with_good_config(benchmark: Any) -> None:
    """Lab.create(router_config=good.sh): the topology plus a two-interface htb config."""
    built: list[Lab] = []
    benchmark.pedantic(
        lambda: built.append(Lab.create(router_config=GOOD)),
        teardown=lambda: built.pop().destroy(),
        rounds=ROUNDS,
        warmup_rounds=1,
    )
    _check(benchmark, "build_with_config")


def test_tear_down_topology(benchmark: Any) -> None:
    """Lab.destroy(): kill what runs inside, delete three namespaces, wait until they are gone."""
    built: list[Lab] = []
    benchmark.pedantic(
        lambda: built.pop().destroy(),
        setup=lambda: built.append(Lab.create(router_config=GOOD)),
        rounds=ROUNDS,
        warmup_rounds=1,
    )
    _check(benchmark, "destroy")
    assert not [name for name in lab_namespaces() if name.startswith(f"qos-{os.getpid()}-")]


# -- the WAN hop ---------------------------------------------------------------------------

WAN_TARGET_S = 0.150  # build + teardown of a lab with a WAN hop (issue 12)


def test_build_and_tear_down_with_wan_hop(benchmark: Any) -> None:
    """Lab.create(wan={delay}) + destroy(): four namespaces and the userspace delay lines."""
    wan = parse_wan({"delay": "20 ms"})
    kernel_qdiscs()  # probed once per process; not part of a lab's build
    benchmark.pedantic(lambda: Lab.create(wan=wan).destroy(), rounds=ROUNDS, warmup_rounds=1)
    median = float(benchmark.stats.stats.median)
    benchmark.extra_info["build_teardown_wan_median_ms"] = round(median * 1e3, 2)
    print(f"\nbuild + teardown with WAN hop: median {median * 1e3:.1f} ms over {ROUNDS} rounds")
    assert median < WAN_TARGET_S
