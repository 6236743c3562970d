"""The one place `prometheus_client` is used: its push functions and its exposition writer.

Imported on first use only: loading the library costs ~50 ms, which a pytest run that does
not monitor should not pay.
"""

from __future__ import annotations

import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
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


Handler = Callable[[str, str, float | None, list[tuple[str, str]], bytes], Callable[[], None]]


def handler_for(url: str) -> Handler:
    """prometheus_client's push handler, its proxy settings read once, now.

    Its default handler lets urllib read os.environ for proxies on every push, from our
    pushing thread, while pytest sets and deletes PYTEST_CURRENT_TEST on the main thread: a
    KeyError now and then (1 push in 1,000 seen). This call runs on the main thread.
    """
    host = urllib.parse.urlsplit(url).hostname or ""
    proxies = {} if urllib.request.proxy_bypass(host) else urllib.request.getproxies()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler(proxies))

    def handler(
        url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes
    ) -> Callable[[], None]:
        def handle() -> None:
            request = urllib.request.Request(url, data=data, method=method)
            for key, value in headers:
                request.add_header(key, value)
            with opener.open(request, timeout=timeout):
                pass  # urllib raises HTTPError for a status of 400 and above

        return handle

    return handler


def push(
    url: str,
    job: str,
    grouping: Labels,
    samples: Sequence[Sample],
    *,
    replace: bool,
    timeout: float,
    handler: Handler,
) -> None:
    """PUT (`replace`: the group holds these alone) or POST (same-named series replaced)."""
    from prometheus_client import push_to_gateway, pushadd_to_gateway

    send = push_to_gateway if replace else pushadd_to_gateway
    held = registry(samples)
    send(url, job=job, registry=held, grouping_key=dict(grouping), timeout=timeout, handler=handler)
