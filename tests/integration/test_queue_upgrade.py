"""Upgrades keep the queue: a queue.db written by an older moat, with mail
in it, is copied and upgraded in place at start, and its mail delivered.

The old queues are built from the schema texts those versions wrote,
kept in tests/queue_schema/ (v1.sql: the first release; v1.sql and
v1-late.sql: the last release of version 1, which had gained tables
without a version change; v2.sql: what version 2 added to those;
v3.sql: what version 3 added, with rows), with the mail of v1-data.sql
(local and remote recipients, one held, one deferred) and, for the later
ones, v1-late-data.sql (a dead letter, a ban, an account state). Remote
mail goes to the scripted SMTP server of test_delivery.py on loopback,
local mail to Maildirs.
"""
import glob
import os
import pwd
import sqlite3
import stat
import time

import pytest

from conftest import ROOT, free_port, install_queue
from test_control import ctl, ctlj
from test_delivery import delivery_conf, dns, peers, wait_for  # noqa: F401

VERSIONS = {
    "v1": ["v1.sql", "v1-data.sql"],
    "v1-late": ["v1.sql", "v1-late.sql", "v1-data.sql", "v1-late-data.sql"],
    "v2": ["v1.sql", "v1-late.sql", "v2.sql", "v1-data.sql",
           "v1-late-data.sql"],
    "v3": ["v1.sql", "v1-late.sql", "v2.sql", "v3.sql", "v1-data.sql",
           "v1-late-data.sql"],
}
OLD = {"v1": 1, "v1-late": 1, "v2": 2, "v3": 3}
PEER = "127.0.0.21"
CURRENT = 4


def spool(m):
    return os.path.join(m.dir, "var", "spool")


def stopped_moat(moat_factory, srv, port):
    """A daemon routing remote.test to PEER:port, started once (so that
    it makes its directories) and stopped."""
    m = moat_factory(extra=delivery_conf(
        srv, free_port(), "routes = remote.test=[%s]:%d\n" % (PEER, port)))
    assert m.stop() == 0
    return m


def user_version(path):
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        return con.execute("PRAGMA user_version").fetchone()[0]
    finally:
        con.close()


def subjects(mails):
    return sorted(line.rstrip(b"\r") for m in mails
                  for line in m.split(b"\n") if line.startswith(b"Subject: "))


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_old_queue_is_upgraded_and_delivered(moat_factory, dns, peers,
                                             version):
    port = free_port()
    m = stopped_moat(moat_factory, dns(), port)
    path = install_queue(m, VERSIONS[version])
    old = OLD[version]
    assert user_version(path) == old
    m.start()
    # the copy: beside queue.db, named after the old version, 0600, the
    # old file as it was
    assert m.wait_log("event=db_upgraded"), m.log()
    log = m.log()
    assert "event=db_backup path=%s" % path in log, log
    assert "event=db_upgraded path=%s from=%d to=%d" % (path, old,
                                                        CURRENT) in log
    baks = glob.glob(path + ".bak-v%d-*" % old)
    assert len(baks) == 1, baks
    assert "backup=%s" % baks[0] in log
    assert stat.S_IMODE(os.stat(baks[0]).st_mode) == 0o600
    assert user_version(baks[0]) == old
    con = sqlite3.connect("file:%s?mode=ro" % baks[0], uri=True)
    assert con.execute("SELECT count(*) FROM message").fetchone()[0] == 4
    con.close()
    assert user_version(path) == CURRENT

    # local mail goes at once; the remote host is not up yet, so the
    # remote mail waits and `moat queue` lists it (the held one too)
    assert len(m.wait_maildir(1, "bob")) == 1
    assert len(m.wait_maildir(1, "alice")) == 1
    assert subjects(m.maildir("bob")) == [b"Subject: v1 message one"]
    assert subjects(m.maildir("alice")) == [b"Subject: v1 message four"]
    listed = {r["qid"]: r for r in ctlj(m, "queue", "list")["messages"]}
    assert {"0a0000000001", "0a0000000002", "0a0000000003"} <= set(listed), \
        listed
    assert "held" in listed["0a0000000003"]["state"]
    show = ctlj(m, "queue", "show", "0a0000000002")
    env = show["envelope"][0]
    assert env["envid"] == "ENV2"
    summary = ctlj(m, "queue")
    assert any(r["domain"] == "remote.test" for r in summary["summary"])

    # the remote host comes up: what is due goes, the held one after its
    # release
    peer = peers(PEER, port)
    ctl(m, "queue", "retry", "--all", check=0)
    ctl(m, "queue", "release", "0a0000000003", check=0)
    got = peer.wait(3, timeout=30)
    rcpts = sorted(r for g in got for r in g[1])
    assert rcpts == ["carol@remote.test", "dave@remote.test",
                     "erin@remote.test"], (got, m.log())
    assert subjects([g[2] for g in got]) == [
        b"Subject: v1 message one", b"Subject: v1 message three",
        b"Subject: v1 message two"]
    assert wait_for(lambda: m.sql("SELECT count(*) FROM message") == [["0"]])
    # what else the old queue held is still there
    events = ctlj(m, "events", "--type", "auth_fail")["events"]
    assert any(e["user"] == "alice" for e in events), events
    # version 3's table is there, with a version 3 queue's rows
    nets = m.sql("SELECT user, net, logins FROM login_nets ORDER BY user")
    if version == "v3":
        assert nets == [["alice", "192.0.2.0/24", "12"],
                        ["bob", "2001:db8:1::/64", "3"]], nets
    else:
        assert nets == [], nets
    if version != "v1":
        bans = ctlj(m, "ban", "list")["bans"]
        assert [b["cidr"] for b in bans] == ["198.51.100.0/24"]
        users = {u["user"]: u["state"] for u in ctlj(m, "user", "list")[
            "users"]}
        assert users.get("mallory") == "suspended", users
        dead = ctlj(m, "queue", "deadletter", "list")["deadletters"]
        assert [d["to"] for d in dead] == ["frank@remote.test"]
        # a dead letter from before the upgrade goes back into the queue
        ctl(m, "queue", "deadletter", "reinject", "--all", check=0)
        got = peer.wait(4, timeout=30)
        assert got[-1][0] == "" and got[-1][1] == ["frank@remote.test"]
        assert b"Subject: v1 dead letter" in got[-1][2]
    # version 4's table sent_log: the remote mail delivered above is
    # there (written when the result is, after the peer's reply), the
    # local mail is not
    want = ["carol@remote.test", "dave@remote.test", "erin@remote.test"] + (
        ["frank@remote.test"] if version != "v1" else [])
    assert wait_for(lambda: len(m.sql("SELECT id FROM sent_log")) ==
                    len(want))
    sent = m.sql("SELECT rcpt, domain, host FROM sent_log ORDER BY rcpt")
    assert [r[0] for r in sent] == want, sent
    assert all(r[1] == "remote.test" and PEER in r[2] for r in sent), sent
    # a second start finds the current version: no new copy
    assert m.stop() == 0
    m.start()
    assert len(glob.glob(path + ".bak-v*")) == 1
    assert m.log().count("event=db_upgraded") == 1


def test_newer_queue_is_refused(moat_factory, dns):
    m = stopped_moat(moat_factory, dns(), free_port())
    path = install_queue(m, VERSIONS["v1"], "PRAGMA user_version = %d;"
                         % (CURRENT + 1))
    m.start(wait=False)
    assert m.proc.wait(30) != 0
    log = m.log()
    assert ("schema version %d is newer than this moat's (%d)"
            % (CURRENT + 1, CURRENT)) in log, log
    assert "event=listening" not in log.split("schema version")[-1]
    # nothing touched, nothing copied
    assert user_version(path) == CURRENT + 1
    assert glob.glob(path + ".bak-*") == []


def test_failed_upgrade_leaves_the_queue_as_it_was(moat_factory, dns):
    """A step of the upgrade fails (here: a table of version 2's name is
    in the way): the daemon does not start, says which step failed and
    where the copy is, and the file is exactly as it was."""
    m = stopped_moat(moat_factory, dns(), free_port())
    path = install_queue(m, VERSIONS["v1"],
                         "CREATE TABLE paused_dest(x);")

    def dump():
        con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
        try:
            return list(con.iterdump())
        finally:
            con.close()
    before = dump()
    m.start(wait=False)
    assert m.proc.wait(30) != 0
    log = m.log()
    assert ("upgrade from schema version 1 to %d failed at paused_dest"
            % CURRENT) in log, log
    assert "the file is unchanged" in log
    baks = glob.glob(path + ".bak-v1-*")
    assert len(baks) == 1 and baks[0] in log
    assert user_version(path) == 1
    # the steps before the failing one were rolled back too
    assert dump() == before
    assert not any("deadletter" in line for line in before)
