"""Scenarios across sites, every measurement through ssh to a real sshd in a site namespace."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pytest_qos.hosts.testbed import load_testbed
from pytest_qos.lab import siteplan
from pytest_qos.lab.sitelab import SiteLab, site_processes, sites_unavailable_reason

UNAVAILABLE = sites_unavailable_reason()
needs_sites = pytest.mark.skipif(UNAVAILABLE is not None, reason=f"site lab {UNAVAILABLE}")
pytest_plugins = ["pytester"]
SHAPE = Path(__file__).resolve().parent.parent / "scenarios" / "sites" / "shape.sh"


def _scenario(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def test_the_site_plan_is_the_testbed_its_file_holds(tmp_path: Path) -> None:
    """One plan: the testbed the lab hands the plugin is the one its file reads back as."""
    config = tmp_path / "ssh_config"
    config.write_text("Host *\n")
    planned = siteplan.SitePlan.of(4, "qos-1-2").testbed(tmp_path / "testbed.yaml", config)
    (tmp_path / "testbed.yaml").write_text(siteplan.testbed_text(planned, "generated"))
    read = load_testbed(tmp_path / "testbed.yaml")
    assert read.groups == planned.groups == {"sites": ("site1", "site2", "site3", "site4")}
    assert [(h.name, h.kind, h.addresses, h.destination) for h in read.hosts.values()] == [
        (f"site{i}", "ssh", (f"198.19.{i}.2",), f"site{i}") for i in range(1, 5)
    ]
    assert [host.ssh_config for host in read.hosts.values()] == [str(config)] * 4
    assert [h.ssh_config for h in planned.hosts.values()] == [str(config)] * 4


def test_unknown_host_is_a_collection_error(pytester: pytest.Pytester) -> None:
    """A name the testbed lacks fails collection: file, line, key, did-you-mean."""
    testbed = pytester.path / "bed.yaml"
    testbed.write_text(
        "hosts:\n  branch-1: {ssh: b1, address: 198.18.10.2}\n"
        "  dc-1: {ssh: dc1, address: 198.18.20.2}\n"
    )
    _scenario(
        pytester.path / "p.qos.yaml",
        """\
        path: {from: branch-1, to: dc-2}
        tests:
          tcp: {traffic: {protocol: tcp, duration: 1 s}}
        """,
    )
    result = pytester.runpytest("--qos", f"--qos-testbed={testbed}", "p.qos.yaml")
    result.stdout.fnmatch_lines(
        ["*p.qos.yaml:1: path.to: unknown host 'dc-2' — did you mean 'dc-1'?*"]
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED


def test_mesh_items_one_per_ordered_pair(pytester: pytest.Pytester) -> None:
    """`FILE::tcp[a->b]` for each ordered pair; -k selects by pair (collection only)."""
    testbed = pytester.path / "bed.yaml"
    testbed.write_text(
        "hosts:\n"
        + "".join(f"  h{i}: {{ssh: h{i}, address: 198.18.{i}.2}}\n" for i in range(1, 5))
        + "groups:\n  all4: [h1, h2, h3, h4]\n"
    )
    _scenario(
        pytester.path / "m.qos.yaml",
        """\
        mesh: {group: all4}
        tests:
          tcp: {traffic: {protocol: tcp, duration: 1 s}}
        """,
    )
    result = pytester.runpytest("--collect-only", "-q", f"--qos-testbed={testbed}", "m.qos.yaml")
    items = [line for line in result.outlines if "::" in line]
    assert len(items) == 12 and "m.qos.yaml::tcp[h1->h4]" in items
    picked = pytester.runpytest(
        "--collect-only", "-q", f"--qos-testbed={testbed}", "-k", "h2->", "m.qos.yaml"
    )
    assert len([line for line in picked.outlines if "::" in line]) == 3
    one = pytester.runpytest(
        "--collect-only", "-q", f"--qos-testbed={testbed}", "-k", "h2->h4", "m.qos.yaml"
    )
    assert [line for line in one.outlines if "::" in line] == ["m.qos.yaml::tcp[h2->h4]"]


@pytest.mark.root
@needs_sites
def test_path_between_two_sites_tcp_udp_and_probes(pytester: pytest.Pytester) -> None:
    """site1 -> site2 over real sshd: TCP, UDP, udp probe and icmp probe all pass."""
    _scenario(
        pytester.path / "path.qos.yaml",
        """\
        lab: {sites: 2}
        path: {from: site1, to: site2}
        defaults: {duration: 1 s, settle: 0 s}
        tests:
          tcp: {traffic: {protocol: tcp}, expect: {throughput: ">= 100 Mbit/s"}}
          udp: {traffic: {protocol: udp, bitrate: 50 Mbit/s}, expect: {loss: "<= 1 %"}}
          voice: {probe: {kind: udp, duration: 0.5 s}, expect: {latency.p99: "<= 50 ms"}}
          ping: {probe: {kind: icmp, duration: 0.5 s}, expect: {latency.p50: "<= 50 ms"}}
        """,
    )
    result = pytester.runpytest_subprocess("--qos", "-p", "no:cacheprovider", "path.qos.yaml")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*path.qos.yaml::tcp*throughput*pass*"])


@pytest.mark.root
@needs_sites
def test_three_site_mesh_and_matrix(pytester: pytest.Pytester) -> None:
    """A 3-site mesh behind the shipped shaping router: six items and a from x to matrix."""
    shutil.copy(SHAPE, pytester.path / "shape.sh")
    _scenario(
        pytester.path / "mesh.qos.yaml",
        """\
        lab: {sites: 3, router: shape.sh}
        mesh: {group: sites}
        tests:
          tcp:
            traffic: {protocol: tcp, duration: 1 s}
            settle: 0 s
            expect: {throughput: "150 Mbit/s .. 200 Mbit/s"}
        """,
    )
    md = pytester.path / "out.md"
    result = pytester.runpytest_subprocess(
        "--qos", "-p", "no:cacheprovider", f"--qos-md={md}", "mesh.qos.yaml"
    )
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(
        [
            "*QoS mesh matrix*",
            "*::tcp — throughput (Mbit/s); ✓ pass, ✗ fail, ! error",
            "*from \\ to*site1*site2*site3*",
            "site1 * ✓*",
        ]
    )
    assert "| **site3** |" in md.read_text()


def _inner_pytest(directory: Path, testbed: Path, *names: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "--qos",
            "-p",
            "no:cacheprovider",
            f"--qos-testbed={testbed}",
            *names,
        ],
        cwd=directory,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.root
@needs_sites
def test_sigkill_mid_measurement_leaves_nothing(tmp_path: Path) -> None:
    """SIGKILL of pytest mid-measurement (a udp probe under an iperf3 load, all at the sites):
    no iperf3, responder, probe client or ssh master is left, within 5 s."""
    lab = SiteLab.create(2)
    try:
        _scenario(
            tmp_path / "long.qos.yaml",
            """\
            path: {from: site1, to: site2}
            tests:
              voice:
                probe: {kind: udp, duration: 20 s}
                load: {protocol: tcp, bitrate: 50 Mbit/s, duration: 20 s}
                settle: 0 s
            """,
        )
        inner = _inner_pytest(tmp_path, lab.testbed, "long.qos.yaml")

        def started() -> bool:
            """iperf3 server and client; responder (site2) and probe client (site1)."""
            programs = [line.split()[2] for line in site_processes(lab, ("iperf3", "python3"))]
            iperf3 = sum(p.endswith("iperf3") for p in programs)
            return iperf3 >= 2 and len(programs) - iperf3 >= 2

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not started():
            time.sleep(0.1)
        assert started(), inner.communicate(timeout=60)[0]
        inner.send_signal(signal.SIGKILL)
        inner.wait(timeout=5)
        killed = time.monotonic()

        def leftovers() -> list[str]:
            mux = subprocess.run(
                ["pgrep", "-af", str(lab.ssh_config)], capture_output=True, text=True
            ).stdout
            return site_processes(lab) + [line for line in mux.splitlines() if "pgrep" not in line]

        while leftovers() and time.monotonic() - killed < 5:
            time.sleep(0.1)
        assert leftovers() == []
    finally:
        lab.destroy()


@pytest.mark.root
@needs_sites
def test_dropped_site_errors_its_tests_and_the_mesh_goes_on(tmp_path: Path) -> None:
    """site3's sshd killed: its pairs fail with one clear line, the others pass."""
    lab = SiteLab.create(3)
    try:
        lab.kill_sshd("site3")
        _scenario(
            tmp_path / "mesh.qos.yaml",
            """\
            mesh: {group: sites}
            tests:
              voice: {probe: {kind: udp, duration: 0.3 s}, settle: 0 s}
            """,
        )
        inner = _inner_pytest(tmp_path, lab.testbed, "-rE", "mesh.qos.yaml")
        output = inner.communicate(timeout=120)[0]
        assert "2 passed" in output and "4 errors" in output, output  # a dropped host: error
        assert "host site3: unreachable:" in output, output
    finally:
        lab.destroy()
