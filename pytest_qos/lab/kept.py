"""`python -m pytest_qos lab list|remove`: the labs `pytest --qos-keep-lab` left in place.

A kept lab is a set of namespaces `qos-<pid>-<n>-{client,router,server[,wan]}`, marked in
KEPT_DIRECTORY (the mark records its namespaces and its detached processes: the WAN delay
line), and its state directory (the delay line's logs and statistics). `lab remove NAME`
stops its processes, deletes its namespaces and removes the mark and the state; `--all`
does it for every kept lab.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence

from .delaylines import forget_kept, kept_record, process_start
from .namespaces import (
    KEPT_DIRECTORY,
    delete_namespaces,
    kept_lab_ids,
    lab_namespaces,
    owner_alive,
)

USAGE = """usage: python -m pytest_qos lab list
       python -m pytest_qos lab remove NAME [NAME ...] | --all

Kept labs are the ones `pytest --qos --qos-keep-lab` left in place (NAME: qos-<pid>-<n>).
`remove` stops what runs in a lab (its WAN delay line, any process started in its
namespaces), deletes its namespaces and forgets it. Needs root."""
_LAB_ID = re.compile(r"^qos-(?P<pid>\d+)-\d+$")


def _namespaces(lab_id: str) -> list[str]:
    return [name for name in lab_namespaces() if name.startswith(f"{lab_id}-")]


def describe(lab_id: str) -> str:
    """One line: the lab, its namespaces, and whether its recorded processes still run."""
    processes = kept_record(KEPT_DIRECTORY / lab_id).get("processes", [])
    running = [
        f"{item.get('role', 'process')} (pid {item.get('pid')})"
        for item in processes
        if isinstance(item, dict) and process_start(int(item.get("pid") or 0)) == item.get("start")
    ]
    names = _namespaces(lab_id)
    return (
        f"{lab_id}: {len(names)} namespaces ({', '.join(names) or 'none left'}); "
        f"running: {', '.join(running) or 'nothing recorded'}"
    )


def remove(lab_id: str) -> str:
    """Stop the lab's processes, delete its namespaces, forget it; what was done, in words."""
    ended = forget_kept(KEPT_DIRECTORY / lab_id)
    names = _namespaces(lab_id)
    delete_namespaces(names)  # kills whatever else runs inside first
    (KEPT_DIRECTORY / lab_id).unlink(missing_ok=True)
    return f"removed {lab_id}: {len(names)} namespaces, {ended} recorded processes"


def _refusal(lab_id: str) -> str | None:
    """Why `lab_id` may not be removed here, or None."""
    match = _LAB_ID.match(lab_id)
    if match is None:
        return f"'{lab_id}' is not a lab name (qos-<pid>-<n>, as --qos-keep-lab printed it)"
    if lab_id in kept_lab_ids():
        return None
    if not _namespaces(lab_id):
        return f"no lab {lab_id} (kept labs: {', '.join(sorted(kept_lab_ids())) or 'none'})"
    if owner_alive(int(match["pid"])):
        return f"{lab_id} is not kept: its pytest (pid {match['pid']}) runs and removes it"
    return None  # a dead run's leftover: removed like the stale sweep would


def main(argv: Sequence[str]) -> int:
    """`lab list` and `lab remove NAME... | --all`; 0 when done, 1 on a refused name, 2 usage."""
    arguments = list(argv)
    if arguments == ["list"]:
        for lab_id in sorted(kept_lab_ids()):
            print(describe(lab_id))
        return 0
    if len(arguments) < 2 or arguments[0] != "remove":
        print(USAGE, file=sys.stderr)
        return 2
    names = sorted(kept_lab_ids()) if arguments[1:] == ["--all"] else arguments[1:]
    refused = [reason for reason in map(_refusal, names) if reason]
    if refused:
        for reason in refused:
            print(f"error: {reason}", file=sys.stderr)
        return 1
    for lab_id in names:
        print(remove(lab_id))
    return 0
