"""The one place `prometheus_client` is used: its push functions and its exposition writer.

Imported on first use only: loading the library costs ~50 ms, which a pytest run that does
not monitor should not pay.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from .names import Labels
from .series import Sample


class _Collector:
    """Hands the registry our samples as gauge families (one per name, labels per sample)."""

    def __init__(self, samples: Sequence[Sample]) -> None:
        self.samples = samples

    def collect(self) -> Iterator[Any]:
        from prometheus_client.metrics_core import Metric

        families: dict[str, Any] = {}
        for sample in self.samples:
            family = families.get(sample.name)
            if family is None:
                family = families[sample.name] = Metric(sample.name, sample.help, "gauge")
            family.add_sample(sample.name, dict(sample.labels), sample.value)
        yield from families.values()


def registry(samples: Iterable[Sample]) -> Any:
    """A prometheus_client registry holding `samples`."""
    from prometheus_client import CollectorRegistry

    held = CollectorRegistry(auto_describe=False)
    held.register(_Collector(list(samples)))
    return held


def exposition(samples: Iterable[Sample]) -> bytes:
    """`samples` in the Prometheus text format (what node-exporter's textfile collector reads)."""
    from prometheus_client import generate_latest

    data: bytes = generate_latest(registry(samples))
    return data


def push(
    url: str,
    job: str,
    grouping: Labels,
    samples: Sequence[Sample],
    *,
    replace: bool,
    timeout: float,
) -> None:
    """PUT (`replace`: the group holds these alone) or POST (same-named series replaced)."""
    from prometheus_client import push_to_gateway, pushadd_to_gateway

    send = push_to_gateway if replace else pushadd_to_gateway
    send(url, job=job, registry=registry(samples), grouping_key=dict(grouping), timeout=timeout)
