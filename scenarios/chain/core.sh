#!/bin/sh
# Chain lab, middle router (the core link), good configuration: 20 Mbit/s with voice (EF)
# in a priority class and everything else in a bulk class with a short queue (as
# router-lab/good.sh). $LAN faces the client side, $WAN the server side.
set -eu
rate=20mbit
for dev in "$WAN" "$LAN"; do
	tc qdisc add dev "$dev" root handle 1: htb default 20
	tc class add dev "$dev" parent 1: classid 1:1 htb rate "$rate" ceil "$rate" quantum 1514
	tc class add dev "$dev" parent 1:1 classid 1:10 htb rate 2mbit ceil "$rate" prio 0 quantum 1514
	tc class add dev "$dev" parent 1:1 classid 1:20 htb rate 18mbit ceil "$rate" prio 1 quantum 1514
	tc filter add dev "$dev" parent 1: protocol ip prio 1 u32 match ip tos 0xb8 0xfc flowid 1:10
	tc filter add dev "$dev" parent 1: protocol ipv6 prio 2 u32 match ip6 priority 0xb8 0xfc flowid 1:10
	tc qdisc add dev "$dev" parent 1:10 handle 10: bfifo limit 30000
	tc qdisc add dev "$dev" parent 1:20 handle 20: bfifo limit 150000
done
