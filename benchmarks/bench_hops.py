"""Per-hop figures: the hops probe's RTT to each router against ping's, and the diagnosis's cost.

Run with `pytest benchmarks/bench_hops.py --benchmark-only -p no:cacheprovider -s` (root: it
builds a three-router chain). Each figure is printed and kept in the benchmark's extra_info.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_qos.diagnose import Diagnosis
from pytest_qos.lab.routerlab import Lab, lab_unavailable_reason
from pytest_qos.lab.spec import RouterSpec
from pytest_qos.probes import Probe, run_probe
from pytest_qos.probes.icmp import parse_ping
from pytest_qos.scenario.reader import load_scenario
from pytest_qos.scenario.run import run_test

CHAIN = Path(__file__).parents[1] / "scenarios" / "chain"
AGREEMENT_S = 100e-6  # the limit: per-hop p50 within 100 µs of ping's
ROUNDS = 3  # interleaved runs of each
UNAVAILABLE = lab_unavailable_reason()
pytestmark = pytest.mark.skipif(UNAVAILABLE is not None, reason=f"router lab {UNAVAILABLE}")


def _once(benchmark: Any, function: Any) -> Any:
    return benchmark.pedantic(function, rounds=1, iterations=1, warmup_rounds=0)


@pytest.fixture(scope="module")
def quiet_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Three routers that only forward; their ICMP rate limits off, so 10 probes/s per hop
    measure the method, not the limit (the per-hop probe's defaults stay under it)."""
    config = tmp_path_factory.mktemp("chain") / "unlimited.sh"
    config.write_text(
        "#!/bin/sh\nsysctl -q -w net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0\n"
    )
    config.chmod(0o755)
    with Lab.create(routers=[RouterSpec(name, config) for name in ("edge", "core", "far")]) as lab:
        yield lab


def _ping_p50(lab: Lab, address: str) -> float:
    ping = ["ping", "-n", "-i", "0.1", "-c", "50", "-W", "1", address]
    done = lab.endpoint("client").run(ping, timeout=30)
    replies = sorted(rtt for _, rtt in parse_ping(done.stdout, 0.1, 1.0)["replies"])
    return replies[(len(replies) - 1) // 2]  # the lower median, as the probe's nearest rank


def _hop_p50s(lab: Lab, ipv6: bool) -> list[float]:
    probe = Probe.from_options({"kind": "hops", "interval": "100 ms", "count": 50})
    measured = run_probe(probe, lab.target(ipv6=ipv6))
    return [row["rtt_p50"] for row in measured.details["path"]]


@pytest.mark.parametrize("ipv6", [False, True], ids=["ipv4", "ipv6"])
def test_per_hop_rtt_agrees_with_ping_to_each_router(
    benchmark: Any, quiet_chain: Lab, ipv6: bool
) -> None:
    """Idle: each hop's p50 (50 probes at 10/s) against ping's to that hop's address."""
    lab = quiet_chain
    hops = [router.addresses.lan6 if ipv6 else router.addresses.lan for router in lab.routers]
    hops.append(lab.addresses.server6 if ipv6 else lab.addresses.server)
    differences: list[list[float]] = [[] for _ in hops]

    def measure() -> None:
        for _ in range(ROUNDS):  # interleaved: the machine's load shifts both alike
            probe_p50s = _hop_p50s(lab, ipv6)
            for index, address in enumerate(hops):
                differences[index].append(probe_p50s[index] - _ping_p50(lab, address))

    _once(benchmark, measure)
    medians = [statistics.median(values) for values in differences]
    benchmark.extra_info.update(
        {f"hop{i + 1}_minus_ping_us": m * 1e6 for i, m in enumerate(medians)}
    )
    print(
        f"\nhops probe p50 - ping p50 ({'IPv6' if ipv6 else 'IPv4'}, median of {ROUNDS} "
        f"interleaved runs): "
        + ", ".join(f"hop {i + 1} {m * 1e6:+.1f} µs" for i, m in enumerate(medians))
    )
    assert all(abs(median) <= AGREEMENT_S for median in medians), medians


def test_what_the_diagnosis_step_adds(benchmark: Any) -> None:
    """A failing voice test across a bloated core and a re-marking far router: its time with
    the diagnosis (idle path, path under the test's load) against without."""
    scenario = load_scenario(CHAIN / "chain.yaml")
    spec = next(test for test in scenario.tests if test.name == "voice-keeps-priority")
    routers = [
        RouterSpec("edge", CHAIN / "edge.sh"),
        RouterSpec("core", CHAIN / "core-bloated.sh"),
        RouterSpec("far", CHAIN / "far-remarks.sh"),
    ]
    figures: dict[str, list[float]] = {"without": [], "with": [], "probing": []}

    def measure() -> None:
        with Lab.create(routers=routers) as lab:
            for _ in range(2):
                for when in ("never", "failed"):
                    started = time.monotonic()
                    result = run_test(spec, lab.target(), diagnosis=Diagnosis(when=when))
                    took = time.monotonic() - started
                    assert not result.passed
                    figures["without" if when == "never" else "with"].append(took)
                    if result.diagnosis_time is not None:
                        figures["probing"].append(result.diagnosis_time)

    _once(benchmark, measure)
    without, with_ = statistics.median(figures["without"]), statistics.median(figures["with"])
    probing = statistics.median(figures["probing"])
    benchmark.extra_info.update(
        {"test_s": without, "with_diagnosis_s": with_, "probing_s": probing}
    )
    print(
        f"\nfailing voice test: {without:.1f} s without a diagnosis, {with_:.1f} s with "
        f"(+{with_ - without:.1f} s; per-hop probing reported {probing:.1f} s), medians of 2"
    )
    assert probing <= with_ - without + 1.0
