#!/bin/sh
# Chain lab, last router, broken: it re-marks voice (EF) to CS1 as it forwards, in both
# directions and both families (nftables in a forward hook; 'fwd' is an nft keyword, hence
# the chain's name).
set -eu
nft add table inet remark
nft add chain inet remark forwarding '{ type filter hook forward priority 0; }'
nft add rule inet remark forwarding ip dscp ef ip dscp set cs1
nft add rule inet remark forwarding ip6 dscp ef ip6 dscp set cs1
