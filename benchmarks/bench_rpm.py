"""The rpm method's duration until stability (the draft's defaults), on loopback and in the lab.

Run with `pytest benchmarks/bench_rpm.py --benchmark-only -p no:cacheprovider -s`; the lab
cases need root. Each round is one whole method run: idle probes, then connections added each
second until goodput and then responsiveness are stable (at the earliest after 10 intervals:
2 × MAD − 1 for goodput, MAD − 1 more for RPM) or the 20 s limit. What is printed: wall time,
the interval responsiveness was stable at, the time the run took past it (its probes' replies
and the decision), RPM and confidence.

Measured on the project's shared 2-core machine (loaded by other engineers' runs; load average
4–9 during these figures) — see docs/methods.md for the latest figures quoted.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_qos.hosts.target import local_target
from pytest_qos.lab.routerlab import Lab, lab_unavailable_reason
from pytest_qos.measure.runner import Runner
from pytest_qos.methods import rpm, rpm_run
from pytest_qos.methods.trial import MethodResult

UNAVAILABLE = lab_unavailable_reason()
ROUNDS = 3


def _config(directory: Path, latency: str) -> Path:
    path = directory / f"rpm-bench-tbf-{latency}.sh"
    path.write_text(
        '#!/bin/sh\nset -eu\ntc qdisc add dev "$WAN" root tbf rate 20mbit burst 16k '
        f"latency {latency}\n"
    )
    path.chmod(0o755)
    return path


def _rounds(benchmark: Any, runner: Runner, spec: rpm.Rpm, label: str) -> None:
    """Time ROUNDS whole runs; print and keep the figures of each."""
    runs: list[tuple[float, MethodResult]] = []

    def once() -> None:
        began = time.monotonic()
        result = rpm_run.run(spec, runner)
        runs.append((time.monotonic() - began, result))

    benchmark.pedantic(once, rounds=ROUNDS, warmup_rounds=0)
    rows = []
    for seconds, result in runs:
        phase = result.details["phases"][0]
        stable = phase["stable_at"]
        steps = phase["steps"]
        decided = steps[stable]["start"] + steps[stable]["seconds"] if stable is not None else None
        rows.append(
            {
                "seconds": round(seconds, 2),
                "stable_at": stable,
                "intervals": len(steps),
                "after_stable_s": round(steps[-1]["start"] + steps[-1]["seconds"] - decided, 2)
                if decided is not None
                else None,
                "rpm": round(result.metrics["rpm"]),
                "grade": result.details["grade"],
                "confidence": phase["confidence"],
            }
        )
    benchmark.extra_info.update({"runs": rows})
    median = statistics.median(row["seconds"] for row in rows)
    print(f"\n{label}: median {median:.1f} s per run")
    for row in rows:
        print(f"  {row}")


def test_rpm_on_loopback(benchmark: Any) -> None:
    """The draft's defaults on loopback: no queue, the host's CPU is the bottleneck."""
    spec = rpm.Rpm.from_options({"congestion": "cubic"})
    with Runner(None, local_target()) as runner:
        _rounds(benchmark, runner, spec, "loopback, draft defaults")


@pytest.mark.root
@pytest.mark.skipif(UNAVAILABLE is not None, reason=f"router lab {UNAVAILABLE}")
@pytest.mark.parametrize("latency", ["400ms", "5ms"])
def test_rpm_through_a_20_mbit_tbf(benchmark: Any, tmp_path: Path, latency: str) -> None:
    """The draft's defaults, CUBIC, through a 20 Mbit/s tbf with a deep and a short queue."""
    spec = rpm.Rpm.from_options({"congestion": "cubic"})
    with Lab.create(_config(tmp_path, latency)) as lab, Runner(None, lab.target()) as runner:
        _rounds(benchmark, runner, spec, f"lab, tbf 20 Mbit/s latency {latency}")
