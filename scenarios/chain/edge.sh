#!/bin/sh
# Chain lab, first router (the branch edge): a plain FIFO toward the core. It never queues
# here (nothing limits the rate of a veth), but its counters are read like every router's.
set -eu
tc qdisc add dev "$WAN" root handle 1: pfifo limit 1000
