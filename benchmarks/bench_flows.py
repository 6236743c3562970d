"""Flows window accuracy: the flows' wire rates through a tbf, summed, over the tbf's rate.

One common window (settle excluded, computed from iperf3's interval data) should add up to
the shaper's rate: within 2 % below, and above only by the tbf's burst and the receivers'
read timing. Run with
`pytest benchmarks/bench_flows.py --benchmark-only -p no:cacheprovider -s`; needs root.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_qos.lab.routerlab import Lab, lab_unavailable_reason
from pytest_qos.measure.iperf3 import Iperf3
from pytest_qos.measure.request import FlowsRequest
from pytest_qos.measure.runner import Runner
from pytest_qos.measure.traffic import Traffic

ROUNDS = 3
WINDOW_S = 5.0
SETTLE_S = 1.0

UNAVAILABLE = lab_unavailable_reason()
pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(UNAVAILABLE is not None, reason=f"router lab {UNAVAILABLE}"),
]


@pytest.fixture(params=[10, 50], ids=lambda mbit: f"{mbit}mbit")
def shaped(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Lab, float]]:
    """The lab with one tbf each way at the given rate (burst: rate × 4 ms, at least 16 KiB)."""
    mbit = int(request.param)
    burst = max(16 * 1024, mbit * 1_000_000 // 8 * 4 // 1000)
    config = tmp_path / "flows-bench-tbf.sh"
    config.write_text(
        '#!/bin/sh\nset -eu\nfor dev in "$WAN" "$LAN"; do\n'
        f'\ttc qdisc add dev "$dev" root handle 1: tbf rate {mbit}mbit burst {burst} '
        "latency 100ms\ndone\n"
    )
    config.chmod(0o755)
    lab = Lab.create(router_config=config)
    try:
        yield lab, mbit * 1e6
    finally:
        lab.destroy()


def test_window_sum_of_wire_rates(benchmark: Any, shaped: tuple[Lab, float]) -> None:
    """UDP video at 40 % of the rate, 2 CUBIC bulk streams, 64 kbit/s voice: sum / rate."""
    lab, rate = shaped
    flows = {
        "video": Traffic(protocol="udp", bitrate=0.4 * rate),
        "bulk": Traffic(protocol="tcp", streams=2, congestion="cubic"),
        "voice": Traffic(protocol="udp", bitrate=64e3, length=160),
    }
    ratios: list[float] = []

    def once() -> None:
        with Runner(Iperf3(), lab.target()) as runner:
            request = FlowsRequest(flows=flows, settle=SETTLE_S, duration=WINDOW_S)
            result = runner.run("bench", request)
        wire = sum(result.metrics[f"{name}.throughput.wire"] for name in flows)
        ratios.append(wire / rate)

    benchmark.pedantic(once, rounds=ROUNDS, iterations=1)
    benchmark.extra_info["sum_over_rate"] = [round(r, 4) for r in ratios]
    benchmark.extra_info["median"] = round(statistics.median(ratios), 4)
    print(f"\n{rate / 1e6:g} Mbit/s: sum of wire rates / rate = {[f'{r:.4f}' for r in ratios]}")
    assert all(0.98 <= ratio <= 1.02 for ratio in ratios)
