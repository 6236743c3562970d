"""Fifty sites (issue 21 goal 5): a simulated 50-site mesh through collection, scheduling and
reporting, side by side with a reference commit (default `main`, QOS_BENCH_REFERENCE).

The mesh's endpoints measure nothing (tests/sim_sites.py: every item returns at once, or
sleeps); what is measured is the controller's own work. The reference runs from its package
tree (`git archive REF pytest_qos`) put first on PYTHONPATH, in the same session, interleaved.
Run with `pytest benchmarks/bench_mesh50.py --benchmark-only -p no:cacheprovider -s`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
sys.path.insert(0, str(TESTS))

from mesh_simulation import (  # noqa: E402
    lockstep,
    make_scheduler,
    mesh_collection,
    optimum,
    simulate,
)

REFERENCE = os.environ.get("QOS_BENCH_REFERENCE", "main")  # a commit, branch or tag
SITES = 50
SLEEP_S = 0.1  # a sleeping endpoint's item, for the -n sweep
SWEEP = (4, 8, 16, 24, 32)
MESH = """\
mesh: {{group: sims}}
tests:
  tcp: {{traffic: {{protocol: tcp, duration: 5 s}}, expect: {{throughput: ">= 150 Mbit/s"}}}}
{voice}"""
VOICE = '  voice: {probe: {kind: udp, dscp: EF}, expect: {latency.p99: "<= 1 ms"}}\n'


@dataclass
class Run:
    """One pytest run of the simulated mesh: its costs and what it printed."""

    wall_s: float
    cpu_s: float  # the controller's own
    tree_cpu_s: float  # the controller and every worker
    max_rss_mib: float  # the controller's
    collect_s: float
    output: str
    directory: Path


def _mesh(directory: Path, sites: int, voice: bool) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    names = [f"sim{i:02d}" for i in range(1, sites + 1)]
    hosts = "".join(
        f"  {n}: {{ssh: {n}.invalid, address: 198.18.{i}.2}}\n" for i, n in enumerate(names, 1)
    )
    (directory / "testbed.yaml").write_text(
        f"hosts:\n{hosts}groups:\n  sims: [{', '.join(names)}]\n"
    )
    (directory / "mesh.qos.yaml").write_text(MESH.format(voice=VOICE if voice else ""))
    return directory


def _pytest(directory: Path, package: Path | None, *args: str, sleep: float = 0.0) -> Run:
    """`pytest --qos -p sim_sites` in `directory`, with `package` (a reference tree) first."""
    paths = [str(package)] if package else []
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([*paths, str(TESTS)]),
        "QOS_SIM_SECONDS": str(sleep),
        "QOS_SIM_STATS": str(directory / "stats.json"),
    }
    argv = [sys.executable, "-m", "pytest", "--qos", "-p", "sim_sites", "-p", "no:cacheprovider"]
    argv += ["-q", "--qos-testbed=testbed.yaml", "mesh.qos.yaml", *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        argv, cwd=directory, env=env, capture_output=True, text=True, timeout=3600
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode in (0, 1), done.stdout[-2000:] + done.stderr[-2000:]
    stats = json.loads((directory / "stats.json").read_text())
    tree = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return Run(
        wall, stats["cpu_s"], tree, stats["max_rss_mib"], stats["collect_s"], done.stdout, directory
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference commit's package tree, extracted (no worktree, no checkout)."""
    target = tmp_path_factory.mktemp("reference")
    archive = target / "ref.tar"
    done = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "-o", str(archive), REFERENCE, "pytest_qos"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"no reference {REFERENCE!r} to compare with: {done.stderr.strip()}")
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return target


def _load(benchmark: Any) -> str:
    load = os.getloadavg()[0]
    benchmark.extra_info.setdefault("load_average", []).append(round(load, 2))
    return f"load average {load:.1f}"


def test_collection_time(benchmark: Any, reference: Path, tmp_path: Path) -> None:
    """--collect-only of 2 tests x 2450 ordered pairs: wall time and pytest's collection."""
    directory = _mesh(tmp_path / "mesh", SITES, voice=True)
    runs: dict[str, list[Run]] = {"reference": [], "branch": []}

    def measure() -> None:
        for _ in range(3):
            for code, package in (("reference", reference), ("branch", None)):
                runs[code].append(_pytest(directory, package, "--collect-only"))

    benchmark.pedantic(measure, rounds=1, iterations=1)
    for code, done in runs.items():
        assert "4900 tests collected" in done[0].output
        wall = statistics.median(r.wall_s for r in done)
        collect = statistics.median(r.collect_s for r in done)
        benchmark.extra_info[code] = {"wall_s": round(wall, 3), "collect_s": round(collect, 3)}
        print(
            f"\n{code}: 4900 items collected in {collect:.2f} s (wall {wall:.2f} s with start-up)"
        )
    ratio = statistics.median(r.collect_s for r in runs["branch"]) / statistics.median(
        r.collect_s for r in runs["reference"]
    )
    benchmark.extra_info["collect_ratio"] = round(ratio, 3)
    print(f"collection, branch / {REFERENCE}: {ratio:.2f}; {_load(benchmark)}")


def _scheduler_class(reference: Path) -> Any:
    """The reference's HostAwareScheduling, loaded from its tree under its own name."""
    path = reference / "pytest_qos" / "plugin" / "meshsched.py"
    spec = importlib.util.spec_from_file_location("reference_meshsched", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.HostAwareScheduling


@pytest.mark.parametrize("workers", [2, 4, 8, 12, 16, 20, 24, 25])
def test_scheduler_rounds(benchmark: Any, reference: Path, workers: int) -> None:
    """Rounds against the round-robin optimum: lockstep, and items 0.8-1.2 x as long."""
    from pytest_qos.plugin.meshsched import HostAwareScheduling

    collection = mesh_collection(SITES)
    best = optimum(len(collection), SITES, workers)
    figures: dict[str, Any] = {}

    def measure() -> None:
        for code, cls in (
            ("reference", _scheduler_class(reference)),
            ("branch", HostAwareScheduling),
        ):
            started = time.process_time()
            rounds = len(lockstep(make_scheduler(workers, cls), collection, workers))
            spans = [
                simulate(make_scheduler(workers, cls), collection, workers, 0.2, seed).makespan
                for seed in (1, 2, 3)
            ]
            figures[code] = {
                "lockstep_ratio": rounds / best,
                "uneven_ratio": statistics.median(spans) / best,
                "scheduler_cpu_s": (time.process_time() - started) / 4,
            }

    benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info.update(figures)
    for code, said in figures.items():
        print(
            f"\n-n {workers} ({code}): optimum {best} rounds; lockstep x "
            f"{said['lockstep_ratio']:.3f}, items 0.8-1.2 x long x {said['uneven_ratio']:.3f}, "
            "scheduler "
            f"{said['scheduler_cpu_s']:.2f} s CPU per run of 2450 items"
        )
    assert figures["branch"]["lockstep_ratio"] == 1.0
    if workers <= 16:
        assert figures["branch"]["uneven_ratio"] <= 1.05


def _report_shape(output: str) -> tuple[int, int]:
    """Lines and widest line of the QoS sections of the terminal output."""
    start = output.find("QoS results")
    section = output[start : output.find("short test summary", start)].splitlines()
    return len(section), max((len(line) for line in section), default=0)


@pytest.mark.parametrize("workers", [0, 4])
def test_controller_cost_per_item(
    benchmark: Any, reference: Path, tmp_path: Path, workers: int
) -> None:
    """Instant endpoints: the controller's CPU and memory per item (50 sites minus 10 sites)."""
    small = _mesh(tmp_path / "small", 10, voice=True)
    large = _mesh(tmp_path / "large", SITES, voice=True)
    items = {small: 2 * 90, large: 2 * 2450}
    extra = ["-n", str(workers)] if workers else []
    runs: dict[str, dict[Path, Run]] = {"reference": {}, "branch": {}}

    def measure() -> None:
        for directory in (small, large):
            for code, package in (("reference", reference), ("branch", None)):
                runs[code][directory] = _pytest(
                    directory, package, *extra, "--qos-json=r.json", "--qos-md=r.md"
                )

    benchmark.pedantic(measure, rounds=1, iterations=1)
    added = items[large] - items[small]
    print(f"\n-n {workers}, {_load(benchmark)}:")
    for code, by_size in runs.items():
        one, many = by_size[small], by_size[large]
        lines, width = _report_shape(many.output)
        figures = {
            "cpu_ms_per_item": 1e3 * (many.cpu_s - one.cpu_s) / added,
            "rss_kib_per_item": 1024 * (many.max_rss_mib - one.max_rss_mib) / added,
            "tree_cpu_ms_per_item": 1e3 * (many.tree_cpu_s - one.tree_cpu_s) / added,
            "wall_s_4900_items": many.wall_s,
            "qos_section_lines": lines,
            "qos_section_widest": width,
            "json_bytes": (large / "r.json").stat().st_size,
            "markdown_bytes": (large / "r.md").stat().st_size,
        }
        benchmark.extra_info[code] = figures
        print(
            f"  {code}: controller {figures['cpu_ms_per_item']:.2f} ms CPU and "
            f"{figures['rss_kib_per_item']:.1f} KiB per item (all processes "
            f"{figures['tree_cpu_ms_per_item']:.2f} ms), 4900 items in {many.wall_s:.1f} s; "
            f"QoS sections {lines} lines, widest {width}"
        )
    assert benchmark.extra_info["branch"]["qos_section_widest"] <= 130


def _makespan(directory: Path, items: int, workers: int) -> tuple[float, float]:
    """First item start to last item end, and that over the round-robin optimum."""
    document = json.loads((directory / "r.json").read_text())
    starts = sorted(
        r["measurements"][0]["started"] for r in document["results"] if r.get("measurements")
    )
    span = starts[-1] + SLEEP_S - starts[0]
    return span, span / (optimum(items, SITES, workers) * SLEEP_S)


def test_largest_n(benchmark: Any, tmp_path: Path) -> None:
    """Sleeping endpoints (0.1 s an item), 2450 pairs: how far -n carries on 2 cores."""
    directory = _mesh(tmp_path / "mesh", SITES, voice=False)
    rows: dict[int, dict[str, float]] = {}

    def measure() -> None:
        for workers in SWEEP:
            run = _pytest(directory, None, "-n", str(workers), "--qos-json=r.json", sleep=SLEEP_S)
            span, ratio = _makespan(directory, 2450, workers)
            rows[workers] = {
                "wall_s": run.wall_s,
                "makespan_s": span,
                "makespan_ratio": ratio,
                "controller_cpu_s": run.cpu_s,
                "all_cpu_s": run.tree_cpu_s,
                "load": os.getloadavg()[0],
            }

    benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info["sweep"] = rows
    # Sustained: more workers still shorten the run; on schedule: the items themselves run
    # within 5 % of the round-robin optimum (worker start-up aside).
    fastest = min(rows, key=lambda n: rows[n]["wall_s"])
    on_schedule = max((n for n, row in rows.items() if row["makespan_ratio"] <= 1.05), default=None)
    benchmark.extra_info.update(largest_sustained_n=fastest, largest_n_on_schedule=on_schedule)
    print("\n-n sweep, 2450 items of 0.1 s (optimum: 2450 / min(n, 25) rounds):")
    for workers, row in rows.items():
        print(
            f"  -n {workers:2d}: wall {row['wall_s']:5.1f} s, items from first start to last end "
            f"{row['makespan_s']:5.1f} s = {row['makespan_ratio']:.3f} x optimum, controller "
            f"{row['controller_cpu_s']:.1f} s CPU, all processes {row['all_cpu_s']:.1f} s CPU, "
            f"load average {row['load']:.1f}"
        )
    print(
        f"largest -n sustained (the fastest run): {fastest}; largest -n whose items ran within "
        f"5 % of the optimum: {on_schedule}"
    )


def test_html_report_cost(benchmark: Any, tmp_path: Path) -> None:
    """What --html adds per item (its table and a plot per item), 10 sites, instant endpoints."""
    directory = _mesh(tmp_path / "mesh", 10, voice=True)
    runs: dict[str, Run] = {}

    def measure() -> None:
        runs["plain"] = _pytest(directory, None)
        runs["html"] = _pytest(directory, None, "--html=r.html")

    benchmark.pedantic(measure, rounds=1, iterations=1)
    per_item = 1e3 * (runs["html"].cpu_s - runs["plain"].cpu_s) / 180
    assets = directory / "assets"  # pytest-html writes each plot as a file beside the report
    size = (directory / "r.html").stat().st_size + sum(
        path.stat().st_size for path in assets.rglob("*") if path.is_file()
    )
    benchmark.extra_info.update(html_cpu_ms_per_item=per_item, html_bytes_180_items=size)
    print(
        f"\n--html: +{per_item:.0f} ms CPU per item, {size / 180 / 1024:.0f} KiB per item; "
        f"{_load(benchmark)}"
    )
