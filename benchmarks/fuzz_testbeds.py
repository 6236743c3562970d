"""Fuzz the testbed reader with generated testbed files and Ansible inventories (issue 23).

    .venv/bin/python benchmarks/fuzz_testbeds.py [COUNT] [FIRST_SEED]

Each case comes from tests/testbed_fuzz.py (seeded, so a failure reproduces from its number):
hostile host names and destinations, ports, ssh arguments, variables of the wrong type,
nested children, byte mutations. A case passes when the reader gives a testbed whose every
host yields a usable argv, or one clear line naming the file; it fails on a traceback, a
multi-line error, or more than a second of work. The bounded hypothesis version runs in
tests/test_testbed_faults.py; 10,000 files by default.
"""

from __future__ import annotations

import collections
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from testbed_fuzz import classify, generate

SLOW = 1.0  # seconds one file may take


def main(argv: list[str]) -> int:
    """Run COUNT cases; print the figures; exit 1 if any case failed."""
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
