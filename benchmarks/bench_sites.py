"""Site lab figures: ssh overhead, goodput over ssh vs bare iperf3, 6-host mesh makespan.

Run with `pytest benchmarks/bench_sites.py --benchmark-only -p no:cacheprovider -s`; needs root.
"""

from __future__ import annotations

import json
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

from pytest_qos.hosts.endpoints import Netns
from pytest_qos.hosts.ssh import MUX, Ssh, SshOptions
from pytest_qos.lab.sitelab import SiteLab, sites_unavailable_reason
from pytest_qos.measure.iperf3 import Iperf3, parse_json, parse_result
from pytest_qos.measure.traffic import Traffic

UNAVAILABLE = sites_unavailable_reason()
pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(UNAVAILABLE is not None, reason=f"site lab {UNAVAILABLE}"),
]
GOODPUT_RATIO = 0.97
MAKESPAN_FACTOR = 1.25
GOODPUT_SECONDS = 5
GOODPUT_RUNS = 3
MESH_SECONDS = 2


SHAPE = Path(__file__).resolve().parent.parent / "scenarios" / "sites" / "shape.sh"


@pytest.fixture(scope="module")
def sites() -> Iterator[SiteLab]:
    # Links shaped to 200 Mbit/s: goodput is the path's, not this busy 2-core CPU's.
    lab = SiteLab.create(2, router_config=SHAPE)
    try:
        yield lab
    finally:
        lab.destroy()


def test_overhead_with_mux(benchmark: Any, sites: SiteLab) -> None:
    """One remote command through the session's ControlMaster."""
    host = sites.endpoint("site1")
    host.run(["true"], timeout=10)  # the master is up
    benchmark.pedantic(lambda: host.run(["true"], timeout=10), rounds=20, warmup_rounds=1)
    median = float(benchmark.stats.stats.median)
    benchmark.extra_info["mux_median_ms"] = round(median * 1e3, 1)
    print(f"\nssh through the master: median {median * 1e3:.0f} ms")


def test_overhead_fresh_connection(benchmark: Any, sites: SiteLab) -> None:
    """The same command with a new ssh connection (key exchange, login) each time."""
    host = Ssh(SshOptions("site1", config=str(sites.ssh_config)), name="site1", mux=None)
    benchmark.pedantic(lambda: host.run(["true"], timeout=10), rounds=10, warmup_rounds=1)
    median = float(benchmark.stats.stats.median)
    benchmark.extra_info["fresh_median_ms"] = round(median * 1e3, 1)
    print(f"\nssh with a fresh connection: median {median * 1e3:.0f} ms")


def _bare_iperf3(sites: SiteLab, iperf3: str) -> float:
    """iperf3 by hand across the pair: server in site2, client in site1 (ip netns exec)."""
    server = Netns(sites.site("site2").namespace).spawn(
        [iperf3, "-s", "-1", "-B", "198.19.2.2", "-p", "33100"]
    )
    try:
        time.sleep(0.3)
        argv = [iperf3, "-c", "198.19.2.2", "-p", "33100", "--json", "-t", str(GOODPUT_SECONDS)]
        done = Netns(sites.site("site1").namespace).run(argv, timeout=GOODPUT_SECONDS + 10)
        document = parse_json(done.stdout, done.stderr, done.returncode, argv)
        return parse_result(document, argv).metrics["throughput"]
    finally:
        server.stop()


def test_goodput_over_ssh_vs_bare(benchmark: Any, sites: SiteLab) -> None:
    """pytest-qos over ssh (servers and clients in the sites) vs bare iperf3 by hand.

    Both cross the same shaped pair (200 Mbit/s tbf); over ssh the control connection
    must cost the data path nothing.
    """
    tool = Iperf3()
    client, server_host = sites.endpoint("site1"), sites.endpoint("site2")
    traffic = Traffic.from_options({"protocol": "tcp", "duration": f"{GOODPUT_SECONDS} s"})
    ours: list[float] = []
    bare: list[float] = []

    def one_round() -> None:
        with tool.server(server_host, "198.19.2.2") as server:
            measured = tool.run(traffic, "198.19.2.2", server.port, endpoint=client, server=server)
        ours.append(measured.metrics["throughput"])
        bare.append(_bare_iperf3(sites, tool.path))

    benchmark.pedantic(one_round, rounds=GOODPUT_RUNS, warmup_rounds=0)
    ratio = statistics.median(ours) / statistics.median(bare)
    benchmark.extra_info.update(
        ssh_mbit=round(statistics.median(ours) / 1e6, 1),
        bare_mbit=round(statistics.median(bare) / 1e6, 1),
        ratio=round(ratio, 3),
    )
    print(
        f"\ngoodput over ssh {statistics.median(ours) / 1e6:.1f} Mbit/s, bare "
        f"{statistics.median(bare) / 1e6:.1f} Mbit/s, ratio {ratio:.3f}"
    )
    assert ratio >= GOODPUT_RATIO


def _run_mesh(directory: Path, testbed: Path, workers: int, *extra: str) -> dict[str, Any]:
    """Run the mesh file in a pytest of its own; its QoS JSON and per-test call times."""
    report, junit = directory / f"mesh-{workers}.json", directory / f"mesh-{workers}.xml"
    argv = [sys.executable, "-m", "pytest", "--qos", "-p", "no:cacheprovider", "-q"]
    argv += [f"--qos-testbed={testbed}", f"--qos-json={report}", f"--junitxml={junit}", *extra]
    if workers:
        argv += ["-n", str(workers)]
    done = subprocess.run([*argv, "mesh.qos.yaml"], cwd=directory, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]
    calls = [float(t) for t in re.findall(r'<testcase [^>]*time="([0-9.]+)"', junit.read_text())]
    return {"document": json.loads(report.read_text()), "calls": calls}


def _makespan(document: dict[str, Any], lead_in: float) -> float:
    """First item's start to last measurement's end (starts from the measurements' clocks)."""
    starts = sorted(r["measurements"][0]["started"] for r in document["results"])
    return starts[-1] + MESH_SECONDS - (starts[0] - lead_in)


def test_mesh_makespan(benchmark: Any, tmp_path: Path) -> None:
    """6 hosts, 30 ordered pairs of 2 s TCP; -n 3 vs 10 rounds of one measurement each."""
    lab = SiteLab.create(6, router_config=SHAPE)
    try:
        (tmp_path / "mesh.qos.yaml").write_text(
            textwrap.dedent(
                f"""\
                mesh: {{group: sites}}
                tests:
                  tcp: {{traffic: {{protocol: tcp, duration: {MESH_SECONDS} s}}, settle: 0 s}}
                """
            )
        )
        # A round: one measurement item's wall time, run alone (median of a few pairs).
        pairs = "site1->site2 or site2->site1 or site3->site4 or site4->site3 or site5->site6"
        serial = _run_mesh(tmp_path, lab.testbed, 0, "-k", pairs)
        round_s = statistics.median(serial["calls"])
        runs: list[dict[str, Any]] = []
        benchmark.pedantic(
            lambda: runs.append(_run_mesh(tmp_path, lab.testbed, 3)), rounds=1, warmup_rounds=0
        )
        # Before its measurement starts, an item starts its server: round_s - MESH_SECONDS.
        makespan = _makespan(runs[0]["document"], round_s - MESH_SECONDS)
        optimum = 2 * (6 - 1) * round_s
        factor = makespan / optimum
        benchmark.extra_info.update(
            round_s=round(round_s, 2),
            makespan_s=round(makespan, 2),
            optimum_s=round(optimum, 2),
            factor=round(factor, 3),
            items_median_s_under_n3=round(statistics.median(runs[0]["calls"]), 2),
            packing=round(makespan / (10 * statistics.median(runs[0]["calls"])), 3),
        )
        print(
            f"\nmesh of 6 hosts (30 pairs, {MESH_SECONDS} s TCP each), -n 3: {makespan:.1f} s "
            f"vs optimum 10 rounds x {round_s:.2f} s = {optimum:.1f} s: {factor:.2f} x "
            f"(an item took {statistics.median(runs[0]['calls']):.2f} s under -n 3: "
            f"{makespan / (10 * statistics.median(runs[0]['calls'])):.2f} x 10 of those rounds)"
        )
        assert factor <= MAKESPAN_FACTOR
    finally:
        lab.destroy()
        MUX.close()
