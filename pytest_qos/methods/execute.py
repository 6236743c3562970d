"""Methods on a real path: trials through iperf3 (and probes) on a Runner's target; QosResults."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ..bounds import Bound, check_bounds
from ..locks import path_lock
from ..probes import run_probe
from ..results import Measurement, QosResult
from ..runner import Runner
from . import rfc2544, rfc6349, y1541, y1564
from .spec import MethodSpec
from .trial import Flow, Observed


class IperfTrial:
    """A Trial measured for real: each flow's iperf3 client and probe start together."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.count = 0  # trials run, for benchmarks and reports

    def __call__(self, flows: Sequence[Flow]) -> list[Observed]:
        """Run `flows` concurrently; the first error raised by any of them propagates."""
        self.count += 1
        target = self.runner.target
        pairs = self.runner.servers.get(sum(1 for flow in flows if flow.traffic is not None))
        jobs: list[tuple[int, str, Any]] = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=2 * len(flows) or 1) as pool:
            server_index = 0
            for index, flow in enumerate(flows):
                if flow.traffic is not None:
                    port, server = pairs[server_index]
                    server_index += 1
                    future = pool.submit(
                        self.runner.iperf3.run,
                        flow.traffic,
                        target.host,
                        port,
                        endpoint=target.client,
                        server=server,
                    )
                    jobs.append((index, "flow", future))
                if flow.probe is not None:
                    # Concurrent probes each need their own spawned responder, and its port is
                    # fixed in a lab; a running responder (remote target) answers them all.
                    offset = index if target.spawns_servers else 0
                    probe_target = replace(target, responder_port=target.responder_port + offset)
                    jobs.append((index, "probe", pool.submit(run_probe, flow.probe, probe_target)))
            results = [Observed(None, None) for _ in flows]
            for index, role, future in jobs:
                measurement: Measurement = future.result()
                if role == "flow":
                    results[index].flow = measurement
                else:
                    results[index].probe = measurement
        return results


def run_method(
    method: MethodSpec,
    runner: Runner,
    test_id: str,
    expect: dict[str, Bound] | None = None,
    baseline: dict[str, float] | None = None,
) -> QosResult:
    """Run one method test on the runner's target; its own checks, then `expect`'s."""
    trial = IperfTrial(runner)
    ipv6 = ":" in runner.target.host
    extra: list[Measurement] = []
    # One method is one measurement of the path: no other test may share it meanwhile.
    with path_lock(runner.target.name):
        if isinstance(method, rfc2544.Rfc2544):
            outcome = rfc2544.run(method, trial, ipv6=ipv6)
        elif isinstance(method, rfc6349.Rfc6349):
            outcome, transfer = rfc6349.run(method, trial, ipv6=ipv6)
            extra.append(transfer)
        else:
            outcome = y1564.run(method, trial, ipv6=ipv6)
    outcome.details["trials_run"] = trial.count
    result = QosResult(test=test_id, measurements=[outcome.measurement(), *extra])
    result.checks = outcome.checks + check_bounds(result.metrics, expect or {}, baseline)
    return result


def add_y1541(
    result: QosResult, expect: dict[str, Bound], baseline: dict[str, float] | None = None
) -> None:
    """Derive y1541.* from the result's probe and judge `expect` again (a preset's bounds)."""
    if not any(name in y1541.METRICS for name in expect):
        return
    for measurement in result.measurements:
        if measurement.tool.startswith("probe:"):
            measurement.metrics.update(y1541.derive(measurement))
    result.checks = check_bounds(result.metrics, expect, baseline)
