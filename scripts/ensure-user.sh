#!/bin/sh
# ensure-user.sh - create the unprivileged system user moat runs as.
user="${1:-_moat}"
[ "$(id -u)" = 0 ] || exit 0
getent passwd "$user" >/dev/null && exit 0
useradd --system --no-create-home --home-dir /nonexistent \
	--shell /usr/sbin/nologin "$user"
echo "created system user $user"
