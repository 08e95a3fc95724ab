"""What a client puts in the envelope, and what moat makes of it on the
way out: DSN parameters (ENVID, ORCPT, NOTIFY, RET, AUTH=) and address
forms must reach the next hop encoded for an SMTP command line, never
as command lines of their own. The next hop is a scripted SMTP server on
loopback that records every line it receives, reached through a route
(an internal domain, mail from an outsider on the mx listener) and as
the smarthost (mail of an authenticated submission user)."""
import re
import smtplib
import socket
import ssl
import threading
import time

import pytest

from conftest import free_port

USER, PASSWORD = "alice", "correct horse"


class Recorder:
    """An SMTP server that records every line of every connection.

    self.lines: every line received, in order, as bytes without CRLF
    (DATA lines included); self.transactions: one list of command lines
    per finished mail transaction (MAIL, RCPT..., DATA), so a test can
    compare exactly what one message produced.
    """

    def __init__(self, addr, ext=("DSN", "PIPELINING", "8BITMIME",
                                  "SMTPUTF8", "SIZE 10240000"),
                 replies=None):
        self.addr, self.port = addr, free_port()
        self.ext = ext
        self.replies = replies or {}    # verb -> reply instead of 250
        self.lines = []
        self.transactions = []
        self.messages = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, self.port))
        self.sock.listen(8)
        self.stopped = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(c,),
                             daemon=True).start()

    def _session(self, c):
        f = c.makefile("rb")

        def send(text):
            c.sendall(text.encode() + b"\r\n")
        try:
            send("220 next-hop.example ESMTP")
            tx = []
            while True:
                raw = f.readline()
                if not raw:
                    return
                line = raw[:-2] if raw.endswith(b"\r\n") else raw
                self.lines.append(line)
                verb = line.split(b" ")[0].upper()
                if verb == b"EHLO":
                    ext = ["next-hop.example"] + list(self.ext)
                    for i, e in enumerate(ext):
                        send("250%s%s" % (" " if i == len(ext) - 1 else "-",
                                          e))
                elif verb in (b"MAIL", b"RCPT"):
                    tx.append(line)
                    send(self.replies.get(verb.decode(), "250 2.0.0 ok"))
                elif verb == b"DATA":
                    tx.append(line)
                    send("354 go")
                    data = []
                    while True:
                        d = f.readline()
                        if not d:
                            return
                        self.lines.append(d[:-2])
                        if d == b".\r\n":
                            break
                        data.append(d)
                    self.transactions.append(tx)
                    self.messages.append(b"".join(data))
                    tx = []
                    send("250 2.0.0 queued")
                elif verb == b"RSET":
                    tx = []
                    send("250 ok")
                elif verb == b"QUIT":
                    send("221 bye")
                    return
                else:
                    send("502 5.5.2 unexpected")
        except OSError:
            return
        finally:
            c.close()

    def wait(self, count, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline and len(self.transactions) < count:
            time.sleep(0.05)
        return self.transactions

    def close(self):
        self.stopped = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


@pytest.fixture
def hop():
    peers = []

    def make(addr, **kw):
        p = Recorder(addr, **kw)
        peers.append(p)
        return p
    yield make
    for p in peers:
        p.close()


def routed(moat_factory, inner, smart=None, **kw):
    """corp.example routed to the recorder inner; optionally a smarthost."""
    extra = kw.pop("relay", "")
    extra += "[delivery]\nroutes = corp.example=[%s]:%d/none\n" % (
        inner.addr, inner.port)
    if smart is not None:
        extra += "smarthost = [%s]:%d/none\n" % (smart.addr, smart.port)
    else:
        extra += "smarthost = [127.0.0.1]:%d\n" % free_port()
    extra += "retry_min = 1\nretry_max = 2\n[log]\ndelivery = debug\n"
    extra += kw.pop("extra", "")
    return moat_factory(extra=extra, **kw)


def raw_session(port, source="127.0.0.1"):
    s = socket.socket()
    s.bind((source, 0))
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s, s.makefile("rb")


def reply(f):
    """One whole reply -> (code, text of the last line)."""
    while True:
        line = f.readline()
        assert line, "connection closed"
        if line[3:4] != b"-":
            return int(line[:3]), line[4:].rstrip(b"\r\n").decode()


def cmd(s, f, text):
    s.sendall(text.encode("utf-8") + b"\r\n")
    return reply(f)


def send_message(s, f, sender_cmd, rcpt_cmds, body=b"Subject: t\r\n\r\nhi\r\n"):
    """One transaction over an open session; returns the final code."""
    code, text = cmd(s, f, sender_cmd)
    assert code == 250, (sender_cmd, code, text)
    for r in rcpt_cmds:
        code, text = cmd(s, f, r)
        assert code == 250, (r, code, text)
    assert cmd(s, f, "DATA")[0] == 354
    s.sendall(body + b".\r\n")
    return reply(f)[0]


def outsider(moat):
    s, f = raw_session(moat.port)
    assert reply(f)[0] == 220
    assert cmd(s, f, "EHLO client.example")[0] == 250
    return s, f


INJECTIONS = [
    # (MAIL parameters, RCPT parameters)
    ("ENVID=x+0D+0ARCPT+20TO:<victim@elsewhere.example>", ""),
    ("ENVID=x+0ARCPT+20TO:<victim@elsewhere.example>", ""),
    ("ENVID=x+0DRCPT+20TO:<victim@elsewhere.example>", ""),
    ("ENVID=x+00victim", ""),
    ("ENVID=x+7Fvictim", ""),
    ("ENVID=x+09victim", ""),
    ("ENVID=x+1Bvictim", ""),
    ("AUTH=x+0D+0ARCPT+20TO:<victim@elsewhere.example>", ""),
    ("", "ORCPT=rfc822;x+0D+0ARCPT+20TO:<victim@elsewhere.example>"),
    ("", "ORCPT=rfc822;x+00victim@elsewhere.example"),
    ("", "ORCPT=rfc822;x+7Fvictim@elsewhere.example"),
    ("", "ORCPT=rfc+0D+0A822;victim@elsewhere.example"),
    ("", "ORCPT=rfc<822;victim@elsewhere.example"),
    ("", "ORCPT=utf-8;x\\x{D}victim@elsewhere.example"),
    ("", "ORCPT=utf-8;x\\x{000A}victim@elsewhere.example"),
]


@pytest.mark.parametrize("mail_params,rcpt_params", INJECTIONS)
def test_control_byte_in_dsn_parameter_is_refused(moat_factory, hop,
                                                  mail_params, rcpt_params):
    inner = hop("127.0.0.61")
    moat = routed(moat_factory, inner)
    s, f = outsider(moat)
    code, text = cmd(s, f, ("MAIL FROM:<a@example.net> " + mail_params).strip())
    if not mail_params:
        assert code == 250, text
        code, text = cmd(s, f, ("RCPT TO:<user@corp.example> "
                                + rcpt_params).strip())
    assert code == 501 and text.startswith("5.5.4"), (code, text)
    # the session goes on; a clean message still reaches the next hop
    cmd(s, f, "RSET")
    assert send_message(s, f, "MAIL FROM:<a@example.net>",
                        ["RCPT TO:<user@corp.example>"]) == 250
    s.close()
    assert len(inner.wait(1)) == 1, moat.log()
    assert mail_line(inner.transactions[0]) == b"MAIL FROM:<a@example.net>"
    assert inner.transactions[0][1:] == [b"RCPT TO:<user@corp.example>",
                                         b"DATA"]
    assert not any(b"victim" in l for l in inner.lines), inner.lines


def mail_line(tx):
    """The MAIL line without SIZE= (its value is the message size)."""
    words = [w for w in tx[0].split(b" ") if not w.upper().startswith(b"SIZE=")]
    return b" ".join(words)


# (MAIL command, RCPT commands, expected MAIL line without SIZE, RCPT lines)
FORMS = [
    # xtext survives the trip: decoded once, encoded again for the next hop
    ("MAIL FROM:<a@example.net> RET=HDRS ENVID=id+2B1+3Dx",
     ["RCPT TO:<user@corp.example> NOTIFY=FAILURE "
      "ORCPT=rfc822;u+2Bx@corp.example"],
     b"MAIL FROM:<a@example.net> RET=HDRS ENVID=id+2B1+3Dx",
     [b"RCPT TO:<user@corp.example> NOTIFY=FAILURE "
      b"ORCPT=rfc822;u+2Bx@corp.example"]),
    # AUTH= is checked, never passed on
    ("MAIL FROM:<a@example.net> AUTH=<> RET=HDRS",
     ["RCPT TO:<user@corp.example>"],
     b"MAIL FROM:<a@example.net> RET=HDRS",
     [b"RCPT TO:<user@corp.example>"]),
    ("MAIL FROM:<a@example.net> AUTH=a+2Bb+40example.net",
     ["RCPT TO:<user@corp.example>"],
     b"MAIL FROM:<a@example.net>",
     [b"RCPT TO:<user@corp.example>"]),
    # a needless escape is decoded; plain characters are written plain
    ("MAIL FROM:<a@example.net> ENVID=Q123.abc_+5C+41",
     ["RCPT TO:<user@corp.example> ORCPT=rfc822;user@corp.example"],
     b"MAIL FROM:<a@example.net> ENVID=Q123.abc_\\A",
     [b"RCPT TO:<user@corp.example> ORCPT=rfc822;user@corp.example"]),
    # quoted local parts, as few quotes as needed
    ('MAIL FROM:<"john doe"@example.net>',
     ['RCPT TO:<"a b"@corp.example>', 'RCPT TO:<"plain"@corp.example>',
      'RCPT TO:<"q\\"uote"@corp.example>'],
     b'MAIL FROM:<"john doe"@example.net>',
     [b'RCPT TO:<"a b"@corp.example>', b"RCPT TO:<plain@corp.example>",
      b'RCPT TO:<"q\\"uote"@corp.example>']),
    # a quoted local part with what looks like a parameter or a command
    ('MAIL FROM:<"x> ENVID=y"@example.net>',
     ['RCPT TO:<"x> NOTIFY=NEVER"@corp.example>'],
     b'MAIL FROM:<"x> ENVID=y"@example.net>',
     [b'RCPT TO:<"x> NOTIFY=NEVER"@corp.example>']),
    # UTF-8 under SMTPUTF8; a utf-8 ORCPT as utf-8-addr-xtext (RFC 6533)
    ("MAIL FROM:<j\u00fcrgen@example.net> SMTPUTF8 ENVID=+C3+BC",
     ["RCPT TO:<\u00f8le@corp.example> ORCPT=utf-8;\u00f8le@corp.example",
      "RCPT TO:<b@corp.example> ORCPT=utf-8;\\x{E9}+2Bb\\x{2b}@corp.example"],
     "MAIL FROM:<j\u00fcrgen@example.net> SMTPUTF8 ENVID=+C3+BC".encode(),
     ["RCPT TO:<\u00f8le@corp.example> ORCPT=utf-8;\\x{F8}le@corp.example"
      .encode(),
      b"RCPT TO:<b@corp.example> ORCPT=utf-8;\\x{E9}\\x{2B}b\\x{2B}"
      b"@corp.example"]),
]


@pytest.mark.parametrize("mail,rcpts,want_mail,want_rcpts", FORMS)
def test_envelope_reaches_routed_hop_encoded(moat_factory, hop, mail, rcpts,
                                             want_mail, want_rcpts):
    inner = hop("127.0.0.62")
    moat = routed(moat_factory, inner)
    s, f = outsider(moat)
    assert send_message(s, f, mail, rcpts) == 250
    s.close()
    got = inner.wait(1)
    assert len(got) == 1, moat.log()
    # an outsider's NOTIFY and RET are not all passed inward: compare
    # what is left of them
    tx = got[0]
    assert mail_line(tx) == want_mail, tx
    assert tx[1:] == want_rcpts + [b"DATA"], tx
    verbs = [l.split(b" ")[0].upper() for l in inner.lines
             if l.split(b" ")[0].upper() in (b"EHLO", b"MAIL", b"RCPT",
                                              b"DATA", b"QUIT", b"RSET")]
    assert verbs.count(b"MAIL") == 1 and verbs.count(b"RCPT") == len(rcpts)


def submission(moat, tls_files):
    ctx = ssl.create_default_context(cafile=tls_files[0])
    s = smtplib.SMTP("127.0.0.1", moat.ports["sub"], timeout=10)
    s.ehlo("client.example")
    s.starttls(context=ctx)
    s.ehlo("client.example")
    s.login(USER, PASSWORD)
    return s


def test_smarthost_gets_authenticated_users_envelope_encoded(
        moat_factory, hop, tls_files):
    inner = hop("127.0.0.63")
    smart = hop("127.0.0.64")
    moat = routed(moat_factory, inner, smart,
                  listeners=[("mx", "mx", ""), ("sub", "submission", "")],
                  users={USER: PASSWORD})
    with submission(moat, tls_files) as s:
        # the injection is refused for users too
        code, msg = s.docmd("MAIL", "FROM:<alice@example.org> "
                            "ENVID=x+0D+0ARCPT+20TO:<victim@elsewhere.example>")
        assert (code, msg[:5]) == (501, b"5.5.4"), (code, msg)
        code, msg = s.docmd("MAIL", "FROM:<alice@example.org> "
                            "AUTH=x+0ARCPT+20TO:<victim@elsewhere.example>")
        assert (code, msg[:5]) == (501, b"5.5.4"), (code, msg)
        s.rset()
        s.sendmail("alice@example.org", ["bob@far.example"],
                   "Subject: t\r\n\r\nhi\r\n",
                   mail_options=["ENVID=a+2Bb", "RET=FULL",
                                 "AUTH=alice+40example.org"],
                   rcpt_options=["NOTIFY=SUCCESS,DELAY",
                                 "ORCPT=rfc822;bob+2Bx@far.example"])
    got = smart.wait(1)
    assert len(got) == 1, moat.log()
    tx = got[0]
    # a user's own DSN requests are passed on whole; AUTH= is not
    assert mail_line(tx) == b"MAIL FROM:<alice@example.org> RET=FULL " \
        b"ENVID=a+2Bb", tx
    assert tx[1:] == [b"RCPT TO:<bob@far.example> NOTIFY=SUCCESS,DELAY "
                      b"ORCPT=rfc822;bob+2Bx@far.example", b"DATA"], tx
    assert not any(b"victim" in l for l in smart.lines + inner.lines)
    assert inner.lines == []
    # address forms of a user's recipients, written as the parser made them
    with submission(moat, tls_files) as s:
        s.send("MAIL FROM:<alice@example.org> SMTPUTF8\r\n".encode())
        assert s.getreply()[0] == 250
        for rcpt in ('"john doe"@far.example', '"plain"@far.example',
                     '"a\\\\b"@far.example', "j\u00fcrgen@far.example",
                     "x@[192.0.2.7]"):
            s.send(("RCPT TO:<%s>\r\n" % rcpt).encode())
            assert s.getreply()[0] == 250, rcpt
        assert s.data("Subject: t2\r\n\r\nhi\r\n")[0] == 250
    got = smart.wait(3)
    assert len(got) >= 2, moat.log()
    rcpt_lines = sorted(l for tx in got[1:] for l in tx
                        if l.startswith(b"RCPT"))
    assert rcpt_lines == sorted([
        b'RCPT TO:<"john doe"@far.example>', b"RCPT TO:<plain@far.example>",
        b'RCPT TO:<"a\\\\b"@far.example>',
        "RCPT TO:<j\u00fcrgen@far.example>".encode(),
        b"RCPT TO:<x@[192.0.2.7]>"]), rcpt_lines


def test_helo_and_addresses_are_escaped_in_log(moat_factory, hop):
    inner = hop("127.0.0.65")
    moat = routed(moat_factory, inner, extra="[log]\nsmtp = debug\n")
    s, f = outsider(moat)
    assert cmd(s, f, 'EHLO a"b=c\\d')[0] == 250
    assert send_message(s, f, 'MAIL FROM:<"x y=z"@example.net>',
                        ['RCPT TO:<"p q=r"@corp.example>']) == 250
    s.close()
    assert len(inner.wait(1)) == 1
    log = moat.log()
    for line in log.splitlines():
        # no peer byte makes a key of its own outside a quoted value, or
        # an unescaped quote
        assert 'a"b' not in line, line
        bare = re.sub(r'"[^"]*"', '""', line)
        assert " y=z" not in bare and " q=r" not in bare, line
    assert 'helo="a\\x22b=c\\x5cd"' in log, log


def test_received_header_helo_is_encoded(moat_factory, hop):
    inner = hop("127.0.0.66")
    moat = routed(moat_factory, inner)
    s, f = outsider(moat)
    assert cmd(s, f, "EHLO evil);(by")[0] == 250
    assert send_message(s, f, "MAIL FROM:<a@example.net>",
                        ["RCPT TO:<user@corp.example>"]) == 250
    s.close()
    assert len(inner.wait(1)) == 1
    first = inner.messages[0].split(b"\r\n")[0]
    assert first.startswith(b"Received: from "), first
    # not a domain: it goes into a comment, its parentheses quoted
    assert b"evil);(by" not in first, first
    assert first.startswith(b"Received: from [127.0.0.1] (helo=evil\\);"
                            b"\\(by)"), first


# --- backscatter: an outsider's mail refused inside after moat took it ---

def test_outsider_notify_and_ret_are_not_passed_inward(moat_factory, hop):
    inner = hop("127.0.0.67")
    moat = routed(moat_factory, inner,
                  relay="[relay]\nrelay_networks = 127.0.0.2/32\n")
    rcpts = ["RCPT TO:<u1@corp.example> NOTIFY=SUCCESS,DELAY",
             "RCPT TO:<u2@corp.example> NOTIFY=SUCCESS,FAILURE,DELAY",
             "RCPT TO:<u3@corp.example> NOTIFY=NEVER"]
    s, f = outsider(moat)
    assert send_message(s, f, "MAIL FROM:<a@example.net> RET=FULL ENVID=e1",
                        rcpts) == 250
    s.close()
    # an internal server (a relay client) keeps what it asked for
    s, f = raw_session(moat.port, "127.0.0.2")
    assert reply(f)[0] == 220
    assert cmd(s, f, "EHLO inside.example")[0] == 250
    assert send_message(s, f, "MAIL FROM:<a@example.net> RET=FULL ENVID=e2",
                        rcpts) == 250
    s.close()
    got = inner.wait(2)
    assert len(got) == 2, moat.log()
    by_envid = {mail_line(tx).split(b"ENVID=")[1]: tx for tx in got}
    assert mail_line(by_envid[b"e1"]) == \
        b"MAIL FROM:<a@example.net> RET=HDRS ENVID=e1"
    assert by_envid[b"e1"][1:] == [
        b"RCPT TO:<u1@corp.example> NOTIFY=NEVER",
        b"RCPT TO:<u2@corp.example> NOTIFY=FAILURE",
        b"RCPT TO:<u3@corp.example> NOTIFY=NEVER", b"DATA"]
    assert mail_line(by_envid[b"e2"]) == \
        b"MAIL FROM:<a@example.net> RET=FULL ENVID=e2"
    assert by_envid[b"e2"][1:] == [
        b"RCPT TO:<u1@corp.example> NOTIFY=SUCCESS,DELAY",
        b"RCPT TO:<u2@corp.example> NOTIFY=SUCCESS,FAILURE,DELAY",
        b"RCPT TO:<u3@corp.example> NOTIFY=NEVER", b"DATA"]


SPAM = b"Subject: SPAM-SUBJECT\r\nX-Spam: yes\r\n\r\nSPAM-BODY\r\n"


def test_outsider_mail_refused_inside_bounces_without_content(moat_factory,
                                                              hop):
    inner = hop("127.0.0.68", replies={"RCPT": "550 5.1.1 no such user"})
    # the forged sender's domain is reached through the smarthost
    world = hop("127.0.0.69")
    moat = routed(moat_factory, inner, world,
                  relay="[relay]\nrelay_networks = 127.0.0.2/32\n")
    s, f = outsider(moat)
    assert send_message(s, f, "MAIL FROM:<forged@victim.example> RET=FULL",
                        ["RCPT TO:<nobody@corp.example>"], SPAM) == 250
    s.close()
    got = world.wait(1, timeout=20)
    assert len(got) == 1, moat.log()
    assert got[0][0].startswith(b"MAIL FROM:<>"), got[0]
    dsn = world.messages[0]
    # a report, without a byte of what the outsider sent
    assert b"multipart/report" in dsn and b"5.1.1" in dsn, dsn
    assert b"SPAM-SUBJECT" not in dsn and b"SPAM-BODY" not in dsn, dsn
    assert b"X-Spam" not in dsn, dsn
    assert b"message/rfc822" not in dsn and b"text/rfc822-headers" \
        not in dsn, dsn
    events = moat.sql("SELECT type, client_ip FROM events "
                      "WHERE type = 'bounce_without_content'")
    assert events == [["bounce_without_content", "127.0.0.1"]], \
        moat.sql("SELECT type, detail FROM events")
    # the same from an internal server (a relay client) returns it whole
    s, f = raw_session(moat.port, "127.0.0.2")
    assert reply(f)[0] == 220
    assert cmd(s, f, "EHLO inside.example")[0] == 250
    assert send_message(s, f, "MAIL FROM:<someone@victim.example> RET=FULL",
                        ["RCPT TO:<nobody@corp.example>"], SPAM) == 250
    s.close()
    assert len(world.wait(2, timeout=20)) == 2, moat.log()
    assert b"SPAM-BODY" in world.messages[1]


# --- Return-Path: any sender the parser accepts can be written ---

SENDERS = [
    # (MAIL FROM path and parameters, expected Return-Path line)
    ('<"a>b"@example.net>', b'Return-Path: <"a>b"@example.net>'),
    ('<"<x>"@example.net>', b'Return-Path: <"<x>"@example.net>'),
    ('<"a b"@example.net>', b'Return-Path: <"a b"@example.net>'),
    ('<"a\\"b"@example.net>', b'Return-Path: <"a\\"b"@example.net>'),
    ('<"a\\\\b"@example.net>', b'Return-Path: <"a\\\\b"@example.net>'),
    ('<"plain"@example.net>', b"Return-Path: <plain@example.net>"),
    ("<a@[192.0.2.1]>", b"Return-Path: <a@[192.0.2.1]>"),
    ("<j\u00fcrgen@example.net> SMTPUTF8",
     "Return-Path: <j\u00fcrgen@example.net>".encode()),
    ("<>", b"Return-Path: <>"),
]


@pytest.mark.parametrize("sender,want", SENDERS)
def test_return_path_of_any_accepted_sender(moat_factory, sender, want):
    moat = moat_factory(extra="[delivery]\nsmarthost = [127.0.0.1]:%d\n"
                        % free_port())
    s, f = outsider(moat)
    assert send_message(s, f, "MAIL FROM:" + sender,
                        ["RCPT TO:<postmaster@localhost>"]) == 250
    s.close()
    got = moat.wait_maildir(1, "postmaster", timeout=5)
    assert len(got) == 1, moat.log()
    assert got[0].split(b"\n")[0] == want, got[0][:200]
    assert "bad return path" not in moat.log()
