#!/bin/sh
# Branch router with a traffic mix, good configuration: 50 Mbit/s shared by three classes.
#   1:10 voice (EF)    2 Mbit/s guaranteed, served first (prio 0)
#   1:20 video (AF41) 10 Mbit/s guaranteed
#   1:30 bulk (the rest, default) 30 Mbit/s guaranteed
#   1:40 scavenger (CS1) 1 Mbit/s, at most 2 Mbit/s
# Guarantees add up to 43 of 50 Mbit/s; each class may borrow up to the link rate (ceil),
# so video gets its 12 Mbit/s while bulk takes what is left. Runs inside the router
# namespace; $LAN faces the client, $WAN the server. htb counts Ethernet frames.
set -eu

link=50mbit
# The class AF41 (video) goes to; mix-broken.sh sets it to the scavenger class.
video_class=${VIDEO_CLASS:-1:20}

for dev in "$WAN" "$LAN"; do
	tc qdisc add dev "$dev" root handle 1: htb default 30
	# quantum 1514: one frame per round; htb's default for these rates warns it is too big.
	tc class add dev "$dev" parent 1: classid 1:1 htb rate "$link" ceil "$link" quantum 1514
	tc class add dev "$dev" parent 1:1 classid 1:10 htb rate 2mbit ceil "$link" prio 0 quantum 1514
	tc class add dev "$dev" parent 1:1 classid 1:20 htb rate 10mbit ceil "$link" prio 1 quantum 1514
	tc class add dev "$dev" parent 1:1 classid 1:30 htb rate 30mbit ceil "$link" prio 1 quantum 1514
	tc class add dev "$dev" parent 1:1 classid 1:40 htb rate 1mbit ceil 2mbit prio 2 quantum 1514
	# TOS byte = DSCP << 2; the mask 0xfc ignores the two ECN bits.
	# EF 46 -> 0xb8, AF41 34 -> 0x88, CS1 8 -> 0x20.
	tc filter add dev "$dev" parent 1: protocol ip prio 1 u32 match ip tos 0xb8 0xfc flowid 1:10
	tc filter add dev "$dev" parent 1: protocol ip prio 2 u32 match ip tos 0x88 0xfc flowid "$video_class"
	tc filter add dev "$dev" parent 1: protocol ip prio 3 u32 match ip tos 0x20 0xfc flowid 1:40
	# Queue limits in bytes (a TSO super-segment is one "packet" of up to 64 KiB).
	tc qdisc add dev "$dev" parent 1:10 handle 10: bfifo limit 30000
	tc qdisc add dev "$dev" parent 1:20 handle 20: bfifo limit 60000
	# 300 kB: 50 ms at 50 Mbit/s, enough to keep the link busy, not a bufferbloat.
	tc qdisc add dev "$dev" parent 1:30 handle 30: bfifo limit 300000
	tc qdisc add dev "$dev" parent 1:40 handle 40: bfifo limit 30000
done
