#!/bin/sh
# run.sh - start moat in the foreground with the built-in configuration
# (or the file named by MOAT_CONF), creating the unprivileged user first.
set -e
cd "$(dirname "$0")/.."
sh scripts/ensure-user.sh _moat
if [ -n "$MOAT_CONF" ]; then
	exec ./build/moat serve -c "$MOAT_CONF"
fi
exec ./build/moat serve --builtin
