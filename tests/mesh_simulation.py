"""The host-aware scheduler driven without xdist: fake workers, in lockstep or in simulated time.

`lockstep` lets every worker finish its item at once (the rounds the scheduler makes).
`simulate` runs items of random length (duration × (1 ± spread)) on workers that start an item
only when both its hosts are free, as the per-host locks make real workers do; the result is
in units of one item's mean time, comparable with the round-robin optimum.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass
from typing import Any

from pytest_qos.plugin.meshsched import HostAwareScheduling, hosts_of
from pytest_qos.scenario.sites import round_robin


class FakeWorker:
    """What the scheduler asks of an xdist worker controller."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.gateway = type("Gateway", (), {"id": name})()
        self.shutting_down = False
        self.received: list[int] = []

    def send_runtest_some(self, indices: list[int]) -> None:
        self.received += indices

    def shutdown(self) -> None:
        self.shutting_down = True


class SchedulerConfig:
    """The little of pytest's config the scheduler reads: `--tx N*popen`."""

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def getvalue(self, name: str) -> Any:
        return [f"{self.workers}*popen"] if name == "tx" else None

    def getoption(self, name: str, default: Any = None) -> Any:
        return default


def make_scheduler(workers: int, cls: Any = HostAwareScheduling) -> Any:
    """A host-aware scheduler (or `cls`, e.g. another version of it) for `workers` workers."""
    return cls(SchedulerConfig(workers))


def mesh_collection(hosts: int, tests: tuple[str, ...] = ("tcp",)) -> list[str]:
    """Node ids of a mesh of `hosts` sites (sim01 ...), every ordered pair per test."""
    names = tuple(f"sim{i:02d}" for i in range(1, hosts + 1))
    return [f"mesh.yaml::{test}[{a}->{b}]" for test in tests for a, b in round_robin(names)]


def optimum(items: int, hosts: int, workers: int) -> int:
    """The round-robin optimum: rounds of min(workers, hosts // 2) disjoint pairs."""
    return math.ceil(items / min(workers, hosts // 2))


def start(scheduler: HostAwareScheduling, collection: list[str], workers: int) -> list[Any]:
    """Workers added, the collection handed in, the first items sent."""
    nodes = [FakeWorker(f"gw{i}") for i in range(workers)]
    for node in nodes:
        scheduler.add_node(node)
    for node in nodes:
        scheduler.add_node_collection(node, collection)
    scheduler.schedule()
    return nodes


def lockstep(
    scheduler: HostAwareScheduling, collection: list[str], workers: int
) -> list[list[str]]:
    """Every worker finishes its item at once; the rounds this makes."""
    nodes = start(scheduler, collection, workers)
    rounds = []
    for _ in range(len(collection)):  # bounded: at least one item per round
        running = [
            (node, scheduler.node2pending[node][0])
            for node in nodes
            if scheduler.node2pending[node]
        ]
        if not running:
            break
        rounds.append([collection[index] for _, index in running])
        for node, index in running:
            scheduler.mark_test_complete(node, index)
    return rounds


@dataclass
class Simulated:
    """What a simulated run took, in item times."""

    makespan: float
    done: int
    waited: float  # worker time spent waiting for a host another worker held


def simulate(
    scheduler: HostAwareScheduling,
    collection: list[str],
    workers: int,
    spread: float = 0.2,
    seed: int = 1,
) -> Simulated:
    """Items of length 1 ± spread; a worker starts its next item once both hosts are free."""
    rng = random.Random(seed)
    nodes = start(scheduler, collection, workers)
    held: dict[str, Any] = {}
    running: dict[Any, int] = {}
    events: list[tuple[float, int, int]] = []
    idle_since = {id(node): 0.0 for node in nodes}
    clock, waited, done = 0.0, 0.0, 0

    def try_start(node: Any) -> None:
        nonlocal waited
        pending = scheduler.node2pending[node]
        if not pending or node in running:
            return
        hosts = hosts_of(collection[pending[0]])
        if any(host in held for host in hosts):
            return
        for host in hosts:
            held[host] = node
        running[node] = pending[0]
        waited += clock - idle_since[id(node)]
        heapq.heappush(
            events, (clock + rng.uniform(1 - spread, 1 + spread), len(events), nodes.index(node))
        )

    for node in nodes:
        try_start(node)
    for _ in range(len(collection) * 2):  # bounded: one event per item
        if not events:
            break
        clock, _, which = heapq.heappop(events)
        node = nodes[which]
        index = running.pop(node)
        for host in hosts_of(collection[index]):
            held.pop(host, None)
        scheduler.mark_test_complete(node, index)
        done += 1
        idle_since[id(node)] = clock
        for waiting in sorted(nodes, key=lambda n: idle_since[id(n)]):
            try_start(waiting)
    return Simulated(clock, done, waited)
