#!/bin/sh
# Chain lab, last router (the far site's edge), good configuration: it forwards and keeps
# every packet's DSCP.
set -eu
true
