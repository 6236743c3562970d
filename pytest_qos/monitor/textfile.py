"""--qos-openmetrics: every test's series in one file for node-exporter's textfile collector.

The Prometheus text format (what the textfile collector parses and `promtool check metrics`
lints), written by prometheus_client's exposition writer and replaced atomically
(store/output.py), so the collector never reads half a file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from ..results import QosResult
from ..store.output import write_output
from . import client
from .series import Identity, Record, Sample, result_samples


def file_samples(
    results: Iterable[QosResult], records: Mapping[str, Record], info: list[Sample]
) -> list[Sample]:
    """The run's info and each result's series, its identity as labels."""
    samples = list(info)
    for result in results:
        record = records.get(result.test) or Record(_identity_from_id(result.test))
        grouping = record.identity.grouping()
        samples += result_samples(result, record.parsed_bounds(), grouping)
    return samples


def _identity_from_id(node_id: str) -> Identity:
    """A result that came without a record (another plugin's): its node id's two parts."""
    scenario, _, test = node_id.partition("::")
    return Identity(scenario, test or node_id)


def write_textfile(path: Path, samples: Iterable[Sample]) -> Path:
    """Write `samples` to `path` atomically in the Prometheus text format."""
    return write_output(path, client.exposition(samples))
