"""The probe responder and client as one stdlib-only script, for hosts without pytest-qos."""

from __future__ import annotations

import ast
import base64
import functools
import importlib.util
import sys
import zlib
from pathlib import Path

# The probes' command line is the entry point; everything it imports comes along.
ENTRY = "pytest_qos.probes.cli"
_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # pytest_qos/


class ShipError(Exception):
    """A module the script needs imports something outside the standard library."""


def _module_path(name: str) -> Path:
    relative = name.split(".")[1:]
    candidate = _PACKAGE_DIR.joinpath(*relative)
    if candidate.is_dir():
        return candidate / "__init__.py"
    return candidate.with_suffix(".py")


def _resolve(module: str, node: ast.ImportFrom) -> list[str]:
    """The pytest_qos modules an `from X import Y` names (Y may itself be a module)."""
    package = module.rsplit(".", 1)[0] if not module.endswith("__init__") else module
    if node.level:
        parts = package.split(".")
        base = ".".join(parts[: len(parts) - node.level + 1])
        target = f"{base}.{node.module}" if node.module else base
    else:
        target = node.module or ""
    names = [target]
    for alias in node.names:
        if _module_path(f"{target}.{alias.name}").is_file():
            names.append(f"{target}.{alias.name}")
    return names


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, tree: ast.AST) -> tuple[set[str], set[str], set[str]]:
    """(pytest_qos modules imported at load time, those imported inside functions only,
    other top-level modules) of `tree`."""
    eager: set[str] = set()
    lazy: set[str] = set()
    others: set[str] = set()
    stack: list[tuple[ast.AST, bool]] = [(tree, False)]
    while stack:
        node, in_function = stack.pop()
        ours = lazy if in_function else eager
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend((child, in_function) for child in node.orelse)
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("pytest_qos"):
                    ours.add(alias.name)
                else:
                    others.add(alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level or (node.module or "").startswith("pytest_qos"):
                ours.update(name for name in _resolve(module, node) if name != "pytest_qos")
            elif node.module != "__future__":
                others.add((node.module or "").split(".")[0])
        inside = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        stack.extend((child, inside) for child in ast.iter_child_nodes(node))
    return eager, lazy - eager, others


@functools.cache
def modules(entry: str = ENTRY) -> tuple[tuple[str, str], ...]:
    """(name, source) of `entry` and every pytest_qos module it needs, dependencies first."""
    order: list[tuple[str, str]] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        path = _module_path(name)
        source = path.read_text(encoding="utf-8")
        eager, lazy, others = _imports(name, ast.parse(source, str(path)))
        foreign = sorted(o for o in others if o and o not in sys.stdlib_module_names)
        if foreign:
            raise ShipError(
                f"{name} imports {', '.join(foreign)}: the shipped script is stdlib-only"
            )
        # Load-time imports run first; a function's own import (often one that breaks an
        # import cycle) only needs the module loaded by the time the function is called.
        for dependency in sorted(eager):
            visit_package_member(dependency)
        order.append((name, source))
        for dependency in sorted(lazy):
            visit_package_member(dependency)

    def visit_package_member(dependency: str) -> None:
        if dependency.endswith(".__init__") or _module_path(dependency).name == "__init__.py":
            return  # packages ship as empty shells: their __init__ imports everything
        visit(dependency)

    visit(entry)
    return tuple(order)


_LOADER = """\
import sys, types
def _qos_load(name, source):
    parts = name.split(".")
    for i in range(1, len(parts)):
        package = ".".join(parts[:i])
        if package not in sys.modules:
            shell = types.ModuleType(package)
            shell.__path__ = []
            sys.modules[package] = shell
    module = types.ModuleType(name)
    module.__package__ = ".".join(parts[:-1])
    sys.modules[name] = module
    exec(compile(source, "<pytest-qos " + name + ">", "exec"), module.__dict__)
"""


@functools.cache
def script(entry: str = ENTRY) -> str:
    """A standalone Python script: `python3 - ARGS < script` runs `python -m pytest_qos ARGS`."""
    body = [_LOADER]
    for name, source in modules(entry):
        body.append(f"_qos_load({name!r}, {source!r})")
    body.append(f"sys.exit(sys.modules[{entry!r}].main(sys.argv[1:]))")
    return "\n".join(body) + "\n"


@functools.cache
def one_liner(entry: str = ENTRY) -> str:
    """The script compressed into one `python3 -c` argument (about 15 kB)."""
    packed = base64.b64encode(zlib.compress(script(entry).encode(), 9)).decode()
    return f"import base64,zlib;exec(zlib.decompress(base64.b64decode({packed!r})))"


def python_argv(python: str = "python3") -> list[str]:
    """`python3 -c ONE_LINER`: then append the arguments of `python -m pytest_qos`."""
    # argv[0] of `-c` is '-c'; main() reads sys.argv[1:], which are the caller's arguments.
    return [python, "-c", one_liner()]


def installed() -> bool:
    """True when this interpreter has pytest_qos importable (the local case)."""
    return importlib.util.find_spec("pytest_qos") is not None
