"""Fuzz the scenario loader with generated files (issue 15); not part of `make test`.

    .venv/bin/python benchmarks/fuzz_scenarios.py [COUNT] [FIRST_SEED]

Each case comes from tests/scenario_fuzz.py (seeded, so a failure reproduces from its
number): tricky names and keys equal once YAML reads them, hostile numbers and bounds,
aliases, control characters, byte mutations. A case passes when the loader gives a
scenario (whose argv and bounds are usable) or one clear line; it fails on a traceback, a
multi-line error, a silently merged key, or more than a second of work. The bounded
hypothesis version runs in tests/test_scenario_faults.py.
"""

from __future__ import annotations

import collections
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from scenario_fuzz import classify, generate

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
        path = Path(folder) / "fuzz.qos.yaml"
        for seed in range(first, first + count):
            case = generate(seed)
            began = time.monotonic()
            outcome = classify(case, path)
            problem = None if outcome in ("scenario", "error") else outcome
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
    print(f"{count} generated scenario files in {elapsed:.1f} s (slowest {slowest * 1000:.0f} ms)")
    print(f"  loaded: {outcomes['scenario']}, refused with one line: {outcomes['error']}")
    for kind in ("traceback", "merged", "multi-line error", "slow"):
        print(f"  {kind}: {outcomes.get(kind, 0)}")
    for key, number in findings.most_common(20):
        print(f"  {number} x (seed {example[key]}): {key}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
