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

from fuzz_tally import Tally
from testbed_fuzz import classify, generate

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
    tally = Tally(("testbed", "error")).run(
        range(first, first + count),
        "testbed.yaml",
        lambda seed, path: classify(generate(seed), path),
    )
    kinds = ("traceback", "multi-line error", "error without the file")
    return tally.report("generated testbeds", kinds)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
