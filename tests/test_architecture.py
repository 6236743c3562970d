"""The layout's promises, counted with the standard library's `ast` (docs/architecture.md).

The package is a foundation and rooms (subpackages), in layers: a module imports only from
its own room, the foundation and the rooms of lower layers; nothing imports the pytest layer
but pytest; the library imports without pytest. No import cycle, counting imports made inside
functions; few of those at all. Size limits hold everywhere, without waivers.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "pytest_qos"
FOUNDATION = ("errors", "units", "results", "yamldoc", "live")
# The library's entry points: the package itself (its public names) and `python -m
# pytest_qos`. They may import any room below the pytest layer.
ENTRY_POINTS = ("", "__main__")
# The rooms, lowest first. A room imports the foundation, itself and the rooms of lower ranks;
# rooms of one rank do not import each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("judge",),
    ("hosts",),
    ("probes",),
    ("measure",),
    ("lab",),
    ("methods",),
    ("diagnose",),
    ("scenario",),
    ("store",),
    ("report",),
    ("monitor", "history"),
    ("plugin",),
)
PYTEST_LAYER_ROOM = "plugin"
# The only modules that import pytest: the pytest layer, and pytest-html's hooks.
PYTEST_LAYER = {
    "plugin.monitoring",
    "plugin.hooks",
    "plugin.collect",
    "plugin.fixtures",
    "plugin.session",
    "plugin.meshsched",
    "report.html",
}
# Modules that import part of pytest inside a function, when used, and import without it: the
# trend command's -k, parsed by pytest's own expression grammar.
PYTEST_WHEN_CALLED = {"history.cli"}
MAX_TOP_MODULES = 10
MIN_ROOMS = 6
MAX_LOCAL_IMPORTS = 6
MAX_FUNCTION_LINES = 60
MAX_CLASS_LINES = 250
MAX_PARAMETERS = 7


@dataclass
class Module:
    """One module of the package: its dotted name (no 'pytest_qos.'), source tree, imports."""

    name: str
    path: Path
    tree: ast.Module
    imports: set[str] = field(default_factory=set)  # modules of the package it imports
    local_imports: list[tuple[int, str]] = field(default_factory=list)  # (line, module)

    @property
    def room(self) -> str:
        """Its subpackage, 'foundation', or the entry point itself."""
        if self.name in ENTRY_POINTS:
            return self.name or "pytest_qos"
        first = self.name.split(".")[0]
        return "foundation" if first in FOUNDATION else first


@cache
def modules() -> dict[str, Module]:
    """Every module of the package with the package modules each one imports."""
    found: dict[str, Module] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(part for part in parts if part != "__init__")
        found[name] = Module(name, path, ast.parse(path.read_text(), str(path)))
    for module in found.values():
        for node, in_function in _imports(module.tree):
            targets = _targets(module, node, found)
            module.imports |= targets
            if in_function and targets:
                module.local_imports += [(node.lineno, target) for target in sorted(targets)]
    return found


def _imports(tree: ast.AST) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement, and whether it runs inside a function (TYPE_CHECKING too)."""
    stack: list[tuple[ast.AST, bool]] = [(tree, False)]
    while stack:
        node, in_function = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, in_function
        inside = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        stack.extend((child, inside) for child in ast.iter_child_nodes(node))


def _targets(
    module: Module, node: ast.Import | ast.ImportFrom, known: dict[str, Module]
) -> set[str]:
    """The package modules an import statement names (a `from X import Y` may name module Y)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names if alias.name.startswith("pytest_qos")]
        return {name.removeprefix("pytest_qos").lstrip(".") for name in names} & set(known)
    if node.level:
        parts = module.name.split(".") if module.name else []
        package = parts if module.path.name == "__init__.py" else parts[:-1]
        base = package[: len(package) - node.level + 1]
        prefix = ".".join([*base, *([node.module] if node.module else [])])
    elif (node.module or "").startswith("pytest_qos"):
        prefix = (node.module or "").removeprefix("pytest_qos").lstrip(".")
    else:
        return set()
    targets = set()
    for alias in node.names:
        submodule = f"{prefix}.{alias.name}" if prefix else alias.name
        targets.add(submodule if submodule in known else prefix)
    return targets & set(known)


def rank(room: str) -> int | None:
    """The room's layer (0 is the foundation), None for an entry point."""
    if room == "foundation":
        return 0
    for index, rooms in enumerate(LAYERS, 1):
        if room in rooms:
            return index
    return None


def import_cycles(found: dict[str, Module]) -> list[list[str]]:
    """Strongly connected groups of modules (Tarjan), counting every import statement."""
    graph = {name: sorted(module.imports & set(found)) for name, module in found.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        on_stack.add(name)
        for other in graph[name]:
            if other not in index:
                visit(other)
                low[name] = min(low[name], low[other])
            elif other in on_stack:
                low[name] = min(low[name], index[other])
        if low[name] == index[name]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == name:
                    break
            if len(group) > 1 or name in graph[name]:
                cycles.append(sorted(group))

    for name in graph:
        if name not in index:
            visit(name)
    return cycles


# -- the tree ------------------------------------------------------------------------------


def test_a_few_modules_at_the_top_and_the_rest_in_rooms() -> None:
    top = [p.stem for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]
    rooms = [p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()]
    assert len(top) <= MAX_TOP_MODULES, sorted(top)
    assert len(rooms) >= MIN_ROOMS, sorted(rooms)
    # The layer rules know the foundation and the entry points only: the rest lives in rooms.
    assert set(top) - set(FOUNDATION) == {"__main__"}, "a new module belongs in a room"


def test_every_room_is_in_the_layer_order_and_says_what_it_owns() -> None:
    for path in sorted(PACKAGE.iterdir()):
        if not (path / "__init__.py").is_file():
            continue
        assert rank(path.name) is not None, f"add room '{path.name}' to LAYERS (and the docs)"
        docstring = ast.get_docstring(modules()[path.name].tree) or ""
        assert "import" in docstring.lower(), f"{path.name}/__init__.py: say what it may import"


# -- imports -------------------------------------------------------------------------------


def test_no_import_cycle_counting_imports_inside_functions() -> None:
    assert import_cycles(modules()) == []


def test_few_function_local_imports_of_the_package() -> None:
    local = [
        f"{module.name}:{line} {target}"
        for module in modules().values()
        for line, target in module.local_imports
    ]
    assert len(local) <= MAX_LOCAL_IMPORTS, local


def upward_imports(found: dict[str, Module]) -> list[str]:
    """Imports against the layer order: of a higher or equal-rank room, of an entry point,
    or of the pytest layer by an entry point."""
    wrong = []
    for module in found.values():
        mine = rank(module.room)
        for target in sorted(module.imports & set(found)):
            theirs = found[target].room
            if theirs == module.room:
                continue
            if rank(theirs) is None:
                wrong.append(f"{module.name} imports the entry point {target or 'pytest_qos'}")
            elif mine is None:  # an entry point: any room below the pytest layer
                if theirs == PYTEST_LAYER_ROOM:
                    wrong.append(f"{module.name or 'pytest_qos'} imports the pytest layer")
            elif (rank(theirs) or 0) >= mine:
                wrong.append(f"{module.name} ({module.room}) imports {target} ({theirs})")
    return wrong


def test_imports_flow_down_the_layers() -> None:
    assert upward_imports(modules()) == []


def test_only_the_pytest_layer_imports_pytest() -> None:
    importers = set()
    for module in modules().values():
        for node, _ in _imports(module.tree):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            if any(name.split(".")[0] in ("pytest", "_pytest") for name in names):
                importers.add(module.name)
    allowed = PYTEST_LAYER | PYTEST_WHEN_CALLED
    assert importers <= allowed, sorted(importers - allowed)


def library_modules() -> list[str]:
    """Every module of the package outside the pytest layer, as dotted names."""
    return [
        f"pytest_qos.{name}" if name else "pytest_qos"
        for name in modules()
        if name not in PYTEST_LAYER and name != "__main__"
    ]


def test_library_imports_with_pytest_unimportable() -> None:
    # A meta-path blocker in front of everything: `import pytest` (or _pytest) fails.
    script = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('pytest', '_pytest'):\n"
        "            raise ImportError(f'{name} is blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import importlib\n"
        f"for module in {library_modules()!r}:\n"
        "    importlib.import_module(module)\n"
        "print('ok')\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "ok"


@pytest.mark.parametrize("module", sorted(PYTEST_LAYER))
def test_pytest_layer_modules_exist(module: str) -> None:
    assert (PACKAGE / (module.replace(".", "/") + ".py")).is_file()


# -- sizes ---------------------------------------------------------------------------------


def _definitions() -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef]]:
    """(qualified name, node) of every function and class of the package."""
    for module in modules().values():
        stack: list[tuple[str, ast.AST]] = [(module.name, module.tree)]
        while stack:
            prefix, node = stack.pop()
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    name = f"{prefix}.{child.name}"
                    yield name, child
                    stack.append((name, child))
                else:
                    stack.append((prefix, child))


def _lines(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> int:
    return (node.end_lineno or node.lineno) - node.lineno + 1


def test_no_function_over_60_lines() -> None:
    long = [
        f"{name}: {_lines(node)} lines"
        for name, node in _definitions()
        if not isinstance(node, ast.ClassDef) and _lines(node) > MAX_FUNCTION_LINES
    ]
    assert long == []


def test_no_class_over_250_lines() -> None:
    large = {
        name: _lines(node)
        for name, node in _definitions()
        if isinstance(node, ast.ClassDef) and _lines(node) > MAX_CLASS_LINES
    }
    assert large == {}


def test_no_size_waiver_comments() -> None:
    waived = [
        f"{module.name}:{number}"
        for module in modules().values()
        for number, line in enumerate(module.path.read_text().splitlines(), 1)
        if "# long:" in line
    ]
    assert waived == []


def _parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    arguments = node.args
    names = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
    count = len(names) + bool(arguments.vararg) + bool(arguments.kwarg)
    return count - (1 if names and names[0].arg in ("self", "cls") else 0)


def test_no_function_takes_more_than_7_parameters() -> None:
    many = [
        f"{name}: {_parameters(node)}"
        for name, node in _definitions()
        if not isinstance(node, ast.ClassDef) and _parameters(node) > MAX_PARAMETERS
    ]
    assert many == []


def test_the_import_checks_catch_an_upward_import_and_a_cycle() -> None:
    """Made-up modules: judge importing the lab (a room above it) and the lab importing back."""
    judge = Module("judge.fake", PACKAGE / "judge" / "fake.py", ast.parse("from ..lab import x\n"))
    lab = Module("lab", PACKAGE / "lab" / "__init__.py", ast.parse("from ..judge import fake\n"))
    found = {"judge.fake": judge, "lab": lab, "judge": lab}
    for module in (judge, lab):
        for node, _ in _imports(module.tree):
            module.imports |= _targets(module, node, found)
    del found["judge"]
    assert judge.imports == {"lab"} and lab.imports == {"judge.fake"}
    assert upward_imports(found) == ["judge.fake (judge) imports lab (lab)"]
    assert import_cycles(found) == [["judge.fake", "lab"]]
    assert rank("lab") < rank("diagnose") < rank("scenario")  # type: ignore[operator]
    assert rank("report") < rank("monitor") == rank("history") < rank("plugin")  # type: ignore[operator]
