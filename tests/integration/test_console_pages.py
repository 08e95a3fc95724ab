"""The console's queue, users, bans and incident pages in a real Chromium
(tests/browser/pages_*.mjs through Playwright), against a real daemon:
what the pages do is checked in the daemon's state, not only on screen.

- a user held on the users page has its mail held, seen on the queue
  page; a dry-run preview counts what delete would remove, and delete
  removes exactly those; the rest is released from the users page and
  reaches the outside; the user is restored; a ban is added and deleted;
  all by keyboard where a person would use it.
- then a small guessing attack on alice (as test_incident_replay.py,
  scaled down) is one incident in the incident list, and its page shows
  the timeline and the banned addresses.
One daemon and one browser for all of it: the browser's start and the
console login are the slow part.
"""
import json
import time

from conftest import free_port
from console_fixture import CONSOLE_PASSWORD, CONSOLE_USER, Console, \
    console_passwd
from test_console_browser import start_script
from test_control import ctlj
from test_delivery import Peer
from test_incident_replay import USER, PASSWORD, guess, session, plain

LISTENERS = [("mx", "mx", ""), ("sub", "submission", "")]
SINK = "127.0.0.30"
# the attack of the incident test: account_fail_limit failures, each from
# its own address, then the right password from the first of them
GUESSERS = ["127.0.0.%d" % (121 + i) for i in range(3)]
FAST = ("[limits]\nauth_fail_delay_ms = 50\n[policy]\n"
        "account_fail_delay_ms = 50\naccount_fail_limit = 3\n")


def delivery(peer):
    return "[delivery]\nsmarthost = [%s]:%d\nretry_min = 1\n" % (
        SINK, peer.port)


def wait_for(what, fn, timeout=15):
    """fn() until it is true; its last value"""
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() > deadline:
            assert v, what
            return v
        time.sleep(0.1)


def run_pages(console, script, *args, steps=None, timeout=120):
    """tests/browser/SCRIPT against console; each "STEP NAME" line it
    prints runs steps[NAME]() and answers "go", or "go JSON" of what it
    returned ("fail NAME" when it raised, and the exception is raised here
    once the script is gone)."""
    proc = start_script(console, script, *args)
    failed, out = None, []
    try:
        for line in proc.stdout:
            out.append(line)
            if not line.startswith("STEP "):
                continue
            name = line[5:].strip()
            try:
                got = (steps or {})[name]()
                proc.stdin.write("go\n" if got is None else
                                 "go %s\n" % json.dumps(got))
            except Exception as e:  # handed back, raised below
                failed = e
                proc.stdin.write("fail %s\n" % name)
            proc.stdin.flush()
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read()
    if failed is not None:
        raise failed
    assert proc.returncode == 0, ("browser script failed", "".join(out), err)


def submit(m, rcpts):
    """One message of alice through submission to each of rcpts."""
    s = session(m, "127.0.0.1")
    code, _ = s.docmd("AUTH", "PLAIN " + plain(USER, PASSWORD))
    assert code == 235, code
    for r in rcpts:
        s.sendmail("alice@example.org", [r], b"Subject: t\r\n\r\nbody\r\n")
    s.quit()


def queue(m):
    """(qid, to, state) of every message in the queue"""
    return sorted((r["qid"], r["to"], r["state"])
                  for r in ctlj(m, "queue", "list")["messages"])


def daemon(moat_factory, peer):
    """moat with the console and its login, alice, delivery to peer"""
    port = free_port()
    m = moat_factory(listeners=LISTENERS, users={USER: PASSWORD},
                     extra=delivery(peer) + FAST +
                     "[console]\nconsole_listen = 127.0.0.1:%d\n" % port)
    r = console_passwd(m, CONSOLE_USER, CONSOLE_PASSWORD)
    assert r.returncode == 0, r.stderr + r.stdout
    return Console(m, port)


def test_pages(moat_factory):
    """users -> queue -> users -> bans -> incidents, each step checked in
    the daemon; one daemon and one browser for all"""
    peer = Peer(SINK, free_port())
    try:
        c = daemon(moat_factory, peer)
        m = c.moat
        # a reason that is markup: the bans page must show it as text
        ctlj(m, "ban", "add", "198.51.100.7", "--reason",
             '<img src=x onerror="window.__pwned=1">')

        def held():
            assert m.sql("select state, reason from user_state where "
                         "user='alice'") == [["held", "console test"]]
            submit(m, ["a%d@d1.example" % i for i in range(3)] +
                   ["b%d@d2.example" % i for i in range(2)])
            wait_for("5 messages held", lambda: len(queue(m)) == 5 and all(
                s == "held" for _, _, s in queue(m)))

        def deleted():
            q = queue(m)
            assert [(t, s) for _, t, s in q] == [
                ("b0@d2.example", "held"), ("b1@d2.example", "held")], q
            assert peer.messages == []

        def bans():
            return {b["cidr"]: b for b in ctlj(m, "ban", "list")["bans"]}

        def banned():
            b = bans()["192.0.2.0/24"]
            assert b["reason"] == "console test"
            assert 3500 < b["expires"] - time.time() <= 3600, b

        def unbanned():
            assert "192.0.2.0/24" not in bans()
            assert "198.51.100.7/32" in bans()

        def attacked():
            """the released two are out and alice restored; then the
            guessing attack, the login from a guesser, one message"""
            wait_for("2 delivered", lambda: len(peer.messages) == 2)
            assert m.sql("select state from user_state where "
                         "user='alice'") in ([], [["active"]])
            s = guess(m, len(GUESSERS) + 1, GUESSERS)
            try:
                s.sendmail("alice@example.org", ["v@d0.example"],
                           b"Subject: offer\r\n\r\nbuy now\r\n")
            finally:
                s.close()
            want = sorted(a + "/32" for a in GUESSERS)
            wait_for("the guessers banned", lambda: sorted(r[0] for r in m.sql(
                "select cidr from bans where origin='guess'")) == want)
            return {"id": "user:alice", "banned": want, "held": len(
                [1 for _, _, s in queue(m) if s == "held"])}

        run_pages(c, "pages.mjs", steps={
            "held": held, "deleted": deleted, "banned": banned,
            "unbanned": unbanned, "attacked": attacked})
        # only the released two left, to their own recipients
        assert sorted(r for _, rs, _, _ in peer.messages for r in rs) == [
            "b0@d2.example", "b1@d2.example"]
        # the actions are the console's admin's, in the events
        assert m.sql("select count(*) from events where type like "
                     "'admin%%' and detail like '%%admin=console:%s %%'"
                     % CONSOLE_USER) != [["0"]]
    finally:
        peer.close()
