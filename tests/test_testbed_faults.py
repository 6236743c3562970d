"""Testbed files and Ansible inventories under bad input: one line with file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from testbed_fuzz import check, generate

from pytest_qos.errors import ScenarioError
from pytest_qos.hosts.testbed import load_testbed

# (inventory text, what the one line must hold after 'inventory.yaml:')
BAD_INVENTORIES = [
    ("all:\n  hosts: [a, b]\n", "2: all.hosts: "),
    ("all:\n  children:\n    web:\n      hosts:\n        - a\n", "4: all.children.web.hosts: "),
    ("all:\n  hosts:\n    a: just-a-string\n", "3: all.hosts.a: "),
    ("all:\n  hosts:\n    a: {ansible_host: 198.18.1.2, ansible_port: ssh}\n", "3: all.hosts.a"),
    ("all:\n  vars: [1, 2]\n  hosts:\n    a: {ansible_host: 198.18.1.2}\n", "2: all.vars: "),
    (
        "all:\n  hosts:\n    a:\n      ansible_host: 198.18.1.2\n"
        '      ansible_ssh_common_args: "-o \'ProxyJump=x"\n',
        "5: all.hosts.a.ansible_ssh_common_args: ",
    ),
    (
        "all:\n  hosts:\n    a: {ansible_host: 198.18.1.2, ansible_port: 70000}\n",
        "3: all.hosts.a.ansible_port: ",
    ),
    (
        "all:\n  hosts:\n    a: {ansible_host: [198.18.1.2, 198.18.1.3]}\n",
        "3: all.hosts.a.ansible_host: ",
    ),
    (
        'all:\n  hosts:\n    a: {ansible_host: "-oProxyCommand=touch /tmp/x"}\n',
        "3: all.hosts.a.ansible_host: ",
    ),
    (
        "all:\n  hosts:\n    a:\n      ansible_host: 198.18.1.2\n"
        "      ansible_ssh_common_args: -v -X\n",
        "5: all.hosts.a.ansible_ssh_common_args: ",
    ),
    (
        "all:\n  vars:\n    ansible_port: 0\n  hosts:\n    a: {ansible_host: 198.18.1.2}\n",
        "3: all.vars.ansible_port: ",
    ),
    ("all:\n  hosts:\n    a: {ansible_host: 198.18.1.2, ansible_user: [x]}\n", "ansible_user"),
    ("all:\n  hosts:\n    a: {ansible_host: 198.18.1.2, qos_address: [1]}\n", "qos_address"),
    ("all:\n  children: [a]\n", "2: all.children: "),
    ("all:\n  hosts:\n    a: {ansible_host: 198.18.1.2, 1: x}\n", "all.hosts.a"),
    ("all:\n  hosts:\n    'a b': {qos_address: 198.18.1.2}\n", "all.hosts.a b"),
    (
        "all:\n  hosts:\n    a: {ansible_host: 198.18.1.2, ansible_connection: docker}\n",
        "ansible_connection",
    ),
]


@pytest.mark.parametrize(("text", "where"), BAD_INVENTORIES)
def test_bad_inventory_is_one_line(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as error:
        load_testbed(path)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:"), message
    assert where in message, message


def test_jump_host_and_port_in_common_args_are_kept(tmp_path: Path) -> None:
    """-J and -p in ansible_ssh_common_args become ProxyJump and the port, not dropped."""
    path = tmp_path / "inventory.yaml"
    path.write_text(
        "all:\n  hosts:\n    a:\n      ansible_host: 198.18.1.2\n"
        "      ansible_ssh_common_args: -J ops@bastion -p 2222 -o ConnectTimeout=3 -oX=y\n"
    )
    host = load_testbed(path).hosts["a"]
    assert host.port == 2222
    assert host.ssh_options == ("ProxyJump=ops@bastion", "ConnectTimeout=3", "X=y")


def test_port_as_digits_text_is_a_port(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text("all:\n  hosts:\n    a: {ansible_host: 198.18.1.2, ansible_port: '2222'}\n")
    assert load_testbed(path).hosts["a"].port == 2222


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("hosts:\n  a: {ssh: '-oProxyCommand=x', address: 198.18.1.2}\n", "2: hosts.a.ssh: "),
        ("hosts:\n  a: {ssh: 'a b', address: 198.18.1.2}\n", "2: hosts.a.ssh: "),
        ('hosts:\n  a: {ssh: "a\\nb", address: 198.18.1.2}\n', "2: hosts.a.ssh: "),
    ],
)
def test_native_destination_is_a_host(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "bed.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as error:
        load_testbed(path)
    assert where in str(error.value) and "\n" not in str(error.value)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.integers(min_value=0, max_value=2**32))
def test_generated_testbeds_read_or_refuse_in_one_line(tmp_path: Path, seed: int) -> None:
    """The bounded version of benchmarks/fuzz_testbeds.py: no traceback, no multi-line error."""
    assert check(generate(seed), tmp_path / "testbed.yaml") is None


pytest_plugins = ["pytester"]


@pytest.mark.parametrize(("text", "_where"), BAD_INVENTORIES[:6])
def test_bad_inventory_through_pytest_is_one_collection_line(
    pytester: pytest.Pytester, text: str, _where: str
) -> None:
    (pytester.path / "inventory.yaml").write_text(text)
    (pytester.path / "m.qos.yaml").write_text(
        "mesh: {hosts: [a, b]}\ntests:\n  t: {traffic: {protocol: tcp}}\n"
    )
    result = pytester.runpytest("--collect-only", "--qos-testbed=inventory.yaml", "m.qos.yaml")
    output = result.stdout.str()
    assert "Traceback" not in output and "INTERNALERROR" not in output
    assert not [line for line in result.outlines if line.startswith("E ")], output
    result.stdout.fnmatch_lines(["*inventory.yaml:*"])
