"""Start-up: the directories moat owns and one daemon per spool.

moat makes spool_dir, mail_dir and empty_dir when they are missing and
never changes the owner or mode of one it did not make: an existing
directory set up otherwise is refused with file:line and left as it was.
Relative paths are below the configuration file's directory, wherever
moat starts. A second `moat serve` on the same spool stops before it
touches anything (the running daemon keeps its control socket), and a
start that fails leaves no directory or socket behind."""
import grp
import os
import pwd
import shutil
import socket
import subprocess
import tempfile

import pytest

from conftest import MOAT_BIN, free_port

MOAT_USER = "_moat"


def serve(conf, cwd, timeout=15):
    return subprocess.run([MOAT_BIN, "serve", "-c", conf], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        return True
    except OSError:
        return False


def snapshot(path):
    """Owner, group, mode and entries of a directory."""
    st = os.stat(path)
    return st.st_uid, st.st_gid, st.st_mode, sorted(os.listdir(path))


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="moat-start-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def write_conf(d, port, name="moat.conf", spool="var/spool"):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write("[server]\nhostname = mx.test.example\n"
                "spool_dir = %s\nmail_dir = var/mail\nempty_dir = var/empty\n"
                "users_file = users\n"
                "[delivery]\nblacklist_watch = no\n"
                "[listener mx]\naddress = 127.0.0.1\nport = %d\n"
                % (spool, port))
    return path


def test_second_serve_stops_before_touching_anything(moat_factory):
    m = moat_factory()
    sock = os.path.join(m.dir, "var", "spool", "control.sock")
    before = os.stat(sock).st_ino
    # the same spool, another port: only the lock can stop it
    port2 = free_port()
    r = serve(write_conf(m.dir, port2, "second.conf"), m.dir)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert ("spool_dir %s/var/spool is in use by another moat (pid %d)"
            % (m.dir, m.proc.pid)) in r.stderr, r.stderr
    assert "Address already in use" not in r.stderr
    assert not listening(port2)
    # the running daemon kept its control socket: the admin still reaches it
    assert os.stat(sock).st_ino == before
    s = subprocess.run([MOAT_BIN, "stats", "-c", m.conf], cwd=m.dir,
                       capture_output=True, text=True, timeout=15)
    assert s.returncode == 0, s.stderr
    assert m.proc.poll() is None


def test_second_serve_same_config_keeps_admin(moat_factory):
    m = moat_factory()
    r = serve(m.conf, m.dir)
    assert r.returncode == 1
    assert "is in use by another moat" in r.stderr, r.stderr
    s = subprocess.run([MOAT_BIN, "stats", "-c", m.conf], cwd=m.dir,
                       capture_output=True, text=True, timeout=15)
    assert s.returncode == 0, s.stderr


def test_failed_start_leaves_nothing_behind(workdir):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        conf = write_conf(workdir, busy.getsockname()[1])
        r = serve(conf, workdir)
    finally:
        busy.close()
    assert r.returncode == 1
    assert "Address already in use" in r.stderr, r.stderr
    assert sorted(os.listdir(workdir)) == ["moat.conf"]


def test_failed_start_keeps_an_existing_spool(moat_factory):
    """A spool made by an earlier start stays, queue.db and all."""
    m = moat_factory()
    m.stop()
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        r = serve(write_conf(m.dir, busy.getsockname()[1], "busy.conf"),
                  m.dir)
    finally:
        busy.close()
    assert r.returncode == 1
    spool = os.listdir(os.path.join(m.dir, "var", "spool"))
    assert "queue.db" in spool and "control.sock" not in spool, spool


@pytest.mark.parametrize("which,owner,group,mode", [
    ("mail", "root", "mail", 0o2775),       # a system /var/mail
    ("spool", "root", "root", 0o755),       # a system /var/spool
    ("spool", MOAT_USER, MOAT_USER, 0o755),  # ours, but another mode
])
def test_existing_directory_set_up_otherwise_is_refused(workdir, which, owner,
                                                        group, mode):
    port = free_port()
    conf = write_conf(workdir, port)
    var = os.path.join(workdir, "var")
    os.mkdir(var, 0o755)
    d = os.path.join(var, which)
    os.mkdir(d)
    os.chown(d, pwd.getpwnam(owner).pw_uid, grp.getgrnam(group).gr_gid)
    os.chmod(d, mode)
    with open(os.path.join(d, "someone-elses"), "w") as f:
        f.write("keep me\n")
    before = snapshot(d)
    r = serve(conf, workdir)
    assert r.returncode == 1, (r.stdout, r.stderr)
    line = {"spool": 3, "mail": 4}[which]
    want = ("moat: %s:%d: %s exists with owner %s and mode %04o, not %s "
            "and 0750" % (conf, line, d, owner, mode, MOAT_USER))
    assert want in r.stderr, "got  %r\nwant %r" % (r.stderr, want)
    assert snapshot(d) == before
    with open(os.path.join(d, "someone-elses")) as f:
        assert f.read() == "keep me\n"
    assert not listening(port)
    # what this start made went again
    assert sorted(os.listdir(var)) == [which]


def test_relative_paths_are_below_the_config_file(moat_factory, workdir):
    """Started from another directory, moat uses the configuration's."""
    m = moat_factory(start=False)
    m.start(cwd=workdir)
    assert os.path.exists(os.path.join(m.dir, "var", "spool",
                                       "control.sock"))
    assert os.listdir(workdir) == []
    s = subprocess.run([MOAT_BIN, "stats", "-c", m.conf], cwd=workdir,
                       capture_output=True, text=True, timeout=15)
    assert s.returncode == 0, s.stderr


def test_sighup_as_soon_as_the_port_accepts(moat_factory):
    """A signal that arrives while the daemon starts waits for its
    handler: the daemon reloads, it is not killed."""
    import signal
    import time
    m = moat_factory(start=False)
    m.start(wait=False)
    deadline = time.monotonic() + 15
    while not listening_fast(m.port):
        assert time.monotonic() < deadline and m.proc.poll() is None, m.log()
    m.proc.send_signal(signal.SIGHUP)
    assert m.wait_log("event=reload path="), m.log()
    assert m.proc.poll() is None, m.log()


def listening_fast(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.05).close()
        return True
    except OSError:
        return False


def test_paths_with_a_trailing_slash(workdir):
    port = free_port()
    conf = write_conf(workdir, port, spool="var/spool/")
    p = subprocess.Popen([MOAT_BIN, "serve", "-c", conf], cwd=workdir,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        import time
        deadline = time.monotonic() + 15
        while not listening(port):
            assert p.poll() is None, p.stdout.read().decode()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        st = os.stat(os.path.join(workdir, "var", "spool"))
        assert (st.st_mode & 0o7777, pwd.getpwuid(st.st_uid).pw_name) == \
            (0o750, MOAT_USER)
    finally:
        p.terminate()
        p.wait(20)
    assert p.returncode == 0
