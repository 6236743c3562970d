"""The one output writer (issue 15): never replaces a device, FIFO or symlink; honours modes."""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_qos.errors import QosError
from pytest_qos.store.document import to_json
from pytest_qos.store.output import current_umask, write_output


@pytest.fixture
def umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_dev_null_stays_a_device() -> None:
    write_output("/dev/null", '{"results": []}\n')
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert not os.path.islink("/dev/null") or os.path.exists("/dev/null")


def test_fifo_is_written_into_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "faults.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    write_output(fifo, "hello\n")
    reader.join(5)
    assert received == [b"hello\n"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_symlink_stays_a_symlink_and_its_target_is_written(tmp_path: Path) -> None:
    target = tmp_path / "run-42.json"
    target.write_text("old")
    link = tmp_path / "latest.json"
    link.symlink_to(target.name)
    write_output(link, "new")
    assert link.is_symlink()
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.json", "run-42.json"]


def test_symlink_to_a_device_writes_into_the_device(tmp_path: Path) -> None:
    link = tmp_path / "stdout"
    link.symlink_to("/dev/null")  # as /dev/stdout points at a terminal or a pipe
    write_output(link, "x")
    assert link.is_symlink()
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.usefixtures("umask")
def test_new_file_follows_the_umask(tmp_path: Path) -> None:
    path = write_output(tmp_path / "sub" / "faults.json", "{}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    os.umask(0o077)
    assert current_umask() == 0o077
    other = write_output(tmp_path / "private.json", "{}")
    assert stat.S_IMODE(other.stat().st_mode) == 0o600


@pytest.mark.usefixtures("umask")
def test_existing_file_keeps_its_mode_and_is_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "faults.md"
    path.write_text("old")
    path.chmod(0o640)
    inode = path.stat().st_ino
    write_output(path, b"new")
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.stat().st_ino != inode  # renamed over, not truncated in place
    assert [p.name for p in tmp_path.iterdir()] == ["faults.md"]


def test_json_is_strict_and_names_the_non_finite_value() -> None:
    document = {"results": [{"test": "t", "metrics": {"throughput": float("nan")}}]}
    with pytest.raises(QosError, match=r"results\.0\.metrics\.throughput is nan"):
        to_json(document)
    assert json.loads(to_json({"results": [{"metrics": {"loss": 0.5}}]}))


QOS_TEST = """
import pytest

@pytest.mark.qos
def test_values(qos_check):
    qos_check({"throughput": 5e6}, throughput=">= 1 Mbit/s")
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can replace /dev/null")
def test_qos_json_to_dev_null_as_root(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_values=QOS_TEST)
    result = pytester.runpytest("--qos", "--qos-json=/dev/null", "--qos-md=/dev/null")
    result.assert_outcomes(passed=1)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
