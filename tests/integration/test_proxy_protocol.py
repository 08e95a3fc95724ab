"""Behind a load balancer: a real haproxy on loopback sends the PROXY
header (send-proxy: v1, send-proxy-v2: v2) to moat listeners with
proxy_protocol, and the client's own address, chosen by binding the
client socket to 127.0.0.5 or 127.0.0.6, drives every decision: relay,
bans, `moat sessions`, the log, the Received header. A connection from
outside proxy_from is refused unread; one from inside without a valid
header is dropped on its first bad bytes or after the header timeout.
"""
import json
import re
import os
import shutil
import smtplib
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from conftest import MOAT_BIN, free_port  # noqa: E402
from test_defence import blocklist_dns  # noqa: E402,F401

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
GOOD, BAD = "127.0.0.5", "127.0.0.6"
PROXY_FROM = "proxy_from = 127.0.0.1/32\n"
LISTENERS = [
    ("mx", "mx", "proxy_protocol = v1\n" + PROXY_FROM),
    ("mx2", "mx", "proxy_protocol = v2\n" + PROXY_FROM),
    ("any", "mx", "proxy_protocol = any\n" + PROXY_FROM),
    ("subs", "submissions", "proxy_protocol = v2\n" + PROXY_FROM),
]
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


class Haproxy:
    """haproxy in the foreground: frontend v1 -> moat's listener mx with
    send-proxy, frontend v2 -> mx2 with send-proxy-v2."""

    def __init__(self, m):
        self.dir = tempfile.mkdtemp(prefix="moat-haproxy-")
        self.v1, self.v2 = free_port(), free_port()
        cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write("\n".join([
                "global",
                "    maxconn 200",
                "defaults",
                "    mode tcp",
                "    timeout connect 5s",
                "    timeout client 60s",
                "    timeout server 60s",
                "frontend v1",
                "    bind 127.0.0.1:%d" % self.v1,
                "    default_backend moat_v1",
                "frontend v2",
                "    bind 127.0.0.1:%d" % self.v2,
                "    default_backend moat_v2",
                "backend moat_v1",
                "    server moat 127.0.0.1:%d send-proxy" % m.ports["mx"],
                "backend moat_v2",
                "    server moat 127.0.0.1:%d send-proxy-v2"
                % m.ports["mx2"],
            ]) + "\n")
        self.log = open(os.path.join(self.dir, "haproxy.log"), "wb")
        self.proc = subprocess.Popen([HAPROXY, "-f", cfg, "-db"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        for port in (self.v1, self.v2):
            while True:
                assert self.proc.poll() is None, self.output()
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    break
                except OSError:
                    assert time.time() < deadline, self.output()
                    time.sleep(0.05)

    def output(self):
        with open(os.path.join(self.dir, "haproxy.log"), "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def pmoat(moat_factory):
    """moat behind haproxy; relay_networks names 127.0.0.5 only."""
    m = moat_factory(listeners=LISTENERS,
                     extra="[relay]\nrelay_networks = %s/32\n" % GOOD)
    h = Haproxy(m)
    yield m, h
    h.stop()


def ctl(m, *args):
    r = subprocess.run([MOAT_BIN] + list(args) + ["-c", m.conf], cwd=m.dir,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def events(m, kind):
    return json.loads(ctl(m, "events", "--type", kind, "--json"))["events"]


def wait_for(pred, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def raw(port, data=b"", src="127.0.0.1", timeout=10):
    """Connect from src, send data, read until closed or a full line;
    (bytes read, seconds until then)."""
    with socket.socket() as c:
        c.settimeout(timeout)
        c.bind((src, 0))
        c.connect(("127.0.0.1", port))
        t0 = time.time()
        if data:
            c.sendall(data)
        got = b""
        try:
            while not got.endswith(b"\r\n"):
                chunk = c.recv(512)
                if not chunk:
                    break
                got += chunk
        except (ConnectionResetError, socket.timeout):
            pass
        return got, time.time() - t0


def v2_header(src, dst, sport, dport, cmd=1):
    fam = 0x11 if cmd == 1 else 0x00
    body = (socket.inet_aton(src) + socket.inet_aton(dst)
            + struct.pack("!HH", sport, dport)) if cmd == 1 else b""
    return V2_SIG + bytes([0x20 | cmd, fam]) + struct.pack("!H", len(body)) \
        + body


def relay_code(port, src):
    """RCPT to an outside domain from src through port: the reply code."""
    s = smtplib.SMTP("127.0.0.1", port, source_address=(src, 0), timeout=15)
    try:
        s.ehlo("client.example")
        s.mail("sender@outside.example")
        return s.rcpt("someone@elsewhere.example")[0]
    finally:
        s.close()


def test_relay_decided_on_the_real_client(pmoat):
    """relay_networks = 127.0.0.5: through haproxy (whose own address is
    127.0.0.1) .5 may relay and .6 may not, over v1 and over v2."""
    m, h = pmoat
    for port in (h.v1, h.v2):
        assert relay_code(port, GOOD) == 250
        assert relay_code(port, BAD) == 554
    log = m.log()
    for src in (GOOD, BAD):
        for listener in ("mx", "mx2"):
            assert re.search(r"event=connect client=%s port=\d+ listener=%s "
                             r"proxy=127\.0\.0\.1\n" % (re.escape(src),
                                                          listener), log), log
    assert "event=relay_denied client=%s " % BAD in log
    assert "event=relay_denied client=%s " % GOOD not in log
    assert wait_for(lambda: {e["client"] for e in events(m, "relay_denied")}
                    == {BAD})
    assert "event=proxy client=%s proxy=127.0.0.1 listener=mx version=1" \
        % GOOD in log
    assert "event=proxy client=%s proxy=127.0.0.1 listener=mx2 version=2" \
        % GOOD in log


def test_ban_on_the_real_client(pmoat):
    """A ban on 127.0.0.6 refuses it through haproxy; .5 still gets in."""
    m, h = pmoat
    ctl(m, "ban", "add", BAD + "/32", "--for", "1h")
    assert m.wait_log("event=ban_added cidr=%s/32" % BAD)
    for port in (h.v1, h.v2):
        got, _ = raw(port, src=BAD)
        assert got.startswith(b"554 5.7.1"), got
        got, _ = raw(port, src=GOOD)
        assert got.startswith(b"220 "), got
    assert "event=refused client=%s listener=mx " % BAD in m.log()
    assert "event=refused client=%s listener=mx2 " % BAD in m.log()


def test_sessions_and_received_show_the_real_client(pmoat):
    """`moat sessions` lists 127.0.0.5, not haproxy; the message's
    Received header names it too."""
    m, h = pmoat
    s = smtplib.SMTP("127.0.0.1", h.v2, source_address=(GOOD, 0), timeout=15)
    s.ehlo("good.example")
    rows = json.loads(ctl(m, "sessions", "--json"))["sessions"]
    clients = {r["client"]: r for r in rows}
    assert GOOD in clients and "127.0.0.1" not in clients, rows
    assert clients[GOOD]["proxy"] == "127.0.0.1"
    assert clients[GOOD]["listener"] == "mx2"
    table = ctl(m, "sessions")
    assert GOOD in table and "proxy" in table.splitlines()[0], table
    s.sendmail("a@outside.example", ["postmaster@example.org"],
               b"Subject: via haproxy\r\n\r\nhello\r\n")
    s.quit()
    msgs = m.wait_maildir(1)
    assert msgs, m.log()
    received = msgs[0].split(b"\r\n\r\n")[0].decode()
    assert "[%s]" % GOOD in received, received
    assert "127.0.0.1" not in received.split("Received:")[1].split(";")[0]


def test_outside_proxy_from_refused_unread(pmoat):
    """A client that reaches the proxy listener itself, not through a
    proxy_from address, is closed at once without a greeting."""
    m, _ = pmoat
    got, secs = raw(m.ports["mx"], b"PROXY TCP4 192.0.2.1 127.0.0.1 1 25\r\n",
                    src=GOOD)
    assert got == b"" and secs < 2, got
    assert m.wait_log('event=refused client=%s listener=mx reason="not in '
                      'proxy_from"' % GOOD)
    assert wait_for(lambda: any(e["client"] == GOOD
                                for e in events(m, "proxy_refused")))
    assert "client=192.0.2.1" not in m.log()


def test_no_header_dropped(pmoat):
    """From proxy_from but without a header: SMTP first is dropped at
    once, silence after the header timeout, never a session."""
    m, _ = pmoat
    got, secs = raw(m.ports["mx"], b"EHLO direct.example\r\n")
    assert got == b"" and secs < 2, got
    assert m.wait_log('event=proxy_error proxy=127.0.0.1 listener=mx '
                      'reason="not a PROXY protocol header"')
    got, secs = raw(m.ports["mx2"], timeout=15)
    assert got == b"" and 4 <= secs < 10, (got, secs)
    assert m.wait_log('reason="no PROXY header in time"')
    kinds = [e["detail"] for e in events(m, "proxy_error")]
    assert len(kinds) == 2, kinds
    # sessions of 127.0.0.1 only ever come through haproxy's own probes
    assert not re.search(r"event=connect client=127\.0\.0\.1 port=\d+ "
                         r"listener=\w+\n", m.log())


@pytest.mark.parametrize("listener,data,why", [
    ("mx2", b"PROXY TCP4 192.0.2.1 127.0.0.1 1 25\r\n",
     "v1 header on a v2 listener"),
    ("mx", V2_SIG + b"\x20\x00\x00\x00", "v2 header on a v1 listener"),
    ("any", b"PROXY TCP4 192.0.2.1 127.0.0.1 99999 25\r\n", "v1: bad port"),
    ("any", b"PROXY TCP4 " + b"1" * 120 + b"\r\n",
     "v1: longer than 107 bytes"),
    ("any", b"PROXY TCP4 192.0.2.1\n", "v1: bare LF"),
    ("any", V2_SIG + b"\x21\x11\x00\x0b" + b"\0" * 11,
     "v2: addresses cut short"),
    ("any", V2_SIG + b"\x21\x11\xff\xff", "v2: header too long"),
    ("any", V2_SIG[:11] + b"X\x21\x11\x00\x0c",
     "not a PROXY protocol header"),
    ("any", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1",
     "not a PROXY protocol header"),
])
def test_bad_headers(pmoat, listener, data, why):
    """Malformed, oversize, garbage: closed at once, a log line, an
    event, the daemon still serves."""
    m, h = pmoat
    got, secs = raw(m.ports[listener], data)
    assert got == b"" and secs < 2, got
    assert m.wait_log('listener=%s reason="%s"' % (listener, why)), m.log()
    assert wait_for(lambda: events(m, "proxy_error"))
    assert relay_code(h.v1, GOOD) == 250


def test_header_names_the_client(pmoat):
    """Headers sent by hand: v1 and v2 name 192.0.2.9, a v2 LOCAL (a
    health check) stands for the connection itself; bytes after the
    header stay the client's (talking first is still caught)."""
    m, _ = pmoat
    got, _ = raw(m.ports["any"], b"PROXY TCP4 192.0.2.9 127.0.0.1 4242 25\r\n")
    assert got.startswith(b"220 "), got
    assert m.wait_log("client=192.0.2.9 port=4242 listener=any proxy=127.0.0.1")
    got, _ = raw(m.ports["mx2"], v2_header("192.0.2.10", "127.0.0.1", 5, 25))
    assert got.startswith(b"220 "), got
    assert m.wait_log("client=192.0.2.10 port=5 listener=mx2 proxy=127.0.0.1")
    got, _ = raw(m.ports["mx2"], v2_header("", "", 0, 0, cmd=0))
    assert got.startswith(b"220 "), got
    assert m.wait_log("listener=mx2 version=2 local=yes")
    got, _ = raw(m.ports["any"], b"PROXY TCP6 2001:db8::7 ::1 7 25\r\n"
                 b"EHLO early.example\r\n")
    assert got.startswith(b"554 5.5.0"), got
    assert m.wait_log("event=pregreet client=2001:db8::7")


def test_implicit_tls_after_the_header(pmoat):
    """On a submissions listener the header comes first, then TLS."""
    m, _ = pmoat
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", m.ports["subs"]), 10) as s:
        s.sendall(v2_header("192.0.2.11", "127.0.0.1", 11, 465))
        with c.wrap_socket(s) as t:
            banner = t.recv(512)
    assert banner.startswith(b"220 "), banner
    assert m.wait_log("client=192.0.2.11 port=11 listener=subs")


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_relaytest_on_start_through_the_header(moat_factory, version):
    """relaytest_on_start against a proxy listener: the battery connects
    from proxy_from and names an outside client (192.0.2.1) in the
    header, so it runs even with all of loopback trusted, and passes."""
    m = moat_factory(
        extra="[server]\nrelaytest_on_start = yes\n"
              "[relay]\nrelay_networks = 127.0.0.0/8\n",
        listeners=[("mx", "mx", "proxy_protocol = %s\n" % version
                    + PROXY_FROM)])
    assert m.wait_log("event=relaytest listener=mx"), m.log()
    line = [l for l in m.log().splitlines() if "event=relaytest " in l][0]
    assert "source=127.0.0.1 client=192.0.2.1" in line, line
    assert "result=pass" in line and "fail=0" in line, line
    assert "event=relay_denied client=192.0.2.1 " in m.log()
    assert m.proc.poll() is None


def test_relaytest_on_start_skips_unreachable_proxy_listener(moat_factory):
    m = moat_factory(
        extra="[server]\nrelaytest_on_start = yes\n",
        listeners=[("mx", "mx", "proxy_protocol = any\n"
                    "proxy_from = 10.0.0.1\n")])
    assert m.wait_log('event=relaytest_skipped listener=mx address=127.0.0.1 '
                      'reason="no source address we could use is in '
                      'proxy_from"'), m.log()
    assert m.proc.poll() is None


def test_dnsbl_and_session_limits_on_the_real_client(moat_factory,
                                                     blocklist_dns):
    """Through haproxy: the DNSBL is asked about the client (127.0.0.66
    listed, .5 not), and max_sessions_per_ip counts per client, not per
    balancer."""
    m = moat_factory(listeners=LISTENERS,
                     extra="[limits]\nmax_sessions_per_ip = 1\n"
                           "[delivery]\ndns_server = 127.0.0.1@%d\n"
                           "[policy]\ndnsbl_zones = bl.moat.example*2\n"
                           "dnsbl_threshold = 2\n" % blocklist_dns)
    h = Haproxy(m)
    try:
        with smtplib.SMTP("127.0.0.1", h.v1, timeout=10,
                          source_address=("127.0.0.66", 0)) as s:
            s.ehlo()
            code, msg = s.mail("a@outside.example")
            assert code == 554 and b"bl.moat.example" in msg, msg
        assert m.wait_log("event=dnsbl client=127.0.0.66")
        a = smtplib.SMTP("127.0.0.1", h.v2, timeout=10,
                         source_address=(GOOD, 0))
        a.ehlo()
        assert a.mail("a@outside.example")[0] == 250
        # a second client through the same balancer still gets in
        got, _ = raw(h.v2, src=BAD)
        assert got.startswith(b"220 "), got
        # the same client twice does not
        got, _ = raw(h.v1, src=GOOD)
        assert got.startswith(b"421 "), got
        a.quit()
    finally:
        h.stop()
    assert "limit=max_sessions_per_ip" in m.log()
    assert "event=limit client=%s " % GOOD in m.log()
