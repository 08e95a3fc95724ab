"""Privilege separation of the running daemon, read from /proc: the network
and auth processes run as _moat in an empty chroot, the queue process as
_moat, the parent as root; what the network process cannot reach."""
import os
import pwd
import stat
import subprocess
import time

import pytest

MOAT_USER = "_moat"


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()
    return out


@pytest.fixture
def running(moat_factory):
    m = moat_factory(users={"alice": "correct horse"},
                     listeners=[("mx", "mx", ""), ("sub", "submission", "")])
    # the listeners are bound by the parent: they accept before every
    # child has its name and has dropped root; the parent logs
    # event=started once it has forked them all, then wait for the drops
    assert m.wait_log("cat=daemon event=started")
    deadline = time.time() + 10
    while time.time() < deadline and "moat" in m.children().values():
        time.sleep(0.02)        # forked, not yet named
    kids = {comm: pid for pid, comm in m.children().items()}
    for name in ("moat-smtp", "moat-queue", "moat-auth"):
        assert name in kids, kids
    deadline = time.time() + 10
    while time.time() < deadline and any(
            proc_status(pid)["Uid"][0] == "0" for pid in kids.values()):
        time.sleep(0.02)
    return m, kids


def as_moat(*cmd, cwd=None):
    return subprocess.run(["setpriv", "--reuid=" + MOAT_USER,
                           "--regid=" + MOAT_USER, "--clear-groups"]
                          + list(cmd), capture_output=True, text=True,
                          cwd=cwd, timeout=10)


def test_parent_stays_root(running):
    m, _ = running
    st = proc_status(m.proc.pid)
    assert st["Uid"] == ["0"] * 4
    assert os.readlink("/proc/%d/root" % m.proc.pid) == "/"


@pytest.mark.parametrize("child", ["moat-smtp", "moat-auth", "moat-queue",
                                   "moat-ca", "moat-lookup"])
def test_children_run_as_moat_without_capabilities(running, child):
    m, kids = running
    pw = pwd.getpwnam(MOAT_USER)
    st = proc_status(kids[child])
    assert st["Uid"] == [str(pw.pw_uid)] * 4, st["Uid"]
    assert st["Gid"] == [str(pw.pw_gid)] * 4, st["Gid"]
    assert st["Groups"] == [str(pw.pw_gid)], st["Groups"]
    for cap in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
        assert int(st[cap][0], 16) == 0, (cap, st[cap])


@pytest.mark.parametrize("child", ["moat-smtp", "moat-auth", "moat-ca"])
def test_network_and_auth_are_chrooted_in_empty_dir(running, child):
    m, kids = running
    pid = kids[child]
    empty = os.path.realpath(os.path.join(m.dir, "var", "empty"))
    assert os.readlink("/proc/%d/root" % pid) == empty
    assert os.readlink("/proc/%d/cwd" % pid) == empty
    # what the process sees as "/" through its own root: nothing at all
    assert os.listdir("/proc/%d/root" % pid) == []
    # and it cannot create anything there
    st = os.stat(empty)
    assert st.st_uid == 0 and not (st.st_mode & (stat.S_IWGRP | stat.S_IWOTH))
    r = as_moat("touch", os.path.join(empty, "planted"))
    assert r.returncode != 0 and "Permission denied" in r.stderr, r
    assert os.listdir(empty) == []


def test_queue_process_is_not_chrooted_and_owns_the_db(running):
    m, kids = running
    pid = kids["moat-queue"]
    assert os.readlink("/proc/%d/root" % pid) == "/"
    db = os.path.realpath(os.path.join(m.dir, "var", "spool", "queue.db"))
    fds = [os.readlink("/proc/%d/fd/%s" % (pid, fd))
           for fd in os.listdir("/proc/%d/fd" % pid)]
    assert db in fds, fds


def test_queue_db_and_users_out_of_reach_of_network_process(running):
    m, kids = running
    pid = kids["moat-smtp"]
    empty = os.path.realpath(os.path.join(m.dir, "var", "empty"))
    db = os.path.realpath(os.path.join(m.dir, "var", "spool", "queue.db"))
    users = os.path.realpath(m.users_file)
    assert os.path.exists(db) and os.path.exists(users)
    # neither lies below its root
    for path in (db, users):
        assert not path.startswith(empty + os.sep), path
    # no descriptor of the network process refers to either (or to any
    # file of the spool, the mail dir or the TLS key)
    spool = os.path.realpath(os.path.join(m.dir, "var"))
    for fd in os.listdir("/proc/%d/fd" % pid):
        target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        assert not target.startswith(spool), (fd, target)
        assert target != users and "key.pem" not in target, (fd, target)
    # same for the auth process: it gets the users over IPC, never the file
    for fd in os.listdir("/proc/%d/fd" % kids["moat-auth"]):
        target = os.readlink("/proc/%d/fd/%s" % (kids["moat-auth"], fd))
        assert target != users and not target.startswith(spool), target


def test_users_file_unreadable_by_moat_user(running):
    m, _ = running
    st = os.stat(m.users_file)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0
    with open(m.users_file) as f:
        assert f.read().startswith("alice:")      # root can, as a control
    r = as_moat("cat", m.users_file)
    assert r.returncode != 0 and "Permission denied" in r.stderr, r
    assert "alice" not in r.stdout


def test_spool_and_mail_dirs_closed_to_others(running):
    m, _ = running
    pw = pwd.getpwnam(MOAT_USER)
    for sub in ("spool", "mail"):
        st = os.stat(os.path.join(m.dir, "var", sub))
        assert st.st_uid == pw.pw_uid, sub
        assert stat.S_IMODE(st.st_mode) & 0o007 == 0, (sub, oct(st.st_mode))
    r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup",
                        "--clear-groups", "ls",
                        os.path.join(m.dir, "var", "spool")],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and "Permission denied" in r.stderr, r


def test_users_file_with_loose_mode_is_refused(moat_factory):
    """A users file readable by others is not loaded: nobody can log in."""
    m = moat_factory(users={"alice": "correct horse"}, start=False,
                     listeners=[("mx", "mx", ""), ("sub", "submission", "")])
    os.chmod(m.users_file, 0o644)
    m.start()
    assert m.wait_log("event=users_refused")
    assert m.wait_log("users_loaded count=0 file=users")


def test_every_child_is_unprivileged(running):
    """Whatever processes this build has, only the parent is root."""
    m, kids = running
    pw = pwd.getpwnam(MOAT_USER)
    assert len(kids) >= 3
    for name, pid in kids.items():
        st = proc_status(pid)
        assert st["Uid"] == [str(pw.pw_uid)] * 4, (name, st["Uid"])
        assert int(st["CapEff"][0], 16) == 0, (name, st["CapEff"])
        assert name.startswith("moat-"), name
