"""Who may use the control socket: root and the admin group, never the
daemon's own user or group (which every child and alert_command run as).
"""
import grp
import os
import pwd
import subprocess

import pytest

from conftest import MOAT_BIN

MOAT_USER = "_moat"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def ctl_as(m, argv_prefix, *args):
    r = subprocess.run(argv_prefix + [MOAT_BIN] + list(args) + ["-c", m.conf],
                       cwd=m.dir, capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout, r.stderr


def as_daemon_user():
    return ["setpriv", "--reuid=" + MOAT_USER, "--regid=" + MOAT_USER,
            "--clear-groups"]


def as_member_of(group):
    return ["setpriv", "--reuid=nobody", "--regid=nogroup",
            "--groups=%d" % grp.getgrnam(group).gr_gid]


def sock_path(m):
    return os.path.join(m.dir, "var", "spool", "control.sock")


def test_daemon_user_cannot_connect(moat_factory):
    """With admin_group empty, _moat (the mta, alert_command) is refused:
    the socket is root's alone, and even opened up the check says no."""
    m = moat_factory()
    rc, out, err = ctl_as(m, [], "stats")
    assert rc == 0, (rc, out, err)            # root
    st = os.stat(sock_path(m))
    assert st.st_gid != pwd.getpwnam(MOAT_USER).pw_gid, st
    rc, out, err = ctl_as(m, as_daemon_user(), "stats")
    assert rc == 1 and "permission denied" in err, (rc, out, err)
    rc, out, err = ctl_as(m, as_daemon_user(), "user", "list")
    assert rc == 1 and "permission denied" in err, (rc, out, err)
    # with the file mode out of the way, the credentials check refuses
    os.chmod(sock_path(m), 0o666)
    try:
        rc, out, err = ctl_as(m, as_daemon_user(), "stats")
        assert rc == 1 and "permission denied" in err, (rc, out, err)
    finally:
        os.chmod(sock_path(m), 0o660)
    assert m.wait_log("event=denied uid=%d" % pwd.getpwnam(MOAT_USER).pw_uid)


def test_daemon_group_member_refused(moat_factory):
    """A user whose primary group is the daemon's is no admin."""
    m = moat_factory()
    os.chmod(os.path.dirname(sock_path(m)), 0o751)
    os.chmod(sock_path(m), 0o666)
    rc, out, err = ctl_as(m, ["setpriv", "--reuid=nobody", "--regid=" +
                              MOAT_USER, "--clear-groups"], "stats")
    assert rc == 1 and "permission denied" in err, (rc, out, err)


def test_admin_group_member_allowed(moat_factory):
    m = moat_factory(extra="[control]\nadmin_group = staff\n")
    st = os.stat(sock_path(m))
    assert st.st_gid == grp.getgrnam("staff").gr_gid
    assert st.st_mode & 0o777 == 0o660
    # members must reach spool_dir: the operator opens it for them
    os.chmod(os.path.dirname(sock_path(m)), 0o751)
    rc, out, err = ctl_as(m, as_member_of("staff"), "stats")
    assert rc == 0, (rc, out, err)
    rc, out, err = ctl_as(m, as_daemon_user(), "stats")
    assert rc == 1 and "permission denied" in err, (rc, out, err)


def test_admin_group_naming_the_daemon_group_is_an_error(moat_factory):
    m = moat_factory(extra="[control]\nadmin_group = %s\n" % MOAT_USER,
                     start=False)
    r = subprocess.run([MOAT_BIN, "serve", "-c", m.conf], cwd=m.dir,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    with open(m.conf) as f:
        line = [i for i, l in enumerate(f.read().splitlines(), 1)
                if l.startswith("admin_group")][0]
    assert "%s:%d:" % (m.conf, line) in r.stderr, r.stderr
    assert "admin_group" in r.stderr, r.stderr
    r = subprocess.run([MOAT_BIN, "check-config", "-c", m.conf], cwd=m.dir,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "%s:%d:" % (m.conf, line) in r.stderr, r


def test_cli_refuses_a_socket_the_daemon_user_planted(moat_factory):
    """spool_dir is the daemon user's: it could rename the real socket
    away and listen at its path. The CLI talks only to a root-owned
    socket and sends nothing to the planted one."""
    import socket
    m = moat_factory()
    real = sock_path(m)
    os.rename(real, real + ".real")
    fake = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        fake.bind(real)
        fake.listen(4)
        os.chown(real, pwd.getpwnam(MOAT_USER).pw_uid, -1)
        fake.settimeout(0.1)
        rc, out, err = ctl_as(m, [], "stats")
        assert rc == 1 and "not root" in err, (rc, out, err)
        with pytest.raises(socket.timeout):
            fake.accept()
    finally:
        fake.close()
        os.unlink(real)
        os.rename(real + ".real", real)
    rc, out, err = ctl_as(m, [], "stats")
    assert rc == 0, (rc, out, err)
