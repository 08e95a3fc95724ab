#!/bin/sh
# browser-deps.sh - the node modules of the console's browser tests
# (tests/browser: playwright-core, pinned by package-lock.json), installed
# with `npm ci` when missing or older than the lock file. The browser is
# Debian's chromium (scripts/deps.sh test); nothing else is downloaded.
set -e
cd "$(dirname "$0")/../tests/browser"
stamp=node_modules/.package-lock.json
if [ -f "$stamp" ] && [ "$stamp" -nt package-lock.json ]; then
	exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
