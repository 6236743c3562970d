"""Everything a run writes at its end, in one call: each output on its own.

`write_outputs(run, outputs)` writes every output of the list; one that cannot be written is
one line in `Written.failures` and the others are still written. `standard_outputs(asked)`
is the list the options ask for (--qos-json, --qos-save, --qos-plot-dir, --qos-md and the
GitHub job summary); another output joins the list as one more `Output`: the pytest layer adds
the OpenMetrics textfile (monitor/) and the run's history (history/) that way.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import QosError
from ..lab.wan import wan_emulations
from ..results import Comparison, QosResult
from ..store.baselines import DEFAULT_DIRECTORY, save_baseline
from ..store.document import build_document, environment, write_document
from . import diagnosis, matrix
from .markdown import append_step_summary, escape, render_markdown, write_markdown
from .plots import write_plots


@dataclass
class Run:
    """A finished run as its outputs see it: results, comparisons, environment, wholeness."""

    results: Sequence[QosResult]
    comparisons: Mapping[str, Comparison] | None = None
    baseline_name: str | None = None
    incomplete: str = ""  # why the run is not whole ('' when it is)
    iperf3_version: str | None = None
    series: bool = False  # per-sample series kept whole (--qos-json-series), else summarised

    @functools.cached_property
    def document(self) -> dict[str, Any]:
        """The results document (--qos-json, baselines, the history), with the WAN emulation
        if any."""
        env = environment(self.iperf3_version)
        emulations = wan_emulations(self.results)
        if emulations:
            env["wan"] = emulations
        return build_document(self.results, env, self.incomplete, self.series)

    @functools.cached_property
    def markdown(self) -> str:
        """The Markdown report (--qos-md, the GitHub job summary): the results table, the mesh
        matrices, the diagnoses."""
        text = render_markdown(self.results, self.comparisons, self.baseline_name)
        grids = matrix.render_markdown(self.results)
        if grids:
            text += f"\n### QoS mesh matrix\n\n{grids}\n"
        return text + diagnosis.render_markdown(self.results, escape)


@dataclass(frozen=True)
class Output:
    """One output: the option that asked for it (its lines name it) and how to write it.

    `write` returns a line worth telling (e.g. where a baseline was saved), or None.
    """

    option: str
    write: Callable[[Run], str | None]


@dataclass
class Written:
    """What writing the outputs has to say: lines to tell, and one line per failed output."""

    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def write_outputs(run: Run, outputs: Sequence[Output]) -> Written:
    """Write each output; a failure becomes one line, not a traceback, and stops no other."""
    written = Written()
    for output in outputs:
        try:
            note = output.write(run)
        except OSError as error:
            where = f" {error.filename}" if error.filename else ""
            written.failures.append(
                f"pytest-qos: {output.option}: cannot write{where}: {error.strerror or error}"
            )
        except QosError as error:
            written.failures.append(
                f"pytest-qos: {output.option}: {getattr(error, 'message', error)}"
            )
        else:
            if note:
                written.notes.append(note)
    return written


@dataclass(frozen=True)
class Asked:
    """The outputs a run's options ask for."""

    json_path: Path | None = None  # --qos-json
    save_name: str | None = None  # --qos-save
    save_dir: Path = Path(DEFAULT_DIRECTORY)  # --qos-save-dir
    plot_dir: Path | None = None  # --qos-plot-dir
    md_path: Path | None = None  # --qos-md

    @property
    def files(self) -> bool:
        """True when a file is asked for even if no QoS test ran (a document of none)."""
        return bool(self.json_path or self.save_name or self.md_path)


def standard_outputs(asked: Asked) -> list[Output]:
    """The outputs the options ask for, in the order they are written."""
    outputs = []
    json_path, plot_dir, md_path = asked.json_path, asked.plot_dir, asked.md_path
    if json_path is not None:
        outputs.append(Output("--qos-json", lambda run: _write_json(run, json_path)))
    if asked.save_name:
        save = functools.partial(_save, name=asked.save_name, directory=asked.save_dir)
        outputs.append(Output("--qos-save", save))
    if plot_dir is not None:
        outputs.append(Output("--qos-plot-dir", lambda run: _write_plots(run, plot_dir)))
    if md_path is not None:
        outputs.append(Output("--qos-md", lambda run: _write_markdown(run, md_path)))
    outputs.append(Output("GITHUB_STEP_SUMMARY", _step_summary))
    return outputs


def _write_json(run: Run, path: Path) -> None:
    write_document(path, run.document)


def _save(run: Run, name: str, directory: Path) -> str | None:
    """The baseline, only from a whole run: a partial one would replace a good baseline."""
    if not run.results:
        return None
    if run.incomplete:
        return (
            f"QoS baseline '{name}' not saved: the run is incomplete "
            f"({run.incomplete}); the previous baseline stays as it was"
        )
    return f"QoS baseline '{name}' saved to {save_baseline(run.document, name, directory)}"


def _write_plots(run: Run, directory: Path) -> None:
    for result in run.results:  # series travel with results, also from xdist workers
        write_plots(result, directory)


def _write_markdown(run: Run, path: Path) -> None:
    if run.results:
        write_markdown(path, run.markdown)


def _step_summary(run: Run) -> None:
    if run.results:
        append_step_summary(run.markdown)
