"""`make deb`: the package installs, upgrades and purges for real with
dpkg (as root; the test machines are throw-away ones), and moat runs from
the installed layout.

Install: the user _moat, the directories with the owners and modes moat
wants, the configuration root 0644 (no secrets in it; `sendmail` run by any user
reads it), the unit enabled (without a
running systemd: deb-systemd-helper's links), no sendmail link where
another MTA has /usr/sbin/sendmail. Upgrade to a higher version: the
administrator's configuration and the queue stay. Purge: the data, the
links and the configuration go, the user too when the package made it."""
import os
import re
import shutil
import signal
import smtplib
import socket
import stat
import subprocess
import tempfile
import time
import pwd
import grp
import shlex

import pytest

from conftest import ROOT, free_port, moat_version

SBIN = "/usr/sbin/moat"
CONF = "/etc/moat/moat.conf"
UNIT = "/lib/systemd/system/moat.service"
WANTS = "/etc/systemd/system/multi-user.target.wants/moat.service"
SPOOL = "/var/spool/moat"
STATE = "/var/lib/moat"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0,
                       reason="installs a package for real: needs root"),
    # the package holds the release build: the sanitizer pass would test
    # the same thing again
    pytest.mark.skipif(os.environ.get("MOAT_ASAN") == "1",
                       reason="the package is the release build"),
    pytest.mark.skipif(shutil.which("dpkg-shlibdeps") is None,
                       reason="dpkg-dev is not installed"),
]


def installed_version():
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status} ${Version}",
                        "moat"], capture_output=True, text=True)
    if r.returncode != 0 or not r.stdout.startswith("install ok installed"):
        return None
    return r.stdout.split()[-1]


def dpkg(*args):
    """dpkg, waiting for the lock while another apt or dpkg runs."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    deadline = time.time() + 300
    while True:
        r = subprocess.run(["dpkg", *args], capture_output=True,
                           text=True, stdin=subprocess.DEVNULL, env=env)
        if r.returncode == 0 or "lock" not in r.stderr or \
                time.time() > deadline:
            return r
        time.sleep(2)



@pytest.fixture(scope="module")
def debs():
    """Two packages of the current tree, the second a higher version."""
    out = tempfile.mkdtemp(prefix="moat-deb-")
    paths = []
    for n in (1, 2):
        version = "%s+test%d" % (moat_version(), n)
        r = subprocess.run(["make", "-s", "deb", "DEB_VERSION=" + version],
                           cwd=ROOT, capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        built = re.search(r"built (\S+\.deb)", r.stdout).group(1)
        dest = os.path.join(out, os.path.basename(built))
        shutil.move(os.path.join(ROOT, built), dest)
        paths.append((version, dest))
    yield paths
    shutil.rmtree(out, ignore_errors=True)


def field(deb, name):
    r = subprocess.run(["dpkg-deb", "-f", deb, name], capture_output=True,
                       text=True, check=True)
    return r.stdout.strip()


def test_package_metadata(debs):
    version, deb = debs[0]
    assert field(deb, "Package") == "moat"
    assert field(deb, "Version") == version
    depends = field(deb, "Depends")
    # dpkg-shlibdeps: the packages of every library moat links; the
    # public suffix list DMARC reads
    for lib in ("libc6", "libevent-2.1-7", "libevent-openssl-2.1-7",
                "libssl3", "libsqlite3-0", "libsodium23", "libunbound8",
                "libinih1", "libldap-2.5-0", "libspf2-2", "libopendmarc2",
                "adduser", "publicsuffix"):
        assert re.search(r"(^|, )%s( |,|$)" % re.escape(lib), depends), \
            "Depends lacks %s: %s" % (lib, depends)
    r = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True,
                       text=True, check=True)
    files = {line.split()[-1].lstrip(".") for line in r.stdout.splitlines()}
    for f in (SBIN, CONF, UNIT, "/usr/share/man/man8/moat.8.gz",
              "/usr/share/man/man5/moat.conf.5.gz"):
        assert f in files, "%s not in the package:\n%s" % (f, r.stdout)
    # sendmail is never a file of the package: it must not fight Postfix
    assert "/usr/sbin/sendmail" not in files
    # the directories are the maintainer scripts' (dpkg would reset their
    # owners on every upgrade)
    assert not any(f.startswith("/var/") for f in files), files
    ctl = tempfile.mkdtemp(prefix="moat-ctl-")
    try:
        subprocess.run(["dpkg-deb", "-e", deb, ctl], check=True)
        with open(os.path.join(ctl, "conffiles")) as f:
            assert f.read().split() == [CONF]
        for s in ("postinst", "prerm", "postrm"):
            mode = os.stat(os.path.join(ctl, s)).st_mode
            assert mode & stat.S_IXUSR, s
            r = subprocess.run(["sh", "-n", os.path.join(ctl, s)],
                               capture_output=True, text=True)
            assert r.returncode == 0, s + ": " + r.stderr
    finally:
        shutil.rmtree(ctl)


def test_lintian_finds_no_error(debs):
    """Debian's own checks of a package: no error (a warning remains:
    the source tree states no license, so the copyright file names none)."""
    r = subprocess.run(["lintian", "--tag-display-limit", "0", debs[0][1]],
                       capture_output=True, text=True, timeout=300)
    errors = [l for l in r.stdout.splitlines() if l.startswith("E:")]
    assert not errors, r.stdout


def owner_mode(path):
    st = os.stat(path)
    return (pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name,
            stat.S_IMODE(st.st_mode))


def sendmail_before():
    """Who has /usr/sbin/sendmail now: a package name, or None."""
    if not os.path.lexists("/usr/sbin/sendmail") or \
            os.path.islink("/usr/sbin/sendmail"):
        return None
    r = subprocess.run(["dpkg", "-S", "/usr/sbin/sendmail"],
                       capture_output=True, text=True)
    return r.stdout.split(":")[0] if r.returncode == 0 else "unpackaged"


def edit_conf(port, dead_port):
    """What an administrator does: loopback listener, relay for the
    loopback, a route to a host that does not answer (so mail waits in
    the queue)."""
    with open(CONF) as f:
        text = f.read()
    text, n = re.subn(r"^\[listener mx\]\nrole = mx\naddress = 0\.0\.0\.0\n"
                      r"port = 25\n",
                      "[listener mx]\nrole = mx\naddress = 127.0.0.1\n"
                      "port = %d\n" % port, text, flags=re.M)
    assert n == 1, "no [listener mx] on 0.0.0.0:25 in the installed config"
    text, n = re.subn(r"^\[relay\]\n", "[relay]\n# the administrator's\n"
                      "relay_networks = 127.0.0.1/32\n", text, flags=re.M)
    assert n == 1
    text, n = re.subn(r"^\[delivery\]\n", "[delivery]\nroutes = "
                      "remote.test=[127.0.0.1]:%d\n"
                      "blacklist_watch = no\n" % dead_port, text,
                      flags=re.M)
    assert n == 1
    with open(CONF, "w") as f:
        f.write(text)
    return text


def unit_command(name):
    """The installed unit's ExecStart= or ExecReload=, as an argv."""
    with open(UNIT) as f:
        for line in f:
            if line.startswith(name + "="):
                return shlex.split(line.split("=", 1)[1])
    pytest.fail("%s has no %s=" % (UNIT, name))


class Installed:
    """moat started as the installed unit starts it."""

    def __init__(self, port):
        self.port = port
        self.log = tempfile.NamedTemporaryFile(prefix="moat-deb-log-")
        self.proc = subprocess.Popen(unit_command("ExecStart"),
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd="/")
        deadline = time.time() + 20
        while time.time() < deadline:
            assert self.proc.poll() is None, self.text()
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        pytest.fail("installed moat did not listen:\n" + self.text())

    def text(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def queue_list():
    r = subprocess.run([SBIN, "queue", "list", "-c", CONF],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def maildir():
    new = os.path.join(STATE, "mail", "postmaster", "new")
    return sorted(os.listdir(new)) if os.path.isdir(new) else []


def test_install_upgrade_purge(debs):
    if installed_version() is not None:
        pytest.skip("a moat package is installed here: not replacing it")
    (v1, deb1), (v2, deb2) = debs
    user_before = True
    try:
        pwd.getpwnam("_moat")
    except KeyError:
        user_before = False
    mta_before = sendmail_before()
    daemon = None
    try:
        # install
        r = dpkg("-i", deb1)
        assert r.returncode == 0, r.stdout + r.stderr
        assert installed_version() == v1
        pwd.getpwnam("_moat")
        assert owner_mode(CONF) == ("root", "root", 0o644)
        assert owner_mode(SPOOL) == ("_moat", "_moat", 0o750)
        assert owner_mode(STATE + "/mail") == ("_moat", "_moat", 0o750)
        assert owner_mode(STATE + "/empty") == ("root", "root", 0o755)
        assert os.readlink(WANTS) == UNIT, "unit not enabled"
        if mta_before is not None:
            # Postfix (or another MTA) keeps its sendmail
            assert not os.path.islink("/usr/sbin/sendmail")
            assert sendmail_before() == mta_before
            assert "another MTA" in r.stdout, r.stdout
        else:
            assert os.path.realpath("/usr/sbin/sendmail") == SBIN
            assert os.path.realpath("/usr/bin/mailq") == SBIN
        r = subprocess.run(["systemd-analyze", "verify", UNIT],
                           capture_output=True, text=True)
        assert r.returncode == 0 and not r.stderr.strip(), r.stderr
        r = subprocess.run([SBIN, "check-config", "-c", CONF],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert "spool_dir = %s" % SPOOL in r.stdout, r.stdout

        # run it from the installed layout: a local delivery, and a
        # message that waits in the queue
        port, dead = free_port(), free_port()
        edited = edit_conf(port, dead)
        daemon = Installed(port)
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            s.sendmail("sender@example.net", ["postmaster@localhost"],
                       "Subject: local\r\n\r\ninstalled\r\n")
            s.sendmail("sender@example.net", ["someone@remote.test"],
                       "Subject: waits\r\n\r\nqueued\r\n")
        deadline = time.time() + 10
        while time.time() < deadline and not maildir():
            time.sleep(0.1)
        delivered = maildir()
        assert len(delivered) == 1, daemon.text()
        assert "someone@remote.test" in queue_list()
        # systemctl reload: the unit's ExecReload, to the running daemon
        r = subprocess.run(unit_command("ExecReload"), capture_output=True,
                           text=True, timeout=60)
        if "unknown command 'reload'" not in r.stderr:
            assert r.returncode == 0, r.stdout + r.stderr + daemon.text()
        assert daemon.stop() == 0, daemon.text()

        # upgrade: the administrator's configuration and the queue stay
        r = dpkg("-i", deb2)
        assert r.returncode == 0, r.stdout + r.stderr
        assert installed_version() == v2
        with open(CONF) as f:
            assert f.read() == edited
        assert owner_mode(CONF) == ("root", "root", 0o644)
        assert owner_mode(SPOOL) == ("_moat", "_moat", 0o750)
        assert os.readlink(WANTS) == UNIT
        assert maildir() == delivered
        daemon = Installed(port)
        assert "someone@remote.test" in queue_list()
        assert daemon.stop() == 0, daemon.text()
        daemon = None

        # purge: the package's files, queue and state go; the delivered
        # mail is the users' and stays, and purge says so
        r = dpkg("--purge", "moat")
        assert r.returncode == 0, r.stdout + r.stderr
        assert installed_version() is None
        for path in (SBIN, CONF, "/etc/moat", UNIT, WANTS, SPOOL):
            assert not os.path.lexists(path), path + " is left"
        assert os.listdir(STATE) == ["mail"], os.listdir(STATE)
        assert maildir() == delivered
        assert "delivered mail in %s/mail is kept" % STATE in r.stdout, \
            r.stdout
        assert sendmail_before() == mta_before
        try:
            pwd.getpwnam("_moat")
            user_after = True
        except KeyError:
            user_after = False
        # the user goes only when the package made it
        assert user_after == user_before
    finally:
        if daemon is not None:
            daemon.stop()
        if installed_version() is not None or os.path.exists(CONF):
            dpkg("--purge", "moat")
        shutil.rmtree(STATE, ignore_errors=True)


# The life of the package on a machine that has neither the user _moat
# nor another MTA: a private mount namespace with /etc, /usr and /var as
# overlays (what dpkg, adduser and update-alternatives write there stays
# in a temporary directory, unseen by the rest of the machine).
ISOLATED = r"""
set -e
for d in etc usr var; do
	mkdir -p "$TOP/$d.up" "$TOP/$d.work"
	mount -t overlay overlay \
	    -o "lowerdir=/$d,upperdir=$TOP/$d.up,workdir=$TOP/$d.work" "/$d"
done
# a machine without the user and without Postfix's sendmail. The
# user's lines are renamed, not removed with userdel: daemons of the real
# machine run as _moat, and its uid stays taken (a new _moat with the
# same uid could not be deleted while they run)
sed -i 's/^_moat:/_moat_real:/' /etc/passwd /etc/shadow /etc/group /etc/gshadow
rm -f /usr/sbin/sendmail /usr/bin/mailq
fact() { echo "fact $1=$2"; }
dpkg -i "$DEB1" >/dev/null
fact user "$(getent passwd _moat | cut -d: -f1,7)"
fact sendmail "$(readlink -f /usr/sbin/sendmail)"
fact mailq "$(readlink -f /usr/bin/mailq)"
fact conf "$(stat -c %U:%G:%a /etc/moat/moat.conf)"
uid=$(id -u _moat)
dpkg -i "$DEB2" >/dev/null
fact same_uid "$([ "$(id -u _moat)" = "$uid" ] && echo yes || echo no)"
fact sendmail_upgraded "$(readlink -f /usr/sbin/sendmail)"
dpkg --purge moat >/dev/null
fact user_purged "$(getent passwd _moat || echo none)"
fact group_purged "$(getent group _moat || echo none)"
fact sendmail_purged "$([ -e /usr/sbin/sendmail ] || [ -L /usr/sbin/sendmail ] && echo left || echo none)"
fact mailq_purged "$([ -e /usr/bin/mailq ] || [ -L /usr/bin/mailq ] && echo left || echo none)"
fact status "$(dpkg-query -W -f='${Status}' moat 2>/dev/null || echo none)"
"""


def test_package_user_and_sendmail_on_a_bare_machine(debs):
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    (_, deb1), (_, deb2) = debs
    top = tempfile.mkdtemp(prefix="moat-deb-root-")
    try:
        r = subprocess.run(
            ["unshare", "--mount", "--propagation", "private",
             "sh", "-c", ISOLATED],
            env=dict(os.environ, TOP=top, DEB1=deb1, DEB2=deb2,
                     DEBIAN_FRONTEND="noninteractive"),
            capture_output=True, text=True, stdin=subprocess.DEVNULL,
            timeout=300)
        if r.returncode != 0 and "overlay" in r.stderr and \
                "fact" not in r.stdout:
            pytest.skip("no overlay mounts here: " + r.stderr.strip())
        assert r.returncode == 0, r.stdout + r.stderr
        facts = dict(line[5:].split("=", 1) for line in r.stdout.splitlines()
                     if line.startswith("fact "))
        # postinst made the user, and sendmail and mailq are moat
        assert facts["user"] == "_moat:/usr/sbin/nologin", facts
        assert facts["sendmail"] == SBIN, facts
        assert facts["mailq"] == SBIN, facts
        assert facts["conf"] == "root:root:644", facts
        # an upgrade keeps both
        assert facts["same_uid"] == "yes", facts
        assert facts["sendmail_upgraded"] == SBIN, facts
        # purge takes back the user it made and the links
        assert facts["user_purged"] == "none", facts
        assert facts["group_purged"] == "none", facts
        assert facts["sendmail_purged"] == "none", facts
        assert facts["mailq_purged"] == "none", facts
        assert facts["status"] in ("none", "unknown ok not-installed"), facts
    finally:
        shutil.rmtree(top, ignore_errors=True)
    # nothing of it reached the machine
    assert installed_version() is None
    assert not os.path.lexists("/etc/moat")
