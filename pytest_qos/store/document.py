"""The results document (--qos-json, baselines): every result in base units, written whole."""

from __future__ import annotations

import hashlib
import json
import math
import platform
import re
import socket
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import QosError
from ..results import QosResult
from .output import write_output

SCHEMA_VERSION = 1


def environment(iperf3_version: str | None = None) -> dict[str, Any]:
    """Where and when the results were measured."""
    return {
        "host": socket.gethostname(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "iperf3": iperf3_version,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def build_document(
    results: Iterable[QosResult],
    env: dict[str, Any],
    incomplete: str = "",
    series: bool = False,
) -> dict[str, Any]:
    """`{"version": 1, "complete": true, "environment": {...}, "results": [...]}`.

    `incomplete` says why a run is not whole (interrupted, tests that never reported);
    such a document carries `"complete": false` and that reason, and is no baseline.
    Per-sample series (an RTT per probe, a rate per interval) stay out unless `series`
    (--qos-json-series): each measurement keeps a summary of them (`series_summary`).
    """
    documents = [result.to_json() for result in results]
    if not series:
        for document in documents:
            for measurement in (*document["measurements"], *document["loads"]):
                summarise_series(measurement)
    texts: dict[str, str] = {}
    documents = _shorten(documents, texts)
    return {
        "version": SCHEMA_VERSION,
        "complete": not incomplete,
        **({"incomplete": incomplete} if incomplete else {}),
        "environment": env,
        **({} if series else {"series": "summarised (per-sample series: --qos-json-series)"}),
        "results": documents,
        **({"texts": texts} if texts else {}),
    }


# The probe script shipped to a remote host travels as one base64 blob (~60 kB) inside each
# command that ran it there (client, responder, its details): a document keeps it once.
_BLOB = re.compile(r"[A-Za-z0-9+/]{2000,}={0,2}")
_REFERENCE = re.compile(r"<text:([0-9a-f]{16})>")


def _shorten(node: Any, texts: dict[str, str]) -> Any:
    """`node` with every long base64 blob in its strings replaced by '<text:ID>' (texts[ID])."""
    if isinstance(node, str):

        def refer(match: re.Match[str]) -> str:
            key = hashlib.sha256(match.group(0).encode()).hexdigest()[:16]
            texts[key] = match.group(0)
            return f"<text:{key}>"

        return _BLOB.sub(refer, node) if len(node) >= 2000 else node
    if isinstance(node, list):
        return [_shorten(item, texts) for item in node]
    if isinstance(node, dict):
        return {key: _shorten(value, texts) for key, value in node.items()}
    return node


def expand_texts(document: dict[str, Any]) -> dict[str, Any]:
    """The document with every '<text:ID>' reference replaced by its text (commands whole)."""
    texts = document.get("texts") or {}
    if not isinstance(texts, dict) or not texts:
        return document

    def expand(node: Any) -> Any:
        if isinstance(node, str):
            return _REFERENCE.sub(lambda m: str(texts.get(m.group(1), m.group(0))), node)
        if isinstance(node, list):
            return [expand(item) for item in node]
        if isinstance(node, dict):
            return {key: expand(value) for key, value in node.items()}
        return node

    return {key: expand(value) if key == "results" else value for key, value in document.items()}


def summarise_series(measurement: dict[str, Any]) -> None:
    """Replace a measurement's per-sample series by {name: {points, min, max}} (in place)."""
    summary = {}
    for name, points in measurement.pop("series", {}).items():
        values = [point[1] for point in points]
        if values:
            summary[name] = {"points": len(values), "min": min(values), "max": max(values)}
    if summary:
        measurement["series_summary"] = summary


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` so a reader sees the old file or the whole new one, never half."""
    write_output(path, text)


def to_json(document: dict[str, Any]) -> str:
    """Strict JSON: a NaN or infinity (which JSON cannot hold) is an error naming where."""
    try:
        return json.dumps(document, indent=2, sort_keys=False, allow_nan=False) + "\n"
    except ValueError:
        raise QosError(f"the results hold a number JSON cannot: {_non_finite(document)}") from None


def _non_finite(node: Any, where: str = "") -> str:
    if isinstance(node, float) and not math.isfinite(node):
        return f"{where or 'the document'} is {node}"
    children = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, value in children:
        found = _non_finite(value, f"{where}.{key}" if where else str(key))
        if found:
            return found
    return ""


def write_document(path: Path, document: dict[str, Any]) -> None:
    """Write a results document as indented, strict JSON, atomically."""
    write_output(path, to_json(document))
