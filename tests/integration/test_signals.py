"""Signals: SIGHUP reloads (or refuses a broken config and keeps the old
one), a dead child takes the whole daemon down, SIGTERM says 421 to the
open sessions."""
import os
import signal
import smtplib
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import MOAT_BIN


def rcpt_code(moat, rcpt, source="127.0.0.1"):
    with smtplib.SMTP("127.0.0.1", moat.port, timeout=10,
                      source_address=(source, 0)) as s:
        s.ehlo("client.example")
        s.mail("sender@outside.example")
        return s.rcpt(rcpt)


def rewrite(moat, old, new):
    with open(moat.conf) as f:
        text = f.read()
    assert old in text
    with open(moat.conf, "w") as f:
        f.write(text.replace(old, new))


def hup_and_wait(moat, needle, count):
    """SIGHUP, then wait until needle is in the log count times."""
    moat.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while time.time() < deadline:
        if moat.log().count(needle) >= count:
            return
        time.sleep(0.05)
    pytest.fail("no %r after SIGHUP:\n%s" % (needle, moat.log()))


def test_sighup_applies_new_config(moat_factory):
    moat = moat_factory()
    assert rcpt_code(moat, "carol@example.org")[0] == 550
    assert rcpt_code(moat, "far@elsewhere.example", "127.0.0.3")[0] == 554
    rewrite(moat, "mailboxes = postmaster, alice, bob",
            "mailboxes = postmaster, alice, bob, carol\n"
            "[relay]\nrelay_networks = 127.0.0.3/32")
    hup_and_wait(moat, "event=reload_done", 1)
    assert "cat=daemon event=reload " in moat.log()
    assert rcpt_code(moat, "carol@example.org")[0] == 250
    assert rcpt_code(moat, "far@elsewhere.example", "127.0.0.3")[0] == 250
    # and the queue process delivers to the new mailbox
    with smtplib.SMTP("127.0.0.1", moat.port, timeout=10) as s:
        s.sendmail("a@b.example", ["carol@example.org"],
                   b"Subject: new mailbox\r\n\r\nhello carol\r\n")
    assert len(moat.wait_maildir(1, "carol")) == 1
    assert moat.proc.poll() is None


def test_sighup_refuses_broken_config_and_keeps_old(moat_factory):
    moat = moat_factory()
    with open(moat.conf) as f:
        good = f.read()
    broken = good.replace("mailboxes = postmaster, alice, bob",
                          "mailboxes = postmaster, alice, bob, carol") \
        + "[limits]\nmax_errors = ten\n"
    lineno = broken.splitlines().index("max_errors = ten") + 1
    with open(moat.conf, "w") as f:
        f.write(broken)
    # a session open across the reload goes on unharmed
    with smtplib.SMTP("127.0.0.1", moat.port, timeout=10) as s:
        s.ehlo("client.example")
        hup_and_wait(moat, "event=reload_failed", 1)
        assert s.noop()[0] == 250
        s.mail("a@b.example")
        assert s.rcpt("postmaster@localhost")[0] == 250
        assert s.rcpt("carol@example.org")[0] == 550
    log = moat.log()
    assert '%s:%d: max_errors: \'ten\' is not a number' % (moat.conf, lineno) \
        in log, log
    assert "keeping the running configuration" in log
    assert "event=reloaded" not in log and "event=reload_done" not in log
    assert moat.proc.poll() is None
    # a new session still gets the old configuration
    assert rcpt_code(moat, "carol@example.org")[0] == 550
    assert rcpt_code(moat, "postmaster@localhost")[0] == 250
    # fixed, the next SIGHUP takes
    with open(moat.conf, "w") as f:
        f.write(broken.replace("max_errors = ten", "max_errors = 5"))
    hup_and_wait(moat, "event=reload_done", 1)
    assert rcpt_code(moat, "carol@example.org")[0] == 250


def test_sighup_reloads_users(moat_factory):
    moat = moat_factory(listeners=[("mx", "mx", ""),
                                   ("sub", "submission", "")],
                        users={"alice": "correct horse"})
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE

    def login(user, pw):
        with smtplib.SMTP("127.0.0.1", moat.ports["sub"], timeout=10) as s:
            s.starttls(context=ctx)
            try:
                return s.login(user, pw)[0]
            except smtplib.SMTPAuthenticationError as e:
                return e.smtp_code

    assert login("dave", "dave's secret") == 535
    subprocess.run([MOAT_BIN, "passwd", "dave", "-c", moat.conf],
                   input="dave's secret\n", text=True, check=True,
                   capture_output=True, cwd=moat.dir)
    hup_and_wait(moat, "event=users_loaded count=2", 1)
    assert login("dave", "dave's secret") == 235
    assert login("alice", "correct horse") == 235


@pytest.mark.parametrize("child", ["moat-smtp", "moat-queue", "moat-auth",
                                   "moat-mta", "moat-control"])
def test_child_killed_stops_whole_daemon(moat_factory, child):
    moat = moat_factory()
    kids = {comm: pid for pid, comm in moat.children().items()}
    assert child in kids, kids
    # an open session notices too: it is answered or closed, never hangs
    s = socket.create_connection(("127.0.0.1", moat.port), 5)
    s.settimeout(10)
    assert s.recv(100).startswith(b"220 ")
    os.kill(kids[child], signal.SIGKILL)
    try:
        rc = moat.proc.wait(15)
    except subprocess.TimeoutExpired:
        pytest.fail("daemon still running after %s was killed:\n%s"
                    % (child, moat.log()))
    assert rc != 0, rc
    deadline = time.time() + 10
    while time.time() < deadline and any(
            os.path.exists("/proc/%d" % p) for p in kids.values()):
        time.sleep(0.05)
    for name, pid in kids.items():
        assert not os.path.exists("/proc/%d" % pid), (name, "still alive")
    log = moat.log()
    assert "event=child_died child=%s signal=9" % child.split("-")[1] in log, \
        log
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", moat.port), 1).close()
    # the session ended one way or another
    try:
        rest = s.recv(1000)
    except (ConnectionResetError, socket.timeout):
        rest = b""
    s.close()
    assert rest == b"" or rest.startswith(b"421"), rest


def test_sigterm_gives_open_sessions_421(moat_factory):
    moat = moat_factory()
    idle = smtplib.SMTP("127.0.0.1", moat.port, timeout=10)
    idle.ehlo("idle.example")
    indata = smtplib.SMTP("127.0.0.1", moat.port, timeout=10)
    indata.ehlo("busy.example")
    indata.mail("a@b.example")
    indata.rcpt("postmaster@localhost")
    code, _ = indata.docmd("DATA")
    assert code == 354
    indata.send(b"Subject: half\r\n\r\nnot finished\r\n")
    fresh = smtplib.SMTP("127.0.0.1", moat.port, timeout=10)   # not greeted
    time.sleep(0.1)
    moat.proc.send_signal(signal.SIGTERM)
    for s in (idle, indata, fresh):
        code, msg = s.getreply()
        assert (code, msg[:5]) == (421, b"4.3.2"), (code, msg)
        with pytest.raises(smtplib.SMTPServerDisconnected):
            s.getreply()
        s.close()
    assert moat.proc.wait(20) == 0
    log = moat.log()
    assert "event=signal signal=TERM" in log
    assert "event=stopped status=0" in log
    assert "event=accepted" not in log      # the half message was not taken
    assert moat.maildir() == []


def test_sigterm_answers_message_being_committed(moat_factory):
    """A session waiting for the queue's commit at SIGTERM gets its 250 for
    the message first, then 421 (nothing accepted is left unanswered)."""
    moat = moat_factory(extra="[log]\nsmtp = debug\n")
    queue = [p for p, c in moat.children().items() if c == "moat-queue"][0]
    s = smtplib.SMTP("127.0.0.1", moat.port, timeout=10)
    s.ehlo("client.example")
    s.mail("a@b.example")
    s.rcpt("postmaster@localhost")
    assert s.docmd("DATA")[0] == 354
    os.kill(queue, signal.SIGSTOP)
    try:
        s.send(b"Subject: last\r\n\r\njust in time\r\n.\r\n")
        assert moat.wait_log("from=data to=wait"), moat.log()
        moat.proc.send_signal(signal.SIGTERM)
        assert moat.wait_log("event=shutdown sessions=1")
    finally:
        os.kill(queue, signal.SIGCONT)
    code, msg = s.getreply()
    assert (code, msg[:5]) == (250, b"2.0.0"), (code, msg)
    code, msg = s.getreply()
    assert (code, msg[:5]) == (421, b"4.3.2"), (code, msg)
    s.close()
    assert moat.proc.wait(20) == 0
    assert len(moat.maildir()) == 1 or moat.sql(
        "select count(*) from message") == [["1"]]


def test_parent_killed_children_exit(moat_factory):
    """kill -9 of the parent alone: the children notice and exit, the port
    closes (no orphaned half daemon keeps accepting mail)."""
    moat = moat_factory()
    kids = moat.children()
    assert len(kids) >= 3
    os.kill(moat.proc.pid, signal.SIGKILL)
    moat.proc.wait(10)
    deadline = time.time() + 10
    while time.time() < deadline and any(
            os.path.exists("/proc/%d" % p) for p in kids):
        time.sleep(0.05)
    alive = {c: p for p, c in kids.items() if os.path.exists("/proc/%d" % p)}
    # zombies of a dead parent are reaped by init; anything else is alive
    for comm, pid in list(alive.items()):
        try:
            with open("/proc/%d/stat" % pid) as f:
                if f.read().split(") ")[1].split()[0] == "Z":
                    del alive[comm]
        except OSError:
            del alive[comm]
    try:
        assert alive == {}, alive
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", moat.port), 1).close()
    finally:
        for pid in alive.values():
            os.kill(pid, signal.SIGKILL)


def test_sighup_reads_the_config_once(moat_factory):
    # the configuration becomes a pipe that gives its text once a
    # reading: a reload that read the file twice (once to check, once to
    # pass on to the children) would hang on the second reading
    moat = moat_factory()
    with open(moat.conf) as f:
        text = f.read()
    os.unlink(moat.conf)
    os.mkfifo(moat.conf)
    changed = text.replace("mailboxes = postmaster, alice, bob",
                           "mailboxes = postmaster, alice, bob, carol")

    def feed():
        fd = os.open(moat.conf, os.O_WRONLY)
        with os.fdopen(fd, "w") as f:
            f.write(changed)

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    hup_and_wait(moat, "event=reload_done", 1)
    t.join(5)
    assert rcpt_code(moat, "carol@example.org")[0] == 250
