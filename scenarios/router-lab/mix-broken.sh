#!/bin/sh
# Branch router with a traffic mix, BROKEN configuration: mix-good.sh with the AF41 filter
# pointing at the scavenger class (flowid 1:40, a typo for 1:20), so video is held to
# 2 Mbit/s while bulk is untouched. Written for the branch-mix test to catch.
set -eu
VIDEO_CLASS=1:40 exec "$(dirname "$0")/mix-good.sh"
