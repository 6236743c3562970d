"""Path locks (issue 15): exclusive across removals, and no lock file left behind."""

from __future__ import annotations

import threading
import time

from pytest_qos.hosts.locks import _lock_file, path_lock


def test_lock_file_is_removed_when_released() -> None:
    name = f"faults-{time.monotonic_ns()}"
    with path_lock(name):
        assert _lock_file(name).exists()
    assert not _lock_file(name).exists()


def test_lock_stays_exclusive_while_files_come_and_go() -> None:
    name = f"faults-{time.monotonic_ns()}"
    inside = 0
    most = 0
    guard = threading.Lock()

    def measure() -> None:
        nonlocal inside, most
        for _ in range(6):
            with path_lock(name, timeout=30):
                with guard:
                    inside += 1
                    most = max(most, inside)
                time.sleep(0.001)
                with guard:
                    inside -= 1

    workers = [threading.Thread(target=measure) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert most == 1
    assert not _lock_file(name).exists()
