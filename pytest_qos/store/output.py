"""One writer for every file pytest-qos produces (JSON, Markdown, baselines, plots).

A regular file (or a new path) is replaced atomically: a reader sees the old file or the
whole new one. Anything else is written into, never replaced: `/dev/null`, `/dev/stdout`,
a FIFO (given FIFO_WAIT seconds to find a reader, never blocking), a terminal. A symlink stays a
symlink (its target is what gets written) unless another user planted it in a sticky,
world-writable directory such as /tmp: that one is refused, as the kernel's
fs.protected_symlinks refuses it to open(). New files get the mode the umask allows, as any
tool's output would; an existing file keeps its mode (and its owner, where we may set it), so a
CI upload running as another user can read it. An error names the path asked for, never the
temporary file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import stat
import tempfile
import time
from pathlib import Path

from ..errors import QosError

FIFO_WAIT = 5.0  # seconds a FIFO's reader has to appear, then to take each chunk
_POLL_S = 0.05
_CHUNK = 65536


class OutputRefused(QosError):
    """An output path that must not be written (a symlink another user planted)."""


def write_output(path: Path | str, data: str | bytes) -> Path:
    """Write `data` (text as UTF-8) to `path` safely; return the path written."""
    target = Path(path)
    content = data.encode("utf-8") if isinstance(data, str) else data
    try:
        refuse_foreign_symlinks(target)
        try:
            info: os.stat_result | None = os.stat(target)  # follows a symlink to what it names
        except FileNotFoundError:
            info = None
        if info is not None and stat.S_ISFIFO(info.st_mode):
            _write_fifo(target, content)
        elif info is not None and not stat.S_ISREG(info.st_mode):
            _write_into(target, content)
        else:
            real = Path(os.path.realpath(target)) if target.is_symlink() else target
            _replace(real, content, info)
    except OSError as error:
        # Name what the user asked for: not the temporary file, nor the symlink's target.
        raise OSError(error.errno, error.strerror or str(error), str(target)) from None
    return target


def refuse_foreign_symlinks(path: Path) -> None:
    """OutputRefused when reaching `path` follows a symlink in a sticky, world-writable
    directory that neither the writer nor that directory's owner owns (fs.protected_symlinks)."""
    resolved = Path(os.path.abspath(path))
    walked = Path(resolved.anchor)
    for part in resolved.parts[1:]:  # bounded: one step per component
        candidate = walked / part
        try:
            link = os.lstat(candidate)
        except OSError:
            return  # the rest does not exist yet: nothing to follow
        if stat.S_ISLNK(link.st_mode):
            directory = os.stat(walked)
            shared = directory.st_mode & stat.S_ISVTX and directory.st_mode & stat.S_IWOTH
            if shared and link.st_uid not in (os.geteuid(), directory.st_uid):
                raise OutputRefused(
                    f"refusing to write {path}: {candidate} is a symlink owned by uid "
                    f"{link.st_uid} in the sticky, world-writable directory {walked} (the "
                    "kernel's fs.protected_symlinks refuses such links); remove it or write "
                    "elsewhere"
                )
            walked = Path(os.path.realpath(candidate))
        else:
            walked = candidate


def _write_into(target: Path, content: bytes) -> None:
    """A device or terminal: write straight into it (no temporary file, no rename)."""
    with open(target, "wb") as stream:
        stream.write(content)


def _write_fifo(target: Path, content: bytes) -> None:
    """A FIFO: wait up to FIFO_WAIT s for a reader (never blocking), then write it all, giving
    the reader FIFO_WAIT s to take each chunk."""
    deadline = time.monotonic() + FIFO_WAIT
    while True:  # bounded by the deadline
        try:
            fd = os.open(target, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            break
        except OSError as error:
            if error.errno != errno.ENXIO:  # ENXIO: no reader yet
                raise
            if time.monotonic() >= deadline:
                raise OSError(
                    errno.ENXIO, f"no reader opened the FIFO within {FIFO_WAIT:g} s"
                ) from None
            time.sleep(_POLL_S)
    try:
        view = memoryview(content)
        while view:  # each pass writes something or waits at most FIFO_WAIT
            _, writable, _ = select.select([], [fd], [], FIFO_WAIT)
            if not writable:
                raise OSError(
                    errno.ETIMEDOUT, f"the FIFO's reader took nothing for {FIFO_WAIT:g} s"
                )
            with contextlib.suppress(BlockingIOError):
                view = view[os.write(fd, view[:_CHUNK]) :]
    finally:
        os.close(fd)


def _replace(target: Path, content: bytes, info: os.stat_result | None) -> None:
    """Write a temporary file beside `target`, then rename it over `target`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        # mkstemp makes 0600; the file we replace, or the umask, decides instead.
        os.fchmod(fd, stat.S_IMODE(info.st_mode) if info else 0o666 & ~current_umask())
        if info is not None and (info.st_uid, info.st_gid) != (os.geteuid(), os.getegid()):
            with contextlib.suppress(OSError):  # only root may give a file away
                os.fchown(fd, info.st_uid, info.st_gid)
        with os.fdopen(fd, "wb") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _sync_directory(target.parent)


def current_umask() -> int:
    """This process's umask, read without changing it (os.umask would, racing threads)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable (a power cut after it keeps the new name)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
