"""Fuzz the testbed reader with generated testbed files and Ansible inventories (issue 23).

    .venv/bin/python benchmarks/fuzz_testbeds.py [COUNT] [FIRST_SEED]
    .venv/bin/python benchmarks/fuzz_testbeds.py --pytest [COUNT] [FIRST_SEED]

Each case comes from tests/testbed_fuzz.py (seeded, so a failure reproduces from its number):
hostile host names and destinations, ports, ssh arguments, variables of the wrong type,
nested children, byte mutations. A case passes when the reader gives a testbed whose every
host yields a usable argv, or one clear line naming the file; it fails on a traceback, a
multi-line error, or more than a second of work. The bounded hypothesis version runs in
tests/test_testbed_faults.py; 10,000 files by default. With --pytest, each testbed goes
through `pytest --collect-only --qos-testbed=FILE` with a mesh scenario (300 by default): a
case fails on a traceback or INTERNALERROR in pytest's output.
"""

from __future__ import annotations

import collections
import contextlib
import io
import re
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from testbed_fuzz import classify, generate

SLOW = 1.0  # seconds one file may take


MESH = "mesh: {hosts: [branch1, b-2, dc_1]}\ntests:\n  t: {traffic: {protocol: tcp}}\n"


def through_pytest(count: int, first: int) -> int:
    """Run COUNT testbeds through pytest's collection; print the figures."""
    failures: collections.Counter[str] = collections.Counter()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="faults-fuzz-") as folder:
        bed, scenario = Path(folder) / "testbed.yaml", Path(folder) / "mesh.qos.yaml"
        scenario.write_text(MESH)
        for seed in range(first, first + count):
            bed.write_text(generate(seed), encoding="utf-8", errors="surrogatepass")
            output = io.StringIO()
            with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
                arguments = ["--collect-only", "-q", "-p", "no:cacheprovider", "--rootdir", folder]
                pytest.main([*arguments, f"--qos-testbed={bed}", str(scenario)])
            text = output.getvalue()
            # Our errors are one line; anything else shows as a Python exception ("E   KeyError").
            crash = re.search(r"^E +\w*(Error|Exception)\b.*$", text, re.MULTILINE)
            if crash or "Traceback" in text or "INTERNALERROR" in text:
                failures[(crash.group(0) if crash else "traceback")[:150]] += 1
    print(f"{count} testbeds through pytest in {time.monotonic() - started:.1f} s")
    print(f"  tracebacks or INTERNALERROR: {sum(failures.values())}")
    for key, number in failures.most_common(10):
        print(f"  {number} x {key}")
    return 1 if failures else 0


def main(argv: list[str]) -> int:
    """Run COUNT cases; print the figures; exit 1 if any case failed."""
    if argv[:1] == ["--pytest"]:
        rest = argv[1:]
        return through_pytest(int(rest[0]) if rest else 300, int(rest[1]) if len(rest) > 1 else 0)
    count = int(argv[0]) if argv else 10_000
    first = int(argv[1]) if len(argv) > 1 else 0
    findings: collections.Counter[str] = collections.Counter()
    example: dict[str, int] = {}
    outcomes: collections.Counter[str] = collections.Counter()
    slowest = 0.0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="faults-fuzz-") as folder:
        path = Path(folder) / "testbed.yaml"
        for seed in range(first, first + count):
            began = time.monotonic()
            outcome = classify(generate(seed), path)
            problem = None if outcome in ("testbed", "error") else outcome
            took = time.monotonic() - began
            slowest = max(slowest, took)
            if took > SLOW:
                problem = problem or f"slow: {took:.2f} s"
            kind = problem.split(":", 1)[0] if problem else outcome
            outcomes[kind] += 1
            if problem:
                key = problem.splitlines()[-1][:150]
                findings[key] += 1
                example.setdefault(key, seed)
    elapsed = time.monotonic() - started
    print(f"{count} generated testbeds in {elapsed:.1f} s (slowest {slowest * 1000:.0f} ms)")
    print(f"  read: {outcomes['testbed']}, refused with one line: {outcomes['error']}")
    for kind in ("traceback", "multi-line error", "error without the file", "slow"):
        print(f"  {kind}: {outcomes.get(kind, 0)}")
    print(f"  distinct findings: {len(findings)}")
    for key, number in findings.most_common(20):
        print(f"  {number} x (seed {example[key]}): {key}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
