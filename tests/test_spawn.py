"""Spawning without forking pytest: setpriv sets the death signal; fork is the fallback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from process_checks import end_parent_and_child, process_gone

from pytest_qos.hosts import endpoints
from pytest_qos.hosts.endpoints import Local, Netns, wait_until

METHODS = ("setpriv", "fork")

# Spawn from a thread that then ends (as a probe's thread does), or from the main thread, write
# the child's pid, and either wait or SIGKILL this process the instant spawn() returns.
PARENT = textwrap.dedent(
    """
    import os, signal, sys, threading, time
    from pytest_qos.hosts import endpoints

    endpoints.SPAWN_METHOD = sys.argv[2]
    pids = []

    def spawn():
        pids.append(endpoints.Local().spawn(["sleep", "60"]).pid)

    if sys.argv[3] == "thread":
        worker = threading.Thread(target=spawn)
        worker.start()
        worker.join()
    else:
        spawn()
    with open(sys.argv[1] + ".tmp", "w") as out:
        out.write(str(pids[0]))
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    if sys.argv[4] == "die-at-once":
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(60)
    """
)


@pytest.fixture(autouse=True)
def restore_method() -> Any:
    yield
    endpoints.SPAWN_METHOD = "auto"


def _run_parent(tmp_path: Path, method: str, where: str, when: str) -> tuple[Any, int]:
    pidfile = tmp_path / "pid"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(pidfile), method, where, when])
    assert wait_until(pidfile.exists, 15.0), "the parent never wrote the child's pid"
    return parent, int(pidfile.read_text())


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("where", "when"), [("thread", "later"), ("main", "die-at-once")])
def test_child_dies_with_a_sigkilled_parent(
    tmp_path: Path, method: str, where: str, when: str
) -> None:
    parent, child = _run_parent(tmp_path, method, where, when)
    try:
        if when == "later":
            assert not process_gone(child)
            parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert wait_until(lambda: process_gone(child), 3.0), "outlived a SIGKILLed parent"
    finally:
        end_parent_and_child(parent, child)


def test_setpriv_spawn_has_no_preexec_fn(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Python runs in the child: CPython then uses vfork, never a fork of pytest."""
    if endpoints.spawn_method() != "setpriv":
        pytest.skip("this system's setpriv cannot set the death signal")
    seen: list[dict[str, Any]] = []
    real = subprocess.Popen

    def recording(argv: list[str], **options: Any) -> Any:
        seen.append({"argv": argv, **options})
        return real(argv, **options)

    monkeypatch.setattr(subprocess, "Popen", recording)
    process = Local().spawn(["sleep", "5"])
    try:
        assert seen[0]["preexec_fn"] is None
        assert seen[0]["start_new_session"] is True
        assert seen[0]["argv"][1:4] == ["--pdeathsig", "KILL", "--"]
        assert process.argv == ["sleep", "5"]  # what callers and reproduce lines see
        # The pid is the command's own: setpriv exec'd into it.
        assert os.readlink(f"/proc/{process.pid}/exe").endswith("/sleep")
        assert endpoints.TREE_VARIABLE in Path(f"/proc/{process.pid}/environ").read_text()
    finally:
        process.stop()


@pytest.mark.parametrize("method", METHODS)
def test_a_missing_program_raises_as_popen_did(method: str) -> None:
    endpoints.SPAWN_METHOD = method
    with pytest.raises(FileNotFoundError):
        Local().spawn(["/nonexistent/pytest-qos-tool"])
    with pytest.raises(FileNotFoundError):
        Local().run(["pytest-qos-no-such-tool"], timeout=5)


@pytest.mark.parametrize("method", METHODS)
def test_run_output_exit_code_and_environment(method: str) -> None:
    endpoints.SPAWN_METHOD = method
    done = Local().run(["sh", "-c", 'echo "$X"; exit 4'], timeout=10, env={"X": "y"})
    assert (done.returncode, done.stdout) == (4, "y\n")


def test_setpriv_missing_falls_back_to_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(endpoints, "_setpriv", None)
    monkeypatch.setattr(endpoints, "_setpriv_checked", True)
    assert endpoints.spawn_method() == "fork"
    assert Local().run(["true"], timeout=10).returncode == 0
    endpoints.SPAWN_METHOD = "setpriv"
    with pytest.raises(endpoints.MeasurementError, match="setpriv with --pdeathsig"):
        endpoints.spawn_method()


@pytest.mark.root
def test_netns_spawn_goes_through_setpriv(tmp_path: Path) -> None:
    name = f"qos-{os.getpid()}-spawn"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        process = Netns(name).spawn(["sleep", "5"])
        try:
            assert process.argv[:4] == ["ip", "netns", "exec", name]
            # ip enters the namespace, then execs the command: the same pid.
            exe = f"/proc/{process.pid}/exe"
            assert wait_until(lambda: os.readlink(exe).endswith("/sleep"), 5.0)
            inside = os.stat(f"/proc/{process.pid}/ns/net").st_ino
            assert inside == os.stat(f"/run/netns/{name}").st_ino
        finally:
            process.stop()
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)
