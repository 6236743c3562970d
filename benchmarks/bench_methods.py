"""RFC 2544 search through tbf shapers: trials taken and accuracy against the configured rate.

Run with `pytest benchmarks/bench_methods.py --benchmark-only -p no:cacheprovider -s`; needs
root. Targets (the issue's 10, 30 and 80 Mbit/s): every search within 2 % of the shaper's rate
(in the shaper's terms, i.e. frames without FCS) in at most 10 trials.

Measured on the project's 2-core machine: 3-5 trials, errors -0.6 % .. +0.8 % at 10/30/80 Mbit/s
(1518 B) and 30 Mbit/s (512 B). At 200 Mbit/s the host itself loses a few datagrams in some 1 s
trials below the shaper's rate (0.04-0.4 % at 183-196 Mbit/s, a shared machine's receive
buffers), and RFC 2544 with max_loss 0 rightly reports that: -4 .. -10 %, reported, not held.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_qos.lab.routerlab import Lab, lab_unavailable_reason
from pytest_qos.measure.runner import Runner
from pytest_qos.methods import rfc2544
from pytest_qos.methods.execute import IperfTrial

UNAVAILABLE = lab_unavailable_reason()
pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(UNAVAILABLE is not None, reason=f"router lab {UNAVAILABLE}"),
]
ROUNDS = 3
MAX_TRIALS = 10
TOLERANCE = 0.02


def _config(directory: Path, mbit: int) -> Path:
    burst = max(4542, int(mbit * 1e6 / 8 * 0.004))
    path = directory / f"methods-bench-tbf-{mbit}.sh"
    path.write_text(
        f'#!/bin/sh\nset -eu\ntc qdisc add dev "$WAN" root tbf rate {mbit}mbit '
        f"burst {burst} latency 5ms\n"
    )
    path.chmod(0o755)
    return path


@pytest.mark.parametrize(
    ("mbit", "frame"), [(10, 1518), (30, 1518), (80, 1518), (200, 1518), (30, 512)]
)
def test_rfc2544_search_through_tbf(benchmark: Any, tmp_path: Path, mbit: int, frame: int) -> None:
    """One search per round over 1 Mbit/s .. 1 Gbit/s, 1 s trials, 1 % resolution."""
    spec = rfc2544.Rfc2544(
        low=1e6, high=1e9, frame_sizes=(frame,), trial=1.0, max_trials=MAX_TRIALS
    )
    searches: list[dict[str, Any]] = []
    with Lab.create(_config(tmp_path, mbit)) as lab, Runner(None, lab.target()) as runner:
        trial = IperfTrial(runner)
        benchmark.pedantic(
            lambda: searches.append(rfc2544.run(spec, trial).details["searches"][0]),
            rounds=ROUNDS,
            warmup_rounds=0,
        )
    # The qdisc counts frame - 4 bytes (no FCS): compare in its terms.
    errors = [s["throughput"] * (frame - 4) / frame / (mbit * 1e6) - 1 for s in searches]
    trials = [len(s["trials"]) for s in searches]
    benchmark.extra_info.update(
        {
            "rate_mbit": mbit,
            "frame": frame,
            "trials": trials,
            "error_percent": [round(100 * e, 2) for e in errors],
        }
    )
    print(
        f"\ntbf {mbit} Mbit/s, {frame} B frames: trials {trials}, error "
        f"{', '.join(f'{100 * e:+.2f} %' for e in errors)}"
    )
    for search in searches:
        if len(search["trials"]) > 5 or not search["converged"]:
            steps = [(round(t["rate"] / 1e6, 2), round(t["loss"], 2)) for t in search["trials"]]
            print(f"  long search (Mbit/s, loss %): {steps}")
    assert max(trials) <= MAX_TRIALS
    if mbit <= 80:
        assert max(abs(e) for e in errors) <= TOLERANCE
