"""Output files under attack and neglect (issue 23): a symlink another user planted in a sticky
directory, a FIFO nobody reads, errors that name the wrong file or land on pytest's line."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_qos.store import output
from pytest_qos.store.output import OutputRefused, write_output

pytest_plugins = ["pytester"]
VALUES = (
    "def test_a(qos_check):\n    qos_check({'throughput': 5e6}, {'throughput': '>= 1 Mbit/s'})\n"
)
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("useradd") is None, reason="needs root and useradd"
)


@pytest.fixture
def other_user() -> Iterator[str]:
    """A throwaway system user, removed afterwards: the attacker."""
    name = f"qosf{os.getpid() % 100000}"
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        check=True,
        capture_output=True,
        timeout=30,
    )
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], capture_output=True, timeout=30)


@pytest.fixture
def sticky() -> Iterator[Path]:
    """A sticky, world-writable directory, like /tmp, that the other user can reach."""
    top = Path(tempfile.mkdtemp(prefix="qos-faults-sticky-"))
    try:
        os.chmod(top, 0o755)
        directory = top / "shared"
        directory.mkdir()
        os.chmod(directory, 0o1777)
        yield directory
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _plant(user: str, link: Path, points_to: Path) -> None:
    """The other user creates the symlink, as an attacker on a shared host would."""
    subprocess.run(
        ["runuser", "-u", user, "--", "ln", "-s", str(points_to), str(link)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    assert os.lstat(link).st_uid != os.geteuid()


@pytest.mark.root
@needs_root
def test_a_symlink_planted_by_another_user_is_refused(
    other_user: str, sticky: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    _plant(other_user, sticky / "r.json", victim)
    with pytest.raises(OutputRefused, match=r"r.json is a symlink owned by uid \d+ in the sticky"):
        write_output(sticky / "r.json", "{}")
    assert victim.read_text() == "precious\n"
    # A planted symlink to a directory is refused too (it would take the temporary file).
    _plant(other_user, sticky / "dir", tmp_path)
    with pytest.raises(OutputRefused):
        write_output(sticky / "dir" / "victim", "{}")
    assert victim.read_text() == "precious\n"


@pytest.mark.root
@needs_root
def test_the_writers_own_symlink_in_a_sticky_directory_is_followed(
    sticky: Path, tmp_path: Path
) -> None:
    target = tmp_path / "real.json"
    (sticky / "mine.json").symlink_to(target)
    write_output(sticky / "mine.json", "{}")
    assert target.read_text() == "{}" and (sticky / "mine.json").is_symlink()


@pytest.mark.root
@needs_root
def test_a_root_run_writes_no_planted_output_and_keeps_the_others(
    other_user: str, sticky: Path, tmp_path: Path, pytester: pytest.Pytester
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    _plant(other_user, sticky / "r.json", victim)
    pytester.makepyfile(VALUES)
    result = pytester.runpytest(f"--qos-json={sticky / 'r.json'}", "--qos-md=r.md")
    result.stdout.fnmatch_lines(["pytest-qos: --qos-json: refusing to write *r.json: *"])
    assert victim.read_text() == "precious\n"
    assert "throughput" in (pytester.path / "r.md").read_text()
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_a_fifo_nobody_reads_is_one_line_and_every_other_output_is_written(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It blocked pytest forever; the SIGTERM that ended it lost the baseline and Markdown."""
    monkeypatch.setattr(output, "FIFO_WAIT", 0.5)
    os.mkfifo(pytester.path / "r.fifo")
    pytester.makepyfile(VALUES)
    started = time.monotonic()
    result = pytester.runpytest("--qos-json=r.fifo", "--qos-md=r.md", "--qos-save=main")
    assert time.monotonic() - started < 30
    result.stdout.fnmatch_lines(
        ["pytest-qos: --qos-json: cannot write r.fifo: no reader opened the FIFO within 0.5 s"]
    )
    assert (pytester.path / "r.md").is_file() and (pytester.path / ".qos" / "main.json").is_file()
    assert stat.S_ISFIFO(os.lstat(pytester.path / "r.fifo").st_mode)
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_a_fifo_with_a_reader_gets_everything(tmp_path: Path) -> None:
    fifo = tmp_path / "big.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    content = b"x" * (1 << 20)  # far more than a pipe holds

    def read() -> None:
        time.sleep(0.3)  # a reader that comes a little late
        received.append(fifo.read_bytes())

    reader = threading.Thread(target=read)
    reader.start()
    write_output(fifo, content)
    reader.join(timeout=10)
    assert received == [content]


def test_a_reader_that_stops_reading_is_given_up_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(output, "FIFO_WAIT", 0.3)
    fifo = tmp_path / "stuck.fifo"
    os.mkfifo(fifo)
    held = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # opened, never read
    try:
        with pytest.raises(OSError, match=r"took nothing for 0\.3 s") as caught:
            write_output(fifo, b"y" * (1 << 20))
        assert caught.value.filename == str(fifo)
    finally:
        os.close(held)


def test_errors_name_the_file_asked_for_not_the_temporary_one() -> None:
    with pytest.raises(OSError) as caught:
        write_output("/proc/qos-r.json", "{}")
    assert caught.value.filename == "/proc/qos-r.json"


def test_output_errors_start_their_own_line(pytester: pytest.Pytester) -> None:
    """Under -q pytest's '.  [100%]' line has no newline yet: the error went onto it."""
    pytester.makepyfile(VALUES)
    result = pytester.runpytest("-q", "--qos-json=/proc/qos-r.json")
    result.stdout.fnmatch_lines(["pytest-qos: --qos-json: cannot write /proc/qos-r.json: *"])


BLOCK_MATPLOTLIB = """
import sys

class _NoMatplotlib:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "matplotlib":
            raise ImportError("matplotlib is not installed (blocked by the test)")

sys.meta_path.insert(0, _NoMatplotlib())
"""
PLOTTABLE = """
from pytest_qos.results import Measurement

def test_{name}(qos_check):
    measured = Measurement("probe:udp", {{"latency.p50": 0.001}}, series={{"rtt": [(0.0, 0.001)]}})
    qos_check(measured, {{"latency.p50": "<= 1 s"}})
"""


def test_plot_dir_without_matplotlib_says_how_to_install_once(pytester: pytest.Pytester) -> None:
    """--qos-plot-dir without matplotlib wrote nothing and said nothing."""
    pytester.makeconftest(BLOCK_MATPLOTLIB)
    pytester.makepyfile(PLOTTABLE.format(name="a") + PLOTTABLE.format(name="b"))
    result = pytester.runpytest_subprocess("--qos-plot-dir=plots", "--qos-json=r.json")
    lines = [line for line in result.outlines if "pip install 'pytest-qos[plots]'" in line]
    assert lines == [
        "pytest-qos: --qos-plot-dir: no plots written: plots need matplotlib: "
        "pip install 'pytest-qos[plots]'"
    ]
    assert (pytester.path / "r.json").is_file()  # the other outputs are written
