"""Router lab figures: building and tearing down the topology (target: under 300 ms each).

Run with `pytest benchmarks/bench_lab.py --benchmark-only -p no:cacheprovider -s`; needs root.
"""

from __future__ import annotations

import os
import time
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
from pytest_qos.measure.iperf3 import Iperf3
from pytest_qos.measure.traffic import Traffic
from pytest_qos.probes import Probe, run_probe
from pytest_qos.results import Measurement

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
RATES_MBIT = (10, 50, 100)
WAN_DELAY = "10 ms"  # one way: 20 ms added to every round trip


def test_build_and_tear_down_with_wan_hop(benchmark: Any) -> None:
    """Lab.create(wan={delay}) + destroy(): four namespaces and the userspace delay lines."""
    wan = parse_wan({"delay": "20 ms"})
    kernel_qdiscs()  # probed once per process; not part of a lab's build
    benchmark.pedantic(lambda: Lab.create(wan=wan).destroy(), rounds=ROUNDS, warmup_rounds=1)
    median = float(benchmark.stats.stats.median)
    benchmark.extra_info["build_teardown_wan_median_ms"] = round(median * 1e3, 2)
    print(f"\nbuild + teardown with WAN hop: median {median * 1e3:.1f} ms over {ROUNDS} rounds")
    assert median < WAN_TARGET_S


def _tbf_config(directory: Path, mbit: int) -> Path:
    """Both router interfaces shaped to `mbit` by a tbf with a 50 ms queue."""
    burst = max(16 * 1024, int(mbit * 1e6 / 8 * 0.004))
    path = directory / f"tbf{mbit}.sh"
    path.write_text(
        "#!/bin/sh\nset -eu\n"
        'for dev in "$WAN" "$LAN"; do\n'
        f'  tc qdisc add dev "$dev" root tbf rate {mbit}mbit burst {burst} latency 50ms\n'
        "done\n"
    )
    path.chmod(0o755)
    return path


def _rtt_under_load(lab: Lab, mbit: int) -> Measurement:
    """A udp probe (10 ms for 3 s) beside a UDP load at `mbit` through the path."""
    target = lab.target()
    assert target.server is not None and target.bind is not None
    lab.endpoint("client").run(["ping", "-c", "2", "-i", "0.1", target.host], 10)
    iperf3 = Iperf3()
    load = Traffic(protocol="udp", bitrate=mbit * 1e6, duration=5.0)
    probe = Probe.from_options({"kind": "udp", "interval": "10 ms", "duration": "3 s"})
    server = iperf3.server(target.server, target.bind)
    with server, target.client.spawn(iperf3.command(load, target.host, server.port)) as running:
        time.sleep(0.5)
        measured = run_probe(probe, target)
        running.communicate(timeout=load.timeout)
    return measured


def _goodput(lab: Lab) -> float:
    """TCP goodput (BBR, the kernel default), 4 s after a 1 s warm-up, across the lab."""
    target = lab.target()
    assert target.server is not None and target.bind is not None
    iperf3 = Iperf3()
    flow = Traffic(protocol="tcp", duration=4.0, omit=1.0)
    with iperf3.server(target.server, target.bind) as server:
        measured = iperf3.run(flow, target.host, server.port, endpoint=target.client)
    return measured.metrics["throughput"]


@pytest.mark.parametrize("mbit", RATES_MBIT)
def test_delay_line_accuracy_and_goodput(benchmark: Any, mbit: int, tmp_path: Path) -> None:
    """Added-delay error (probe RTT with the hop - without - 2 × delay) and goodput ratio."""
    config = _tbf_config(tmp_path, mbit)
    wan = parse_wan({"delay": WAN_DELAY})
    added = 2 * wan.up.delay
    figures: dict[str, float] = {}

    def measure() -> None:
        with Lab.create() as plain:
            base = _rtt_under_load(plain, mbit)
        with Lab.create(wan=wan) as lab:
            delayed = _rtt_under_load(lab, mbit)
            report = lab.stop_delay_line()
        for name in ("p50", "p99"):
            error = delayed.metrics[f"latency.{name}"] - base.metrics[f"latency.{name}"] - added
            figures[f"added_delay_error_{name}_ms"] = round(error * 1e3, 3)
        for line in report.splitlines():
            if "late_p99_us" in line:
                way = line.split(":")[0]
                figures[f"{way}_frame_late_p50_us"] = float(
                    line.split("late_p50_us ")[1].split()[0]
                )
                figures[f"{way}_frame_late_p99_us"] = float(
                    line.split("late_p99_us ")[1].split()[0]
                )
        with Lab.create(router_config=config) as shaped:
            through_tbf = _goodput(shaped)
        with Lab.create(router_config=config, wan=wan) as shaped_wan:
            through_line = _goodput(shaped_wan)
        figures["goodput_tbf_mbit"] = round(through_tbf / 1e6, 2)
        figures["goodput_with_delay_line_mbit"] = round(through_line / 1e6, 2)
        figures["goodput_ratio"] = round(through_line / through_tbf, 3)

    benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info.update(figures)
    print(f"\n{mbit} Mbit/s: {figures}")
    assert abs(figures["added_delay_error_p50_ms"]) <= 0.2
    assert abs(figures["added_delay_error_p99_ms"]) <= 0.5
    assert figures["goodput_ratio"] >= 0.95
