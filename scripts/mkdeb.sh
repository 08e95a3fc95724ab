#!/bin/sh
# mkdeb.sh VERSION - build build/moat_VERSION_ARCH.deb from build/moat:
# a staging tree made by `make install` (PREFIX=/usr, no sendmail links,
# no directories: the maintainer scripts in dist/debian make those),
# the shared libraries' packages as Depends (dpkg-shlibdeps), and
# dpkg-deb. Needs dpkg-dev; no root (files are root's in the package).
set -e
cd "$(dirname "$0")/.."
version="$1"
[ -n "$version" ] || { echo "usage: $0 VERSION" >&2; exit 2; }
for tool in dpkg-deb dpkg-shlibdeps; do
	command -v $tool >/dev/null || {
		echo "mkdeb.sh: $tool is missing: apt-get install dpkg-dev" >&2
		exit 1
	}
done
arch=$(dpkg --print-architecture)
MAINTAINER="moat developers <dev@moat.invalid>"
out="build/moat_${version}_${arch}.deb"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage="$work/stage"

DESTDIR="$stage" PREFIX=/usr SYSCONFDIR=/etc LOCALSTATEDIR=/var \
    SENDMAIL_LINKS=no MAKE_DIRS=no sh scripts/install.sh install >/dev/null
# stripped, and the man pages compressed, as Debian has them
strip --strip-unneeded --remove-section=.comment --remove-section=.note \
    "$stage/usr/sbin/moat"
gzip -9n "$stage/usr/share/man/man8/moat.8" "$stage/usr/share/man/man5/moat.conf.5"
doc="$stage/usr/share/doc/moat"
install -d "$doc"
install -m 0644 README.md "$doc/README.md"
install -m 0644 dist/debian/copyright "$doc/copyright"
# a native package's changelog: this build
{
	printf 'moat (%s) unstable; urgency=medium\n\n' "$version"
	printf '  * Built from the source tree with make deb.\n\n'
	printf ' -- %s  %s\n' "$MAINTAINER" "$(date -R)"
} | gzip -9n > "$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"

# Depends: the packages of the libraries the binary links
mkdir -p "$work/src/debian"
printf 'Source: moat\n\nPackage: moat\nArchitecture: any\n' \
    > "$work/src/debian/control"
shlibs=$(cd "$work/src" && dpkg-shlibdeps -O -e"$stage/usr/sbin/moat" \
    2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "mkdeb.sh: dpkg-shlibdeps found no libraries" >&2; exit 1; }

install -d -m 0755 "$stage/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
    -e "s/@MAINTAINER@/$MAINTAINER/" \
    -e "s/@DEPENDS@/$shlibs, adduser, publicsuffix/" dist/debian/control.in \
    > "$stage/DEBIAN/control"
echo /etc/moat/moat.conf > "$stage/DEBIAN/conffiles"
for s in postinst prerm postrm; do
	install -m 0755 "dist/debian/$s" "$stage/DEBIAN/$s"
done
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' |
    LC_ALL=C sort -z | xargs -0 md5sum) > "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/md5sums" "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$out" >/dev/null
echo "built $out"
