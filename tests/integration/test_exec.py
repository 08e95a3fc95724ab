"""Children that exec: each child of `moat serve` is a fresh image of the
moat binary ("moat -X NAME ..."), not a copy of the parent's memory. Its
/proc/PID/exe is moat, its address layout is its own, it holds only the
descriptors meant for it, and the hidden argument does nothing when a
process is started with it by hand."""
import fcntl
import hashlib
import os
import socket
import subprocess
import time

import pytest

from conftest import MOAT_BIN
from test_privileges import proc_status

CHILDREN = ["smtp", "queue", "auth", "mta", "control", "ca", "lookup"]


def cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return [a.decode() for a in f.read().split(b"\0")[:-1]]


def layout(pid):
    """Start addresses of moat's first mapping, the heap and the stack."""
    exe = os.path.realpath("/proc/%d/exe" % pid)
    out = {}
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            fields = line.split()
            start = int(fields[0].split("-")[0], 16)
            path = fields[5] if len(fields) > 5 else ""
            if path == exe and "base" not in out:
                out["base"] = start
            elif path in ("[heap]", "[stack]"):
                out[path.strip("[]")] = start
    return out


@pytest.fixture
def running(moat_factory):
    m = moat_factory(users={"alice": "correct horse"})
    kids = {comm: pid for pid, comm in m.children().items()}
    for name in CHILDREN:
        assert "moat-" + name in kids, kids
    return m, kids


@pytest.mark.parametrize("child", CHILDREN)
def test_child_is_a_fresh_image_of_moat(running, child):
    m, kids = running
    pid = kids["moat-" + child]
    # the very binary the parent runs
    assert os.stat("/proc/%d/exe" % pid) == os.stat(MOAT_BIN)
    assert os.path.realpath("/proc/%d/exe" % pid) == \
        os.path.realpath(MOAT_BIN)
    # started as "moat -X NAME": the process argument is on its command line
    argv = cmdline(pid)
    assert argv[1:3] == ["-X", child], argv
    # its own randomised layout: a forked child has the parent's addresses
    mine, parent = layout(pid), layout(m.proc.pid)
    assert "base" in mine and "base" in parent, (mine, parent)
    assert mine["base"] != parent["base"], (child, mine, parent)
    for region in ("heap", "stack"):
        if region in mine and region in parent:
            assert mine[region] != parent[region], (child, region)


def test_children_layouts_differ_from_each_other(running):
    _, kids = running
    bases = {layout(pid)["base"] for pid in kids.values()}
    assert len(bases) == len(kids), bases


def test_children_hold_no_spool_lock_or_file_of_the_parent(running):
    m, kids = running
    lock = os.path.realpath(os.path.join(m.dir, "var", "spool", "moat.lock"))
    conf = os.path.realpath(m.conf)
    parent_fds = [os.readlink("/proc/%d/fd/%s" % (m.proc.pid, fd))
                  for fd in os.listdir("/proc/%d/fd" % m.proc.pid)]
    assert lock in parent_fds, parent_fds     # the parent keeps the lock
    for name, pid in kids.items():
        for fd in os.listdir("/proc/%d/fd" % pid):
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            assert target not in (lock, conf), (name, fd, target)


def test_smtp_alone_holds_the_listeners(running):
    m, kids = running
    port = m.ports["mx"]
    with open("/proc/net/tcp") as f:
        inodes = {line.split()[9] for line in f.readlines()[1:]
                  if int(line.split()[1].split(":")[1], 16) == port
                  and line.split()[3] == "0A"}
    assert inodes
    for name, pid in kids.items():
        socks = {os.readlink("/proc/%d/fd/%s" % (pid, fd))
                 for fd in os.listdir("/proc/%d/fd" % pid)}
        held = {"socket:[%s]" % i for i in inodes} & socks
        assert bool(held) == (name == "moat-smtp"), (name, held)


def test_hidden_argument_is_not_in_the_usage():
    r = subprocess.run([MOAT_BIN, "help"], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 0 and "-X" not in r.stdout, r.stdout


@pytest.mark.parametrize("child", CHILDREN)
def test_child_started_by_hand_refuses_without_its_sockets(running, child):
    m, _ = running
    r = subprocess.run([MOAT_BIN, "-X", child, "-c", m.conf, "-d", "0" * 32],
                       capture_output=True, text=True, timeout=20,
                       cwd=m.dir)
    assert r.returncode == 1, r
    assert "event=exec_refused descriptor=3" in r.stderr, r.stderr
    assert "only for the processes moat serve starts" in r.stderr


@pytest.mark.parametrize("argv", [["-X"], ["-X", "nosuch"],
                                  ["-X", "main", "-d", "0"],
                                  ["-X", "auth", "-c", "x"],
                                  ["-X", "auth", "-d"]])
def test_hidden_argument_misused(argv):
    r = subprocess.run([MOAT_BIN] + argv, capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 2, r
    assert "only for the processes moat serve starts" in r.stderr


def test_child_refuses_a_configuration_not_the_parents(running):
    """Valid sockets, but a digest not of this configuration (the file
    changed while the daemon started): the child stops. With the digest
    of the configuration (BLAKE2b-128 of what check-config prints) the
    same process runs, until its parent's end of the pair closes."""
    m, _ = running
    out = subprocess.run([MOAT_BIN, "check-config", "-c", m.conf],
                         capture_output=True, check=True, timeout=20,
                         cwd=m.dir).stdout
    right = hashlib.blake2b(out, digest_size=16).hexdigest()
    assert right in cmdline(m.children().popitem()[0])
    # auth's descriptors: its pairs with the parent (3), smtp (4) and
    # control (8: 3 + PROC_CONTROL)
    pairs = [socket.socketpair() for _ in range(3)]

    def place():
        high = [fcntl.fcntl(p[1].fileno(), fcntl.F_DUPFD, 100)
                for p in pairs]
        for fd, h in zip((3, 4, 8), high):
            os.dup2(h, fd)

    def run(digest):
        return subprocess.Popen([MOAT_BIN, "-X", "auth", "-c", m.conf,
                                 "-d", digest], stderr=subprocess.PIPE,
                                text=True, cwd=m.dir, preexec_fn=place,
                                close_fds=False)

    p = run("f" * 32)
    err = p.communicate(timeout=20)[1]
    assert p.returncode == 1, err
    assert "is not the one the daemon started with" in err, err
    p = run(right)
    for a, b in pairs:
        b.close()
    deadline = time.time() + 20
    while time.time() < deadline and p.poll() is None and not (
            proc_status(p.pid)["Name"] == ["moat-auth"] and
            proc_status(p.pid)["Uid"][0] != "0"):
        time.sleep(0.02)
    assert p.poll() is None, p.communicate()[1]
    pairs[0][0].close()         # the "parent" goes away
    try:
        err = p.communicate(timeout=20)[1]
    finally:
        for a, _ in pairs[1:]:
            a.close()
    assert "exec_refused" not in err, err
