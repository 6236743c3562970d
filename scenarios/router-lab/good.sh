#!/bin/sh
# Branch router, good configuration: voice (DSCP EF) rides a priority class; everything else
# shares 20 Mbit/s in a bulk class with a short queue. Runs inside the router namespace;
# $LAN faces the client, $WAN the server. Both directions are shaped (upload leaves by $WAN,
# download by $LAN). htb counts Ethernet frames, as every Linux qdisc does.
set -eu

rate=20mbit

for dev in "$WAN" "$LAN"; do
	tc qdisc add dev "$dev" root handle 1: htb default 20
	# quantum 1514: one frame per round; htb's default for this rate warns it is too big.
	tc class add dev "$dev" parent 1: classid 1:1 htb rate "$rate" ceil "$rate" quantum 1514
	tc class add dev "$dev" parent 1:1 classid 1:10 htb rate 2mbit ceil "$rate" prio 0 quantum 1514
	tc class add dev "$dev" parent 1:1 classid 1:20 htb rate 18mbit ceil "$rate" prio 1 quantum 1514
	# EF is DSCP 46: TOS byte 0xb8; the mask 0xfc ignores the two ECN bits.
	tc filter add dev "$dev" parent 1: protocol ip prio 1 u32 \
		match ip tos 0xb8 0xfc flowid 1:10
	tc filter add dev "$dev" parent 1: protocol ipv6 prio 2 u32 \
		match ip6 priority 0xb8 0xfc flowid 1:10
	# Queue limits in bytes, not packets: with TSO a forwarded "packet" can be a 64 KiB
	# super-segment, so a 100-packet pfifo could hold 2.6 s of traffic at 20 Mbit/s.
	tc qdisc add dev "$dev" parent 1:10 handle 10: bfifo limit 30000
	# 150 kB: 60 ms at 20 Mbit/s, enough to keep the link busy, not a bufferbloat.
	tc qdisc add dev "$dev" parent 1:20 handle 20: bfifo limit 150000
done
