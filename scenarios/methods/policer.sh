#!/bin/sh
# Y.1564 example router: each service policed at its CIR. Voice (DSCP EF) gets 2 Mbit/s, the
# rest 16 Mbit/s, in htb classes whose rate equals their ceil (no borrowing), with short byte
# queues so an excess is dropped, not queued. Shapes client -> server (leaves by $WAN).
set -eu
tc qdisc add dev "$WAN" root handle 1: htb default 20
tc class add dev "$WAN" parent 1: classid 1:10 htb rate 2mbit ceil 2mbit quantum 1514
tc class add dev "$WAN" parent 1: classid 1:20 htb rate 16mbit ceil 16mbit quantum 1514
# EF is DSCP 46: TOS byte 0xb8; the mask 0xfc ignores the two ECN bits.
tc filter add dev "$WAN" parent 1: protocol ip prio 1 u32 match ip tos 0xb8 0xfc flowid 1:10
tc qdisc add dev "$WAN" parent 1:10 handle 10: bfifo limit 3000
tc qdisc add dev "$WAN" parent 1:20 handle 20: bfifo limit 20000
