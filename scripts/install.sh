#!/bin/sh
# install.sh - install or uninstall moat (run by `make install` and
# `make uninstall`, which pass the paths in the environment):
#   BUILD (the build directory: build) DESTDIR PREFIX SBINDIR BINDIR MANDIR
#   SYSCONFDIR LOCALSTATEDIR UNITDIR
#   SENDMAIL_LINKS (auto: only where no other MTA has /usr/sbin/sendmail;
#   yes; no)  MAKE_DIRS (yes: the spool and state directories; no: the
#   Debian package's postinst makes them)
#
# The configuration is moat.conf.example with its paths set for this
# layout, mode 0644 (it holds no secrets: those are in files of their own,
# read as root; and `sendmail` run by any user reads it); an existing one
# is never overwritten. Installing as root into the real root (no DESTDIR)
# also creates the user _moat and gives the directories their owners;
# under DESTDIR (a staging tree) files are plain copies.
set -e
cd "$(dirname "$0")/.."
BIN="${BUILD:-build}/moat"
: "${PREFIX:=/usr/local}" "${SYSCONFDIR:=/etc}" "${LOCALSTATEDIR:=/var}"
: "${SBINDIR:=$PREFIX/sbin}" "${BINDIR:=$PREFIX/bin}"
: "${MANDIR:=$PREFIX/share/man}"
# Debian keeps the units of /usr's packages in /lib/systemd/system
if [ "$PREFIX" = /usr ]; then
	: "${UNITDIR:=/lib/systemd/system}"
else
	: "${UNITDIR:=$PREFIX/lib/systemd/system}"
fi
: "${SENDMAIL_LINKS:=auto}" "${MAKE_DIRS:=yes}" "${USER_NAME:=_moat}"
D="$DESTDIR"
CONFDIR="$SYSCONFDIR/moat"
SPOOLDIR="$LOCALSTATEDIR/spool/moat"
STATEDIR="$LOCALSTATEDIR/lib/moat"
real_root=no
[ -z "$D" ] && [ "$(id -u)" = 0 ] && real_root=yes

# the example with this layout's paths: the lines must be there
conf_for_layout() {
	sed -e "s|^#spool_dir = var/spool\$|spool_dir = $SPOOLDIR|" \
	    -e "s|^#mail_dir = var/mail\$|mail_dir = $STATEDIR/mail|" \
	    -e "s|^#empty_dir = var/empty\$|empty_dir = $STATEDIR/empty|" \
	    -e "s|^#users_file = var/users\$|users_file = $STATEDIR/users|" \
	    moat.conf.example > "$1"
	for k in spool_dir mail_dir empty_dir users_file; do
		if ! grep -q "^$k = /" "$1"; then
			echo "install.sh: moat.conf.example has no '#$k = ...' line to set" >&2
			exit 1
		fi
	done
}

# the unit with this layout's paths
unit_for_layout() {
	sed -e "s|/usr/sbin/moat|$SBINDIR/moat|g" \
	    -e "s|/etc/moat/|$CONFDIR/|g" \
	    -e "s|/var/spool/moat|$SPOOLDIR|g" \
	    -e "s|/var/lib/moat|$STATEDIR|g" dist/moat.service > "$1"
}

# is path a link to our binary?
ours() {
	[ -L "$1" ] && [ "$(readlink "$1")" = "$SBINDIR/moat" ]
}

# sendmail and mailq: only where no other MTA has them
want_links() {
	case "$SENDMAIL_LINKS" in
	yes) return 0 ;;
	no) return 1 ;;
	esac
	for p in "$D/usr/sbin/sendmail" "$D$SBINDIR/sendmail" \
	    "$D/usr/bin/mailq" "$D$BINDIR/mailq"; do
		if [ -e "$p" ] || [ -L "$p" ]; then
			ours "$p" || return 1
		fi
	done
	return 0
}

do_install() {
	[ -x "$BIN" ] || { echo "install.sh: $BIN is missing: run make" >&2; exit 1; }
	install -d "$D$SBINDIR" "$D$MANDIR/man8" "$D$MANDIR/man5" "$D$UNITDIR" "$D$CONFDIR"
	install -m 0755 "$BIN" "$D$SBINDIR/moat"
	install -m 0644 man/moat.8 "$D$MANDIR/man8/moat.8"
	install -m 0644 man/moat.conf.5 "$D$MANDIR/man5/moat.conf.5"
	tmp=$(mktemp)
	trap 'rm -f "$tmp"' EXIT
	unit_for_layout "$tmp"
	install -m 0644 "$tmp" "$D$UNITDIR/moat.service"
	if [ "$real_root" = yes ]; then
		sh scripts/ensure-user.sh "$USER_NAME"
	fi
	if [ -e "$D$CONFDIR/moat.conf" ]; then
		echo "kept $D$CONFDIR/moat.conf (never overwritten)"
	else
		conf_for_layout "$tmp"
		install -m 0644 "$tmp" "$D$CONFDIR/moat.conf"
		echo "installed $D$CONFDIR/moat.conf"
	fi
	if [ "$MAKE_DIRS" = yes ]; then
		# owners and modes as moat itself would make them (dirs.c):
		# spool and mail 0750 of the user, the chroot root 0755
		own=""
		[ "$real_root" = yes ] && own="-o $USER_NAME -g $USER_NAME"
		for d in "$SPOOLDIR" "$STATEDIR/mail"; do
			[ -d "$D$d" ] || install -d -m 0750 $own "$D$d"
		done
		for d in "$STATEDIR" "$STATEDIR/empty"; do
			[ -d "$D$d" ] || install -d -m 0755 "$D$d"
		done
	fi
	if [ "$real_root" = yes ] && [ -d /run/systemd/system ]; then
		systemctl daemon-reload || true
	fi
	if want_links; then
		install -d "$D$BINDIR"
		ln -sf "$SBINDIR/moat" "$D$SBINDIR/sendmail"
		ln -sf "$SBINDIR/moat" "$D$BINDIR/mailq"
		echo "installed sendmail and mailq links to moat"
	elif [ "$SENDMAIL_LINKS" != no ]; then
		echo "no sendmail and mailq links: another MTA has them"
	fi
}

do_uninstall() {
	rm -f "$D$SBINDIR/moat" "$D$MANDIR/man8/moat.8" \
	    "$D$MANDIR/man5/moat.conf.5" "$D$UNITDIR/moat.service"
	for p in "$D$SBINDIR/sendmail" "$D$BINDIR/mailq"; do
		if ours "$p"; then rm -f "$p"; fi
	done
	echo "kept $D$CONFDIR/moat.conf, $D$SPOOLDIR and $D$STATEDIR" \
	    "(the configuration, the queue and the mailboxes)"
}

case "$1" in
install) do_install ;;
uninstall) do_uninstall ;;
*) echo "usage: $0 install|uninstall" >&2; exit 2 ;;
esac
