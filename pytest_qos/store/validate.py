"""A results document read back (a baseline) checked against `results.schema.json`.

Each problem is one line with the file's line and the key path: first what the schema says
(types, required keys, finite numbers), then what it cannot (every metric within the range the
metric catalogue gives it; "lost" only for a delay percentile). The checker knows the few
JSON Schema keywords that schema uses, so the schema file is the one statement of the rules.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..judge.metrics import find
from ..results import LOST, may_be_lost
from ..yamldoc import KeyPath

SCHEMA: dict[str, Any] = json.loads(
    (Path(__file__).parent / "results.schema.json").read_text(encoding="utf-8")
)
MAX_PROBLEMS = 10  # reported at most; a broken file rarely needs more to be understood
_PYTHON = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
_TYPES = {"object": "a mapping", "array": "a list", "string": "text", "boolean": "true or false"}


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a document, at a key path."""

    path: KeyPath
    message: str


def problems(document: Any) -> list[Problem]:
    """What is wrong with a results document (at most MAX_PROBLEMS), schema rules first."""
    found: list[Problem] = []
    _walk(document, SCHEMA, (), found)
    if not found:
        _check_values(document, found)
    return found[:MAX_PROBLEMS]


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    reference = schema.get("$ref")
    if reference is None:
        return schema
    node: Any = SCHEMA
    for part in str(reference).removeprefix("#/").split("/"):
        node = node[part]
    return dict(node)


def _walk(value: Any, schema: dict[str, Any], path: KeyPath, found: list[Problem]) -> None:
    """Check `value` against one schema node; bounded by the schema's own depth."""
    if len(found) >= MAX_PROBLEMS:
        return
    schema = _resolve(schema)
    if "anyOf" in schema:
        options = schema["anyOf"]
        if not any(_fits(value, option) for option in options):
            # The option of the value's own type says best what is wrong (a number too large).
            typed = [o for o in options if _is(value, str(_resolve(o).get("type", "-")))]
            if typed:
                _walk(value, typed[0], path, found)
            else:
                found.append(Problem(path, f"{_shown(value)} is not {_expected(schema)}"))
        return
    if "const" in schema:
        if type(value) is not type(schema["const"]) or value != schema["const"]:
            found.append(Problem(path, f"is {_shown(value)}, expected {schema['const']!r}"))
        return
    kind = schema.get("type")
    if kind is not None and not _is(value, kind):
        found.append(Problem(path, f"{_shown(value)} is not {_expected(schema)}"))
        return
    if kind in ("number", "integer"):
        _number(value, schema, path, found)
    elif kind == "object":
        _object(value, schema, path, found)
    elif kind == "array":
        count = len(value)
        if not schema.get("minItems", 0) <= count <= schema.get("maxItems", count):
            found.append(Problem(path, f"holds {count} items, expected {_size(schema)}"))
        items = schema.get("items")
        if items is not None:
            for index, item in enumerate(value):
                _walk(item, items, (*path, str(index)), found)


def _object(
    value: dict[str, Any], schema: dict[str, Any], path: KeyPath, found: list[Problem]
) -> None:
    for key in schema.get("required", ()):
        if key not in value:
            found.append(Problem(path, f"has no '{key}'"))
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    for key, item in value.items():
        if key in properties:
            _walk(item, properties[key], (*path, key), found)
        elif isinstance(extra, dict):
            _walk(item, extra, (*path, key), found)


def _number(value: float, schema: dict[str, Any], path: KeyPath, found: list[Problem]) -> None:
    try:
        number = float(value)
    except OverflowError:
        found.append(Problem(path, f"a number of {len(str(value))} digits is no measurement"))
        return
    if not math.isfinite(number):
        found.append(Problem(path, f"{number} is not a finite number"))
    elif number < schema.get("minimum", -math.inf):
        found.append(Problem(path, f"{number:g} is below {schema['minimum']}"))


def _fits(value: Any, schema: dict[str, Any]) -> bool:
    trial: list[Problem] = []
    _walk(value, schema, (), trial)
    return not trial


def _is(value: Any, kind: str) -> bool:
    if kind not in ("number", "integer", *_PYTHON):
        return False
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, _PYTHON[kind])


def _expected(schema: dict[str, Any]) -> str:
    schema = _resolve(schema)
    if "anyOf" in schema:
        return " or ".join(_expected(option) for option in schema["anyOf"])
    if "const" in schema:
        return json.dumps(schema["const"])
    kind = str(schema.get("type"))
    return _TYPES.get(kind, f"a {kind}" if kind != "null" else "null")


def _size(schema: dict[str, Any]) -> str:
    low, high = schema.get("minItems", 0), schema.get("maxItems")
    return f"{low}" if low == high else f"at least {low}" if high is None else f"{low} to {high}"


def _shown(value: Any) -> str:
    """How a problem names the value it found: `true`, `the text '5 %'`, `a list`."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    if isinstance(value, (int, float)):
        text = str(value)
        return text if len(text) <= 24 else f"a number of {len(text)} digits"
    return "a list" if isinstance(value, list) else "a mapping"


def _check_values(document: dict[str, Any], found: list[Problem]) -> None:
    """Metric values within the catalogue's ranges; "lost" only for delay percentiles."""
    for index, result in enumerate(document["results"]):
        at: KeyPath = ("results", str(index))
        places = [(at, "metrics", result.get("metrics", {}))]
        for part in ("measurements", "loads"):
            for number, item in enumerate(result.get(part, [])):
                places.append(((*at, part, str(number)), "metrics", item["metrics"]))
        for number, check in enumerate(result.get("bounds", [])):
            values = {k: check[k] for k in ("measured", "baseline") if check.get(k) is not None}
            for key, value in values.items():
                _value(check["metric"], value, (*at, "bounds", str(number), key), found)
        for where, key, metrics in places:
            for name, value in metrics.items():
                _value(name, value, (*where, key, name), found)


def _value(name: str, value: float | str, path: KeyPath, found: list[Problem]) -> None:
    if value == LOST:
        if not may_be_lost(name):
            found.append(
                Problem(path, f"\"lost\" is only a delay percentile's value (….p99), not {name}'s")
            )
        return
    metric = find(name)
    why = metric.out_of_range(float(value)) if metric is not None else None
    if why is not None:
        found.append(Problem(path, why))


# A JSON token: a string, a punctuation mark, or a bare word (number, true, false, null).
_TOKEN = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([{}\[\]:,])|([^\s{}\[\]:,"]+))', re.DOTALL)


def line_of(text: str, path: KeyPath) -> int | None:
    """The line where the value at `path` starts in JSON `text` (None if not found).

    A scan without recursion, so any nesting is fine; run only for a document with problems.
    """
    stack: list[list[Any]] = []  # [kind, current key or index, expecting a key]
    for match in _TOKEN.finditer(text):
        string, mark, _ = match.groups()
        top = stack[-1] if stack else None
        if top is not None and top[0] == "object" and top[2]:
            if string is not None:
                top[1], top[2] = json.loads(f'"{string}"'), False
            elif mark == "}":
                stack.pop()
            continue
        if mark == ":":
            continue
        if mark == ",":
            if top is not None:
                if top[0] == "array":
                    top[1] += 1
                else:
                    top[2] = True
            continue
        if mark in ("}", "]"):
            if stack:
                stack.pop()
            continue
        if len(stack) == len(path) and all(
            str(f[1]) == k for f, k in zip(stack, path, strict=True)
        ):
            return text.count("\n", 0, match.end() - len(match.group().lstrip())) + 1
        if mark == "{":
            stack.append(["object", None, True])
        elif mark == "[":
            stack.append(["array", 0, False])
    return None


def depth_line(text: str, limit: int) -> int | None:
    """The line where JSON `text` first nests deeper than `limit` (brackets in strings skipped)."""
    depth = 0
    for match in _TOKEN.finditer(text):
        mark = match.group(2)
        if mark in ("{", "["):
            depth += 1
            if depth > limit:
                return text.count("\n", 0, match.start(2)) + 1
        elif mark in ("}", "]"):
            depth -= 1
    return None
