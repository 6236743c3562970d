"""YAML documents with a line for every key, read safely: scenario and testbed files alike.

One parse (in C when libyaml is there): the node tree gives each key path its line, then the
values. Input that would hurt the reader is refused in one line naming where: aliases that
expand past a bound (an "alias bomb"), recursive aliases, deep nesting, huge integers, keys
that are equal once parsed (1/true, 10/0xa, null/~), control characters.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from .errors import ScenarioError

KeyPath = tuple[str, ...]
MAX_ALIAS_NODES = 10_000  # values aliases may add beyond those written
MAX_DEPTH = 64  # scenario and testbed files nest about 6 deep
MAX_DIGITS = 100  # Python refuses int() of over 4,300 digits; no option needs 100
_INT_TAG = "tag:yaml.org,2002:int"
_MERGE_TAG = "tag:yaml.org,2002:merge"
# What the YAML reader refuses (YAML 1.1 printable set), to find the line it did not give.
_FORBIDDEN = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def dotted(path: KeyPath) -> str:
    """`tests.a.expect`; a key with a newline or NUL in it is quoted (errors stay one line)."""
    return ".".join(key if key.isprintable() else repr(key) for key in path)


class LocatedYaml:
    """One YAML document: `data` (its values) and `lines` (key path → line number)."""

    def __init__(self, path: Path, text: str, nesting: str) -> None:
        """`nesting` says how deep such a file normally goes, for the too-deep error."""
        self.path = path
        self.nesting = nesting
        self.lines: dict[KeyPath, int] = {}
        loader = _LOADER(text)
        try:
            root = loader.get_single_node()
            if root is not None:
                self._check_size(root)
                self._map_lines(root, (), loader)
            self.data: Any = loader.construct_document(root) if root is not None else None
        except yaml.YAMLError as error:
            line, message = _yaml_problem(error, text)
            raise ScenarioError(str(path), line, None, message) from None
        except RecursionError:
            raise ScenarioError(
                str(path), None, None, f"nested more deeply than YAML can read; {nesting}"
            ) from None
        finally:
            loader.dispose()

    def _check_size(self, root: yaml.Node) -> None:
        """Refuse recursive aliases and aliases that expand past MAX_ALIAS_NODES.

        Aliases share one node, so an "alias bomb" is small as text and exponential once
        walked; sizes are summed per distinct node, in time linear in the text.
        """
        sizes: dict[int, int] = {}
        open_nodes: set[int] = set()
        stack: list[tuple[yaml.Node, int]] = [(root, 0)]
        while stack:
            node, depth = stack.pop()
            key = id(node)
            if depth > MAX_DEPTH:
                raise self._at(
                    node, f"values are nested more than {MAX_DEPTH} deep; {self.nesting}"
                )
            children = _children(node)
            if key in sizes:
                continue
            if key not in open_nodes:
                open_nodes.add(key)
                stack.append((node, depth))
                for child in children:
                    if id(child) in open_nodes and id(child) not in sizes:
                        raise self._at(
                            child, "a recursive alias: this value contains an alias to itself"
                        )
                    stack.append((child, depth + 1))
                continue
            sizes[key] = 1 + sum(sizes[id(child)] for child in children)
        expanded, distinct = sizes[id(root)], len(sizes)
        if expanded - distinct > MAX_ALIAS_NODES:
            raise ScenarioError(
                str(self.path),
                None,
                None,
                f"aliases expand this file to {expanded:,} values (more than "
                f"{MAX_ALIAS_NODES:,} beyond what is written); write the values out or "
                "alias smaller pieces",
            )

    def _at(self, node: yaml.Node, message: str) -> ScenarioError:
        return ScenarioError(str(self.path), node.start_mark.line + 1, None, message)

    def _map_lines(self, node: yaml.Node, path: KeyPath, loader: Any) -> None:
        if isinstance(node, yaml.ScalarNode):
            self._scalar(node, loader)
        elif isinstance(node, yaml.MappingNode):
            seen: dict[Any, tuple[str, int]] = {}
            for key_node, value_node in node.value:
                line = key_node.start_mark.line + 1
                if key_node.tag == _MERGE_TAG:  # '<<: *base': explicit keys override, by design
                    self._map_lines(value_node, (*path, "<<"), loader)
                    continue
                if not isinstance(key_node, yaml.ScalarNode):
                    raise ScenarioError(
                        str(self.path),
                        line,
                        dotted(path) or None,
                        "a key must be plain text, not a list or mapping",
                    )
                value = self._scalar(key_node, loader)
                key = str(key_node.value) if isinstance(value, str) else str(value)
                # Keys equal once parsed (1/true/1.0, 10/0xa, null/~) would be merged by the
                # dict; so would 1 and '1' once read as names.
                for same in (_hashable(value), ("text", key)):
                    if same in seen:
                        written, first = seen[same]
                        raise ScenarioError(
                            str(self.path),
                            line,
                            dotted((*path, str(key_node.value))),
                            _duplicate(str(key_node.value), written, first),
                        )
                    seen[same] = (str(key_node.value), line)
                key_path = (*path, key)
                self.lines[key_path] = line
                self._map_lines(value_node, key_path, loader)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                item_path = (*path, str(index))
                self.lines[item_path] = item.start_mark.line + 1
                self._map_lines(item, item_path, loader)

    def _scalar(self, node: yaml.ScalarNode, loader: Any) -> Any:
        """Construct one scalar (cached for construct_document), errors at its line."""
        if node.tag == _INT_TAG and len(node.value) > MAX_DIGITS:
            raise self._at(
                node,
                f"a number of {len(node.value):,} digits; numbers here have at most "
                f"{MAX_DIGITS} (quote it if it is text)",
            )
        try:
            return loader.construct_object(node)
        except (ValueError, OverflowError) as error:
            raise self._at(node, f"'{node.value[:40]}' cannot be read: {error}") from None

    def error(self, path: KeyPath, message: str) -> ScenarioError:
        """A ScenarioError at the line of `path` (or of its nearest ancestor)."""
        probe = path
        while probe and probe not in self.lines:
            probe = probe[:-1]
        return ScenarioError(
            str(self.path),
            self.lines.get(probe, 1 if not path else None),
            dotted(path) or None,
            message,
        )

    def line(self, path: KeyPath) -> int:
        """The line of `path` (1 if unknown)."""
        return self.lines.get(path, 1)


def _yaml_problem(error: yaml.YAMLError, text: str) -> tuple[int | None, str]:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    if isinstance(error, yaml.reader.ReaderError):
        # The reader's message spans two lines and gives a character offset, not a line.
        bad = _FORBIDDEN.search(text)
        line = text.count("\n", 0, bad.start()) + 1 if bad else None
        code = f"U+{ord(bad.group()):04X}" if bad else "a character"
        return line, f"not valid YAML: control character {code} is not allowed; remove it"
    return (mark.line + 1 if mark else None), f"not valid YAML: {' '.join(problem.split())}"


def _duplicate(key: str, written: str, first: int) -> str:
    if key == written:
        return f"duplicate key (also on line {first}); each key may appear once"
    return (
        f"duplicate key: '{key}' here and '{written}' on line {first} are the same key once "
        "YAML reads them; each key may appear once (quote keys to keep them apart as text)"
    )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _hashable(value: Any) -> Any:
    """`value` as a dict key compares (1 == 1.0 == True), or its repr when unhashable."""
    try:
        hash(value)
    except TypeError:
        return ("unhashable", repr(value))
    return value
