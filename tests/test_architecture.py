"""The layout's promises: the measuring library imports without pytest; size limits hold."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "pytest_qos"
# The pytest layer: the only modules allowed to import pytest.
PYTEST_LAYER = {
    "plugin.hooks",
    "plugin.collect",
    "plugin.fixtures",
    "plugin.session",
    "plugin.meshsched",
    "plugin.monitoring",
    "report.html",
}
MAX_FUNCTION_LINES = 60
MAX_CLASS_LINES = 250


def library_modules() -> list[str]:
    """Every module of the package outside the pytest layer, as dotted names."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        dotted = ".".join(part for part in parts if part != "__init__")
        if dotted not in PYTEST_LAYER and dotted != "__main__":
            names.append(f"pytest_qos.{dotted}" if dotted else "pytest_qos")
    return names


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


def _oversized() -> list[str]:
    """Functions over 60 lines and classes over 200 without a comment saying why."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text()
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                limit = MAX_CLASS_LINES if isinstance(node, ast.ClassDef) else MAX_FUNCTION_LINES
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                header = lines[node.lineno - 1 : node.lineno + 1]
                if length > limit and not any("# long:" in line for line in header):
                    found.append(f"{path.name}:{node.lineno} {node.name}: {length} lines")
    return found


def test_no_function_or_class_is_oversized_without_saying_why() -> None:
    assert _oversized() == []


@pytest.mark.parametrize("module", sorted(PYTEST_LAYER))
def test_pytest_layer_modules_exist(module: str) -> None:
    assert (PACKAGE / (module.replace(".", "/") + ".py")).is_file()
