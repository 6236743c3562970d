"""Processes die with pytest, from any thread, with all their descendants (issue 15)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from process_checks import end_parent_and_child, process_gone

from pytest_qos.hosts.endpoints import TREE_VARIABLE, Local, tagged, wait_until

SPAWN_FROM_A_THREAD = textwrap.dedent(
    """
    import sys, threading, time
    from pytest_qos.hosts.endpoints import Local

    def spawn():
        process = Local().spawn(["sleep", "60"])
        with open(sys.argv[1], "w") as out:
            out.write(str(process.pid))

    worker = threading.Thread(target=spawn)
    worker.start()
    worker.join()  # the spawning thread has ended, as a probe thread does
    time.sleep(60)
    """
)


def test_process_spawned_from_an_ended_thread_dies_with_a_sigkilled_parent(
    tmp_path: Path,
) -> None:
    pidfile = tmp_path / "pid"
    parent = subprocess.Popen([sys.executable, "-c", SPAWN_FROM_A_THREAD, str(pidfile)])
    try:
        assert wait_until(lambda: pidfile.exists() and pidfile.read_text() != "", 10.0)
        child = int(pidfile.read_text())
        assert not process_gone(child)  # alive while its parent lives, though its thread ended
        parent.send_signal(signal.SIGKILL)
        parent.wait(5)
        assert wait_until(lambda: process_gone(child), 3.0), "outlived a SIGKILLed parent"
    finally:
        written = pidfile.read_text() if pidfile.exists() else ""
        end_parent_and_child(parent, int(written) if written else None)


def test_spawn_from_a_thread_returns_a_working_process() -> None:
    results: list[str] = []

    def spawn() -> None:
        results.append(Local().run(["echo", "hi"], timeout=5.0).stdout)

    worker = threading.Thread(target=spawn)
    worker.start()
    worker.join(10)
    assert results == ["hi\n"]


def test_stop_kills_descendants_that_left_the_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    script = (
        "import os, sys, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        f"    open({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
        "    time.sleep(60)\n"
        "    os._exit(0)\n"
        "time.sleep(60)\n"
    )
    process = Local().spawn([sys.executable, "-c", script])
    assert TREE_VARIABLE in Path(f"/proc/{process.pid}/environ").read_text()
    assert wait_until(lambda: pidfile.exists() and pidfile.read_text() != "", 10.0)
    grandchild = int(pidfile.read_text())
    assert set(tagged(process.tag)) == {process.pid, grandchild}
    process.stop(grace=0.2)
    assert wait_until(lambda: process_gone(grandchild), 3.0)


def test_run_passes_environment_without_env_argv(tmp_path: Path) -> None:
    """A program under a path with '=' runs (the lab's router config used `env A=B path`)."""
    folder = tmp_path / "cfg=v2"
    folder.mkdir()
    program = folder / "x.sh"
    program.write_text('#!/bin/sh\necho "ran with LAN=$LAN"\n')
    program.chmod(0o755)
    completed = Local().run([str(program)], timeout=5.0, env={"LAN": "veth0"})
    assert completed.stdout == "ran with LAN=veth0\n"
