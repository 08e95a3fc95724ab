"""One incident as the administrator sees it: `moat incident list`, `show`
and `export`. A password list from several addresses, the login that
follows and a burst to outside domains held by quarantine_after_guessing
(the helpers of test_incident_replay.py) make the incident; its list
entry, its timeline, held count and bans must agree with the queue and
the bans table, and the archive must hold the same, with moat's own log
lines for the account from the file its stderr went to."""
import json
import os
import resource
import signal
import stat
import subprocess
import tarfile
import time

from conftest import MOAT_BIN, free_port
from test_control import ctl, ctlj
from test_delivery import Peer
from test_incident_replay import (GUESSERS, LISTENERS, PASSWORD, SINK, USER,
                                  conf, guessed_then_spam, plain, session,
                                  spam, wait_sink)


def members(path):
    """name (without the directory) -> bytes of each archive member."""
    with tarfile.open(path, "r:gz") as t:
        names = t.getnames()
        dirs = {n.split("/")[0] for n in names}
        assert len(dirs) == 1, names
        return {n.split("/", 1)[1]: t.extractfile(n).read() for n in names}


def small_files():
    """In the child: no file may grow past 64 bytes; a write past that
    fails (EFBIG) instead of killing the process."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))


def summary(ans):
    return {r["key"]: r["value"] for r in ans["summary"]}


def test_incident_of_a_guessed_account(moat_factory, tmp_path):
    peer = Peer(SINK, free_port())
    try:
        m = moat_factory(listeners=LISTENERS, users={USER: PASSWORD},
                         extra=conf(peer))
        n = guessed_then_spam(m, 4)
        assert len(peer.messages) == 0

        # the list: the account, held, with the held count of the queue
        queue = ctlj(m, "queue", "list", "--user", USER)["messages"]
        assert len(queue) == n
        inc = {r["id"]: r for r in ctlj(m, "incident", "list")["incidents"]}
        assert "user:" + USER in inc, inc
        row = inc["user:" + USER]
        assert row["kind"] == "held" and row["state"] == "held", row
        assert row["held"] == n and row["events"] >= 12, row
        assert row["first"] <= row["last"] <= time.time() + 1
        # guess_ban's bans are the account's, not incidents of their own
        assert not any(k.startswith("client:") for k in inc), inc
        rc, out, _ = ctl(m, "incident", "list")
        assert rc == 0 and "user:" + USER in out, out

        # show: timeline, held, bans and clients agree with the tables
        ans = ctlj(m, "incident", "show", "user:" + USER)
        sm = summary(ans)
        assert sm["held"] == str(n) and sm["state"] == "held", sm
        assert sm["auth_failures"] == "11", sm
        types = [e["type"] for e in ans["timeline"]]
        assert types.count("auth_fail") == 11, types
        assert types.index("login_after_guessing") > \
            max(i for i, t in enumerate(types) if t == "auth_fail")
        assert "account_attack" in types and "guess_ban" in types, types
        times = [e["time"] for e in ans["timeline"]]
        assert times == sorted(times)
        assert sorted(h["qid"] for h in ans["held"]) == \
            sorted(q["qid"] for q in queue)
        bans = sorted(r[0] for r in m.sql(
            "select cidr from bans where origin='guess'"))
        assert sorted(b["cidr"] for b in ans["bans"]) == bans
        # the 12th address logged in and never failed: not banned
        assert bans == sorted(a + "/32" for a in GUESSERS[:11]), bans
        clients = {c["address"]: c for c in ans["clients"]}
        assert set(GUESSERS[:12]) <= set(clients), clients
        assert clients[GUESSERS[11]]["logins"] == 1, clients
        assert clients["127.0.1.200"]["logins"] == 1, clients
        assert sum(c["failures"] for c in clients.values()) == 11
        rc, out, _ = ctl(m, "incident", "show", "user:" + USER)
        assert rc == 0 and "login_after_guessing" in out, out

        # one of its addresses as a client incident: banned, its account
        one = summary(ctlj(m, "incident", "show", "client:" + GUESSERS[0]))
        assert one["state"] == "banned" and one["users"] == USER, one
        assert ctl(m, "incident", "show", "bob")[0] == 2

        # export: the archive agrees with the queue; moat's stderr is the log
        out = str(tmp_path / "alice.tar.gz")
        rc, text, err = ctl(m, "incident", "export", "--user", USER, "-o",
                            out, "--log", m.logpath)
        assert rc == 0, (text, err)
        assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
        f = members(out)
        assert set(f) == {"summary.txt", "incident.json", "events.json",
                          "events.txt", "sessions.json", "queue.json",
                          "bans.json", "log.txt"}, set(f)
        txt = f["summary.txt"].decode()
        assert "INCIDENT user:%s" % USER in txt
        assert "held             %d message(s)" % n in txt, txt
        assert "moat user passwd %s" % USER in txt
        assert "moat queue delete --user %s --state held" % USER in txt
        assert "moat user release %s" % USER in txt
        for b in bans:
            assert b in txt
        assert "from the file %s" % m.logpath in txt, txt
        j = json.loads(f["incident.json"])
        assert summary(j)["held"] == str(n) and len(j["held"]) == n
        assert len(json.loads(f["queue.json"])["messages"]) == n
        assert sorted(b["cidr"] for b in json.loads(f["bans.json"])["bans"]) \
            == bans
        evs = json.loads(f["events.json"])["events"]
        assert sum(e["type"] == "auth_fail" for e in evs) == 11
        assert len(f["events.txt"].decode().splitlines()) == len(evs)
        assert json.loads(f["sessions.json"])["status"] == "ok"
        lines = f["log.txt"].decode().splitlines()
        assert any("user=%s" % USER in x for x in lines), lines[:5]
        addrs = GUESSERS[:12] + ["127.0.1.200"]
        bad = [x for x in lines if "user=%s" % USER not in x and
               'user="%s"' % USER not in x and not any(
            "=%s " % a in x + " " or "=%s\"" % a in x for a in addrs)]
        assert not bad, bad
        assert len(lines) < len(m.log().splitlines())

        # a client's archive: its own lines only, and its ban
        out = str(tmp_path / "client.tar.gz")
        rc, text, err = ctl(m, "incident", "export", "--client",
                            GUESSERS[0], "-o", out, "--log", m.logpath)
        assert rc == 0, (text, err)
        f = members(out)
        txt = f["summary.txt"].decode()
        assert "INCIDENT client:%s" % GUESSERS[0] in txt
        assert "state            banned" in txt and USER in txt, txt
        lines = f["log.txt"].decode().splitlines()
        assert lines and all(GUESSERS[0] in x for x in lines), lines

        # an admin's bans are client incidents; one address as written
        ctl(m, "ban", "add", "192.0.2.0/24", "--reason", "spam run", check=0)
        ctl(m, "ban", "add", "198.51.100.9", check=0)
        inc = {r["id"]: r for r in ctlj(m, "incident", "list")["incidents"]}
        assert inc["client:192.0.2.0/24"]["kind"] == "ban", inc
        assert inc["client:192.0.2.0/24"]["state"] == "banned", inc
        assert "client:198.51.100.9" in inc, inc
        ans = ctlj(m, "incident", "show", "client:192.0.2.0/24")
        assert [(b["cidr"], b["reason"]) for b in ans["bans"]] == \
            [("192.0.2.0/24", "spam run")]
    finally:
        peer.close()


def test_what_left_is_listed(moat_factory, tmp_path):
    """A message that really left through the smarthost is under "left";
    without a journal to read and no --log, summary.txt says so."""
    peer = Peer(SINK, free_port())
    try:
        m = moat_factory(listeners=LISTENERS, users={USER: PASSWORD},
                         extra=conf(peer))
        s = session(m, "127.0.0.1")
        code, _ = s.docmd("AUTH", "PLAIN " + plain(USER, PASSWORD))
        assert code == 235
        assert spam(s, 0, 2, 2) == 2
        assert wait_sink(peer, 2) == 2
        # sent_log's row is the commit after the sink's reply: wait for it
        m.wait_sql("select count(distinct qid) from sent_log where "
                   "user='alice'", [["2"]])
        sent = sorted(r[0] for r in m.sql("select distinct qid from "
                                          "sent_log where user='alice'"))
        assert len(sent) == 2
        ans = ctlj(m, "incident", "show", "user:" + USER)
        sm = summary(ans)
        assert sm["left"] == "2" and sm["left_source"] == "sent_log", sm
        assert sm["held"] == "0" and sm["state"] == "active", sm
        assert sorted(r["qid"] for r in ans["left"]) == sent
        assert {r["to"] for r in ans["left"]} == \
            {"victim0@d0.example", "victim1@d1.example"}
        # an export that cannot write its archive whole leaves the file
        # that was there as it was, and nothing else beside it
        where = tmp_path / "export"
        where.mkdir()
        out = str(where / "x.tar.gz")
        with open(out, "wb") as f:
            f.write(b"an older archive")
        r = subprocess.run([MOAT_BIN, "incident", "export", "--user", USER,
                            "-o", out, "-c", m.conf], cwd=m.dir,
                           capture_output=True, text=True, timeout=60,
                           preexec_fn=small_files, restore_signals=False)
        assert r.returncode == 1 and "x.tar.gz" in r.stderr, r
        with open(out, "rb") as f:
            assert f.read() == b"an older archive"
        assert os.listdir(where) == ["x.tar.gz"]
        # one that can replaces it, mode 0600, nothing left beside it
        os.chmod(out, 0o644)
        rc, text, err = ctl(m, "incident", "export", "--user", USER, "-o",
                            out)
        assert rc == 0, (text, err)
        assert os.listdir(where) == ["x.tar.gz"]
        assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
        txt = members(out)["summary.txt"].decode()
        assert "left             2 message(s) to 2 remote" in txt, txt
        assert "victim0@d0.example" in txt
        assert "LOG LINES" in txt and ("none available" in txt
                                       or "the journal" in txt), txt
    finally:
        peer.close()
