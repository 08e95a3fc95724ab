"""`make install` and `make uninstall`: the layout under DESTDIR and
PREFIX, a configuration that works from the installed paths and is never
overwritten, sendmail and mailq links only where no other MTA has them,
and owners when installing as root into a real root."""
import os
import pwd
import grp
import shutil
import stat
import subprocess
import tempfile

import pytest

from conftest import ROOT


# make install installs the release build: nothing for the sanitizer pass
pytestmark = pytest.mark.skipif(os.environ.get("MOAT_ASAN") == "1",
                                reason="installs the release build")


@pytest.fixture
def dest():
    d = tempfile.mkdtemp(prefix="moat-install-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def make(target, **var):
    args = ["make", "-s", "--no-print-directory", target] + [
        "%s=%s" % kv for kv in var.items()]
    r = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_install_layout(dest):
    out = make("install", DESTDIR=dest)
    p = lambda rel: os.path.join(dest, rel.lstrip("/"))
    assert os.access(p("/usr/local/sbin/moat"), os.X_OK)
    assert mode(p("/usr/local/sbin/moat")) == 0o755
    assert os.path.isfile(p("/usr/local/share/man/man8/moat.8"))
    assert os.path.isfile(p("/usr/local/share/man/man5/moat.conf.5"))
    assert mode(p("/etc/moat/moat.conf")) == 0o644
    assert "installed %s" % p("/etc/moat/moat.conf") in out
    assert mode(p("/var/spool/moat")) == 0o750
    assert mode(p("/var/lib/moat/mail")) == 0o750
    assert mode(p("/var/lib/moat/empty")) == 0o755
    # the unit names the installed binary
    with open(p("/usr/local/lib/systemd/system/moat.service")) as f:
        unit = f.read()
    assert "ExecStart=/usr/local/sbin/moat serve -c /etc/moat/moat.conf" \
        in unit
    assert "/usr/sbin/moat" not in unit
    assert "ReadWritePaths=/var/spool/moat /var/lib/moat" in unit


def test_prefix_sysconfdir_localstatedir(dest):
    # the GNU names; a build of its own (a copy of build/: only what holds
    # the configuration's path is made again), since the binary's default
    # configuration follows sysconfdir
    b = os.path.join(dest, "build")
    shutil.copytree(os.path.join(ROOT, "build"), b, symlinks=True)
    make("install", B=b, DESTDIR=dest, prefix="/opt/moat",
         sysconfdir="/opt/etc", localstatedir="/srv", SENDMAIL_LINKS="no")
    p = lambda rel: os.path.join(dest, rel.lstrip("/"))
    # without -c the installed binary reads sysconfdir's configuration
    r = subprocess.run([p("/opt/moat/sbin/moat"), "check-config"],
                       capture_output=True, text=True)
    assert "/opt/etc/moat/moat.conf" in r.stderr, r.stderr
    r = subprocess.run([os.path.join(ROOT, "build", "moat"), "check-config"],
                       capture_output=True, text=True, env=dict(
                           os.environ, MOAT_CONFIG=""))
    assert "/opt/etc" not in r.stderr, "the tree's build changed: " + r.stderr
    assert os.access(p("/opt/moat/sbin/moat"), os.X_OK)
    with open(p("/opt/moat/lib/systemd/system/moat.service")) as f:
        unit = f.read()
    assert "ExecStart=/opt/moat/sbin/moat serve -c /opt/etc/moat/moat.conf" \
        in unit
    assert "ReadWritePaths=/srv/spool/moat /srv/lib/moat" in unit
    with open(p("/opt/etc/moat/moat.conf")) as f:
        conf = f.read()
    assert "\nspool_dir = /srv/spool/moat\n" in conf
    assert "\nusers_file = /srv/lib/moat/users\n" in conf
    assert os.path.isdir(p("/srv/spool/moat"))
    assert not os.path.lexists(p("/opt/moat/sbin/sendmail"))


def test_installed_config_is_the_example_with_paths(dest):
    make("install", DESTDIR=dest)
    conf = os.path.join(dest, "etc", "moat", "moat.conf")
    with open(conf) as f:
        text = f.read()
    with open(os.path.join(ROOT, "moat.conf.example")) as f:
        example = f.read()
    # four path lines set, everything else the commented example
    changed = [(a, b) for a, b in zip(example.splitlines(),
                                      text.splitlines()) if a != b]
    assert len(example.splitlines()) == len(text.splitlines())
    assert changed == [
        ("#spool_dir = var/spool", "spool_dir = /var/spool/moat"),
        ("#mail_dir = var/mail", "mail_dir = /var/lib/moat/mail"),
        ("#empty_dir = var/empty", "empty_dir = /var/lib/moat/empty"),
        ("#users_file = var/users", "users_file = /var/lib/moat/users"),
    ], changed
    # and moat accepts it
    r = subprocess.run([os.path.join(ROOT, "build", "moat"), "check-config",
                        "-c", conf], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "spool_dir = /var/spool/moat" in r.stdout


def test_config_never_overwritten(dest):
    make("install", DESTDIR=dest)
    conf = os.path.join(dest, "etc", "moat", "moat.conf")
    with open(conf, "w") as f:
        f.write("# the administrator's\n")
    out = make("install", DESTDIR=dest)
    assert "kept" in out
    with open(conf) as f:
        assert f.read() == "# the administrator's\n"


def test_sendmail_links_only_where_no_other_mta(dest):
    # nothing there: the links are made
    make("install", DESTDIR=dest, PREFIX="/usr")
    link = os.path.join(dest, "usr", "sbin", "sendmail")
    assert os.readlink(link) == "/usr/sbin/moat"
    assert os.readlink(os.path.join(dest, "usr", "bin", "mailq")) == \
        "/usr/sbin/moat"
    # again: ours are replaced by ours
    make("install", DESTDIR=dest, PREFIX="/usr")
    assert os.readlink(link) == "/usr/sbin/moat"

    # another MTA's sendmail (Postfix's, a file): left alone, no mailq
    other = tempfile.mkdtemp(prefix="moat-install-mta-")
    try:
        os.makedirs(os.path.join(other, "usr", "sbin"))
        theirs = os.path.join(other, "usr", "sbin", "sendmail")
        with open(theirs, "w") as f:
            f.write("#!/bin/sh\n# postfix\n")
        out = make("install", DESTDIR=other, PREFIX="/usr")
        assert "another MTA" in out
        assert not os.path.islink(theirs)
        with open(theirs) as f:
            assert "postfix" in f.read()
        assert not os.path.lexists(os.path.join(other, "usr", "bin",
                                                "mailq"))
        # a /usr/local install beside it makes no sendmail either
        out = make("install", DESTDIR=other)
        assert not os.path.lexists(os.path.join(other, "usr", "local",
                                                "sbin", "sendmail"))
    finally:
        shutil.rmtree(other, ignore_errors=True)


def test_uninstall(dest):
    make("install", DESTDIR=dest, PREFIX="/usr")
    out = make("uninstall", DESTDIR=dest, PREFIX="/usr")
    for rel in ("usr/sbin/moat", "usr/sbin/sendmail", "usr/bin/mailq",
                "usr/share/man/man8/moat.8", "lib/systemd/system/moat.service"):
        assert not os.path.lexists(os.path.join(dest, rel)), rel
    # the configuration, the queue and the mailboxes stay
    assert os.path.isfile(os.path.join(dest, "etc", "moat", "moat.conf"))
    assert os.path.isdir(os.path.join(dest, "var", "spool", "moat"))
    assert "kept" in out


def test_uninstall_leaves_another_mtas_sendmail(dest):
    os.makedirs(os.path.join(dest, "usr", "sbin"))
    theirs = os.path.join(dest, "usr", "sbin", "sendmail")
    os.symlink("/usr/lib/other-mta/sendmail", theirs)
    make("install", DESTDIR=dest, PREFIX="/usr")
    make("uninstall", DESTDIR=dest, PREFIX="/usr")
    assert os.readlink(theirs) == "/usr/lib/other-mta/sendmail"


def test_install_as_root_sets_owners(dest):
    """No DESTDIR, as root: the user exists, the directories are _moat's
    and the configuration root's, 0644 (paths kept inside dest)."""
    if os.geteuid() != 0:
        pytest.skip("owners are set only when installing as root")
    etc, var = os.path.join(dest, "etc"), os.path.join(dest, "var")
    make("install", PREFIX=os.path.join(dest, "usr"), SYSCONFDIR=etc,
         LOCALSTATEDIR=var, SENDMAIL_LINKS="no")
    pwd.getpwnam("_moat")

    def owner(path):
        st = os.stat(path)
        return (pwd.getpwuid(st.st_uid).pw_name,
                grp.getgrgid(st.st_gid).gr_name, stat.S_IMODE(st.st_mode))
    assert owner(os.path.join(etc, "moat", "moat.conf")) == \
        ("root", "root", 0o644)
    assert owner(os.path.join(var, "spool", "moat")) == \
        ("_moat", "_moat", 0o750)
    assert owner(os.path.join(var, "lib", "moat", "mail")) == \
        ("_moat", "_moat", 0o750)
    assert owner(os.path.join(var, "lib", "moat", "empty")) == \
        ("root", "root", 0o755)
