#!/bin/sh
# Router config of the site lab: each site's link shaped to 200 Mbit/s toward the site
# (tbf, burst of rate x ~3 ms). The lab sets SITES=N and SITE<i>_IF, SITE<i>_ADDR.
set -e
i=1
while [ "$i" -le "$SITES" ]; do
  eval dev=\$SITE${i}_IF
  tc qdisc add dev "$dev" root tbf rate 200mbit burst 64kb latency 50ms
  i=$((i + 1))
done
