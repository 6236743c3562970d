"""A real Prometheus and Pushgateway on free loopback ports, for the monitoring tests.

Each is spawned through pytest-qos's own endpoints (own process group, dies with pytest) with
its data in a temporary directory; `stop()` ends it, on failure too (fixtures call it in a
`finally`). Prometheus scrapes the Pushgateway and evaluates rules twice a second.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_qos.hosts.endpoints import Local, Process

START_TIMEOUT = 20.0
EVERY = "500ms"  # Prometheus's scrape and rule evaluation interval


def tools_or_skip() -> None:
    """Skip (fails in CI: see conftest) when the Debian packages are missing."""
    missing = [
        tool
        for tool in ("prometheus", "prometheus-pushgateway", "promtool")
        if not shutil.which(tool)
    ]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (make test-install installs them)")


def http_get(url: str, timeout: float = 5.0) -> str:
    """The body of a GET."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return str(response.read().decode())


@dataclass
class Server:
    """One spawned server and where it answers."""

    name: str
    process: Process
    url: str
    log: Path

    def wait_ready(self) -> None:
        """Until /-/ready answers 200 (or the process died, or the time is up)."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not self.process.alive():
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                http_get(f"{self.url}/-/ready", timeout=1.0)
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready within {START_TIMEOUT} s")

    def stop(self) -> None:
        """End the server and its process group."""
        self.process.stop()


def _spawn(name: str, argv: list[str], directory: Path, port: int) -> Server:
    """Start a server, wait until it answers /-/ready; stopped again if it never does."""
    log = directory / f"{name}.log"
    with log.open("w") as stream:
        process = Local().spawn(argv, stdout=stream, stderr=stream)
    server = Server(name, process, f"http://127.0.0.1:{port}", log)
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


def start_pushgateway(directory: Path, *options: str) -> Server:
    """`prometheus-pushgateway` on a free 127.0.0.1 port (no persistence file)."""
    port = Local().free_port("127.0.0.1")
    # Debian's build persists to /var/lib/prometheus/pushgateway.data by default: every test
    # run would share (and load) all earlier runs' groups. Memory only.
    argv = [
        "prometheus-pushgateway",
        f"--web.listen-address=127.0.0.1:{port}",
        "--persistence.file=",
        *options,
    ]
    return _spawn("pushgateway", argv, directory, port)


@contextlib.contextmanager
def running_pushgateway(directory: Path, *options: str) -> Iterator[Server]:
    """A Pushgateway for a block (skipped without the Debian package), stopped at its end."""
    tools_or_skip()
    server = start_pushgateway(directory, *options)
    try:
        yield server
    finally:
        server.stop()


def start_prometheus(directory: Path, pushgateway: Server, rules: Path | None = None) -> Server:
    """`prometheus` scraping `pushgateway` and evaluating `rules` every EVERY."""
    port = Local().free_port("127.0.0.1")
    target = urllib.parse.urlsplit(pushgateway.url).netloc
    config: dict[str, Any] = {
        "global": {"scrape_interval": EVERY, "evaluation_interval": EVERY},
        "scrape_configs": [
            {
                "job_name": "pushgateway",
                "honor_labels": True,
                "static_configs": [{"targets": [target]}],
            }
        ],
    }
    if rules is not None:
        config["rule_files"] = [str(rules)]
    config_path = directory / "prometheus.yml"
    config_path.write_text(json.dumps(config))  # JSON is YAML
    argv = [
        "prometheus",
        f"--config.file={config_path}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    return _spawn("prometheus", argv, directory, port)


def query(prometheus: Server, promql: str) -> list[dict[str, Any]]:
    """The instant vector `promql` evaluates to now."""
    url = f"{prometheus.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    data = json.loads(http_get(url))
    result: list[dict[str, Any]] = data["data"]["result"]
    return result


def alerts(prometheus: Server) -> list[dict[str, Any]]:
    """Prometheus's active alerts (/api/v1/alerts)."""
    data = json.loads(http_get(f"{prometheus.url}/api/v1/alerts"))
    found: list[dict[str, Any]] = data["data"]["alerts"]
    return found


def last_evaluations(prometheus: Server) -> tuple[str, ...]:
    """When each rule group was last evaluated (/api/v1/rules), group by group."""
    data = json.loads(http_get(f"{prometheus.url}/api/v1/rules"))
    return tuple(group["lastEvaluation"] for group in data["data"]["groups"])


def wait_evaluations(prometheus: Server, count: int, timeout: float) -> bool:
    """Until Prometheus has evaluated its rules `count` more times (False if the time is up)."""
    seen = {last_evaluations(prometheus)}
    deadline = time.monotonic() + timeout
    while len(seen) <= count and time.monotonic() < deadline:
        time.sleep(0.05)
        seen.add(last_evaluations(prometheus))
    return len(seen) > count


def pushed(pushgateway: Server) -> list[dict[str, Any]]:
    """Every group the Pushgateway holds (/api/v1/metrics)."""
    data = json.loads(http_get(f"{pushgateway.url}/api/v1/metrics"))
    groups: list[dict[str, Any]] = data["data"]
    return groups


def wait_for(check: Any, timeout: float, interval: float = 0.25) -> Any:
    """`check()`'s first truthy value within `timeout` s, else its last value."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = check()
    return value
