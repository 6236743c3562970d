#!/bin/sh
# Chain lab, middle router, regressed: one FIFO token bucket at 20 Mbit/s with a 500 ms
# buffer. Bulk goodput is the same as core.sh's; voice waits behind every queued frame.
set -eu
for dev in "$WAN" "$LAN"; do
	tc qdisc add dev "$dev" root handle 1: tbf rate 20mbit burst 16k latency 500ms
done
