#!/bin/sh
# deps.sh - install the Debian packages moat needs.
#   scripts/deps.sh build   libraries and tools to build moat
#   scripts/deps.sh test    plus what the tests drive
#   scripts/deps.sh bench   plus the peers of the benchmarks
#   scripts/deps.sh fuzz    plus clang and libFuzzer
# Installs only what is missing. When not root, prints the apt-get line.
set -e
# publicsuffix: the list DMARC's organizational domains come from, read
# by the running daemon (/usr/share/publicsuffix)
BUILD="gcc make pkg-config libevent-dev libssl-dev libsqlite3-dev libsodium-dev libunbound-dev libinih-dev libldap2-dev libsystemd-dev libarchive-dev libspf2-dev libopendmarc-dev publicsuffix"
# swaks only recommends libnet-ssleay-perl, its TLS, and apt-get below
# installs no recommends: every package a test or benchmark runs is named
# (tests/integration/test_deps.py checks)
# the install tests: dpkg-dev (dpkg-shlibdeps for make deb), lintian,
# adduser (the package's postinst), systemd (systemd-analyze, and the
# init that systemd-container's systemd-nspawn boots for the package's
# life under a real systemd; procps for ps and pgrep there), man-db (its
# check of the unit's man pages), strace (what the daemon does, against
# the sandbox); chromium, nodejs and npm: the web console's browser tests
# (tests/browser: playwright-core from the npm registry, `npm ci` by
# make deps-test, driving Debian's chromium)
TEST="libcmocka-dev python3 python3-pytest python3-dkim python3-dnspython swaks libnet-ssleay-perl openssl sqlite3 nmap python3-aiosmtpd dnsmasq-base postfix util-linux iproute2 haproxy slapd ldap-utils prometheus dpkg-dev lintian adduser systemd systemd-container procps man-db strace passwd rspamd opendkim opendkim-tools chromium nodejs npm"
BENCH="postfix libsasl2-modules procps iproute2 git postfix-ldap"
FUZZ="clang libclang-rt-14-dev"

case "${1:-build}" in
build) want="$BUILD" ;;
test)  want="$BUILD $TEST" ;;
bench) want="$BUILD $TEST $BENCH" ;;
fuzz)  want="$BUILD $FUZZ" ;;
*) echo "usage: $0 build|test|bench|fuzz" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	# a nodejs package that carries npm itself (another vendor's build)
	# conflicts with Debian's npm: its npm is as good
	if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then
		continue
	fi
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "moat needs these Debian packages; as root run:" >&2
	echo "  apt-get install -y$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# postfix asks questions at install time; answer them ahead
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get install -y -qq --no-install-recommends $missing
