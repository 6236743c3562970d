#!/bin/sh
# Branch router, regressed configuration: the priority class is gone. One FIFO token bucket
# at 20 Mbit/s with a 500 ms buffer: the same bulk goodput as good.sh, but voice now waits
# behind every queued bulk frame. Runs inside the router namespace; $LAN faces the client,
# $WAN the server.
set -eu

for dev in "$WAN" "$LAN"; do
	# burst 16 KiB: a few frames, enough for tbf to reach its rate (1600 B lost 15 % at 100M).
	tc qdisc add dev "$dev" root handle 1: tbf rate 20mbit burst 16k latency 500ms
done
