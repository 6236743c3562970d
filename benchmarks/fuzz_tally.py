"""The tally both fuzzers print (scenarios, testbeds): outcomes, findings by kind, slowest case."""

from __future__ import annotations

import collections
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

SLOW = 1.0  # seconds one file may take


@dataclass
class Tally:
    """Outcomes of seeded cases; a finding is anything but the `good` outcomes, or slowness."""

    good: tuple[str, ...]
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    findings: collections.Counter[str] = field(default_factory=collections.Counter)
    example: dict[str, int] = field(default_factory=dict)
    slowest: float = 0.0
    elapsed: float = 0.0

    def run(self, seeds: range, file_name: str, check: Callable[[int, Path], str]) -> Tally:
        """`check(seed, path)` each seed's case in a temporary directory; returns self."""
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="faults-fuzz-") as folder:
            path = Path(folder) / file_name
            for seed in seeds:
                began = time.monotonic()
                outcome = check(seed, path)
                took = time.monotonic() - began
                self.slowest = max(self.slowest, took)
                problem = None if outcome in self.good else outcome
                if took > SLOW:
                    problem = problem or f"slow: {took:.2f} s"
                self.outcomes[problem.split(":", 1)[0] if problem else outcome] += 1
                if problem:
                    key = problem.splitlines()[-1][:150]
                    self.findings[key] += 1
                    self.example.setdefault(key, seed)
        self.elapsed = time.monotonic() - started
        return self

    def report(self, what: str, kinds: tuple[str, ...]) -> int:
        """Print the figures; 1 if anything was found."""
        count = sum(self.outcomes.values())
        print(f"{count} {what} in {self.elapsed:.1f} s (slowest {self.slowest * 1000:.0f} ms)")
        print("  " + ", ".join(f"{name}: {self.outcomes[name]}" for name in self.good))
        for kind in (*kinds, "slow"):
            print(f"  {kind}: {self.outcomes.get(kind, 0)}")
        print(f"  distinct findings: {len(self.findings)}")
        for key, number in self.findings.most_common(20):
            print(f"  {number} x (seed {self.example[key]}): {key}")
        return 1 if self.findings else 0
