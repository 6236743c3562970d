#!/bin/sh
# Branch router with three classes: voice (EF) in 1:10, video (AF41) in 1:20, everything else
# in 1:30. classes.yaml checks through the router's own counters that each landed in its class.
# Runs inside the router namespace; $LAN faces the client, $WAN the server.
set -eu

rate=20mbit
# AF41 is DSCP 34: TOS byte 0x88. classes-broken.sh changes only this line.
af41_tos=${AF41_TOS:-0x88}

for dev in "$WAN" "$LAN"; do
	tc qdisc add dev "$dev" root handle 1: htb default 30
	tc class add dev "$dev" parent 1: classid 1:1 htb rate "$rate" ceil "$rate" quantum 1514
	tc class add dev "$dev" parent 1:1 classid 1:10 htb rate 2mbit ceil "$rate" prio 0 quantum 1514
	tc class add dev "$dev" parent 1:1 classid 1:20 htb rate 10mbit ceil "$rate" prio 1 quantum 1514
	tc class add dev "$dev" parent 1:1 classid 1:30 htb rate 8mbit ceil "$rate" prio 2 quantum 1514
	# EF: TOS 0xb8; the mask 0xfc ignores the two ECN bits.
	tc filter add dev "$dev" parent 1: protocol ip prio 1 u32 match ip tos 0xb8 0xfc flowid 1:10
	tc filter add dev "$dev" parent 1: protocol ip prio 2 u32 match ip tos "$af41_tos" 0xfc flowid 1:20
	tc filter add dev "$dev" parent 1: protocol ipv6 prio 3 u32 match ip6 priority 0xb8 0xfc flowid 1:10
	tc filter add dev "$dev" parent 1: protocol ipv6 prio 4 u32 \
		match ip6 priority "$af41_tos" 0xfc flowid 1:20
	tc qdisc add dev "$dev" parent 1:10 handle 10: bfifo limit 30000
	tc qdisc add dev "$dev" parent 1:20 handle 20: bfifo limit 150000
	tc qdisc add dev "$dev" parent 1:30 handle 30: bfifo limit 150000
done
