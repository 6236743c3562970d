"""An xdist scheduler for mesh items: hand each worker a pair whose hosts no other worker uses.

pytest-xdist's `load` scheduler sends runs of consecutive items; mesh items that share a host
then wait on each other's host lock while disjoint pairs sit unscheduled. This one keeps two
items queued per worker (the one running and the next) and picks the next so that it shares
no host with what the other workers will run at the same time: their item of the same rank
(workers run in near lockstep when measurements last alike). Host locks still guarantee
exclusivity; this only keeps workers from queueing behind them.
"""

from __future__ import annotations

import re
from typing import Any

from xdist.scheduler import LoadScheduling  # type: ignore[import-untyped]

_PAIR = re.compile(r"\[(?P<source>[^\[\]]+?)->(?P<sink>[^\[\]]+)\]$")
QUEUED = 2  # xdist needs the next item before it finishes the current one


def hosts_of(nodeid: str) -> frozenset[str]:
    """The two hosts of a mesh or path item's id (`FILE::tcp[a->b]`), else none."""
    match = _PAIR.search(nodeid)
    return frozenset(match.groups()) if match else frozenset()


class HostAwareScheduling(LoadScheduling):  # type: ignore[misc]
    """`load` scheduling, but mesh items go out one at a time to workers with free hosts."""

    collection: list[str] | None  # node ids, the same on every worker (set by schedule)
    pending: list[int]  # indices into collection not yet sent

    def __init__(self, config: Any, log: Any = None) -> None:
        super().__init__(config, log)
        self.host_aware = False
        self._sent: dict[Any, int] = {}  # worker -> items sent so far (the next item's rank)
        self._rank: dict[int, tuple[Any, int]] = {}  # item index -> (worker, rank)

    def schedule(self) -> None:
        """First distribution: host-aware when the collection has pair items."""
        if self.collection is None and self.collection_is_completed:
            collection: list[str] = next(iter(self.node2collection.values()), [])
            self.host_aware = any(hosts_of(nodeid) for nodeid in collection)
        if not self.host_aware:
            super().schedule()
            return
        if self.collection is not None:
            for node in self.nodes:
                self.check_schedule(node)
            return
        if not self._check_nodes_have_same_collection():
            self.log("**Different tests collected, aborting run**")
            return
        self.collection = next(iter(self.node2collection.values()))
        self.pending[:] = range(len(self.collection))
        for _ in range(QUEUED):
            for node in self.nodes:
                self._send_one(node)
        if not self.pending:
            for node in self.nodes:
                node.shutdown()

    def check_schedule(self, node: Any, duration: float = 0) -> None:
        """Keep QUEUED items at each worker; shut it down when nothing is left."""
        if not self.host_aware:
            super().check_schedule(node, duration)
            return
        if node.shutting_down:
            return
        if not self.pending:
            node.shutdown()
            return
        while self.pending and len(self.node2pending[node]) < QUEUED:
            self._send_one(node)

    def _send_one(self, node: Any) -> None:
        """Send the first pending item sharing no host with the other workers' same-rank items."""
        assert self.collection is not None
        rank = self._sent.get(node, 0)
        busy: set[str] = set()
        for other, queued in self.node2pending.items():
            if other is node:
                continue
            for index in queued:
                if self._rank.get(index, (other, -1))[1] == rank:  # runs alongside this one
                    busy |= hosts_of(self.collection[index])
        best, best_clash = 0, None
        for position, index in enumerate(self.pending):
            clash = len(hosts_of(self.collection[index]) & busy)
            if best_clash is None or clash < best_clash:
                best, best_clash = position, clash
            if clash == 0:
                break
        index = self.pending.pop(best)
        self._rank[index] = (node, rank)
        self._sent[node] = rank + 1
        self.node2pending[node].append(index)
        node.send_runtest_some([index])
