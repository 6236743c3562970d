"""Testbed files: own format, Ansible inventories, the JSON Schema, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from pytest_qos.errors import ScenarioError
from pytest_qos.hosts.ssh import Exec, Ssh
from pytest_qos.hosts.testbed import load_testbed
from pytest_qos.scenario.sites import round_robin

SCHEMA = json.loads(
    (Path(__file__).parent.parent / "pytest_qos" / "hosts" / "testbed.schema.json").read_text()
)

EXAMPLE = """\
hosts:
  branch-1: {ssh: ops@branch1.example.net, address: 198.18.10.2}
  branch-2: {ssh: branch2, address: [198.18.11.2, "2001:2:0:11::2"], iperf3: /opt/bin/iperf3}
  dc-1:     {exec: [docker, exec, dc1], address: 198.18.20.2, python: python3}
  here:     {local: true, address: 198.18.1.1}
  edge:     {ssh: edge, address: 198.18.30.2, port: 2222, user: qos, identity_file: ~/.ssh/qos,
             ssh_options: [StrictHostKeyChecking=accept-new]}
groups:
  branches: [branch-1, branch-2]
ssh_config: ssh/config
"""


def _write(tmp_path: Path, text: str, name: str = "bed.yaml") -> Path:
    (tmp_path / "ssh").mkdir(exist_ok=True)
    (tmp_path / "ssh" / "config").write_text("")
    path = tmp_path / name
    path.write_text(text)
    return path


def test_example_testbed(tmp_path: Path) -> None:
    bed = load_testbed(_write(tmp_path, EXAMPLE))
    jsonschema.validate(yaml.safe_load(EXAMPLE), SCHEMA)
    assert bed.groups == {"branches": ("branch-1", "branch-2")}
    b2 = bed.hosts["branch-2"]
    assert b2.addresses == ("198.18.11.2", "2001:2:0:11::2")
    endpoint = b2.endpoint()
    assert isinstance(endpoint, Ssh) and endpoint.program("/usr/bin/iperf3") == "/opt/bin/iperf3"
    assert endpoint.ssh.config == str(tmp_path / "ssh" / "config")
    edge = bed.hosts["edge"].endpoint()
    assert isinstance(edge, Ssh)
    assert edge.ssh.argv()[2:6] == ["-p", "2222", "-l", "qos"]
    assert "StrictHostKeyChecking=accept-new" in edge.ssh.argv()
    assert isinstance(bed.hosts["dc-1"].endpoint(), Exec)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "hosts:\n  a: {ssh: a, adress: 198.18.1.2}\n",
            "bed.yaml:2: hosts.a.adress: unknown host key 'adress' — did you mean 'address'?",
        ),
        ("hosts:\n  a: {ssh: a}\n", "bed.yaml:2: hosts.a: needs 'address:'"),
        (
            "hosts:\n  a: {ssh: a, address: branch}\n",
            "bed.yaml:2: hosts.a.address: 'branch' is not an IP address",
        ),
        (
            "hosts:\n  a: {ssh: a, exec: [x], address: 198.18.1.2}\n",
            "bed.yaml:2: hosts.a: give exactly one of",
        ),
        (
            "hosts:\n  a: {exec: [x], port: 22, address: 198.18.1.2}\n",
            "bed.yaml:2: hosts.a.port: 'port' applies to ssh hosts only",
        ),
        (
            "hosts:\n  a: {ssh: a, address: 198.18.1.2}\ngroups:\n  g: [a, bb]\n",
            "bed.yaml:4: groups.g.1: unknown host 'bb'",
        ),
        (
            # Two hosts YAML reads as one (yes and on are both True): never merged silently.
            "hosts:\n  yes: {ssh: a, address: 198.18.1.2}\n  on: {ssh: b, address: 198.18.1.3}\n",
            "bed.yaml:3: hosts.on: duplicate key: 'on' here and 'yes' on line 2",
        ),
        (
            "hosts: &a [&b [&c [&d [1, 1, 1, 1, 1, 1, 1, 1, 1, 1], *d, *d, *d, *d, *d, *d, *d,"
            " *d, *d], *c, *c, *c, *c, *c, *c, *c, *c, *c], *b, *b, *b, *b, *b, *b, *b, *b, *b]\n",
            "bed.yaml: aliases expand this file to",
        ),
        (
            "hots:\n  a: {ssh: a, address: 198.18.1.2}\n",
            "bed.yaml:1: hots: unknown key 'hots' in the testbed — did you mean 'hosts'?",
        ),
        (
            "hosts:\n  a: {ssh: a, address: 198.18.1.2, ssh_options: [-v]}\n",
            "bed.yaml:2: hosts.a.ssh_options: ssh_options is a list of '-o' values",
        ),
    ],
)
def test_errors_name_file_line_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as error:
        load_testbed(_write(tmp_path, text))
    # The whole path of the file first, then its line, key and message as written above.
    assert str(error.value).startswith(f"{tmp_path}/{message}")


def test_ansible_inventory(tmp_path: Path) -> None:
    """ansible_host/user/port/common args, group vars, qos_address, children as groups."""
    text = """\
all:
  vars: {ansible_user: ops}
  children:
    branches:
      hosts:
        branch1: {ansible_host: 192.0.2.10, qos_address: 198.18.10.2, ansible_port: 2222}
        branch2:
          ansible_host: 198.18.11.2
          ansible_ssh_common_args: "-o ProxyJump=bastion -oConnectTimeout=3"
    dcs:
      hosts:
        dc1: {ansible_host: 198.18.20.2, ansible_user: root}
"""
    bed = load_testbed(_write(tmp_path, text, "inventory.yaml"))
    assert set(bed.groups) >= {"branches", "dcs", "all"}
    b1 = bed.hosts["branch1"]
    assert (b1.destination, b1.user, b1.port, b1.address) == (
        "192.0.2.10",
        "ops",
        2222,
        "198.18.10.2",
    )
    assert bed.hosts["branch2"].ssh_options == ("ProxyJump=bastion", "ConnectTimeout=3")
    assert bed.hosts["dc1"].user == "root"
    with pytest.raises(
        ScenarioError, match="qos_adress: unknown variable — did you mean 'qos_address'"
    ):
        load_testbed(
            _write(
                tmp_path,
                "all:\n  hosts:\n    x: {ansible_host: 198.18.1.2, qos_adress: 1.2.3.4}\n",
                "i2.yaml",
            )
        )


@given(st.integers(min_value=2, max_value=9))
def test_round_robin_rounds_are_disjoint(count: int) -> None:
    """Every ordered pair once; each block of n//2 pairs (a round) shares no host."""
    hosts = tuple(f"h{i}" for i in range(count))
    pairs = round_robin(hosts)
    assert len(pairs) == len(set(pairs)) == count * (count - 1)
    if count % 2 == 0:
        size = count // 2
        for start in range(0, len(pairs), size):
            block = pairs[start : start + size]
            assert len({h for pair in block for h in pair}) == 2 * len(block)


def test_schema_names_exactly_the_keys_the_parser_accepts() -> None:
    from pytest_qos.hosts import testbed

    assert set(SCHEMA["properties"]) == set(testbed.TOP_KEYS)
    assert set(SCHEMA["$defs"]["host"]["properties"]) == set(testbed.HOST_KEYS)
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"hosts": {"a": {"ssh": "a", "adress": "198.18.1.2"}}}, SCHEMA)
