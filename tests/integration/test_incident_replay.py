"""The incident replayed: a password list tried for one account from 20
rotating addresses (none fails often enough for the per-address ban),
the password found on the 26th try, then a spam run to many outside
domains through the account. A login right after such a guessing attack
holds the account from its first message, and every address that guessed
is banned: nothing reaches the outside.

The run is scaled down for a small machine: 600 messages to 300 domains
(the incident had 10,000); the watch would have let the first 99 out.
The pauses after failed AUTH (auth_fail_delay_ms, account_fail_delay_ms)
are shortened so that 26 tries take seconds, not minutes; the
per-address rule (auth_fail_limit, auth_fail_window) is the default.
"""
import os
import smtplib
import time

import pytest

from conftest import free_port
from test_control import ctl, ctlj
from test_delivery import Peer
from test_watch import alert_script  # noqa: F401
from submission import LISTENERS, PASSWORD, USER, plain, sub_session
GUESSERS = ["127.0.0.%d" % (101 + i) for i in range(20)]
SINK = "127.0.0.30"
FAST = "[limits]\nauth_fail_delay_ms = 50\n[policy]\naccount_fail_delay_ms = 50\n"


def session(m, src):
    return sub_session(m, src, timeout=20)


def try_password(m, src, password):
    """One AUTH from src; its reply code (None: refused before AUTH)."""
    try:
        s = session(m, src)
    except (smtplib.SMTPException, OSError):
        return None, None
    code, _ = s.docmd("AUTH", "PLAIN " + plain(USER, password))
    if code != 235:
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            pass
        return code, None
    return code, s


def guess(m, tries, addresses):
    """tries - 1 wrong passwords, rotating over addresses, then the right
    one from the next address in turn: its session."""
    for i in range(tries - 1):
        code, _ = try_password(m, addresses[i % len(addresses)],
                               "guess-%d" % i)
        assert code == 535, (i, code)
    code, s = try_password(m, addresses[(tries - 1) % len(addresses)],
                           PASSWORD)
    assert code == 235, code
    return s


def spam(s, start, count, domains):
    """Messages through an authenticated session until one is refused;
    how many were accepted."""
    ok = 0
    try:
        for i in range(start, start + count):
            s.sendmail("alice@example.org",
                       ["victim%d@d%d.example" % (i, i % domains)],
                       b"Subject: offer\r\n\r\nbuy now\r\n")
            ok += 1
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            pass
    return ok


def guessed_then_spam(m, count):
    """12 tries from 12 addresses, the last one right; then count
    messages through the login's session (closed once its address is
    banned) and count more from an address that never guessed. How many
    were accepted (count at least)."""
    s = guess(m, 12, GUESSERS[:12])
    n = spam(s, 0, count, count)
    s2 = session(m, "127.0.1.200")
    code, _ = s2.docmd("AUTH", "PLAIN " + plain(USER, PASSWORD))
    assert code == 235, code
    n += spam(s2, n, count, count)
    assert n >= count
    return n


def wait_sink(peer, n, timeout=15):
    """The sink's count once it reaches n, or after timeout."""
    deadline = time.time() + timeout
    while time.time() < deadline and len(peer.messages) < n:
        time.sleep(0.1)
    return len(peer.messages)


def conf(peer, more=""):
    return ("[delivery]\nsmarthost = [%s]:%d\nretry_min = 1\n" % (
        SINK, peer.port)) + FAST + more


@pytest.mark.parametrize("aggregate", [False, True])
def test_replay_nothing_leaves(moat_factory, alert_script, aggregate):
    script, alerts = alert_script
    peer = Peer(SINK, free_port())
    try:
        m = moat_factory(listeners=LISTENERS, users={USER: PASSWORD},
                         extra=conf(peer, "[watch]\nalert_command = %s\n"
                                    "guess_ban_aggregate = %s\n" % (
                                        script, "yes" if aggregate else "no")))
        s = guess(m, 26, GUESSERS)
        # the per-address rule banned none of them: 1 or 2 failures each
        # (the bans that follow the login are the queue's, origin guess)
        assert m.sql("select count(*) from bans where origin != 'guess'") \
            == [["0"]]
        assert "origin=auth" not in m.log()
        fails = m.sql("select client_ip, count(*) from events where "
                      "type='auth_fail' and user='alice' group by client_ip")
        assert len(fails) == 20 and max(int(n) for _, n in fails) <= 2, fails
        assert m.sql("select count(*) from events where "
                     "type='account_attack'") == [["1"]]

        # the spam run: through the login's session (closed when its
        # address is banned), then from an address that never guessed
        accepted = spam(s, 0, 600, 300)
        s2 = session(m, "127.0.1.200")
        code, _ = s2.docmd("AUTH", "PLAIN " + plain(USER, PASSWORD))
        assert code == 235, code
        accepted += spam(s2, accepted, 600 - accepted, 300)
        assert accepted > 0

        # the account is held (suspended past 300 domains by the watch)
        state = m.sql("select state from user_state where user='alice'")
        assert state in ([["held"]], [["suspended"]]), state
        held = m.sql("select count(*) from recipient r join message g on "
                     "g.id = r.msg_id where g.auth_user='alice' and "
                     "r.state = 2")
        assert int(held[0][0]) == accepted, (held, accepted)
        time.sleep(3)       # retry_min = 1: anything due would have left
        assert len(peer.messages) == 0, len(peer.messages)

        ev = m.sql("select client_ip, detail from events where "
                   "type='login_after_guessing' and user='alice'")
        assert len(ev) == 1 and ev[0][0] == GUESSERS[25 % 20], ev
        assert "failed_for_it=yes" in ev[0][1], ev

        # every guessing address banned, an event each naming the account
        bans = sorted(r[0] for r in m.sql(
            "select cidr from bans where origin='guess'"))
        evs = sorted(r[0] for r in m.sql(
            "select client_ip from events where type='guess_ban' "
            "and user='alice'"))
        if aggregate:
            assert bans == ["127.0.0.0/24"], bans
        else:
            assert bans == sorted(a + "/32" for a in GUESSERS), bans
        assert evs == bans, (evs, bans)
        # smtp applied them: a guessing address is refused at connect
        code, _ = try_password(m, GUESSERS[3], PASSWORD)
        assert code is None
        assert "event=login_after_guessing" in m.log()
        deadline = time.time() + 5
        while time.time() < deadline and not os.path.exists(alerts):
            time.sleep(0.1)
        with open(alerts) as f:
            assert f.read().startswith("login_after_guessing user=alice")

        # one incident: the account, all its mail held, nothing left, the
        # guessers' bans its own (test_incident_export.py has the rest)
        inc = ctlj(m, "incident", "list")["incidents"]
        assert [(r["id"], r["held"], r["left"]) for r in inc] == \
            [("user:alice", accepted, 0)], inc
        show = ctlj(m, "incident", "show", "user:alice")
        assert sorted(b["cidr"] for b in show["bans"]) == bans
    finally:
        peer.close()


def test_normal_login_is_not_held(moat_factory):
    """No guessing before: the owner's login and mail go as always, and
    its network is remembered as the account's."""
    peer = Peer(SINK, free_port())
    try:
        m = moat_factory(listeners=LISTENERS, users={USER: PASSWORD},
                         extra=conf(peer))
        code, s = try_password(m, "127.0.0.1", PASSWORD)
        assert code == 235
        assert spam(s, 0, 3, 3) == 3
        assert wait_sink(peer, 3) == 3
        assert m.sql("select count(*) from user_state") == [["0"]]
        assert m.sql("select user, net, logins from login_nets") == \
            [["alice", "127.0.0.0/24", "1"]]
        assert m.sql("select count(*) from events where "
                     "type='login_after_guessing'") == [["0"]]
    finally:
        peer.close()


def test_owner_from_known_network_is_not_held(moat_factory):
    """After a guessing attack, the owner logging in from a network the
    account used before, from an address that did not guess, is let
    through; with quarantine_after_guessing = no nobody is held."""
    peer = Peer(SINK, free_port())
    try:
        m = moat_factory(listeners=LISTENERS, users={USER: PASSWORD},
                         extra=conf(peer))
        code, s = try_password(m, "127.0.0.1", PASSWORD)
        assert code == 235
        s.quit()
        for i in range(12):
            code, _ = try_password(m, GUESSERS[i], "guess-%d" % i)
            assert code == 535
        code, s = try_password(m, "127.0.0.1", PASSWORD)
        assert code == 235
        assert spam(s, 0, 2, 2) == 2
        assert m.sql("select count(*) from user_state") == [["0"]]
        assert wait_sink(peer, 2) == 2
    finally:
        peer.close()


def test_quarantine_off(moat_factory):
    peer = Peer(SINK, free_port())
    try:
        m = moat_factory(listeners=LISTENERS, users={USER: PASSWORD},
                         extra=conf(peer, "[watch]\nquarantine_after_guessing"
                                    " = no\n"))
        s = guess(m, 12, GUESSERS)
        assert spam(s, 0, 1, 1) == 1
        assert m.sql("select count(*) from user_state") == [["0"]]
        assert m.sql("select count(*) from bans") == [["0"]]
    finally:
        peer.close()


def test_admin_release_lets_the_mail_go(moat_factory):
    """The held mail of a quarantined login leaves once the admin
    releases the account and its mail; an admin's suspend of an account
    bans its guessers too."""
    peer = Peer(SINK, free_port())
    try:
        m = moat_factory(listeners=LISTENERS, users={USER: PASSWORD},
                         extra=conf(peer))
        n = guessed_then_spam(m, 3)
        time.sleep(2)
        assert len(peer.messages) == 0
        out = ctl(m, "user", "list", check=0)[1]
        assert "alice" in out and "held" in out, out
        ctl(m, "user", "release", "alice", check=0)
        ctl(m, "queue", "release", "--user", "alice", check=0)
        assert wait_sink(peer, n) == n

        # an admin's suspend bans the addresses again (one per guesser)
        ctl(m, "ban", "del", GUESSERS[0] + "/32", check=0)
        ctl(m, "user", "suspend", "alice", check=0)
        assert m.sql("select count(*) from bans where cidr='%s/32'"
                     % GUESSERS[0]) == [["1"]]
    finally:
        peer.close()


def test_usual_pattern_ends_the_quarantine(moat_factory, alert_script):
    """The owner's usual pattern back (a network the account used before
    the attack, an address that did not fail, no AUTH failure for
    guess_quiet_time) ends the quarantine with an event and an alert:
    new mail goes, the owner's held mail is released, the attacker's
    stays held for the admin; the attacker's next login is held again."""
    script, alerts = alert_script
    owner = "127.0.2.5"
    peer = Peer(SINK, free_port())
    try:
        m = moat_factory(listeners=LISTENERS, users={USER: PASSWORD},
                         extra=conf(peer, "[watch]\nguess_quiet_time = 2\n"
                                    "alert_command = %s\n" % script))
        code, s = try_password(m, owner, PASSWORD)
        assert code == 235
        s.quit()
        time.sleep(1.1)     # login_nets keeps whole seconds: before the attack
        s = guess(m, 12, GUESSERS[:12])
        assert spam(s, 0, 2, 2) == 2          # the attacker's, held
        # the owner at once: the attack is too recent, still held
        code, s = try_password(m, owner, PASSWORD)
        assert code == 235
        assert spam(s, 100, 1, 1) == 1
        assert m.sql("select state from user_state where user='alice'") \
            == [["held"]]
        assert m.sql("select count(*) from events where "
                     "type='guess_quarantine_end'") == [["0"]]
        # guess_quiet_time without a failure (events keep whole seconds:
        # 2 to 3 s); until then each login of the owner leaves it held
        deadline = time.time() + 10
        while True:
            code, s = try_password(m, owner, PASSWORD)
            assert code == 235
            state = m.sql("select state from user_state where user='alice'")
            if state == [["active"]] or time.time() > deadline:
                break
            s.quit()
            time.sleep(0.3)
        assert state == [["active"]], state
        ev = m.sql("select client_ip, detail from events where "
                   "type='guess_quarantine_end' and user='alice'")
        assert len(ev) == 1 and ev[0][0] == owner, ev
        assert "released=1" in ev[0][1] and "still_held=2" in ev[0][1], ev
        assert spam(s, 200, 1, 1) == 1        # new mail goes again
        assert wait_sink(peer, 2) == 2
        got = sorted(r for msg in peer.messages for r in msg[1])
        assert got == ["victim100@d0.example", "victim200@d0.example"], got
        # the attacker's mail stays held for the admin
        held = m.sql("select g.client_ip, count(*) from recipient r join "
                     "message g on g.id = r.msg_id where r.state = 2 "
                     "group by g.client_ip")
        assert held == [[GUESSERS[11], "2"]], held
        deadline = time.time() + 5
        while time.time() < deadline and "guess_quarantine_end" not in (
                open(alerts).read() if os.path.exists(alerts) else ""):
            time.sleep(0.1)
        with open(alerts) as f:
            assert "guess_quarantine_end user=alice" in f.read()
        # the attack is still within guess_window: a login from a new
        # network is held again
        code, s = try_password(m, "127.0.1.200", PASSWORD)
        assert code == 235
        assert spam(s, 300, 1, 1) == 1    # through the queue: judged
        assert m.sql("select state from user_state where user='alice'") \
            == [["held"]]
        assert len(peer.messages) == 2
    finally:
        peer.close()
