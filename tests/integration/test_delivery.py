"""Outbound delivery: MX routing through a real DNS server (dnsmasq on a
loopback port), static routes, retries, DSN bounces, dead letters, loops,
restart in the middle of a delivery, smarthost AUTH (only inside TLS),
delay notices, LMTP over a UNIX socket. Peers: a scripted SMTP server in
Python (answers chosen codes at chosen commands, STARTTLS, AUTH), Postfix's
smtp-sink, a private real Postfix instance, a Python LMTP server.
Everything stays on 127.0.0.0/8. Test domains end in .example, not
.test: libunbound answers .test itself (RFC 6761 default local zone).
"""
import base64
import email
import email.policy
import os
import pty
import select
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import free_port

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
SMTP_SINK = "/usr/sbin/smtp-sink"


def client_went_on(c, f, wait=0.05):
    """True when the client sent more before our reply: bytes buffered
    in f or arriving on c within wait seconds."""
    if select.select([c], [], [], wait)[0]:
        return True
    c.setblocking(False)
    try:
        return len(f.peek(1)) > 0
    except OSError:             # nothing there (EAGAIN, TLS want-read)
        return False
    finally:
        c.setblocking(True)


class Peer:
    """A scripted SMTP server on (addr, port).

    replies: {"MAIL": "450 4.3.0 busy", "RCPT": "550 5.1.1 nobody",
    "DATA": ..., "DOT": ..., "BANNER": ..., "EHLO": ...}; a value may be a
    list, one item per connection (None: the normal answer). hang_dot:
    never answer the final dot. delay: seconds before each reply (a
    slow server). pipelining=False: PIPELINING is not offered, and a
    command that arrives before the reply to the one before it is
    recorded in self.pipelined. tls: (cert, key) to offer STARTTLS, or
    an ssl.SSLContext (one that asks for a client certificate, say): the
    subject of each client certificate is recorded in self.peer_subjects
    as ((name, value), ...), each failed handshake in self.tls_errors.
    auth: (user, password) to offer AUTH (auth_mechs) after STARTTLS, and
    before it too with auth_before_tls; each AUTH is recorded in
    self.auths as (mechanism, user, password, tls). addr may be IPv6;
    self.clients has the address each connection came from.
    """

    def __init__(self, addr, port, replies=None, pipelining=True, tls=None,
                 hang_dot=False, name="peer.example", auth=None,
                 auth_mechs=("PLAIN", "LOGIN"), auth_before_tls=False,
                 delay=0):
        self.auth, self.auth_mechs = auth, auth_mechs
        self.delay = delay
        self.auth_before_tls = auth_before_tls
        self.auths = []
        self.addr, self.port = addr, port
        self.replies = replies or {}
        self.pipelining = pipelining
        self.tls = tls
        self.hang_dot = hang_dot
        self.name = name
        self.messages = []          # (mail_from, [rcpt], data bytes, tls)
        self.connections = 0
        self.commands = []
        self.pipelined = []         # commands sent before our last reply
        self.clients, self.peer_subjects, self.tls_errors = [], [], []
        self.sock = socket.socket(socket.AF_INET6 if ":" in addr
                                  else socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, port))
        self.sock.listen(16)
        self.stopped = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def reply_for(self, cmd, conn_no):
        r = self.replies.get(cmd)
        if isinstance(r, list):
            r = r[conn_no] if conn_no < len(r) else None
        return r

    def _serve(self):
        while not self.stopped:
            try:
                c, peer = self.sock.accept()
            except OSError:
                return
            self.clients.append(peer[0])
            threading.Thread(target=self._session, args=(c,),
                             daemon=True).start()

    def _session(self, c):
        n = self.connections
        self.connections += 1
        f = c.makefile("rb")
        tls_on = False

        def send(line):
            if self.delay and not line.startswith("250-"):
                time.sleep(self.delay)
            c.sendall(line.encode() + b"\r\n")
        try:
            send(self.reply_for("BANNER", n) or "220 %s ESMTP" % self.name)
            mail, rcpts = None, []
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.decode("latin-1").rstrip("\r\n")
                self.commands.append(cmd)
                verb = cmd.split(" ")[0].upper()
                if not self.pipelining and verb != "QUIT" and \
                        client_went_on(c, f):
                    self.pipelined.append(cmd)
                if verb in ("EHLO", "LHLO"):
                    r = self.reply_for("EHLO", n)
                    if r:
                        send(r)
                        continue
                    ext = ["SIZE 10240000", "8BITMIME", "DSN"]
                    if self.pipelining:
                        ext.append("PIPELINING")
                    if self.tls and not tls_on:
                        ext.append("STARTTLS")
                    if self.auth and (tls_on or self.auth_before_tls):
                        ext.append("AUTH " + " ".join(self.auth_mechs))
                    lines = [self.name] + ext
                    for i, l in enumerate(lines):
                        send("250%s%s" % (" " if i == len(lines) - 1
                                           else "-", l))
                elif verb == "HELO":
                    send("250 %s" % self.name)
                elif verb == "STARTTLS":
                    send("220 go ahead")
                    ctx = self.tls
                    if not isinstance(ctx, ssl.SSLContext):
                        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                        ctx.load_cert_chain(*self.tls)
                    try:
                        c = ctx.wrap_socket(c, server_side=True)
                    except (ssl.SSLError, OSError) as e:
                        self.tls_errors.append(str(e))
                        raise
                    cert = c.getpeercert()
                    if cert:
                        self.peer_subjects.append(tuple(
                            kv for rdn in cert["subject"] for kv in rdn))
                    f = c.makefile("rb")
                    tls_on = True
                elif verb == "AUTH":
                    self._auth(cmd, f, send, tls_on)
                elif verb == "MAIL":
                    r = self.reply_for("MAIL", n)
                    if r:
                        send(r)
                        continue
                    mail, rcpts = cmd[10:].split(">")[0].lstrip("<"), []
                    send("250 2.1.0 ok")
                elif verb == "RCPT":
                    r = self.reply_for("RCPT", n)
                    if r:
                        send(r)
                        continue
                    rcpts.append(cmd[8:].split(">")[0].lstrip("<"))
                    send("250 2.1.5 ok")
                elif verb == "DATA":
                    if not rcpts:
                        send("554 5.5.1 no valid recipients")
                        continue
                    r = self.reply_for("DATA", n)
                    if r:
                        send(r)
                        continue
                    send("354 go")
                    data = b""
                    while True:
                        l = f.readline()
                        if not l or l == b".\r\n":
                            break
                        if l.startswith(b".."):
                            l = l[1:]
                        data += l
                    if self.hang_dot:
                        time.sleep(30)
                        return
                    r = self.reply_for("DOT", n)
                    if r:
                        send(r)
                        continue
                    self.messages.append((mail, rcpts, data, tls_on))
                    send("250 2.0.0 queued as X%d" % len(self.messages))
                elif verb == "RSET":
                    mail, rcpts = None, []
                    send("250 ok")
                elif verb == "QUIT":
                    send("221 bye")
                    return
                else:
                    send("502 5.5.2 what")
        except (OSError, ssl.SSLError):
            return
        finally:
            try:
                c.close()
            except OSError:
                pass

    def _auth(self, cmd, f, send, tls_on):
        words = cmd.split(" ")
        mech = words[1].upper() if len(words) > 1 else ""
        if mech not in self.auth_mechs:
            send("504 5.5.4 unknown mechanism")
            return

        def ask(prompt):
            send("334 " + prompt)
            return base64.b64decode(f.readline().strip()).decode()
        if mech == "PLAIN":
            raw = (base64.b64decode(words[2]).decode() if len(words) > 2
                   else ask(""))
            _, user, password = raw.split("\0")
        else:
            user = ask("VXNlcm5hbWU6")
            password = ask("UGFzc3dvcmQ6")
        self.auths.append((mech, user, password, tls_on))
        if (user, password) == tuple(self.auth):
            send("235 2.7.0 authenticated")
        else:
            send("535 5.7.8 bad credentials")

    def wait(self, count, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline and len(self.messages) < count:
            time.sleep(0.05)
        return self.messages

    def close(self):
        self.stopped = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)    # wakes accept()
        except OSError:
            pass
        self.sock.close()


@pytest.fixture
def peers():
    started = []

    def make(*a, **kw):
        p = Peer(*a, **kw)
        started.append(p)
        return p
    yield make
    for p in started:
        p.close()


def dns_ready(port, proc, timeout=5):
    """True once the server on 127.0.0.1:port answers a query (any
    answer: NXDOMAIN will do)."""
    query = (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
             b"\x05ready\x07example\x00\x00\x01\x00\x01")
    deadline = time.time() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.05)
        while time.time() < deadline and proc.poll() is None:
            try:
                s.sendto(query, ("127.0.0.1", port))
                if s.recv(512)[:2] == b"\x12\x34":
                    return True
            except OSError:
                pass
    return False


@pytest.fixture
def dns(tmp_path):
    """dnsmasq on a loopback port with the records passed to start()."""
    procs = []

    def start(mx=(), hosts=()):
        port = free_port()
        args = [DNSMASQ, "--no-daemon", "--port=%d" % port,
                "--listen-address=127.0.0.1", "--bind-interfaces",
                "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
                "--pid-file=", "--log-facility=-",
                # authoritative for .example: NXDOMAIN and NODATA, not REFUSED
                "--local=/example/"]
        for domain, host, pref in mx:
            args.append("--mx-host=%s,%s,%d" % (domain, host, pref))
        for name, addr in hosts:
            args.append("--host-record=%s,%s" % (name, addr))
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        procs.append(p)
        assert dns_ready(port, p), "dnsmasq did not start"
        return "127.0.0.1@%d" % port
    yield start
    for p in procs:
        p.terminate()
        p.wait(5)


def delivery_conf(dns_server, smtp_port, extra=""):
    return ("[relay]\nrelay_networks = 127.0.0.2/32\n"
            "[delivery]\ndns_server = %s\ntest_smtp_port = %d\n"
            "retry_min = 1\nretry_max = 2\n%s"
            "[log]\ndelivery = debug\ndns = debug\n"
            % (dns_server, smtp_port, extra))


def submit(moat, rcpts, sender="alice@example.org", body=None,
           source="127.0.0.2", subject="delivery test"):
    if isinstance(rcpts, str):
        rcpts = [rcpts]
    msg = body or ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n"
                   "Message-ID: <t%f@example.org>\r\n\r\n"
                   "line one\r\n.leading dot\r\nline three\r\n"
                   % (sender, rcpts[0], subject, time.time()))
    with smtplib.SMTP("127.0.0.1", moat.port,
                      source_address=(source, 0)) as s:
        s.ehlo("client.example")
        s.sendmail(sender, rcpts, msg)
    return msg


def wait_for(cond, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    return cond()


def queue_empty(moat):
    return moat.sql("SELECT count(*) FROM message") == [["0"]]


def test_relay_to_mx_found_in_dns(moat_factory, dns, peers):
    port = free_port()
    srv = dns(mx=[("relay.example", "mx.relay.example", 10),
                  ("relay.example", "mx2.relay.example", 20)],
              hosts=[("mx.relay.example", "127.0.0.7"),
                     ("mx2.relay.example", "127.0.0.8")])
    peer = peers("127.0.0.7", port)
    backup = peers("127.0.0.8", port)
    moat = moat_factory(extra=delivery_conf(srv, port))
    sent = submit(moat, ["bob@relay.example", "carol@relay.example"])
    got = peer.wait(1)
    assert len(got) == 1, moat.log()
    mail_from, rcpts, data, _ = got[0]
    assert mail_from == "alice@example.org"
    assert sorted(rcpts) == ["bob@relay.example", "carol@relay.example"]
    # content intact: our Received header on top, the rest as sent
    assert data.endswith(sent.encode())
    assert data.startswith(b"Received: ")
    assert backup.messages == []
    assert wait_for(lambda: queue_empty(moat))
    log = moat.log()
    assert "relay=mx.relay.example[127.0.0.7]:%d" % port in log
    assert "status=sent code=250" in log
    assert "to=<carol@relay.example>" in log


def test_no_mx_falls_back_to_address(moat_factory, dns, peers):
    port = free_port()
    srv = dns(hosts=[("plain.example", "127.0.0.9")])
    peer = peers("127.0.0.9", port)
    moat = moat_factory(extra=delivery_conf(srv, port))
    submit(moat, "bob@plain.example")
    assert len(peer.wait(1)) == 1


def test_second_mx_when_first_is_down(moat_factory, dns, peers):
    port = free_port()
    srv = dns(mx=[("two.example", "down.two.example", 5),
                  ("two.example", "up.two.example", 50)],
              hosts=[("down.two.example", "127.0.0.10"),
                     ("up.two.example", "127.0.0.11")])
    peer = peers("127.0.0.11", port)
    moat = moat_factory(extra=delivery_conf(srv, port))
    submit(moat, "bob@two.example")
    assert len(peer.wait(1)) == 1


def test_inbound_routed_domain_to_internal_server(moat_factory, dns, peers):
    port, inner = free_port(), free_port()
    srv = dns()
    internal = peers("127.0.0.12", inner)
    moat = moat_factory(extra=delivery_conf(
        srv, port, "routes = corp.example=[127.0.0.12]:%d\n" % inner))
    # from outside (127.0.0.1 is not in relay_networks): accepted, routed
    submit(moat, "someone@corp.example", sender="x@outside.example",
           source="127.0.0.1")
    got = internal.wait(1)
    assert len(got) == 1 and got[0][1] == ["someone@corp.example"]
    # other foreign domains stay refused for outsiders
    with smtplib.SMTP("127.0.0.1", moat.port) as s:
        s.ehlo("client.example")
        s.mail("x@outside.example")
        code, _ = s.rcpt("victim@elsewhere.example")
        assert code == 554


def test_sighup_reroutes_a_domain(moat_factory, dns, peers):
    """An admin moves a domain to another internal server: after SIGHUP
    new mail goes there, the idle connection to the old one is closed."""
    port, old_port, new_port = free_port(), free_port(), free_port()
    srv = dns()
    old = peers("127.0.0.12", old_port)
    new = peers("127.0.0.13", new_port)
    moat = moat_factory(extra=delivery_conf(
        srv, port, "routes = corp.example=[127.0.0.12]:%d\n" % old_port))
    submit(moat, "one@corp.example", sender="x@outside.example",
           source="127.0.0.1")
    assert len(old.wait(1)) == 1
    with open(moat.conf) as f:
        text = f.read()
    with open(moat.conf, "w") as f:
        f.write(text.replace("[127.0.0.12]:%d" % old_port,
                             "[127.0.0.13]:%d" % new_port))
    moat.proc.send_signal(signal.SIGHUP)
    assert moat.wait_log("cat=delivery event=reloaded routes=1"), moat.log()
    assert "destinations_rerouted=1" in moat.log()
    submit(moat, "two@corp.example", sender="x@outside.example",
           source="127.0.0.1")
    got = new.wait(1)
    assert len(got) == 1 and got[0][1] == ["two@corp.example"], got
    assert wait_for(lambda: queue_empty(moat))
    assert len(old.messages) == 1


def test_unreachable_destination_is_not_tried_per_message(moat_factory,
                                                        dns):
    """An internal server is down: the first message finds out, the next
    ones are deferred at once with its reply, no connection each."""
    port, dead = free_port(), free_port()
    srv = dns()
    moat = moat_factory(extra=delivery_conf(
        srv, port, "routes = corp.example=[127.0.0.12]:%d\n" % dead)
        .replace("retry_min = 1\n", "retry_min = 3600\n")
        .replace("retry_max = 2\n", "retry_max = 7200\n"))
    submit(moat, "one@corp.example", sender="x@outside.example",
           source="127.0.0.1")
    assert moat.wait_log("event=destination_down domain=corp.example "
                         "seconds=60"), moat.log()
    for i in range(5):
        submit(moat, "n%d@corp.example" % i, sender="x@outside.example",
               source="127.0.0.1")
    assert wait_for(lambda: moat.sql(
        "SELECT count(*) FROM recipient WHERE state = 1") == [["6"]]), \
        moat.sql("SELECT address, state, last_error FROM recipient")
    errors = moat.sql("SELECT DISTINCT last_error FROM recipient")
    assert len(errors) == 1 and "451 4.4.1" in errors[0][0], errors
    assert "Connection refused" in errors[0][0], errors
    # one attempt only: the first message's
    assert moat.log().count("event=hop_failed") == 1, moat.log()


def test_tempfail_then_success(moat_factory, dns, peers):
    port = free_port()
    srv = dns(mx=[("retry.example", "mx.retry.example", 10)],
              hosts=[("mx.retry.example", "127.0.0.13")])
    peer = peers("127.0.0.13", port,
                 replies={"RCPT": ["450 4.2.0 try later", None]})
    moat = moat_factory(extra=delivery_conf(srv, port))
    submit(moat, "bob@retry.example")
    assert wait_for(lambda: "status=deferred code=450" in moat.log())
    assert len(peer.wait(1, timeout=20)) == 1
    assert wait_for(lambda: queue_empty(moat))
    assert peer.connections >= 2


def test_5xx_makes_a_dsn(moat_factory, dns, peers):
    port = free_port()
    srv = dns(mx=[("bounce.example", "mx.bounce.example", 10)],
              hosts=[("mx.bounce.example", "127.0.0.14")])
    peers("127.0.0.14", port,
          replies={"RCPT": "550 5.1.1 <bob@bounce.example>: no such user"})
    moat = moat_factory(extra=delivery_conf(srv, port))
    submit(moat, "bob@bounce.example", sender="postmaster@example.org")
    got = moat.wait_maildir(1, "postmaster", timeout=15)
    assert len(got) == 1, moat.log()
    raw = got[0]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    assert "postmaster@example.org" in str(msg["To"])
    assert msg["Auto-Submitted"] == "auto-replied"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == [
        "text/plain", "message/delivery-status", "text/rfc822-headers"]
    status = parts[1]
    blocks = [dict(b.items()) for b in status.get_payload()]
    assert blocks[0]["Reporting-MTA"] == "dns; mx.test.example"
    per = blocks[1]
    assert per["Final-Recipient"] == "rfc822; bob@bounce.example"
    assert per["Action"] == "failed"
    assert per["Status"] == "5.1.1"
    assert per["Remote-MTA"] == "dns; mx.bounce.example"
    assert "no such user" in per["Diagnostic-Code"]
    assert b"Subject: delivery test" in raw
    # the return path of a bounce is the null sender
    assert raw.startswith(b"Return-Path: <>") or b"Return-Path: <>" in raw[:200]
    assert wait_for(lambda: queue_empty(moat))


def test_failed_bounce_is_a_dead_letter(moat_factory, dns, peers):
    port = free_port()
    srv = dns()
    peer = peers("127.0.0.15", port, replies={"RCPT": "550 5.1.1 no"})
    # routed: a bounce is sent to an internal address only over a route
    moat = moat_factory(extra=delivery_conf(
        srv, port, "routes = gone.example=[127.0.0.15]:%d\n" % port))
    # a remote sender whose mail fails: the bounce goes to gone.example too,
    # and fails from <>: a dead letter, never bounced again
    submit(moat, "bob@gone.example", sender="carol@gone.example")
    assert wait_for(lambda: moat.sql(
        "SELECT count(*) FROM deadletter") == [["1"]], timeout=20), moat.log()
    assert wait_for(lambda: queue_empty(moat))
    row = moat.sql("SELECT sender, recipient, reason FROM deadletter")[0]
    assert row[0] == "" and row[1] == "carol@gone.example"
    assert "550" in row[2]
    time.sleep(1.5)
    # exactly two attempts reached the peer: the message and its bounce
    rcpts = [c for c in peer.commands if c.upper().startswith("RCPT")]
    assert len(rcpts) == 2
    assert moat.sql("SELECT count(*) FROM deadletter") == [["1"]]


def test_null_sender_failure_is_a_dead_letter(moat_factory, dns, peers):
    port = free_port()
    srv = dns()
    peer = peers("127.0.0.16", port, replies={"RCPT": "550 5.1.1 no"})
    moat = moat_factory(extra=delivery_conf(
        srv, port, "routes = gone2.example=[127.0.0.16]:%d\n" % port))
    submit(moat, "bob@gone2.example", sender="")
    assert wait_for(lambda: moat.sql(
        "SELECT count(*) FROM deadletter") == [["1"]])
    assert wait_for(lambda: queue_empty(moat))
    assert moat.maildir("postmaster") == []
    assert "550 5.1.1" in moat.sql("SELECT reason FROM deadletter")[0][0]
    assert any(c.startswith("RCPT") for c in peer.commands)


def test_null_mx_fails_at_once(moat_factory, dns):
    port = free_port()
    srv = dns(mx=[("nullmx.example", ".", 0)])
    moat = moat_factory(extra=delivery_conf(srv, port))
    submit(moat, "bob@nullmx.example", sender="postmaster@example.org")
    got = moat.wait_maildir(1, "postmaster")
    assert len(got) == 1, moat.log()
    assert b"Status: 5.1.10" in got[0]


def test_unknown_domain_fails(moat_factory, dns):
    port = free_port()
    srv = dns()
    moat = moat_factory(extra=delivery_conf(srv, port))
    submit(moat, "bob@missing.example", sender="postmaster@example.org")
    got = moat.wait_maildir(1, "postmaster")
    assert len(got) == 1, moat.log()
    assert b"Status: 5.1.2" in got[0]


def test_mx_back_to_ourselves_is_a_loop(moat_factory, dns):
    srv = dns(mx=[("loop.example", "mx.loop.example", 10)],
              hosts=[("mx.loop.example", "127.0.0.1")])
    moat = moat_factory(extra="", start=False)
    # test_smtp_port is moat's own port: the MX is us
    with open(moat.conf, "a") as f:
        f.write(delivery_conf(srv, moat.port).replace(
            "[relay]\nrelay_networks = 127.0.0.2/32\n", ""))
    with open(moat.conf) as f:
        text = f.read()
    # the [relay] section must come once: put it back in front
    text = text.replace("[delivery]",
                        "[relay]\nrelay_networks = 127.0.0.2/32\n[delivery]",
                        1)
    with open(moat.conf, "w") as f:
        f.write(text)
    moat.start()
    submit(moat, "bob@loop.example", sender="postmaster@example.org")
    got = moat.wait_maildir(1, "postmaster")
    assert len(got) == 1, moat.log()
    assert b"loops back to myself" in got[0]
    assert b"Status: 5.4.6" in got[0]


def test_mx_name_is_ourselves(moat_factory, dns):
    port = free_port()
    srv = dns(mx=[("self.example", "mx.test.example", 10)],
              hosts=[("mx.test.example", "127.0.0.17")])
    moat = moat_factory(extra=delivery_conf(srv, port))
    submit(moat, "bob@self.example", sender="postmaster@example.org")
    got = moat.wait_maildir(1, "postmaster")
    assert len(got) == 1, moat.log()
    assert b"Status: 5.4.6" in got[0]


def test_starttls_opportunistic(moat_factory, dns, peers, tls_files):
    port = free_port()
    srv = dns(mx=[("tls.example", "mx.tls.example", 10)],
              hosts=[("mx.tls.example", "127.0.0.18")])
    peer = peers("127.0.0.18", port, tls=tls_files)
    moat = moat_factory(extra=delivery_conf(srv, port))
    submit(moat, "bob@tls.example")
    got = peer.wait(1)
    assert len(got) == 1 and got[0][3] is True
    assert wait_for(lambda: 'tls="TLSv1.' in moat.log())


def test_tls_verify_refuses_untrusted(moat_factory, dns, peers, tls_files):
    port = free_port()
    srv = dns(mx=[("vtls.example", "mx.vtls.example", 10)],
              hosts=[("mx.vtls.example", "127.0.0.19")])
    peer = peers("127.0.0.19", port, tls=tls_files)
    moat = moat_factory(extra=delivery_conf(srv, port, "tls = verify\n"))
    submit(moat, "bob@vtls.example")
    # a self-signed certificate: never delivered, deferred
    assert wait_for(lambda: "status=deferred" in moat.log())
    assert peer.messages == []
    assert moat.sql("SELECT state FROM recipient") in ([["0"]], [["1"]])


def test_without_pipelining(moat_factory, dns, peers):
    port = free_port()
    srv = dns(mx=[("nopipe.example", "mx.nopipe.example", 10)],
              hosts=[("mx.nopipe.example", "127.0.0.20")])
    peer = peers("127.0.0.20", port, pipelining=False,
                 replies={"RCPT": None})
    moat = moat_factory(extra=delivery_conf(srv, port))
    submit(moat, ["a@nopipe.example", "b@nopipe.example"])
    got = peer.wait(1)
    assert len(got) == 1 and len(got[0][1]) == 2
    # one command at a time: each waited for the reply to the one before
    verbs = [c.split(" ")[0].upper() for c in peer.commands]
    assert verbs[:5] == ["EHLO", "MAIL", "RCPT", "RCPT", "DATA"], verbs
    assert peer.pipelined == [], peer.pipelined


def test_many_messages_to_smtp_sink(moat_factory, dns, tmp_path):
    port = free_port()
    srv = dns(mx=[("sink.example", "mx.sink.example", 10)],
              hosts=[("mx.sink.example", "127.0.0.21")])
    sink = subprocess.Popen([SMTP_SINK, "-u", "nobody", "-c",
                             "127.0.0.21:%d" % port, "100"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        time.sleep(0.3)
        moat = moat_factory(extra=delivery_conf(srv, port))
        for i in range(20):
            submit(moat, "user%d@sink.example" % i)
        assert wait_for(lambda: queue_empty(moat), timeout=30), moat.log()
        assert moat.log().count("status=sent") == 20
    finally:
        sink.terminate()
        sink.wait(5)


def test_restart_mid_delivery_loses_nothing(moat_factory, dns, peers):
    port = free_port()
    srv = dns(mx=[("slow.example", "mx.slow.example", 10)],
              hosts=[("mx.slow.example", "127.0.0.22")])
    hang = peers("127.0.0.22", port, hang_dot=True)
    moat = moat_factory(extra=delivery_conf(srv, port))
    submit(moat, "bob@slow.example")
    # the peer has the data but never says 250: kill -9 now
    assert wait_for(lambda: any(c == "DATA" for c in hang.commands))
    time.sleep(0.3)
    moat.kill9()
    assert moat.sql("SELECT count(*) FROM recipient WHERE state < 3") == [["1"]]
    hang.close()
    time.sleep(0.2)
    good = peers("127.0.0.22", port)
    moat.start()
    got = good.wait(1, timeout=20)
    assert len(got) == 1 and got[0][1] == ["bob@slow.example"]
    assert wait_for(lambda: queue_empty(moat))


# --- smarthost credentials: smarthost_auth_file, AUTH only inside TLS ---

def auth_file(tmp_path, text, mode=0o600):
    path = tmp_path / "smarthost.auth"
    path.write_text(text)
    os.chmod(path, mode)
    return str(path)


def smarthost_conf(srv, port, addr, path, ca=None):
    """ca: the CA that verifies the smarthost (tls_ca_file)."""
    return delivery_conf(srv, port, "smarthost = [%s]:%d\n"
                         "smarthost_auth_file = %s\n%s" % (
                             addr, port, path,
                             "tls_ca_file = %s\n" % ca.ca if ca else ""))


class PrivateCA:
    """A private CA (ca.pem) and a server certificate it signed
    (cert.pem, key.pem) for localhost and 127.0.0.20-127.0.0.69."""

    def __init__(self, d):
        self.ca = os.path.join(d, "ca.pem")
        cakey = os.path.join(d, "ca.key")
        self.cert = os.path.join(d, "cert.pem")
        self.key = os.path.join(d, "key.pem")
        csr = os.path.join(d, "cert.csr")
        ext = os.path.join(d, "ext.cnf")
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:localhost,%s\n" % ",".join(
                "IP:127.0.0.%d" % i for i in range(20, 70)))
        run = lambda *a: subprocess.run(a, check=True, capture_output=True)
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
            "-keyout", cakey, "-out", self.ca, "-days", "2",
            "-subj", "/CN=moat test CA")
        run("openssl", "req", "-newkey", "rsa:2048", "-nodes",
            "-keyout", self.key, "-out", csr, "-subj", "/CN=localhost")
        run("openssl", "x509", "-req", "-in", csr, "-CA", self.ca,
            "-CAkey", cakey, "-CAcreateserial", "-out", self.cert,
            "-days", "2", "-extfile", ext)
        for p in (self.ca, self.cert, self.key):
            os.chmod(p, 0o644)

    @property
    def files(self):
        return self.cert, self.key


@pytest.fixture(scope="session")
def private_ca():
    d = tempfile.mkdtemp(prefix="moat-ca-")
    os.chmod(d, 0o755)
    yield PrivateCA(d)
    shutil.rmtree(d, ignore_errors=True)


def test_smarthost_auth_plain_inside_tls(moat_factory, dns, peers, private_ca,
                                         tmp_path):
    port = free_port()
    srv = dns()
    # AUTH offered before TLS too: the client must still wait for TLS
    peer = peers("127.0.0.23", port, tls=private_ca.files,
                 auth=("relayuser", "s3cr:et pass"), auth_before_tls=True)
    path = auth_file(tmp_path, "# per host\n127.0.0.23 relayuser:s3cr:et pass\n"
                     "other.example nobody:x\n")
    moat = moat_factory(extra=smarthost_conf(srv, port, "127.0.0.23", path,
                                             private_ca))
    submit(moat, "bob@far.example")
    got = peer.wait(1)
    assert len(got) == 1 and got[0][3] is True, moat.log()
    assert peer.auths == [("PLAIN", "relayuser", "s3cr:et pass", True)]
    verbs = [c.split(" ")[0].upper() for c in peer.commands]
    assert verbs.index("STARTTLS") < verbs.index("AUTH") < verbs.index("MAIL")
    assert wait_for(lambda: queue_empty(moat))
    log = moat.log()
    assert "event=auth_ok" in log and "user=relayuser" in log
    assert "s3cr" not in log
    assert base64.b64encode(b"\0relayuser\0s3cr:et pass").decode() not in log


def test_smarthost_auth_login(moat_factory, dns, peers, private_ca, tmp_path):
    port = free_port()
    srv = dns()
    peer = peers("127.0.0.24", port, tls=private_ca.files, auth=("u2", "pw two"),
                 auth_mechs=("LOGIN",))
    # the entry without a host is the smarthost's
    path = auth_file(tmp_path, "u2:pw two\n")
    moat = moat_factory(extra=smarthost_conf(srv, port, "127.0.0.24", path,
                                             private_ca))
    submit(moat, "bob@far.example")
    assert len(peer.wait(1)) == 1, moat.log()
    assert peer.auths == [("LOGIN", "u2", "pw two", True)]
    assert "pw two" not in moat.log()


def test_smarthost_auth_never_in_plaintext(moat_factory, dns, peers,
                                           tmp_path):
    port = free_port()
    srv = dns()
    # AUTH offered, STARTTLS not: no credentials, no mail, deferred
    peer = peers("127.0.0.25", port, auth=("u", "p"), auth_before_tls=True)
    path = auth_file(tmp_path, "u:p\n")
    moat = moat_factory(extra=smarthost_conf(srv, port, "127.0.0.25", path))
    submit(moat, "bob@far.example")
    assert wait_for(lambda: "status=deferred" in moat.log()), moat.log()
    assert "only sent over TLS" in moat.log()
    assert peer.auths == [] and peer.messages == []
    assert not any(c.upper().startswith(("AUTH", "MAIL"))
                   for c in peer.commands)


def test_smarthost_auth_refused_defers(moat_factory, dns, peers, private_ca,
                                       tmp_path):
    port = free_port()
    srv = dns()
    peer = peers("127.0.0.26", port, tls=private_ca.files, auth=("u", "right"))
    path = auth_file(tmp_path, "u:wrong\n")
    moat = moat_factory(extra=smarthost_conf(srv, port, "127.0.0.26", path,
                                             private_ca))
    submit(moat, "bob@far.example", sender="postmaster@example.org")
    assert wait_for(lambda: "status=deferred" in moat.log()), moat.log()
    assert "AUTH refused by the relay: 535" in moat.log()
    assert peer.messages == []
    # a wrong password never bounces the mail
    assert moat.maildir("postmaster") == []
    assert moat.sql("SELECT count(*) FROM recipient") == [["1"]]


def test_smarthost_auth_file_mode_refused(moat_factory, dns, tmp_path):
    srv = dns()
    path = auth_file(tmp_path, "u:p\n", mode=0o644)
    moat = moat_factory(extra=smarthost_conf(srv, free_port(), "127.0.0.27",
                                             path), start=False)
    with pytest.raises(RuntimeError):
        moat.start()
    moat.proc.wait(10)
    assert moat.proc.returncode != 0
    assert "mode 644" in moat.log() and "chmod 600" in moat.log()


# --- delay notices: [delivery] delay_notice ---

def test_delay_notice_sent_once(moat_factory, dns, peers):
    port = free_port()
    srv = dns(mx=[("late.example", "mx.late.example", 10)],
              hosts=[("mx.late.example", "127.0.0.28")])
    peer = peers("127.0.0.28", port, replies={"RCPT": "450 4.2.0 try later"})
    moat = moat_factory(extra=delivery_conf(srv, port, "delay_notice = 2\n"))
    submit(moat, "bob@late.example", sender="postmaster@example.org")
    got = moat.wait_maildir(1, "postmaster", timeout=15)
    assert len(got) == 1, moat.log()
    msg = email.message_from_bytes(got[0], policy=email.policy.default)
    assert msg.get_content_type() == "multipart/report"
    assert msg["Subject"] == "Delayed Mail (still being retried)"
    assert "postmaster@example.org" in str(msg["To"])
    parts = list(msg.iter_parts())
    blocks = [dict(b.items()) for b in parts[1].get_payload()]
    per = blocks[1]
    assert per["Final-Recipient"] == "rfc822; bob@late.example"
    assert per["Action"] == "delayed"
    assert per["Status"] == "4.2.0"
    assert "try later" in per["Diagnostic-Code"]
    # more retries, still deferred, but never a second notice
    attempts = lambda: int(moat.sql(
        "SELECT attempts FROM recipient WHERE address = 'bob@late.example'"
    )[0][0])
    first = attempts()
    assert wait_for(lambda: attempts() >= first + 2, timeout=15), moat.log()
    assert len(moat.maildir("postmaster")) == 1
    assert moat.log().count("event=delay_notice") == 1
    assert moat.sql("SELECT count(*) FROM delay_notice") == [["1"]]
    assert len(peer.messages) == 0
    # then the peer takes it: delivered, and the notice record goes with
    # the message
    peer.replies.pop("RCPT")
    assert len(peer.wait(1, timeout=15)) == 1
    assert wait_for(lambda: queue_empty(moat))
    assert moat.sql("SELECT count(*) FROM delay_notice") == [["0"]]


def test_delay_notice_respects_notify_and_null_sender(moat_factory, dns,
                                                      peers):
    port = free_port()
    srv = dns()
    peers("127.0.0.29", port, replies={"RCPT": "451 4.3.0 later"})
    # routed: mail from <> goes to an internal address only over a route
    moat = moat_factory(extra=delivery_conf(
        srv, port, "delay_notice = 1\n"
        "routes = late2.example=[127.0.0.29]:%d\n" % port))
    msg = ("From: <postmaster@example.org>\r\nTo: <a@late2.example>\r\n"
           "Subject: notify\r\n\r\nbody\r\n")
    with smtplib.SMTP("127.0.0.1", moat.port,
                      source_address=("127.0.0.2", 0)) as s:
        s.ehlo("client.example")
        s.sendmail("postmaster@example.org", ["a@late2.example"], msg,
                   rcpt_options=["NOTIFY=FAILURE"])
    submit(moat, "b@late2.example", sender="")
    # both deferred several times, well past delay_notice
    assert wait_for(lambda: moat.sql(
        "SELECT count(*) FROM recipient WHERE attempts >= 3") == [["2"]],
        timeout=20), moat.log()
    assert "event=delay_notice" not in moat.log()
    assert moat.maildir("postmaster") == []
    assert moat.sql("SELECT count(*) FROM delay_notice") == [["0"]]


# --- LMTP over a UNIX socket: routes DOMAIN=lmtp:unix:/path ---

class LmtpPeer:
    """A small LMTP server (RFC 2033) on a UNIX socket.

    rcpt_replies: {address: reply} at RCPT; dot_replies: {address: [reply,
    ...]} after the final dot, one item per time the address is sent
    (then 250). delivered: [(mail_from, address, data)].
    """

    def __init__(self, path, rcpt_replies=None, dot_replies=None):
        self.path = path
        self.rcpt_replies = rcpt_replies or {}
        self.dot_replies = {k: list(v) for k, v in (dot_replies or {}).items()}
        self.delivered = []
        self.commands = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        os.chmod(path, 0o777)       # the mta process runs as _moat
        self.sock.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(c,),
                             daemon=True).start()

    def _session(self, c):
        f = c.makefile("rb")

        def send(line):
            c.sendall(line.encode() + b"\r\n")
        try:
            send("220 store.corp.example LMTP")
            mail, rcpts = None, []
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.decode("latin-1").rstrip("\r\n")
                self.commands.append(cmd)
                verb = cmd.split(" ")[0].upper()
                if verb == "LHLO":
                    send("250-store.corp.example")
                    send("250-PIPELINING")
                    send("250-ENHANCEDSTATUSCODES")
                    send("250 8BITMIME")
                elif verb == "MAIL":
                    mail, rcpts = cmd[10:].split(">")[0].lstrip("<"), []
                    send("250 2.1.0 ok")
                elif verb == "RCPT":
                    a = cmd[8:].split(">")[0].lstrip("<")
                    r = self.rcpt_replies.get(a)
                    if r:
                        send(r)
                    else:
                        rcpts.append(a)
                        send("250 2.1.5 ok")
                elif verb == "DATA":
                    if not rcpts:
                        send("503 5.5.1 no valid recipients")
                        continue
                    send("354 go")
                    data = b""
                    while True:
                        l = f.readline()
                        if not l or l == b".\r\n":
                            break
                        data += l[1:] if l.startswith(b"..") else l
                    # RFC 2033: one reply per accepted recipient, in order
                    for a in rcpts:
                        todo = self.dot_replies.get(a)
                        r = todo.pop(0) if todo else None
                        if r is None:
                            self.delivered.append((mail, a, data))
                            r = "250 2.0.0 <%s> delivered" % a
                        send(r)
                    mail, rcpts = None, []
                elif verb == "RSET":
                    mail, rcpts = None, []
                    send("250 ok")
                elif verb == "QUIT":
                    send("221 bye")
                    return
                else:
                    send("502 5.5.2 what")
        except OSError:
            return
        finally:
            c.close()

    def wait(self, count, timeout=15):
        return wait_for(lambda: len(self.delivered) >= count and
                        self.delivered, timeout) or self.delivered

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


@pytest.fixture
def lmtp_dir():
    """A directory the unprivileged mta process can reach (mode 0777)."""
    d = tempfile.mkdtemp(prefix="moat-lmtp-")
    os.chmod(d, 0o777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_lmtp_unix_socket_per_recipient_replies(moat_factory, dns, lmtp_dir):
    srv = dns()
    path = os.path.join(lmtp_dir, "lmtp.sock")
    store = LmtpPeer(path, rcpt_replies={
        "nobody@corp.example": "550 5.1.1 no such mailbox"},
        dot_replies={"full@corp.example": ["452 4.2.2 mailbox full"],
                     "quota@corp.example": ["552 5.2.2 over quota"]})
    try:
        moat = moat_factory(extra=delivery_conf(
            srv, free_port(), "routes = corp.example=lmtp:unix:%s\n" % path))
        sent = submit(moat, ["a@corp.example", "full@corp.example",
                             "quota@corp.example", "nobody@corp.example"],
                      sender="postmaster@example.org")
        # a at once, full after its retry
        got = store.wait(2, timeout=20)
        assert sorted(a for _, a, _ in got) == [
            "a@corp.example", "full@corp.example"], moat.log()
        assert all(d.endswith(sent.encode()) for _, _, d in got)
        assert all(m == "postmaster@example.org" for m, _, _ in got)
        assert "LHLO mx.test.example" in store.commands
        # quota (after DATA) and nobody (at RCPT) bounce, in one DSN
        dsn = moat.wait_maildir(1, "postmaster", timeout=15)
        assert len(dsn) == 1, moat.log()
        msg = email.message_from_bytes(dsn[0], policy=email.policy.default)
        blocks = [dict(b.items())
                  for b in list(msg.iter_parts())[1].get_payload()]
        per = {b["Final-Recipient"]: b for b in blocks[1:]}
        assert per["rfc822; quota@corp.example"]["Status"] == "5.2.2"
        assert per["rfc822; nobody@corp.example"]["Status"] == "5.1.1"
        assert set(per) == {"rfc822; quota@corp.example",
                            "rfc822; nobody@corp.example"}
        assert wait_for(lambda: queue_empty(moat))
        log = moat.log()
        assert "relay=unix:%s" % path in log
        assert "to=<full@corp.example> relay=unix:%s" % path in log
        assert "status=deferred code=452" in log
    finally:
        store.close()


# --- a real Postfix instance as the receiving MTA ---

POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"
POSTCAT = "/usr/sbin/postcat"


class PostfixPeer:
    """A private Postfix (own config_directory and queue_directory in a
    temp dir) with smtpd on 127.0.0.1:port only, STARTTLS offered with
    the test certificate, every message accepted from 127.0.0.0/8 and put
    on hold, so its queue file can be read back with postcat."""

    def __init__(self, port, tls):
        self.port = port
        self.dir = tempfile.mkdtemp(prefix="moat-postfix-")
        os.chmod(self.dir, 0o755)
        self.etc = os.path.join(self.dir, "etc")
        self.spool = os.path.join(self.dir, "spool")
        self.data = os.path.join(self.dir, "data")
        self.maillog = os.path.join(self.dir, "maillog")
        os.mkdir(self.etc, 0o755)
        os.mkdir(self.spool, 0o755)
        os.mkdir(self.data, 0o700)
        shutil.chown(self.data, "postfix", "postfix")
        shutil.copy("/etc/postfix/master.cf",
                    os.path.join(self.etc, "master.cf"))
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write("""\
compatibility_level = 3.6
queue_directory = {spool}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.pf.example
mydomain = pf.example
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
relayhost =
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
smtpd_client_restrictions = check_client_access static:HOLD
smtpd_recipient_restrictions = permit_mynetworks, reject
smtpd_tls_security_level = may
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_received_header = yes
smtpd_tls_loglevel = 1
maillog_file = {log}
maillog_file_prefixes = {d}
""".format(spool=self.spool, data=self.data, cert=tls[0], key=tls[1],
           log=self.maillog, d=self.dir))
        self.postconf("-F", "*/*/chroot = n")
        for line in open(os.path.join(self.etc, "master.cf")):
            w = line.split()
            if (len(w) > 1 and w[1] == "inet" and not line[0].isspace()
                    and not line.startswith("#")):
                self.postconf("-M#", "%s/inet" % w[0])
        svc = "127.0.0.1:%d" % port
        self.postconf("-Me", "%s/inet = %s inet n - n - - smtpd" % (svc, svc))
        self.started = False

    def start(self):
        port = self.port
        self.run("check")
        self.run("start")
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("postfix does not listen:\n" + self.log())

    def postconf(self, *args):
        subprocess.run([POSTCONF, "-c", self.etc] + list(args), check=True,
                       capture_output=True, timeout=30)

    def run(self, cmd):
        # Postfix prints its errors only to a terminal: give it a pty
        master, slave = pty.openpty()
        try:
            p = subprocess.Popen([POSTFIX, "-c", self.etc, cmd],
                                 stdin=subprocess.DEVNULL, stdout=slave,
                                 stderr=slave, close_fds=True)
        finally:
            os.close(slave)
        out = b""
        try:
            rc = p.wait(60)
            while select.select([master], [], [], 0.1)[0]:
                try:
                    b = os.read(master, 4096)
                except OSError:
                    break
                if not b:
                    break
                out += b
        finally:
            os.close(master)
        if rc != 0:
            raise RuntimeError("postfix %s: %s\n%s" % (
                cmd, out.decode("utf-8", "replace"), self.log()))

    def log(self):
        try:
            with open(self.maillog, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def held(self):
        """Queue files on hold (paths)."""
        out = []
        for d, _, files in os.walk(os.path.join(self.spool, "hold")):
            out += [os.path.join(d, n) for n in files]
        return out

    def postcat(self, path, *opts):
        return subprocess.run([POSTCAT, "-c", self.etc] + list(opts) + [path],
                              capture_output=True, check=True,
                              timeout=30).stdout

    def master_pid(self):
        try:
            with open(os.path.join(self.spool, "pid", "master.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def close(self):
        if not self.started:
            return
        self.started = False
        master = self.master_pid()
        try:
            self.run("stop")
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        deadline = time.time() + 15
        while master and os.path.exists("/proc/%d" % master) and \
                time.time() < deadline:
            time.sleep(0.1)
        if master and os.path.exists("/proc/%d" % master):
            subprocess.run([POSTFIX, "-c", self.etc, "abort"],
                           capture_output=True, timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def postfix_peer(tls_files):
    started = []

    def start(port):
        p = PostfixPeer(port, tls_files)
        started.append(p)
        p.started = True        # from here on, close() stops it
        p.start()
        return p
    yield start
    for p in started:
        p.close()


def test_delivery_to_real_postfix(moat_factory, dns, postfix_peer):
    port = free_port()
    srv = dns(mx=[("pf.example", "mx.pf.example", 10)],
              hosts=[("mx.pf.example", "127.0.0.1")])
    pf = postfix_peer(port)
    moat = moat_factory(extra=delivery_conf(srv, port))
    body = ("From: <alice@example.org>\r\nTo: <bob@pf.example>\r\n"
            "Subject: to postfix\r\nMessage-ID: <pf@example.org>\r\n"
            "Date: Thu, 26 Nov 2026 12:00:00 +0000\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n"
            "line one\r\n.leading dot\r\n..two dots\r\n\r\n"
            "caf\xe9 na\xefve\r\n" + "x" * 998 + "\r\nlast line\r\n")
    with smtplib.SMTP("127.0.0.1", moat.port,
                      source_address=("127.0.0.2", 0)) as s:
        s.ehlo("client.example")
        s.sendmail("alice@example.org", ["bob@pf.example", "carol@pf.example"],
                   body.encode("utf-8"), mail_options=["BODY=8BITMIME"])
    assert wait_for(lambda: queue_empty(moat), timeout=20), \
        moat.log() + pf.log()
    files = wait_for(pf.held, timeout=10)
    assert len(files) == 1, pf.log()
    env = pf.postcat(files[0], "-e").decode("utf-8", "replace")
    assert "sender: alice@example.org" in env
    assert "recipient: bob@pf.example" in env
    assert "recipient: carol@pf.example" in env
    content = pf.postcat(files[0], "-bh")
    # Postfix's Received on top (TLS noted), then ours, then the message
    # exactly as submitted (postcat prints LF line ends)
    sent = body.encode("utf-8").replace(b"\r\n", b"\n")
    assert content.endswith(sent), content[-600:]
    top = content.split(b"\nReceived: ", 1)[0]
    assert top.startswith(b"Received: from mx.test.example"), top
    assert b"(using TLSv1." in top, top
    assert content.count(b"Received: ") == 2
    log = moat.log()
    assert "relay=mx.pf.example[127.0.0.1]:%d" % port in log
    assert 'tls="TLSv1.' in log
    assert log.count("status=sent") == 2
