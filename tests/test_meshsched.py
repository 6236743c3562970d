"""The host-aware xdist scheduler: workers in lockstep run disjoint pairs, round after round."""

from __future__ import annotations

import pytest

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


def _lockstep(pytester: pytest.Pytester, collection: list[str], workers: int) -> list[list[str]]:
    """Run the schedule with every worker finishing its item at once; the rounds it makes."""
    scheduler = HostAwareScheduling(pytester.parseconfig("--tx", f"{workers}*popen"))
    nodes = [FakeWorker(f"gw{i}") for i in range(workers)]
    for node in nodes:
        scheduler.add_node(node)
    for node in nodes:
        scheduler.add_node_collection(node, collection)
    scheduler.schedule()
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


def test_six_hosts_three_workers_make_ten_disjoint_rounds(pytester: pytest.Pytester) -> None:
    hosts = tuple(f"site{i}" for i in range(1, 7))
    collection = [f"mesh.yaml::tcp[{a}->{b}]" for a, b in round_robin(hosts)]
    rounds = _lockstep(pytester, collection, 3)
    assert len(rounds) == 2 * (6 - 1)
    for round_ in rounds:
        used = [host for item in round_ for host in hosts_of(item)]
        assert len(used) == len(set(used)) == 6, round_
    assert sorted(item for round_ in rounds for item in round_) == sorted(collection)


def test_plain_collections_keep_load_scheduling(pytester: pytest.Pytester) -> None:
    collection = [f"test_x.py::test_{i}" for i in range(40)]
    rounds = _lockstep(pytester, collection, 2)
    assert sorted(item for round_ in rounds for item in round_) == sorted(collection)
