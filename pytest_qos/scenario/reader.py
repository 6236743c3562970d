"""Scenario files: YAML → validated specs, every error pointing at file, line and key.

The file is read section by section, each by its own reader: target, lab, path/mesh and
defaults (sections.py), and each test by the reader of its kind (testkinds.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ScenarioError
from ..lab.spec import LabSpec, bound_problem
from ..yamldoc import LocatedYaml
from .section import Section
from .sections import DefaultsReader, LabReader, PlacesReader, TargetReader
from .spec import AnyTest, Scenario
from .testkinds import read_test

TOP_KEYS = ("description", "target", "defaults", "lab", "path", "mesh", "tests")
_FLAT = "a scenario nests a few levels (tests: name: traffic: key: value)"

__all__ = ["TOP_KEYS", "Scenario", "load_scenario", "parse_scenario"]


def load_scenario(path: Path) -> Scenario:
    """Read and validate one scenario file; raises ScenarioError on the first problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ScenarioError(str(path), None, None, f"cannot read: {error}") from None
    return parse_scenario(text, path)


def parse_scenario(text: str, path: Path) -> Scenario:
    """Validate scenario YAML `text` read from `path`."""
    return ScenarioReader(LocatedYaml(path, text, nesting=_FLAT)).read()


class ScenarioReader(Section):
    """The whole file: its top keys, its tests, and the rules that span sections."""

    def read(self) -> Scenario:
        """Validate the whole file."""
        top = self.top()
        defaults = DefaultsReader(self.document).read(top.get("defaults"))
        tests = tuple(
            read_test(self.document, name, value, defaults) for name, value in top["tests"].items()
        )
        description = top.get("description", "")
        if not isinstance(description, str):
            raise self.error(("description",), "description must be text")
        places = PlacesReader(self.document)
        path = places.path(top["path"], ("path",)) if "path" in top else None
        mesh = places.mesh(top["mesh"]) if "mesh" in top else None
        if mesh is not None and (path is not None or any(t.site_path for t in tests)):
            raise self.error(("mesh",), "a mesh file gives no 'path:'; the mesh makes the paths")
        if (mesh or path or any(t.site_path for t in tests)) and "target" in top:
            raise self.error(("target",), "give 'target:' or 'path:'/'mesh:', not both")
        lab = LabReader(self.document).read(top["lab"]) if "lab" in top else None
        self.lab_metrics(tests, lab)
        return Scenario(
            path=self.document.path,
            tests=tests,
            target=TargetReader(self.document).read(top.get("target")),
            lab=lab,
            description=description,
            site_path=path,
            mesh=mesh,
        )

    def top(self) -> dict[str, Any]:
        """The top-level mapping, with a non-empty `tests:` whose names are text."""
        if self.document.data is None:
            raise self.error((), "the file is empty; a scenario needs a 'tests:' mapping")
        top = self.mapping(self.document.data, (), "a scenario file")
        self.known_keys(top, TOP_KEYS, (), "the scenario file")
        if "tests" not in top:
            raise self.error((), "no 'tests:' mapping; add at least one test under 'tests:'")
        tests = self.mapping(top["tests"], ("tests",), "'tests'")
        for key in top["tests"]:
            if not isinstance(key, str):
                raise self.error(
                    ("tests", str(key)),
                    f"test name {key!r} is read as {type(key).__name__}, not as text; "
                    "quote the name (e.g. '\"1\":') so it stays a name",
                )
        if not tests:
            raise self.error(("tests",), "'tests:' is empty; add at least one test")
        if "target" in top and "lab" in top:
            raise self.error(
                ("lab",),
                f"'target:' (line {self.lines[('target',)]}) and 'lab:' in one file: a lab file "
                "measures across its own namespaces, a target file measures a running path; "
                "keep one of them (split the file in two to measure both)",
            )
        return {**top, "tests": tests}

    def lab_metrics(self, tests: tuple[AnyTest, ...], lab: LabSpec | None) -> None:
        """`router.` bounds need the lab's router(s); `hop.N.` bounds a hop its path has."""
        for spec in tests:
            for name in spec.expect:
                problem = bound_problem(lab, name)
                if problem:
                    raise self.error(("tests", spec.name, "expect", name), problem)
