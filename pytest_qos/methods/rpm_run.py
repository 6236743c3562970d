"""`rpm:` on a real path: the idle probes, then each phase's intervals, decided as they end.

Every interval: add a load-generating connection per direction, start that interval's foreign
probes (at the draft's rate, capped to its share of the goodput so far), and at its end read
the load's goodput and RTTs; then replay the algorithm (responsiveness.assess) over the
intervals so far. A phase ends once responsiveness is stable, or at its time limit.
"""

from __future__ import annotations

import time

from ..measure.runner import Runner
from .responsiveness import Assessment, Interval, assess, probe_rate
from .rpm import Phase, Rpm, outcome
from .rpm_load import Load
from .rpm_probe import Prober
from .trial import MethodResult

CHECK_EVERY = 0.1  # s between health checks of the load while an interval runs


def run(spec: Rpm, runner: Runner) -> MethodResult:
    """The whole method on the runner's target: idle latency, then each phase in turn."""
    with Prober(runner, spec) as prober:
        idle = prober.idle()
        phases = [run_phase(spec, runner, prober, directions) for directions in spec.phases]
    return outcome(spec, idle, phases)


def run_phase(spec: Rpm, runner: Runner, prober: Prober, directions: tuple[str, ...]) -> Phase:
    """One phase: load ramped interval by interval until stable or the time limit."""
    load = Load(runner, spec, directions)
    steps: list[Interval] = []
    try:
        load.start()
        boundary = load.started
        for index in range(spec.intervals):
            # Each interval lasts `interval` from its real start: a late one is never caught
            # up on by shortening the next.
            start = boundary
            known = min(steps[-1].goodput.values()) if steps else None
            rate = probe_rate(known, spec.probe_rate, spec.probe_share, spec.interval)
            sent = prober.launch(index, rate, spec.interval)
            load.add()
            _wait(start + spec.interval, load)
            goodput, loaded = load.read()
            boundary = time.monotonic()
            steps.append(
                Interval(
                    index=index,
                    start=start - load.started,
                    seconds=boundary - start,
                    connections=load.count,
                    goodput=goodput,
                    loaded=loaded,
                    sent=sent,
                    rate=rate,
                )
            )
            prober.collect(steps, load.wall)
            if _assess(spec, steps).done:
                break
        # The last batches' replies come back through the loaded path: the load stays on.
        prober.collect(steps, load.wall, wait=True)
    finally:
        load.close()
    return Phase(directions, steps, _assess(spec, steps), started=load.wall)


def _assess(spec: Rpm, steps: list[Interval]) -> Assessment:
    return assess(steps, spec.moving_average, spec.tolerance, spec.trim)


def _wait(until: float, load: Load) -> None:
    """Sleep until `until` (monotonic), checking the load's connections meanwhile."""
    while True:
        load.check()
        left = until - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(CHECK_EVERY, left))
