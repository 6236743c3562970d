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

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fuzz_tally import Tally
from scenario_fuzz import classify, generate


def main(argv: list[str]) -> int:
    """Run COUNT cases; print the figures; exit 1 if any case failed."""
    count = int(argv[0]) if argv else 10_000
    first = int(argv[1]) if len(argv) > 1 else 0
    tally = Tally(("scenario", "error")).run(
        range(first, first + count),
        "fuzz.qos.yaml",
        lambda seed, path: classify(generate(seed), path),
    )
    return tally.report("generated scenario files", ("traceback", "merged", "multi-line error"))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
