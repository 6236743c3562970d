"""Host names and addresses from files: checked once, before any reaches a tool's argv.

Every host a scenario, testbed or inventory names goes through `check_host` (an IP address or
an RFC 1123 host name) or `check_destination` (ssh's `[user@]host`). Nothing that could be read
as an option (a leading '-') or span lines survives; tools still get it after `--` where they
accept one (ping, ssh).
"""

from __future__ import annotations

import ipaddress
import re

from ..errors import InputError

MAX_NAME = 253  # RFC 1035: a host name in text, without the trailing dot
_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")  # '_' too: ssh aliases and SRV-ish names
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}\$?")  # POSIX portable user names (+ '$')
EXAMPLE = "198.18.1.2, 2001:2::2 or branch-1.example.net"


def is_address(text: str) -> bool:
    """True for an IPv4 or IPv6 address (an IPv6 zone such as fe80::1%eth0 included)."""
    try:
        ipaddress.ip_address(text.split("%", 1)[0] if text.count("%") == 1 else text)
    except ValueError:
        return False
    return "%" not in text or _LABEL.fullmatch(text.split("%", 1)[1]) is not None


def is_host_name(text: str) -> bool:
    """True for a host name: dot-separated labels of letters, digits, '-' and '_', none
    starting or ending with '-', at most 253 characters, not all digits (that is an address)."""
    name = text[:-1] if text.endswith(".") else text
    if not name or len(name) > MAX_NAME:
        return False
    labels = name.split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        return False
    return not all(label.isdigit() for label in labels)  # '1.2.3' is a bad address, not a name


def check_host(value: object, what: str = "host") -> str:
    """`value` as an address or host name, or an InputError saying what would be right."""
    if isinstance(value, str) and (is_address(value) or is_host_name(value)):
        return value
    shown = repr(value)[:80]
    if isinstance(value, str) and value.startswith("-"):
        why = "it starts with '-' and would be read as an option"
    elif isinstance(value, str) and any(not c.isprintable() or c.isspace() for c in value):
        why = "it holds spaces or control characters"
    elif isinstance(value, str):
        why = "it is neither an IP address nor a host name"
    else:
        why = f"it is {type(value).__name__}, not text"
    raise InputError(
        f"{what} {shown} is not usable: {why}; write an address or name such as {EXAMPLE}"
    )


def check_destination(value: object, what: str = "ssh destination") -> str:
    """ssh's `[user@]host` (an ssh_config alias is a host name too), or an InputError."""
    if isinstance(value, str) and "@" in value:
        user, _, host = value.rpartition("@")
        if not _USER.fullmatch(user):
            raise InputError(
                f"{what} {value[:80]!r} is not usable: the user '{user[:40]}' is not a user "
                "name (letters, digits, '.', '_', '-'); write e.g. ops@branch-1.example.net"
            )
        check_host(host, what)
        return value
    return check_host(value, what)
