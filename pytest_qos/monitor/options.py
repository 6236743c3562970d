"""The monitoring options: registered on pytest's option group, read into `Settings`.

Registered from the pytest layer (plugin/hooks.py) without importing pytest here: the group
and parser are only called. Every bad value is an InputError naming the option, which the
pytest layer turns into a one-line usage error.
"""

from __future__ import annotations

import socket
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..units import Kind, parse

DEFAULT_LIVE_INTERVAL = "10 s"
MIN_LIVE_INTERVAL = 1.0
MAX_LIVE_INTERVAL = 3600.0
DEFAULT_JOB = "pytest-qos"
URL_EXAMPLE = "http://127.0.0.1:9091"


@dataclass(frozen=True)
class Settings:
    """What the monitoring options asked for."""

    url: str | None = None  # the Pushgateway
    live_every: float = 10.0  # s between live pushes; 0: none
    openmetrics: Path | None = None  # the textfile to write at the end
    job: str = DEFAULT_JOB
    instance: str = ""

    @property
    def enabled(self) -> bool:
        """True when anything is pushed or written."""
        return self.url is not None or self.openmetrics is not None


def add_options(group: Any, parser: Any) -> None:
    """--qos-prometheus, --qos-live-interval, --qos-openmetrics and their ini keys."""
    group.addoption(
        "--qos-prometheus",
        metavar="URL",
        help="push each test's metrics, bounds and verdict to the Prometheus Pushgateway at "
        f"URL, e.g. {URL_EXAMPLE} (ini: qos_prometheus)",
    )
    group.addoption(
        "--qos-live-interval",
        metavar="DURATION",
        help="push interim values of a running measurement this often, e.g. '1 s' "
        f"(default {DEFAULT_LIVE_INTERVAL}; 0 turns it off; ini: qos_live_interval)",
    )
    group.addoption(
        "--qos-openmetrics",
        metavar="PATH",
        help="write every test's metrics in the Prometheus text format, for node-exporter's "
        "textfile collector",
    )
    parser.addini("qos_prometheus", default="", help="Pushgateway URL (--qos-prometheus)")
    parser.addini("qos_live_interval", default="", help="--qos-live-interval's default")
    parser.addini("qos_prometheus_job", default=DEFAULT_JOB, help="the pushes' job label")
    parser.addini(
        "qos_prometheus_instance",
        default="",
        help="the pushes' instance label (default: this host's name)",
    )


def read_settings(option: Callable[[str], Any], ini: Callable[[str], Any]) -> Settings:
    """Settings from pytest's getoption and getini; InputError for a bad value."""
    url_text = option("qos_prometheus") or ini("qos_prometheus")
    interval = option("qos_live_interval") or ini("qos_live_interval") or DEFAULT_LIVE_INTERVAL
    path = option("qos_openmetrics")
    job = str(ini("qos_prometheus_job") or DEFAULT_JOB)
    return Settings(
        url=check_url(url_text) if url_text else None,
        live_every=live_interval(interval),
        openmetrics=Path(path) if path else None,
        job=check_label_text(job, "qos_prometheus_job"),
        instance=str(ini("qos_prometheus_instance") or socket.gethostname()),
    )


def check_url(text: str) -> str:
    """A Pushgateway URL: http(s), a host, a valid port, no query, fragment or user."""
    problem = ""
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError as error:
        problem = str(error)
    else:
        if parts.scheme not in ("http", "https"):
            problem = "it needs http:// or https://"
        elif not parts.hostname:
            problem = "it names no host"
        elif parts.query or parts.fragment:
            problem = "a Pushgateway URL has no '?' query or '#' fragment"
        elif parts.username is not None:
            problem = "credentials in the URL are not sent; use a URL without them"
        elif port == 0:
            problem = "port 0 is not a port"
    if problem or any(ch.isspace() for ch in text):
        why = problem or "it contains white space"
        raise InputError(
            f"'{text}' is not a Pushgateway URL ({why}); write e.g. {URL_EXAMPLE}",
            key="--qos-prometheus",
        )
    return text.rstrip("/")


def live_interval(text: str) -> float:
    """--qos-live-interval: '0' (off) or a duration from 1 s to 1 h."""
    if text.strip() == "0":
        return 0.0
    try:
        seconds = parse(text, Kind.DURATION, "--qos-live-interval")
    except InputError as error:
        raise InputError(
            f"{error.message}; or 0 to turn it off", key="--qos-live-interval"
        ) from None
    if not MIN_LIVE_INTERVAL <= seconds <= MAX_LIVE_INTERVAL:
        raise InputError(
            f"'{text}' is out of range: write 0 (off) or from 1 s to 1 h",
            key="--qos-live-interval",
        )
    return seconds


def check_label_text(text: str, key: str) -> str:
    """A job name: any text but none."""
    if not text.strip():
        raise InputError("the job label needs a name, e.g. pytest-qos", key=key)
    return text
