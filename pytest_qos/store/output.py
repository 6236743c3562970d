"""One writer for every file pytest-qos produces (JSON, Markdown, baselines, plots).

A regular file (or a new path) is replaced atomically: a reader sees the old file or the
whole new one. Anything else is written into, never replaced: `/dev/null`, `/dev/stdout`,
a FIFO, a terminal. A symlink stays a symlink (its target is what gets written). New files
get the mode the umask allows, as any tool's output would; an existing file keeps its mode
(and its owner, where we may set it), so a CI upload running as another user can read it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path


def write_output(path: Path | str, data: str | bytes) -> Path:
    """Write `data` (text as UTF-8) to `path` safely; return the path written."""
    target = Path(path)
    content = data.encode("utf-8") if isinstance(data, str) else data
    try:
        info: os.stat_result | None = os.stat(target)  # follows a symlink to what it names
    except FileNotFoundError:
        info = None
    if info is not None and not stat.S_ISREG(info.st_mode):
        _write_into(target, content)
        return target
    real = Path(os.path.realpath(target)) if target.is_symlink() else target
    _replace(real, content, info)
    return target


def _write_into(target: Path, content: bytes) -> None:
    """A device, FIFO or terminal: write straight into it (no temporary file, no rename)."""
    with open(target, "wb") as stream:
        stream.write(content)


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
