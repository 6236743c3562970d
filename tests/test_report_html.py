"""pytest-html extras and PNG plots: a real report opened in headless Chromium."""

from __future__ import annotations

import importlib.util
import shutil
import struct
import sys
import tempfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pytest_qos.hosts.endpoints import Local
from pytest_qos.judge.bounds import check_bounds, parse_expectations
from pytest_qos.judge.compare import compare
from pytest_qos.measure.iperf3 import Iperf3
from pytest_qos.measure.traffic import Traffic
from pytest_qos.report.html import TABLE_CLASS, extras_for, render_html
from pytest_qos.report.plots import file_stem, plot_measurement, write_plots
from pytest_qos.results import Measurement, QosResult

CHROMIUM_PACKAGE = "chromium"  # the Debian package that provides /usr/bin/chromium
needs_matplotlib = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None,
    reason="matplotlib is not installed: pip install 'pytest-qos[plots]'",
)
needs_pytest_html = pytest.mark.skipif(
    importlib.util.find_spec("pytest_html") is None,
    reason="pytest-html is not installed: pip install pytest-html (in the dev extra)",
)


class Tables(HTMLParser):
    """Collects the cell texts of every <table class="qos-results">, and <img> sources."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.images: list[str] = []
        self._depth = 0
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table" and TABLE_CLASS in (attributes.get("class") or "").split():
            self.tables.append([])
            self._depth = 1
        elif tag == "tr" and self._depth:
            self.tables[-1].append([])
        elif tag in ("td", "th") and self._depth:
            self._cell = []
        elif tag == "img":
            self.images.append(attributes.get("src") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._depth = 0

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse_tables(page: str) -> Tables:
    """The QoS tables and images found in an HTML page."""
    parser = Tables()
    parser.feed(page)
    return parser


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


@pytest.fixture(scope="module")
def throughput_result() -> Iterator[QosResult]:
    """A real 2 s paced TCP run on loopback (two 1 s intervals to plot), bounds checked."""
    try:
        tool = Iperf3()
    except Exception as error:  # ToolMissingError names what is missing
        pytest.skip(f"iperf3 is not installed: {error}")
    with tool.server(Local(), "127.0.0.1") as server:
        traffic = Traffic.from_options({"bitrate": "20 Mbit/s", "duration": "2 s"})
        measurement = tool.run(traffic, "127.0.0.1", server.port, server=server)
    checks = check_bounds(measurement.metrics, parse_expectations({"throughput": ">= 30 Mbit/s"}))
    yield QosResult("tests/test_link.py::test_rate[<b>]", [measurement], checks, outcome="failed")


def ping_rtts(count: int = 30) -> Measurement:
    """A real RTT series: ping to 127.0.0.1 every 10 ms, as Measurement.series['rtt']."""
    if shutil.which("ping") is None:
        pytest.skip("ping is not installed: apt-get install iputils-ping")
    completed = Local().run(["ping", "-n", "-c", str(count), "-i", "0.01", "127.0.0.1"], 10.0)
    series = []
    for line in completed.stdout.splitlines():
        if "icmp_seq=" in line and "time=" in line:
            sequence = int(line.split("icmp_seq=")[1].split()[0])
            millis = float(line.split("time=")[1].split()[0])
            series.append((sequence * 0.01, millis / 1000.0))
    assert len(series) >= count * 0.9, completed.stdout
    return Measurement(
        "probe:icmp",
        {"latency.p50": sorted(v for _, v in series)[count // 2]},
        series={"rtt": series},
    )


# -- the HTML fragment ------------------------------------------------------------------------


def test_the_fragment_holds_the_table_escaped_and_the_command(
    throughput_result: QosResult,
) -> None:
    page = render_html(throughput_result)
    [table] = parse_tables(page).tables
    assert table[0] == ["metric", "expected", "measured", "verdict"]
    assert table[1][:2] == ["throughput", ">= 30 Mbit/s"]
    assert table[1][2].endswith("Mbit/s") and table[1][3] == "FAIL"
    assert 'data-qos-test="tests/test_link.py::test_rate[&lt;b&gt;]"' in page  # escaped
    assert "<b>]" not in page
    assert "reproduce (iperf3):</p>" in page and '<pre class="qos-command"><code>' in page
    assert "-b 20000000" in page


def test_the_fragment_shows_the_comparison(throughput_result: QosResult) -> None:
    faster = QosResult(throughput_result.test, [Measurement("iperf3", {"throughput": 40e6})])
    page = render_html(throughput_result, compare(throughput_result, faster, {"throughput": 5}))
    [table] = parse_tables(page).tables
    assert table[0][-3:] == ["baseline", "change", "vs baseline"]
    assert table[1][-3] == "40 Mbit/s"
    assert table[1][-1].startswith("REGRESSION (-")
    assert 'class="qos-bad">REGRESSION' in page


# -- plots ------------------------------------------------------------------------------------


@needs_matplotlib
def test_throughput_and_rtt_plots_are_pngs(throughput_result: QosResult) -> None:
    [measurement] = throughput_result.measurements
    assert len(measurement.series["throughput"]) == 2
    throughput_png = plot_measurement(measurement)
    assert throughput_png is not None and png_size(throughput_png) == (700, 300)
    rtt_png = plot_measurement(ping_rtts())
    assert rtt_png is not None and png_size(rtt_png) == (700, 600)  # series above, CDF below
    assert plot_measurement(Measurement("values", {"throughput": 1.0})) is None  # no series


@needs_matplotlib
def test_plot_dir_gets_one_png_per_measurement(
    tmp_path: Path, throughput_result: QosResult
) -> None:
    result = QosResult(throughput_result.test, [*throughput_result.measurements, ping_rtts()])
    paths = write_plots(result, tmp_path / "plots")
    stem = file_stem(result.test)
    assert [p.name for p in paths] == [f"{stem}-1-iperf3.png", f"{stem}-2-probe_icmp.png"]
    assert all(png_size(p.read_bytes())[0] == 700 for p in paths)
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == sorted(p.name for p in paths)
    assert file_stem("t.py::f[a b]") != file_stem("t.py::f[a_b]")


def test_without_series_there_are_no_image_extras() -> None:
    result = QosResult("t::x", [Measurement("values", {"throughput": 1e6})])
    assert [extra["format_type"] for extra in extras_for(result)] == ["html"]


# -- a real pytest-html report in headless Chromium -------------------------------------------

_CONFTEST = """
import pytest
from pytest_qos.report.html import QosHtmlExtras, html_report_requested

RESULT = pytest.StashKey()

def pytest_configure(config):
    if html_report_requested(config):
        config.pluginmanager.register(
            QosHtmlExtras(lambda item: item.stash.get(RESULT, None)), "qos-html"
        )
"""

_TEST = """
from conftest import RESULT
from pytest_qos.judge.bounds import check_bounds, parse_expectations
from pytest_qos.hosts.endpoints import Local
from pytest_qos.measure.iperf3 import Iperf3
from pytest_qos.results import QosResult
from pytest_qos.measure.traffic import Traffic

def test_link(request):
    tool = Iperf3()
    with tool.server(Local(), "127.0.0.1") as server:
        traffic = Traffic.from_options({"bitrate": "20 Mbit/s", "duration": "2 s"})
        measurement = tool.run(traffic, "127.0.0.1", server.port, server=server)
    expect = parse_expectations({"throughput": ">= 15 Mbit/s"})
    checks = check_bounds(measurement.metrics, expect)
    request.node.stash[RESULT] = QosResult(request.node.nodeid, [measurement], checks)
    assert all(check.passed for check in checks)

def test_not_qos():
    pass
"""


def chromium_dom(page: Path) -> str:
    """The DOM of `page` after its scripts ran, from headless Chromium."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip(f"headless Chromium is not installed: apt-get install -y {CHROMIUM_PACKAGE}")
    with tempfile.TemporaryDirectory(prefix="qos-chromium-") as profile:
        completed = Local().run(
            [
                chromium,
                "--headless",
                "--no-sandbox",  # runs as root in CI
                "--disable-gpu",
                f"--user-data-dir={profile}",
                "--virtual-time-budget=5000",
                "--dump-dom",
                page.as_uri(),
            ],
            timeout=60.0,
        )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout


@needs_pytest_html
@needs_matplotlib
def test_a_pytest_html_report_shows_the_table_and_plot_in_chromium(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(_CONFTEST)
    pytester.makepyfile(test_qos_html=_TEST)
    run = pytester.runpytest_subprocess(
        "-p", "no:qos", "-p", "no:cacheprovider", "--html=report.html", "--self-contained-html"
    )
    run.assert_outcomes(passed=2)
    dom = chromium_dom(pytester.path / "report.html")
    found = parse_tables(dom)
    [table] = found.tables  # only the QoS test carries one
    assert table[0] == ["metric", "expected", "measured", "verdict"]
    assert table[1][:2] == ["throughput", ">= 15 Mbit/s"]
    assert table[1][2].endswith("Mbit/s") and table[1][3] == "pass"
    assert any(src.startswith("data:image/png;base64,") for src in found.images), found.images
    assert "test_qos_html.py::test_link" in dom


def test_without_matplotlib_plots_are_skipped_not_failed(
    monkeypatch: pytest.MonkeyPatch, throughput_result: QosResult
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import now raises ImportError
    assert plot_measurement(throughput_result.measurements[0]) is None
    assert [extra["format_type"] for extra in extras_for(throughput_result)] == ["html"]
