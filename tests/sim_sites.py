"""A pytest plugin for the fifty-site benchmark: mesh items whose endpoints measure nothing.

Loaded with `-p sim_sites` (tests/ on PYTHONPATH). Every scenario item still goes through
collection, the host-aware scheduler, the per-host locks, judging, the result's trip to the
controller and every report; only the measurement is a test double, standing in for
`pytest_qos.scenario.run.run_test`: it returns at once, or after QOS_SIM_SECONDS, figures that
depend only on the pair (a few fail their bound, a few are tool errors). No traffic, no process.

QOS_SIM_STATS=FILE: the controller writes its own costs there at exit (CPU seconds, peak RSS,
wall times of collection and of the run).
"""

from __future__ import annotations

import json
import os
import resource
import time
import zlib
from typing import Any

import pytest

from pytest_qos.errors import MeasurementError
from pytest_qos.judge.bounds import check_bounds
from pytest_qos.plugin import collect
from pytest_qos.results import Measurement, QosResult

SECONDS = float(os.environ.get("QOS_SIM_SECONDS", "0"))
FAIL_PERMILLE, ERROR_PERMILLE = 20, 5  # of pairs: a missed bound, a tool error
_STARTED = time.perf_counter()
_marks: dict[str, float] = {}
_REAL = collect.run_test


def _figures(pair: str, has_probe: bool) -> Measurement:
    """What a pair 'measured': a throughput near 190 Mbit/s, or RTTs near 0.3 ms."""
    draw = zlib.crc32(pair.encode()) % 1000
    if draw < ERROR_PERMILLE:
        raise MeasurementError(f"simulated: host unreachable on {pair}", ["sim", pair])
    shortfall = 0.5 if draw < ERROR_PERMILLE + FAIL_PERMILLE else 1.0
    if has_probe:
        rtt = 0.0003 / shortfall
        metrics = {"latency.p50": rtt, "latency.p99": 1.6 * rtt, "latency.loss": 0.0, "mos": 4.4}
        series = {"rtt": [(i * 0.02, rtt) for i in range(50)]}
        return Measurement("probe:udp", metrics, ["sim", pair], series=series)
    rate = (180 + draw % 20) * 1e6 * shortfall
    metrics = {"throughput": rate, "throughput.sent": rate * 1.001, "retransmits": float(draw)}
    series = {"throughput": [(float(s), rate) for s in range(1, 6)]}
    return Measurement("iperf3", metrics, ["sim", pair], series=series)


def simulated_run_test(spec: Any, target: Any, *, test_id: str | None = None, **_: Any) -> Any:
    """Stands in for run_test: sleep (or not), then a judged result from the pair's figures."""
    began = time.time()
    if SECONDS:
        time.sleep(SECONDS)
    measurement = _figures(target.name, spec.request.probe is not None)
    measurement.started = began
    measurement.details["worker"] = os.environ.get("PYTEST_XDIST_WORKER", "")
    checks = check_bounds(measurement.metrics, spec.expect)
    return QosResult(test=test_id or spec.name, measurements=[measurement], checks=checks)


def pytest_configure(config: pytest.Config) -> None:
    collect.run_test = simulated_run_test  # type: ignore[assignment]
    _marks["configured"] = time.perf_counter()


def pytest_collection_finish(session: pytest.Session) -> None:
    _marks["collected"] = time.perf_counter()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    collect.run_test = _REAL  # in-process (pytester) runs share the module
    path = os.environ.get("QOS_SIM_STATS")
    if not path:
        return
    if hasattr(config, "workerinput"):
        return  # an xdist worker: the controller's costs are measured
    usage = resource.getrusage(resource.RUSAGE_SELF)
    now = time.perf_counter()
    stats = {
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "max_rss_mib": usage.ru_maxrss / 1024,
        "wall_s": now - _STARTED,
        "collect_s": _marks.get("collected", now) - _marks.get("configured", _STARTED),
    }
    with open(path, "w") as out:
        json.dump(stats, out)
