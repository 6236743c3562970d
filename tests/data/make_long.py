"""Build long_3600.json.gz: a 1-hour-like iperf3 document from tcp_10s.json's real intervals."""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path

HERE = Path(__file__).parent
INTERVALS = 3600


def build(source: Path = HERE / "tcp_10s.json", count: int = INTERVALS) -> dict[str, object]:
    """The real document with its intervals repeated, re-timed to `count` consecutive seconds."""
    document = json.loads(source.read_text())
    real = document["intervals"]
    intervals = []
    for index in range(count):
        interval = copy.deepcopy(real[index % len(real)])
        offset = float(index) - float(interval["sum"]["start"])
        for part in [*interval["streams"], interval["sum"]]:
            part["start"] = round(float(part["start"]) + offset, 6)
            part["end"] = round(float(part["end"]) + offset, 6)
        intervals.append(interval)
    document["intervals"] = intervals
    document["start"]["test_start"]["duration"] = count
    return dict(document)


if __name__ == "__main__":
    with gzip.open(HERE / "long_3600.json.gz", "wt") as out:
        json.dump(build(), out)
