"""An internal server (a relay client in relay_networks, no AUTH) carries
many users' mail: the compromised-account watch counts it per envelope
sender (key ip:ADDRESS/SENDER) as well as whole (ip:ADDRESS, the
backstop). One taken-over mailbox behind it is held alone; the backstop
still holds everything past its own thresholds; the counts survive a
restart. session_lifetime lets a trusted client finish its DATA."""
import os
import smtplib
import socket
import sqlite3
import time

import pytest

from conftest import free_port, install_queue
from test_control import ctl, ctlj
from test_delivery import Peer

RELAY = "[relay]\nrelay_networks = 127.0.0.2/32\n"
ALICE = "ip:127.0.0.2/alice@example.org"


def wait_for(fn, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if fn():
            return True
        time.sleep(0.1)
    return fn()


def relay(m):
    """A session from the internal server (127.0.0.2, relay_networks)."""
    s = smtplib.SMTP("127.0.0.1", m.port, timeout=15,
                     source_address=("127.0.0.2", 0))
    s.ehlo("exchange.example.org")
    return s


@pytest.fixture
def alert_script():
    import shutil
    import tempfile
    d = tempfile.mkdtemp(prefix="moat-alert-")
    out = os.path.join(d, "alerts.txt")
    script = os.path.join(d, "alert.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\necho \"$MOAT_EVENT client=$MOAT_CLIENT "
                "sender=$MOAT_SENDER user=$MOAT_USER\" >> %s\n" % out)
    os.chmod(script, 0o755)
    os.chmod(d, 0o777)
    yield script, out
    shutil.rmtree(d, ignore_errors=True)


def held_of(m, sender):
    return int(m.sql("select count(*) from recipient r join message g on "
                     "g.id = r.msg_id where r.state = 2 and lower(g.sender) = '%s'"
                     % sender)[0][0])


def test_one_sender_is_held_alone(moat_factory, alert_script):
    """Three senders behind one internal server; one of them writes to
    many outside domains: only its mail is held, the others' (and the
    server's bounces) are delivered; events, the log, the alert command
    and the CLI name the client and the sender."""
    script, alerts = alert_script
    peer = Peer("127.0.0.31", free_port())
    try:
        m = moat_factory(extra=RELAY + (
            "[delivery]\nsmarthost = [127.0.0.31]:%d\nretry_min = 1\n"
            "[watch]\nwatch_action = hold\nhold_external_rcpts = 5\n"
            "hold_external_domains = 1000\nsuspend_external_rcpts = 1000\n"
            "suspend_external_domains = 1000\nrelay_client_factor = 100\n"
            "alert_command = %s\n" % (peer.port, script)))
        s = relay(m)
        for i in range(12):
            # the case of the sender does not make a new one
            sender = "alice@example.org" if i % 2 else "Alice@Example.ORG"
            s.sendmail(sender, ["x%d@d%d.example" % (i, i)],
                       b"Subject: offer\r\n\r\nbuy now\r\n")
            if i % 4 == 0:
                s.sendmail("bob@example.org", ["partner@partner.example"],
                           b"Subject: minutes\r\n\r\nhere\r\n")
                s.sendmail("", ["someone@far.example"],
                           b"Subject: Undeliverable\r\n\r\nbounce\r\n")
        s.quit()
        # bob's mail and the bounces leave
        assert wait_for(lambda: sum(1 for f, _, _, _ in peer.messages
                                    if f in ("bob@example.org", "")) == 6), \
            peer.messages
        assert m.sql("select user, state from user_state") == \
            [[ALICE, "held"]]
        # alice's run stopped at her threshold: the rest is held
        alice_out = [r for f, r, _, _ in peer.messages
                     if f.lower() == "alice@example.org"]
        assert len(alice_out) <= 5, alice_out
        assert held_of(m, "alice@example.org") >= 7
        assert held_of(m, "bob@example.org") == 0
        assert held_of(m, "") == 0
        ev = m.sql("select type, client_ip, user, detail from events "
                   "where type = 'hold'")
        assert len(ev) == 1, ev
        assert ev[0][:3] == ["hold", "127.0.0.2", ""] or \
            ev[0][:3] == ["hold", "127.0.0.2", None], ev
        assert ev[0][3].startswith("client=127.0.0.2 "
                                   "mail_from=<alice@example.org> "), ev
        assert "external_rcpts=5 " in ev[0][3], ev
        assert ('event=hold sender="%s" client=127.0.0.2 '
                'mail_from=<alice@example.org> state=held' % ALICE) in m.log()
        assert wait_for(lambda: os.path.exists(alerts), 5)
        with open(alerts) as f:
            lines = f.read().splitlines()
        assert lines == ["hold client=127.0.0.2 sender=alice@example.org "
                         "user="], lines

        # the CLI shows the key, and the held mail by client and sender
        users = {u["user"]: u for u in ctlj(m, "user", "list")["users"]}
        assert users[ALICE]["state"] == "held", users
        assert users[ALICE]["queued"] >= 7, users   # by client and sender
        rc, out, _ = ctl(m, "user", "list", check=0)
        assert ALICE in out and "held" in out, out
        rows = ctlj(m, "queue", "list", "--state", "held")["messages"]
        assert len(rows) >= 7 and all(r["from"].lower() ==
                                      "alice@example.org" for r in rows), rows
        assert len(ctlj(m, "queue", "list", "--client-ip", "127.0.0.2",
                        "--from", "alice@example.org", "--state",
                        "held")["messages"]) == len(rows)
        # a bad key is refused with the form it should have
        rc, _, err = ctl(m, "user", "hold", "ip:nonsense host")
        assert rc != 0
        rc, _, err = ctl(m, "user", "hold", "ip:127.0.0.2/")
        assert rc == 2 and "ip:ADDRESS/SENDER" in err, err
        # released (in whatever case the admin types it), then its mail
        ctl(m, "user", "release", "ip:127.0.0.2/Alice@Example.org",
            check=0)
        assert m.sql("select state from user_state where user = '%s'"
                     % ALICE) == [["active"]]
        before = len(peer.messages)
        ctl(m, "queue", "release", "--client-ip", "127.0.0.2", "--from",
            "alice@example.org", check=0)
        assert wait_for(lambda: len(peer.messages) >= before + 7), \
            (before, len(peer.messages))
    finally:
        peer.close()


def test_null_sender_has_a_key(moat_factory):
    """A flood of bounces from the internal server is held under
    ip:ADDRESS/<>, which the CLI takes back."""
    m = moat_factory(extra=RELAY + (
        "[delivery]\nsmarthost = [127.0.0.1]:%d\nretry_min = 3600\n"
        "[watch]\nhold_external_rcpts = 3\nhold_external_domains = 1000\n"
        % free_port()))
    s = relay(m)
    for i in range(5):
        s.sendmail("", ["r%d@far%d.example" % (i, i)],
                   b"Subject: Undeliverable\r\n\r\nx\r\n")
    s.sendmail("bob@example.org", ["p@partner.example"], b"Subject: x\r\n\r\nx\r\n")
    s.quit()
    assert wait_for(lambda: m.sql("select user, state from user_state") ==
                    [["ip:127.0.0.2/<>", "held"]])
    assert held_of(m, "") == 5
    assert held_of(m, "bob@example.org") == 0
    ev = m.sql("select detail from events where type = 'hold'")
    assert ev[0][0].startswith("client=127.0.0.2 mail_from=<> "), ev
    ctl(m, "user", "release", "ip:127.0.0.2/<>", check=0)
    assert m.sql("select state from user_state") == [["active"]]


def test_backstop_holds_the_whole_client(moat_factory):
    """Past the address's own thresholds (hold_external_rcpts times
    relay_client_factor, 4 x 5 here) everything of the client is held,
    whoever the sender; one sender past 4 was held before that."""
    m = moat_factory(extra=RELAY + (
        "[delivery]\nsmarthost = [127.0.0.1]:%d\nretry_min = 3600\n"
        "[watch]\nhold_external_rcpts = 4\nhold_external_domains = 1000\n"
        "relay_client_factor = 5\n" % free_port()))
    s = relay(m)
    for i in range(5):
        s.sendmail("alice@example.org", ["a%d@far.example" % i],
                   b"Subject: x\r\n\r\nx\r\n")
    assert m.sql("select user, state from user_state") == [[ALICE, "held"]]
    # 15 more, each from a sender of its own: none is past 4 alone
    for i in range(15):
        s.sendmail("user%d@example.org" % i, ["u%d@far.example" % i],
                   b"Subject: x\r\n\r\nx\r\n")
    assert m.sql("select user, state from user_state order by user") == \
        [["ip:127.0.0.2", "held"], [ALICE, "held"]]
    ev = m.sql("select client_ip, detail from events where type = 'hold' "
               "order by id")
    assert len(ev) == 2 and ev[1][0] == "127.0.0.2", ev
    assert ev[1][1].startswith("qid=") and "external_rcpts=20 " in ev[1][1], ev
    # everything is held now, a new sender's mail too
    s.sendmail("carol@example.org", ["c@far.example"], b"Subject: x\r\n\r\nx\r\n")
    s.quit()
    assert int(m.sql("select count(*) from recipient where state != 2")
               [0][0]) == 0
    assert int(m.sql("select count(*) from recipient")[0][0]) == 21


def test_sender_counts_survive_restart(moat_factory):
    """A sender behind the relay client sends, moat restarts, it sends
    again: both halves count; the rows keep the sender."""
    m = moat_factory(extra=RELAY + (
        "[delivery]\nsmarthost = [127.0.0.1]:%d\nretry_min = 3600\n"
        "[watch]\nhold_external_rcpts = 10\nhold_external_domains = 1000\n"
        "relay_client_factor = 100\n" % free_port()))
    s = relay(m)
    for i in range(7):
        s.sendmail("alice@example.org", ["a%d@far.example" % i],
                   b"Subject: x\r\n\r\nx\r\n")
        s.sendmail("bob@example.org", ["b%d@far.example" % i],
                   b"Subject: x\r\n\r\nx\r\n")
    s.quit()
    assert m.stop() == 0
    rows = m.sql("select sender, mail_from, count(*) from watch_traffic "
                 "group by sender, mail_from order by mail_from")
    assert rows == [["ip:127.0.0.2", "alice@example.org", "7"],
                    ["ip:127.0.0.2", "bob@example.org", "7"]], rows
    m.start()
    s = relay(m)
    for i in range(7, 9):
        s.sendmail("alice@example.org", ["a%d@far.example" % i],
                   b"Subject: x\r\n\r\nx\r\n")
    assert m.sql("select count(*) from user_state") == [["0"]]
    s.sendmail("alice@example.org", ["a9@far.example"],
               b"Subject: x\r\n\r\nx\r\n")
    s.quit()
    assert m.sql("select user, state from user_state") == [[ALICE, "held"]]
    ev = m.sql("select detail from events where type = 'hold'")
    assert "external_rcpts=10 " in ev[0][0], ev


def test_sender_watch_off(moat_factory):
    """relay_sender_watch = no: the client is counted whole only, as
    before."""
    m = moat_factory(extra=RELAY + (
        "[delivery]\nsmarthost = [127.0.0.1]:%d\nretry_min = 3600\n"
        "[watch]\nhold_external_rcpts = 2\nhold_external_domains = 1000\n"
        "relay_client_factor = 3\nrelay_sender_watch = no\n" % free_port()))
    s = relay(m)
    for i in range(6):
        s.sendmail("alice@example.org", ["a%d@far.example" % i],
                   b"Subject: x\r\n\r\nx\r\n")
    s.quit()
    assert m.sql("select user, state from user_state") == \
        [["ip:127.0.0.2", "held"]]


def test_old_watch_table_gains_mail_from(moat_factory):
    """A queue.db whose watch_traffic has no mail_from column (made
    before it existed) gains it at start; its rows still count for the
    client as a whole."""
    m = moat_factory(extra=RELAY + (
        "[delivery]\nsmarthost = [127.0.0.1]:%d\nretry_min = 3600\n"
        "[watch]\nhold_external_rcpts = 2\nhold_external_domains = 1000\n"
        "relay_client_factor = 5\n" % free_port()))
    assert m.wait_log("cat=queue event=started")
    assert m.stop() == 0
    # a version 1 file whose watch_traffic has no mail_from yet
    rows = "".join(
        "insert into watch_traffic(sender, time, rcpts, ext_rcpts, "
        "ext_domains) values ('ip:127.0.0.2', %d, 1, 1, 'old%d.example');"
        % (int(time.time()) - 60 + i, i) for i in range(9))
    install_queue(m, ["v1.sql"], extra_sql=(
        "create table watch_traffic (id integer primary key, sender text "
        "not null, time integer not null, rcpts integer not null, "
        "ext_rcpts integer not null, ext_domains text not null);" + rows))
    m.start()
    assert m.wait_log("event=db_upgraded")
    assert m.sql("select count(*) from pragma_table_info('watch_traffic') "
                 "where name = 'mail_from'") == [["1"]]
    s = relay(m)
    s.sendmail("new@example.org", ["n@far.example"], b"Subject: x\r\n\r\nx\r\n")
    s.quit()
    # 9 old + 1: the client's backstop (2 x 5) is reached
    assert m.sql("select user, state from user_state") == \
        [["ip:127.0.0.2", "held"]]
    assert m.stop() == 0
    rows = m.sql("select count(*), count(mail_from) from watch_traffic")
    assert rows == [["10", "1"]], rows


def read_reply(c):
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = c.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def data_session(m, source):
    c = socket.create_connection(("127.0.0.1", m.port), timeout=10,
                                 source_address=(source, 0))
    assert read_reply(c).startswith(b"220")
    for cmd, code in ((b"EHLO client.example", b"250"),
                      (b"MAIL FROM:<app@outside.example>", b"250"),
                      (b"RCPT TO:<postmaster@example.org>", b"250"),
                      (b"DATA", b"354")):
        c.sendall(cmd + b"\r\n")
        r = b""
        while True:
            r += read_reply(c)
            last = r.rstrip(b"\r\n").split(b"\r\n")[-1]
            if last[3:4] != b"-":
                break
        assert last.startswith(code), (cmd, r)
    c.sendall(b"Subject: long one\r\n\r\nfirst part\r\n")
    return c


def test_lifetime_lets_a_trusted_client_finish_data(moat_factory):
    """session_lifetime runs out while an internal server is in DATA: it
    finishes the message, gets its 250, and only then the 421."""
    m = moat_factory(extra=RELAY + "[policy]\nsession_lifetime = 2\n")
    c = data_session(m, "127.0.0.2")
    time.sleep(3)
    assert m.wait_log("event=session_lifetime")
    c.sendall(b"second part, after the lifetime\r\n.\r\n")
    r = read_reply(c)
    if r.count(b"\r\n") < 2:
        r += read_reply(c)
    lines = r.split(b"\r\n")
    assert lines[0].startswith(b"250 2.0.0 Ok: queued as"), r
    assert lines[1].startswith(b"421 4.4.2"), r
    assert c.recv(100) == b""
    c.close()
    assert "close=after_data" in m.log()
    assert m.wait_maildir(1)
    ev = m.sql("select detail from events where type='session_lifetime'")
    assert "close=after_data" in ev[0][0], ev


def test_lifetime_cuts_an_untrusted_client_in_data(moat_factory):
    """An outside client in DATA is cut at its lifetime: 421, closed,
    nothing stored."""
    m = moat_factory(extra=RELAY + "[policy]\nsession_lifetime = 2\n")
    c = data_session(m, "127.0.0.3")
    time.sleep(3)
    r = read_reply(c)
    assert r.startswith(b"421 4.4.2"), r
    assert c.recv(100) == b""
    c.close()
    assert m.sql("select count(*) from message") == [["0"]]
    assert "close=after_data" not in m.log()
