"""The history directory: one complete run's results document per file, named to sort by time.

A file is the `--qos-json` document of the run plus a `run` block saying which run it was:
time, git commit and branch (or the CI's), `--qos-run-id`, host, the testbed and router config
files with their hashes, and the hash of every scenario file the run read. The measurements'
per-interval time series (throughput each second, every probe's RTT) are left out: only that
run's own plots use them, and they would make a long history large and slow to read. Names are
`YYYYmmddTHHMMSS.ffffffZ-<run id, commit or host>-<random>.json`: they sort by time, and two
runs finishing at once (two pipelines on one share) never choose the same name; each file is
written whole under a temporary name first, so a reader never sees half a run.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError, QosError
from ..hosts.endpoints import Local
from ..store.document import to_json
from ..store.output import write_output

NAME = re.compile(r"^(\d{8}T\d{6}\.\d{6}Z)-([A-Za-z0-9][A-Za-z0-9._+-]{0,63})-([0-9a-f]{8})\.json$")
NAME_HELP = "YYYYmmddTHHMMSS.ffffffZ-NAME-XXXXXXXX.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
_GIT_TIMEOUT = 5.0
# What CI services say about the commit when the checkout is a detached HEAD.
_CI_COMMIT = ("GITHUB_SHA", "CI_COMMIT_SHA", "GIT_COMMIT", "BUILD_VCS_NUMBER")
_CI_BRANCH = ("GITHUB_HEAD_REF", "GITHUB_REF_NAME", "CI_COMMIT_REF_NAME", "GIT_BRANCH")


@dataclass(frozen=True)
class HistoryOptions:
    """Where a run's history goes and what identifies the run (`--qos-history` and friends)."""

    directory: Path
    keep: int | None = None  # --qos-history-keep: prune to the newest N runs
    run_id: str = ""  # --qos-run-id
    root: Path = Path(".")  # where scenario ids are relative to, and the git checkout
    router_config: Path | None = None
    testbed: Path | None = None


def file_hash(path: Path) -> str | None:
    """sha256 of a file's bytes, or None when it cannot be read."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _git(root: Path, *arguments: str) -> str:
    try:
        done = Local().run(["git", "-C", str(root), *arguments], timeout=_GIT_TIMEOUT)
    except (QosError, OSError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def git_identity(root: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The checkout's commit and branch; a CI's variables where the checkout cannot say."""
    env = os.environ if environ is None else environ
    commit = _git(root, "rev-parse", "HEAD") or next((env[k] for k in _CI_COMMIT if k in env), "")
    branch = _git(root, "rev-parse", "--abbrev-ref", "HEAD")
    if branch in ("", "HEAD"):
        branch = next((env[k] for k in _CI_BRANCH if env.get(k)), "")
    found = {"commit": commit, "branch": branch}
    return {key: value for key, value in found.items() if value}


def _described(path: Path | None) -> dict[str, Any] | None:
    return None if path is None else {"path": str(path), "sha256": file_hash(path)}


def scenario_hashes(root: Path, test_ids: Iterable[str]) -> dict[str, str | None]:
    """Each scenario (or test module) file the run's tests came from, with its sha256."""
    files = sorted({test.split("::", 1)[0] for test in test_ids})
    return {name: file_hash(root / name) for name in files}


def run_identity(options: HistoryOptions, document: Mapping[str, Any]) -> dict[str, Any]:
    """The `run` block of a history file: which run, of what, where."""
    environment = document.get("environment") or {}
    tests = [str(result.get("test", "")) for result in document.get("results", [])]
    identity: dict[str, Any] = {
        "time": environment.get("time") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **git_identity(options.root),
        "host": environment.get("host") or socket.gethostname(),
        "scenarios": scenario_hashes(options.root, tests),
    }
    if options.run_id:
        identity["run_id"] = options.run_id
    for key, path in (("testbed", options.testbed), ("router_config", options.router_config)):
        described = _described(path)
        if described is not None:
            identity[key] = described
    return identity


def check_run_id(text: str) -> str:
    """A `--qos-run-id`: any printable text up to 200 characters."""
    if not text.strip() or len(text) > 200 or not text.isprintable():
        raise InputError(
            f"{text!r} is not a run id; give up to 200 printable characters, e.g. the CI job URL",
            key="--qos-run-id",
        )
    return text


def new_file_name(identity: Mapping[str, Any], now: float | None = None) -> str:
    """`20260105T120000.123456Z-<run id, short commit or host>-<8 random hex>.json`."""
    moment = time.time() if now is None else now
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(moment))
    micro = int((moment % 1) * 1e6)
    label = identity.get("run_id") or str(identity.get("commit", ""))[:12] or identity.get("host")
    slug = _UNSAFE.sub("-", str(label or "run")).strip("-.")[:64] or "run"
    return f"{stamp}.{micro:06d}Z-{slug}-{secrets.token_hex(4)}.json"


def without_time_series(document: Mapping[str, Any]) -> dict[str, Any]:
    """The document less each measurement's and load's `series` (the rest untouched)."""

    def lean(result: Any) -> Any:
        if not isinstance(result, dict):
            return result
        return {
            **result,
            **{
                key: [
                    {k: v for k, v in m.items() if k != "series"} if isinstance(m, dict) else m
                    for m in result[key]
                ]
                for key in ("measurements", "loads")
                if isinstance(result.get(key), list)
            },
        }

    return {**document, "results": [lean(r) for r in document.get("results", [])]}


def store_run(options: HistoryOptions, document: Mapping[str, Any], incomplete: str = "") -> str:
    """Add a complete run's document to the history; the line saying what was done."""
    if incomplete:
        return f"QoS history: this run was not stored: it is incomplete ({incomplete})"
    identity = run_identity(options, document)
    text = to_json({**without_time_series(document), "run": identity})
    options.directory.mkdir(parents=True, exist_ok=True)
    path = options.directory / new_file_name(identity)
    while path.exists():  # the random part makes this all but impossible; never overwrite
        path = options.directory / new_file_name(identity)
    write_output(path, text)
    line = f"QoS history: run stored as {path}"
    if options.keep is not None:
        pruned = prune(options.directory, options.keep)
        if pruned:
            line += f"; {pruned} older run{'s' if pruned != 1 else ''} pruned (--qos-history-keep)"
    return line


def history_files(directory: Path) -> list[Path]:
    """The history's run files, oldest first (only names this module writes)."""
    if not directory.is_dir():
        return []
    return sorted(
        (path for path in directory.iterdir() if NAME.match(path.name) and path.is_file()),
        key=lambda path: path.name,
    )


def prune(directory: Path, keep: int) -> int:
    """Delete all but the newest `keep` run files; how many went (another run may race us)."""
    removed = 0
    files = history_files(directory)
    for path in files[: max(0, len(files) - keep)]:
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass  # a concurrent run pruned it first
    return removed
