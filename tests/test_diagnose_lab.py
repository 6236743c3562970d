"""Where it failed, for real (root): a chain whose middle router bloats its queue and whose last
router re-marks EF, and a site-lab mesh where one site's link drops packets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pytest_qos.diagnose.finding import LOCATING, MARKING, MESH, PATH, QUEUE
from pytest_qos.lab.routerlab import lab_unavailable_reason
from pytest_qos.lab.sitelab import sites_unavailable_reason

CHAIN = Path(__file__).parents[1] / "scenarios" / "chain"
LAB = lab_unavailable_reason()
SITES = sites_unavailable_reason()
pytestmark = [pytest.mark.root]

LOSSY = """\
#!/bin/sh
# site2's link drops 20 % of what the router forwards to or from it (nftables)
set -eu
nft add table inet lossy
nft add chain inet lossy forwarding '{ type filter hook forward priority 0; }'
nft add rule inet lossy forwarding oifname "$SITE2_IF" numgen random mod 100 '<' 20 drop
nft add rule inet lossy forwarding iifname "$SITE2_IF" numgen random mod 100 '<' 20 drop
"""
MESH_FILE = """\
lab: {sites: 3, router: lossy.sh}
mesh: {group: sites}
tests:
  voice:
    probe: {kind: udp, dscp: EF, duration: 0.5 s}  # 25 probes: one lost is 4 %
    expect: {latency.loss: "<= 1 %"}
"""


@pytest.fixture
def chain(pytester: pytest.Pytester) -> Path:
    copy = pytester.path / "chain"
    shutil.copytree(CHAIN, copy)
    return copy


@pytest.mark.usefixtures("no_lab_left")
@pytest.mark.skipif(LAB is not None, reason=f"router lab {LAB}")
def test_the_diagnosis_names_the_queueing_router_and_the_remarking_one_and_nothing_else(
    pytester: pytest.Pytester, chain: Path
) -> None:
    result = pytester.runpytest_subprocess(
        "--qos",
        "-p",
        "no:cacheprovider",
        f"--qos-router-config=core={chain / 'core-bloated.sh'}",
        f"--qos-router-config=far={chain / 'far-remarks.sh'}",
        "--qos-json=out.json",
        str(chain / "chain.yaml"),
    )
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*diagnosis (per-hop probing took * s):",
            "*- queue at core: WAN qdisc 1: (tbf) — the RTT (p50) rose * by hop 3*",
            "*- DSCP changed EF (46) → CS1 (8) at far: hop 3 (far, 198.18.3.2) received EF (46)*",
        ]
    )
    result.stdout.fnmatch_lines(["*= QoS diagnosis =*", "*chain.yaml::voice-keeps-priority*"])
    document = json.loads((pytester.path / "out.json").read_text())
    voice = next(r for r in document["results"] if r["test"].endswith("voice-keeps-priority"))
    located = [
        (item["what"], item["where"]) for item in voice["diagnosis"] if item["what"] in LOCATING
    ]
    assert located == [(QUEUE, "core: WAN qdisc 1: (tbf)"), (MARKING, "far")], voice["diagnosis"]
    queue = next(item for item in voice["diagnosis"] if item["what"] == QUEUE)["evidence"]
    assert queue["hop"] == 3 and queue["rise"] > 0.05 and queue["rise"] > 0.5 * queue["end_to_end"]
    marking = next(item for item in voice["diagnosis"] if item["what"] == MARKING)["evidence"]
    assert (marking["from"], marking["to"], marking["hop"]) == (46, 8, 4)
    path = next(item for item in voice["diagnosis"] if item["what"] == PATH)["evidence"]["hops"]
    assert [hop["name"] for hop in path] == ["edge", "core", "far", "server"]
    assert 2.0 < voice["diagnosis_time"] < 60.0


@pytest.mark.skipif(LAB is not None, reason=f"router lab {LAB}")
def test_the_shipped_chain_passes_with_its_own_configs(
    pytester: pytest.Pytester, chain: Path
) -> None:
    result = pytester.runpytest_subprocess(
        "--qos", "-p", "no:cacheprovider", "--qos-json=out.json", str(chain / "chain.yaml")
    )
    result.assert_outcomes(passed=2)
    document = json.loads((pytester.path / "out.json").read_text())
    assert all("diagnosis" not in r for r in document["results"])  # nothing failed: no probing


@pytest.mark.usefixtures("no_lab_left")
@pytest.mark.skipif(SITES is not None, reason=f"site lab {SITES}")
def test_the_diagnosis_names_the_site_whose_link_drops(pytester: pytest.Pytester) -> None:
    lossy = pytester.path / "lossy.sh"
    lossy.write_text(LOSSY)
    lossy.chmod(0o755)
    (pytester.path / "mesh.qos.yaml").write_text(MESH_FILE)
    result = pytester.runpytest_subprocess(
        "--qos",
        "-p",
        "no:cacheprovider",
        "--qos-diagnose=never",  # the mesh's pattern is not per-hop probing: it comes anyway
        "--qos-json=out.json",
        "--qos-md=out.md",
        "mesh.qos.yaml",
    )
    result.assert_outcomes(failed=4, passed=2)
    result.stdout.fnmatch_lines(["*site2 ⚑*", "*⚑ site2: in every failing pair*"])
    result.stdout.fnmatch_lines(
        ["*all 4 failing pairs involve site2*the 2 pairs without it passed"]
    )
    document = json.loads((pytester.path / "out.json").read_text())
    for item in document["results"]:
        named = [d["where"] for d in item.get("diagnosis", []) if d["what"] == MESH]
        assert named == (["site2"] if "site2" in item["test"] else []), item["test"]
    assert "all 4 failing pairs involve site2" in (pytester.path / "out.md").read_text()
