"""Milters with a filter scripted in Python (milter_script.py), which
speaks the protocol itself and checks moat's framing: every event with
its macros, every action (accept, continue, reject and tempfail with and
without the filter's reply, discard, quarantine, header additions,
changes, insertions and deletions, a new sender, added and deleted
recipients, a new body, progress, skip), two filters in order, timeouts
and default_action."""
import re
import smtplib
import socket
import struct
import time

import pytest

from milter_script import ScriptMilter, pkt, strs


@pytest.fixture
def milters():
    started = []

    def make(**kw):
        m = ScriptMilter(**kw).start()
        started.append(m)
        return m
    yield make
    for m in started:
        m.stop()


def start_moat(moat_factory, *ms, action="tempfail", timeouts="",
               names=None, more=""):
    extra = "[relay]\nrelay_networks = 127.0.0.2/32\n" + more
    names = names or ["f%d" % i for i in range(len(ms))]
    for name, m in zip(names, ms):
        extra += ("[milter %s]\nsocket = %s\ndefault_action = %s\n%s\n"
                  % (name, m if isinstance(m, str) else m.socket_spec,
                     action, timeouts))
    return moat_factory(extra=extra, listeners=[
        ("mx", "mx", "milters = %s" % ", ".join(names))])


MSG = (b"From: sender@outside.example\r\nTo: postmaster@localhost\r\n"
       b"Subject: milter test\r\n\r\nHello, filter.\r\n")


def send(moat, msg=MSG, rcpts=("postmaster@localhost",),
         sender="sender@outside.example"):
    """(code, reply) of the first refusal, or of DATA."""
    with smtplib.SMTP("127.0.0.1", moat.port, timeout=30) as s:
        code, reply = s.ehlo("client.example")
        if code != 250:
            return code, reply
        code, reply = s.mail(sender)
        if code != 250:
            return code, reply
        for r in rcpts:
            code, reply = s.rcpt(r)
            if code != 250 and len(rcpts) == 1:
                return code, reply
        return s.data(msg)


def check_clean(*ms):
    for m in ms:
        assert m.errors == [], m.errors


def test_every_event_with_macros(moat_factory, milters):
    m = milters()
    moat = start_moat(moat_factory, m)
    code, reply = send(moat)
    assert code == 250, reply
    qid = re.search(rb"queued as ([0-9a-f]{12})", reply).group(1).decode()
    got = moat.wait_maildir(1)
    assert len(got) == 1
    check_clean(m)
    # the readiness probe of the harness was a session too: this one's
    n = m.seen("M")[0][0]
    letters = [e[1] for e in m.events if e[1] != "D" and e[0] == n]
    assert letters[:5] == ["O", "C", "H", "M", "R"], letters
    conn = m.seen("C")[0][2]
    assert conn[1:] == ("4", conn[2], "127.0.0.1")
    assert m.seen("H")[0][2] == ["client.example"]
    assert m.seen("M")[0][2][0] == "<sender@outside.example>"
    assert m.seen("R")[0][2][0] == "<postmaster@localhost>"
    assert m.seen("T"), letters
    headers = [e[2] for e in m.seen("L")]
    assert headers[0][0] == "Received" and "id " + qid in headers[0][1]
    assert ["Subject", "milter test"] in headers
    assert m.seen("N") and m.seen("E")
    body = b"".join(e[2] for e in m.seen("B"))
    assert body == b"Hello, filter.\r\n"
    assert m.macros["{client_addr}"] == "127.0.0.1"
    assert m.macros["j"] == "mx.test.example"
    assert m.macros["{daemon_name}"] == "mx"
    assert m.macros["{mail_addr}"] == "sender@outside.example"
    assert m.macros["{rcpt_addr}"] == "postmaster@localhost"
    assert m.macros["i"] == qid


def test_reject_at_mail_and_tempfail_at_rcpt(moat_factory, milters):
    m = milters(replies={
        "M": lambda mi, n, d: [("r", b"")] if "bad" in d[0] else None,
        "R": lambda mi, n, d: [("t", b"")] if "alice" in d[0] else None})
    moat = start_moat(moat_factory, m)
    with smtplib.SMTP("127.0.0.1", moat.port) as s:
        s.ehlo("client.example")
        code, reply = s.mail("bad@outside.example")
        assert (code, reply) == (550, b"5.7.1 Command rejected")
        assert s.mail("good@outside.example")[0] == 250
        code, reply = s.rcpt("alice@localhost")
        assert code == 451 and reply.startswith(b"4.7.1"), reply
        assert s.rcpt("bob@localhost")[0] == 250
        assert s.data(MSG)[0] == 250
    got = moat.wait_maildir(1, mailbox="bob")
    assert len(got) == 1 and moat.maildir("alice") == []
    check_clean(m)
    assert "event=milter_reject" in moat.log()


def test_replycode_with_the_filters_text(moat_factory, milters):
    m = milters(replies={
        "R": [("y", b"550 5.7.1 No mail for you, <postmaster>\0")],
        "E": [("y", b"451 4.7.0 Greylisted, come back later\0")]})
    moat = start_moat(moat_factory, m)
    code, reply = send(moat)
    assert (code, reply) == (550, b"5.7.1 No mail for you, <postmaster>")
    m.replies["R"] = None
    code, reply = send(moat)
    assert (code, reply) == (451, b"4.7.0 Greylisted, come back later")
    assert moat.maildir() == []
    check_clean(m)


def test_multiline_replycode(moat_factory, milters):
    m = milters(replies={"M": [(
        "y", b"550-5.7.1 first line\r\n550 5.7.1 second\tline\x01\0")]})
    moat = start_moat(moat_factory, m)
    code, reply = send(moat)
    assert code == 550
    # control bytes of the filter's text never reach the client
    assert reply == b"5.7.1 first line\n5.7.1 second?line?"


def test_bad_replycode_is_a_broken_filter(moat_factory, milters):
    # a CRLF then another code: no valid reply; the filter is dropped and
    # default_action (tempfail) answers
    m = milters(replies={"M": [("y", b"550 5.7.1 x\r\n250 2.0.0 Ok\0")]})
    moat = start_moat(moat_factory, m)
    code, reply = send(moat)
    assert code == 451 and b"4.7.1" in reply, reply
    assert moat.wait_log("event=milter_unavailable")
    assert moat.wait_log("reply code is not 4xx or 5xx")


def test_accept_skips_the_rest(moat_factory, milters):
    m = milters(replies={"M": [("a", b"")]})
    moat = start_moat(moat_factory, m)
    assert send(moat)[0] == 250
    assert len(moat.wait_maildir(1)) == 1
    # accepted at MAIL: no RCPT, header, body or end of message
    time.sleep(0.2)
    assert not m.seen("R") and not m.seen("L") and not m.seen("E")
    check_clean(m)


def test_discard(moat_factory, milters):
    m = milters(replies={"E": [("d", b"")]})
    moat = start_moat(moat_factory, m)
    code, reply = send(moat)
    assert code == 250 and b"queued as" in reply
    assert moat.wait_log("event=discarded")
    time.sleep(0.3)
    assert moat.maildir() == []
    check_clean(m)


def test_quarantine_holds_the_message(moat_factory, milters):
    m = milters(replies={"E": [("q", b"looks odd\0"), ("c", b"")]})
    moat = start_moat(moat_factory, m)
    assert send(moat)[0] == 250
    assert moat.wait_log("event=quarantine")
    deadline = time.time() + 5
    while time.time() < deadline:
        rows = moat.sql("SELECT state FROM recipient")
        if rows:
            break
        time.sleep(0.1)
    assert rows == [["2"]], rows       # QUEUE_RCPT_HELD
    assert moat.maildir() == []
    check_clean(m)


def test_header_edits(moat_factory, milters):
    m = milters(replies={"E": [
        ("h", strs("X-Added", "yes")),
        ("i", struct.pack(">I", 0) + strs("X-First", "top")),
        ("m", struct.pack(">I", 1) + strs("Subject", "changed\n  folded")),
        ("m", struct.pack(">I", 1) + strs("To", "")),
        ("h", strs("X-Evil", "a\r\nBcc: injected\nC")),
        ("c", b"")]})
    moat = start_moat(moat_factory, m)
    assert send(moat)[0] == 250
    got = moat.wait_maildir(1)[0]
    head = got.split(b"\n\n")[0]
    lines = head.split(b"\n")
    assert lines[0].startswith(b"Return-Path") or lines[0] == \
        b"X-First: top", lines[:2]
    assert b"X-First: top" in lines
    assert lines.index(b"X-First: top") < [i for i, l in enumerate(lines)
                                           if l.startswith(b"Received")][0]
    assert b"Subject: changed\n  folded" in head
    assert b"\nTo:" not in head
    assert b"X-Added: yes" in head
    # a line break in a value continues the field: no header is injected
    assert b"X-Evil: a\n\tBcc: injected\n\tC" in head
    assert not re.search(rb"^Bcc:", head, re.M)
    check_clean(m)


def test_change_sender_and_recipients(moat_factory, milters):
    m = milters(replies={"E": [
        ("e", strs("<new-sender@outside.example>")),
        ("-", strs("<postmaster@localhost>")),
        ("+", strs("<someone@remote.example>")),
        ("2", strs("<other@remote.example>", "NOTIFY=NEVER")),
        ("c", b"")]})
    moat = start_moat(moat_factory, m)
    assert send(moat, rcpts=("postmaster@localhost", "alice@localhost"))[0] \
        == 250
    got = moat.wait_maildir(1, mailbox="alice")
    assert len(got) == 1
    assert b"Return-Path: <new-sender@outside.example>" in got[0] or \
        moat.sql("SELECT sender FROM message") == [
            ["new-sender@outside.example"]]
    time.sleep(0.3)
    assert moat.maildir("postmaster") == []
    # the added recipients are relayed (here: bounced at once, no DNS)
    assert moat.wait_log("to=<someone@remote.example>")
    assert moat.wait_log("to=<other@remote.example>")
    assert "from=<new-sender@outside.example> nrcpt=3" in moat.log()
    check_clean(m)


def test_replace_body(moat_factory, milters):
    m = milters(replies={"E": [("b", b"new body\r\nline two\n"),
                               ("b", b"and more\r\n"), ("c", b"")]})
    moat = start_moat(moat_factory, m)
    assert send(moat)[0] == 250
    got = moat.wait_maildir(1)[0]
    assert got.endswith(b"\n\nnew body\nline two\nand more\n"), got[-200:]
    assert b"Hello, filter." not in got
    check_clean(m)


def test_replaced_body_size_is_the_one_written(moat_factory, milters):
    # bare LF line ends in the new body become CRLF: the size logged for
    # the edit and for the message is what is stored, not what was sent
    new = b"one\ntwo\nthree\n" * 50
    m = milters(replies={"E": [("b", new), ("c", b"")]})
    moat = start_moat(moat_factory, m, more="[log]\nsmtp = debug\n")
    assert send(moat)[0] == 250
    crlf = new.replace(b"\n", b"\r\n")
    assert moat.wait_log("edit=replace_body size=%d" % len(crlf)), \
        re.findall(r"edit=replace_body size=\d+", moat.log())
    head = MSG[:MSG.index(b"\r\n\r\n") + 4]
    got = moat.wait_maildir(1)[0]
    assert got.endswith(b"one\ntwo\nthree\n" * 50)
    sizes = re.findall(r"event=accepted .* size=(\d+)", moat.log())
    assert sizes, moat.log()
    # the header section grows by what moat prepends (Received and the
    # like), never by the new body's bare line ends
    assert int(sizes[0]) >= len(head) + len(crlf)
    assert int(sizes[0]) - len(crlf) < 4096
    check_clean(m)


def test_large_body_is_streamed_in_chunks(moat_factory, milters):
    m = milters()
    moat = start_moat(moat_factory, m)
    body = b"".join(b"%06d %s\r\n" % (i, b"y" * 70) for i in range(30000))
    assert send(moat, msg=b"Subject: big\r\n\r\n" + body)[0] == 250
    chunks = [e[2] for e in m.seen("B")]
    assert len(chunks) > 30 and max(len(c) for c in chunks) <= 65535
    assert b"".join(chunks) == body
    assert len(moat.wait_maildir(1, timeout=30)) == 1
    check_clean(m)


def test_skip_and_no_replies(moat_factory, milters):
    # NR_HDR, NR_EOH, SKIP: headers without replies, then the first body
    # chunk answered with SKIP: no more body
    m = milters(protocol=0x80 | 0x40000 | 0x400,
                replies={"B": [("s", b"")]})
    moat = start_moat(moat_factory, m)
    body = (b"z" * 998 + b"\r\n") * 200
    assert send(moat, msg=b"Subject: s\r\n\r\n" + body)[0] == 250
    assert len(moat.wait_maildir(1)) == 1
    assert len(m.seen("B")) == 1
    check_clean(m)


def test_progress_keeps_a_slow_filter(moat_factory, milters):
    m = milters(replies={"E": [("p", b""), ("sleep", 0.8), ("p", b""),
                               ("sleep", 0.8), ("p", b""), ("sleep", 0.8),
                               ("c", b"")]})
    moat = start_moat(moat_factory, m, timeouts="eom_timeout = 1")
    assert send(moat)[0] == 250
    assert len(moat.wait_maildir(1)) == 1
    assert "milter_unavailable" not in moat.log()


def test_eom_timeout_tempfail(moat_factory, milters):
    m = milters(replies={"E": [("sleep", 3)]})
    moat = start_moat(moat_factory, m, timeouts="eom_timeout = 1")
    t0 = time.time()
    code, reply = send(moat)
    assert code == 451 and reply.startswith(b"4.7.1"), reply
    assert time.time() - t0 < 2.8
    assert moat.wait_log("event=milter_unavailable")
    assert moat.wait_log("no answer to eom in time")
    time.sleep(0.3)
    assert moat.maildir() == []
    # the event is recorded (once for the stall)
    assert any("milter_unavailable" in " ".join(r) for r in
               moat.sql("SELECT type, detail FROM events"))


def test_slow_filter_queue_ends_in_its_default_action(moat_factory,
                                                     milters):
    # each body chunk is answered in time, the end of message is not:
    # the whole wait outlasts any fixed guess of the session's, yet the
    # client gets the filter's default_action (451), never a 421
    m = milters(replies={"B": [("sleep", 0.9), ("c", b"")],
                         "E": [("sleep", 5)]})
    moat = start_moat(moat_factory, m, timeouts="connect_timeout = 1\n"
                      "command_timeout = 2\neom_timeout = 1")
    body = b"".join(b"%06d %s\r\n" % (i, b"z" * 90) for i in range(6500))
    code, reply = send(moat, msg=b"Subject: slow\r\n\r\n" + body)
    assert code == 451 and reply.startswith(b"4.7.1"), (code, reply)
    assert len(m.seen("B")) >= 9
    assert moat.wait_log("no answer to eom in time")
    assert "wait_timeout" not in moat.log()


def test_filter_dying_mid_body_resumes_the_session(moat_factory, milters):
    # the session stopped reading while the filter's backlog was full;
    # the filter dies: its backlog is gone, DATA goes on and the message
    # gets the default action
    m = milters(replies={"B": [("sleep", 1), ("close", None)]})
    moat = start_moat(moat_factory, m)
    body = b"".join(b"%06d %s\r\n" % (i, b"k" * 90) for i in range(40000))
    t0 = time.time()
    with smtplib.SMTP("127.0.0.1", moat.port, timeout=15) as s:
        s.ehlo("client.example")
        s.mail("sender@outside.example")
        s.rcpt("postmaster@localhost")
        code, reply = s.data(b"Subject: big\r\n\r\n" + body)
    assert code == 451 and reply.startswith(b"4.7.1"), (code, reply)
    assert time.time() - t0 < 10
    assert moat.wait_log("event=milter_unavailable")


def test_timeout_with_default_accept(moat_factory, milters):
    m = milters(replies={"R": [("sleep", 3)]})
    moat = start_moat(moat_factory, m, action="accept",
                      timeouts="command_timeout = 1")
    assert send(moat)[0] == 250
    assert len(moat.wait_maildir(1)) == 1
    assert moat.wait_log("event=milter_unavailable")


def test_filter_down(moat_factory):
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    spec = "inet:127.0.0.1:%d" % port.getsockname()[1]   # nobody listens
    port.close()
    moat = start_moat(moat_factory, spec)
    # the greeting and HELO go on; the transaction gets the 451
    code, reply = send(moat)
    assert code == 451 and reply.startswith(b"4.7.1"), reply
    moat2 = start_moat(moat_factory, spec, action="accept")
    assert send(moat2)[0] == 250
    assert len(moat2.wait_maildir(1)) == 1


def test_broken_framing_from_the_filter(moat_factory, milters):
    # a zero length word, then garbage: the filter is dropped at once
    m = milters(replies={"M": [("raw", b"\0\0\0\0garbage")]})
    moat = start_moat(moat_factory, m)
    t0 = time.time()
    code, reply = send(moat)
    assert code == 451, reply
    assert time.time() - t0 < 2
    assert moat.wait_log("bad packet length")
    # and an unknown reply letter
    m2 = milters(replies={"R": [("Z", b"")]})
    moat2 = start_moat(moat_factory, m2)
    assert send(moat2)[0] == 451
    assert moat2.wait_log("unknown reply")
    # and a modification the filter did not negotiate
    m3 = milters(actions=0x01, replies={"E": [("e", strs("<x@y.example>")),
                                              ("c", b"")]})
    moat3 = start_moat(moat_factory, m3)
    assert send(moat3)[0] == 451
    assert moat3.wait_log("modification not negotiated")


def test_reject_at_connect(moat_factory, milters):
    # the banner does not wait for the filters; the greeting gets their no
    m = milters(replies={"C": [("r", b"")]})
    moat = start_moat(moat_factory, m)
    with smtplib.SMTP("127.0.0.1", moat.port, timeout=10) as s:
        code, reply = s.ehlo("client.example")
        assert code == 554 and b"connection rejected" in reply, reply
        with pytest.raises(smtplib.SMTPServerDisconnected):
            s.noop()
    # a slow answer to the connection: EHLO waits for it
    m2 = milters(replies={"C": [("sleep", 1), ("t", b"")]})
    moat2 = start_moat(moat_factory, m2)
    with smtplib.SMTP("127.0.0.1", moat2.port, timeout=10) as s:
        t0 = time.time()
        code, reply = s.ehlo("client.example")
        assert code == 421, reply
        assert time.time() - t0 > 0.5


def test_421_ends_the_session(moat_factory, milters):
    m = milters(replies={"R": [("y", b"421 4.7.0 Go away now\0")]})
    moat = start_moat(moat_factory, m)
    with smtplib.SMTP("127.0.0.1", moat.port) as s:
        s.ehlo("client.example")
        s.mail("a@outside.example")
        code, reply = s.rcpt("postmaster@localhost")
        assert (code, reply) == (421, b"4.7.0 Go away now")
        with pytest.raises(smtplib.SMTPServerDisconnected):
            s.noop()


def test_two_filters_in_order(moat_factory, milters):
    a = milters(replies={"E": [("h", strs("X-First", "a")), ("c", b"")]})
    b = milters(replies={"E": [("h", strs("X-Second", "b")), ("c", b"")]})
    moat = start_moat(moat_factory, a, b)
    assert send(moat)[0] == 250
    head = moat.wait_maildir(1)[0].split(b"\n\n")[0]
    assert head.index(b"X-First: a") < head.index(b"X-Second: b")
    check_clean(a, b)
    # the first one's refusal decides, whatever the second says
    a.replies["E"] = [("y", b"554 5.7.1 first says no\0")]
    b.replies["E"] = [("y", b"451 4.7.1 second says later\0")]
    code, reply = send(moat)
    assert (code, reply) == (554, b"5.7.1 first says no")


def test_rset_aborts_and_next_message(moat_factory, milters):
    m = milters()
    moat = start_moat(moat_factory, m)
    with smtplib.SMTP("127.0.0.1", moat.port) as s:
        s.ehlo("client.example")
        s.mail("a@outside.example")
        s.rcpt("postmaster@localhost")
        s.rset()
        s.sendmail("b@outside.example", ["postmaster@localhost"], MSG)
        s.sendmail("c@outside.example", ["postmaster@localhost"], MSG)
    assert len(moat.wait_maildir(2)) == 2
    assert m.seen("A")
    assert len(m.seen("E")) == 2
    # one connection to the filter for the whole session
    assert len({e[0] for e in m.seen("M")}) == 1
    check_clean(m)


def test_macro_lists_of_the_filter(moat_factory, milters):
    # SETSYMLIST: at MAIL (stage 2) only {mail_addr}, at EOM (5) only i
    m = milters(optneg_extra=struct.pack(">I", 2) + b"{mail_addr}\0" +
                struct.pack(">I", 5) + b"i\0")
    moat = start_moat(moat_factory, m)
    assert send(moat)[0] == 250
    n = m.seen("M")[0][0]
    sent = {e[2][0]: e[2][1] for e in m.seen("D") if e[0] == n}
    assert sent["M"] == {"{mail_addr}": "sender@outside.example"}, sent
    assert list(sent["E"]) == ["i"], sent
    assert "{client_addr}" in sent["C"]     # no list for it: all of them
    check_clean(m)


def test_a_slow_filter_blocks_no_other_session(moat_factory, milters):
    import threading

    def eom(mi, n, data):
        return [("sleep", 3), ("c", b"")] if n == slow_conn[0] else None
    slow_conn = [None]
    m = milters(replies={"E": eom})
    moat = start_moat(moat_factory, m, timeouts="eom_timeout = 10")
    done = {}

    def slow():
        done["slow"] = send(moat, msg=b"Subject: slow\r\n\r\nx\r\n")[0]
    # the next connection the filter sees is the slow session's
    slow_conn[0] = m.conns + 1
    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.5)
    t0 = time.time()
    assert send(moat)[0] == 250
    assert time.time() - t0 < 2.0, "a session waited for another's filter"
    t.join(10)
    assert done.get("slow") == 250
    assert len(moat.wait_maildir(2)) == 2
    check_clean(m)


def test_reload_during_a_session(moat_factory, milters):
    import signal
    m = milters()
    moat = start_moat(moat_factory, m)
    with smtplib.SMTP("127.0.0.1", moat.port) as s:
        s.ehlo("client.example")
        s.mail("a@outside.example")
        s.rcpt("postmaster@localhost")
        # the configuration the session's filters came from goes away
        moat.proc.send_signal(signal.SIGHUP)
        assert moat.wait_log("event=reloaded")
        assert s.data(MSG)[0] == 250
        s.sendmail("b@outside.example", ["postmaster@localhost"], MSG)
    assert len(moat.wait_maildir(2)) == 2
    check_clean(m)
