"""A classic BPF socket filter that admits only sources in given networks (Linux).

Attached to the responder's TCP listener, it makes `--allow` hold for TCP too: a SYN from any
other source is dropped before the kernel answers it, so no handshake completes and a `tcp`
probe from there measures nothing (loss), as it would behind a firewall. Only the standard
library: the responder ships to far hosts as a stdlib-only script.
"""

from __future__ import annotations

import ctypes
import ipaddress
import socket
import struct
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
SO_ATTACH_FILTER = getattr(socket, "SO_ATTACH_FILTER", 26)
_NET = 0xFFF00000  # SKF_NET_OFF (-0x100000): loads relative to the network header
_LDB, _LDW, _RSH, _AND, _JEQ, _JA, _RET = 0x30, 0x20, 0x74, 0x54, 0x15, 0x05, 0x06
_ACCEPT, _DROP = 0xFFFFFFFF, 0
Instruction = tuple[int, int, int, int]  # code, jump if true, jump if false, k


def _words(network: Network) -> list[tuple[int, int]]:
    """(mask, address) per 32-bit word of a network's source-address match."""
    size = network.max_prefixlen // 8
    address = network.network_address.packed
    mask = network.netmask.packed
    return [
        (int.from_bytes(mask[i : i + 4], "big"), int.from_bytes(address[i : i + 4], "big"))
        for i in range(0, size, 4)
    ]


def _match(network: Network, offset: int) -> list[Instruction]:
    """Accept when the source (at `offset` in the network header) is in `network`."""
    checks = _words(network)
    block: list[Instruction] = []
    for index, (mask, address) in enumerate(checks):
        remaining = len(checks) - index - 1
        block += [
            (_LDW, 0, 0, _NET + offset + 4 * index),
            (_AND, 0, 0, mask),
            # Not equal: skip this network's remaining checks and its accept.
            (_JEQ, 0, 3 * remaining + 1, address),
        ]
    return [*block, (_RET, 0, 0, _ACCEPT)]


def program(networks: Sequence[Network]) -> list[Instruction]:
    """The filter: IPv4 sources (offset 12) and IPv6 ones (offset 8) against `networks`."""
    four = [i for n in networks if n.version == 4 for i in _match(n, 12)] + [(_RET, 0, 0, _DROP)]
    six = [i for n in networks if n.version == 6 for i in _match(n, 8)] + [(_RET, 0, 0, _DROP)]
    head: list[Instruction] = [
        (_LDB, 0, 0, _NET),  # version nibble
        (_RSH, 0, 0, 4),
        (_JEQ, 1, 0, 4),  # IPv4: skip the jump to the IPv6 part
        (_JA, 0, 0, len(four)),
    ]
    return [*head, *four, *six]


def attach(sock: socket.socket, networks: Sequence[Network]) -> None:
    """Drop, in the kernel, every packet to `sock` whose source is not in `networks`."""
    code = program(networks)
    buffer = ctypes.create_string_buffer(b"".join(struct.pack("=HBBI", *i) for i in code))
    # struct sock_fprog: the instruction count, then a pointer (native alignment pads it).
    fprog = struct.pack("@HP", len(code), ctypes.addressof(buffer))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)  # the kernel copies it
