"""A generator of 64-byte frames for benchmarks/bench_wan.py (root, in a lab namespace).

`python frame_blaster.py IFACE DST_MAC SRC_MAC FRAMES_PER_S SECONDS` sends 60-byte Ethernet
frames (64 with the FCS: IPv4, UDP to 198.18.2.2 port 9, 18 bytes of payload) out of IFACE,
paced every half millisecond with sendmmsg in batches of 64, and prints how many it sent.
iperf3 reaches ~40,000 such frames/s through the lab on this 2-core machine; this reaches
100,000-170,000, so the delay line, not the generator, is what the sweep finds the end of.
"""

from __future__ import annotations

import ctypes
import socket
import struct
import sys
import time

BATCH = 64


class IoVec(ctypes.Structure):
    _fields_ = (("base", ctypes.c_void_p), ("length", ctypes.c_size_t))


class MsgHdr(ctypes.Structure):
    _fields_ = (
        ("name", ctypes.c_void_p),
        ("namelen", ctypes.c_uint32),
        ("iov", ctypes.POINTER(IoVec)),
        ("iovlen", ctypes.c_size_t),
        ("control", ctypes.c_void_p),
        ("controllen", ctypes.c_size_t),
        ("flags", ctypes.c_int),
    )


class MMsgHdr(ctypes.Structure):
    _fields_ = (("header", MsgHdr), ("length", ctypes.c_uint))


def frame(destination: str, source: str) -> bytes:
    """One 60-byte frame: Ethernet, IPv4 (checksummed), UDP, 18 bytes of zeros."""
    addresses = socket.inet_aton("198.18.2.1"), socket.inet_aton("198.18.2.2")
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 46, 0, 0, 64, 17, 0, *addresses)
    total = sum(struct.unpack("!10H", header))
    total = (total >> 16) + (total & 0xFFFF)
    checksum = ~(total + (total >> 16)) & 0xFFFF
    header = header[:10] + struct.pack("!H", checksum) + header[12:]
    ethernet = bytes.fromhex(destination.replace(":", "")) + bytes.fromhex(source.replace(":", ""))
    return ethernet + b"\x08\x00" + header + struct.pack("!HHHH", 40000, 9, 26, 0) + bytes(18)


def main(argv: list[str]) -> int:
    interface, destination, source, rate, seconds = argv
    data = frame(destination, source)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    sock.bind((interface, 0))
    buffer = ctypes.create_string_buffer(data, len(data))
    vector = IoVec(ctypes.addressof(buffer), len(data))
    messages = (MMsgHdr * BATCH)()
    for message in messages:
        message.header.iov = ctypes.pointer(vector)
        message.header.iovlen = 1
    sendmmsg = ctypes.CDLL(None, use_errno=True).sendmmsg
    per_second, sent = int(rate), 0
    start = time.monotonic()
    end = start + float(seconds)
    while (now := time.monotonic()) < end:
        due = int((now - start) * per_second)
        while sent < due:
            done = sendmmsg(sock.fileno(), messages, min(BATCH, due - sent), 0)
            if done <= 0:
                break
            sent += done
        time.sleep(0.0005)
    print(sent)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
