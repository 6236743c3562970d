#!/bin/sh
# classes.sh with a broken AF41 filter: it matches TOS 0x80 (DSCP 32, CS4) instead of 0x88
# (DSCP 34, AF41), a one-digit slip. Video then lands in the default class 1:30; throughput
# alone would not notice, the router's class counters do (classes.yaml fails on 1:20).
AF41_TOS=0x80 exec "$(dirname "$0")/classes.sh"
