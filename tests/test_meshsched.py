"""The host-aware xdist scheduler: workers in lockstep run disjoint pairs, round after round."""

from __future__ import annotations

import pytest
from mesh_simulation import lockstep, make_scheduler, mesh_collection, optimum, simulate

from pytest_qos.plugin.meshsched import HostAwareScheduling, hosts_of
from pytest_qos.scenario.sites import round_robin


def _scheduler(pytester: pytest.Pytester, workers: int) -> HostAwareScheduling:
    return HostAwareScheduling(pytester.parseconfig("--tx", f"{workers}*popen"))


def test_the_simulations_stand_in_config_schedules_like_pytests() -> None:
    collection = mesh_collection(6)
    assert len(lockstep(make_scheduler(3), collection, 3)) == 10


def test_six_hosts_three_workers_make_ten_disjoint_rounds(pytester: pytest.Pytester) -> None:
    hosts = tuple(f"site{i}" for i in range(1, 7))
    collection = [f"mesh.yaml::tcp[{a}->{b}]" for a, b in round_robin(hosts)]
    rounds = lockstep(_scheduler(pytester, 3), collection, 3)
    assert len(rounds) == 2 * (6 - 1)
    for round_ in rounds:
        used = [host for item in round_ for host in hosts_of(item)]
        assert len(used) == len(set(used)) == 6, round_
    assert sorted(item for round_ in rounds for item in round_) == sorted(collection)


@pytest.mark.parametrize("workers", [2, 8, 16, 25])
def test_fifty_hosts_make_the_round_robin_optimum(pytester: pytest.Pytester, workers: int) -> None:
    """2 tests × 2450 ordered pairs: rounds of disjoint pairs, as many as the optimum."""
    collection = mesh_collection(50, ("tcp", "voice"))
    rounds = lockstep(_scheduler(pytester, workers), collection, workers)
    assert len(rounds) == optimum(len(collection), 50, workers)
    for round_ in rounds:
        used = [host for item in round_ for host in hosts_of(item)]
        assert len(used) == len(set(used)), round_
    assert sorted(item for round_ in rounds for item in round_) == sorted(collection)


@pytest.mark.parametrize("workers", [4, 8, 16])
def test_items_of_uneven_length_stay_within_5_percent_of_the_optimum(
    pytester: pytest.Pytester, workers: int
) -> None:
    """Items 0.8-1.2 times as long as each other: workers drift apart, hosts are locked."""
    collection = mesh_collection(50)
    run = simulate(_scheduler(pytester, workers), collection, workers, spread=0.2)
    assert run.done == len(collection)
    assert run.makespan <= 1.05 * optimum(len(collection), 50, workers)


def test_plain_collections_keep_load_scheduling(pytester: pytest.Pytester) -> None:
    collection = [f"test_x.py::test_{i}" for i in range(40)]
    rounds = lockstep(_scheduler(pytester, 2), collection, 2)
    assert sorted(item for round_ in rounds for item in round_) == sorted(collection)
