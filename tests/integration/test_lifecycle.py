"""The SMTP session's lifecycle against the real daemon: a session parked
anywhere (waiting for a DNSBL answer, in the tarpit, after a failed AUTH,
mid-DATA, mid-TLS handshake) still ends when the administrator kills it,
when its address is banned and when the daemon stops; replies a client
does not read are capped; standard tools reach their verdict."""
import base64
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import time

import pytest

from conftest import ASAN, MOAT_BIN, free_port
from submission import tls_context as tls_ctx

# ASan's quarantine keeps freed memory resident: RSS says nothing there
RSS_CHECKED = not ASAN


def ctl(m, *args):
    r = subprocess.run([MOAT_BIN] + list(args) + ["-c", m.conf], cwd=m.dir,
                       capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout, r.stderr


def test_nmap_open_relay_reaches_a_verdict(moat_factory):
    """nmap's smtp-open-relay sends 16 refused relay attempts; the default
    error limit must let it finish and print its verdict."""
    if not shutil.which("nmap"):
        pytest.skip("nmap not installed")
    m = moat_factory()
    r = subprocess.run(
        ["nmap", "-Pn", "-p", str(m.port), "--script", "+smtp-open-relay",
         "127.0.0.1"], capture_output=True, text=True, timeout=120)
    assert "smtp-open-relay" in r.stdout, r.stdout + r.stderr
    assert "failed to receive data" not in r.stdout, r.stdout
    assert "Server doesn't seem to be an open relay" in r.stdout, r.stdout


# ---- helpers: raw SMTP over a socket, so a test can stop anywhere ----

def connect(m, src, port=None, timeout=5):
    c = socket.create_connection(("127.0.0.1", port or m.port), timeout,
                                 source_address=(src, 0))
    assert read_reply(c).startswith("220")
    return c


def read_reply(c):
    """One whole reply (every line up to 'NNN '), as text."""
    data = b""
    while True:
        chunk = c.recv(4096)
        if not chunk:
            return data.decode(errors="replace")
        data += chunk
        lines = data.split(b"\r\n")
        if len(lines) > 1 and any(len(l) >= 4 and l[3:4] == b" "
                                  for l in lines[:-1]):
            return data.decode(errors="replace")


def cmd(c, line):
    c.sendall(line.encode() + b"\r\n")
    return read_reply(c)


def ended(c, within):
    """What the server sent until it closed the connection; fails if it is
    still open after `within` seconds."""
    c.settimeout(within)
    data = b""
    try:
        while True:
            chunk = c.recv(4096)
            if not chunk:
                return data.decode(errors="replace")
            data += chunk
    except ConnectionResetError:
        return data.decode(errors="replace")
    except socket.timeout:
        pytest.fail("session still open after %ss (got %r)" % (within, data))




def dns_ready(port, name, timeout=5):
    """Wait until the DNS server on port answers a query for name."""
    q = (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
         + b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
         + b"\x00\x00\x01\x00\x01")
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.settimeout(0.1)
            u.sendto(q, ("127.0.0.1", port))
            try:
                if u.recv(512)[:2] == b"\x12\x34":
                    return
            except OSError:
                pass
    pytest.fail("DNS server on port %d not ready" % port)


@pytest.fixture
def slow_blocklist_dns():
    """dnsmasq on loopback whose blocklist zone bl.moat.example is forwarded
    to a server that never answers: every DNSBL lookup stays pending, so a
    MAIL waits for it (at most moat's 5 s)."""
    if not shutil.which("dnsmasq"):
        pytest.skip("dnsmasq not installed")
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    port = free_port()
    p = subprocess.Popen(
        ["dnsmasq", "--no-daemon", "--port=%d" % port,
         "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv",
         "--no-hosts", "--conf-file=/dev/null",
         "--server=/bl.moat.example/127.0.0.1#%d" % silent.getsockname()[1],
         "--host-record=ready.moat.example,127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dns_ready(port, "ready.moat.example")
    yield port
    p.terminate()
    p.wait()
    silent.close()


def dnsbl_conf(port):
    return ("[relay]\nrelay_networks = 127.0.0.2/32\n"
            "[delivery]\ndns_server = 127.0.0.1@%d\n"
            "[policy]\ndnsbl_zones = bl.moat.example\n" % port)


def test_tarpit_after_dnsbl_wait_is_answered(moat_factory, slow_blocklist_dns):
    """A MAIL that waited for the DNSBL, then unknown recipients: the
    tarpitted reply still comes, after tarpit_ms."""
    m = moat_factory(extra=dnsbl_conf(slow_blocklist_dns)
                     + "max_unknown_rcpts = 4\ntarpit_ms = 200\n")
    c = connect(m, "127.0.0.66")
    assert cmd(c, "EHLO client.example").startswith("250")
    c.settimeout(10)
    assert cmd(c, "MAIL FROM:<a@outside.example>").startswith("250")
    assert m.log().count("event=dnsbl_timeout") == 1
    c.settimeout(3)
    for i in range(4):
        r = cmd(c, "RCPT TO:<nobody%d@localhost>" % i)
        assert r.startswith("550 5.1.1"), (i, r)
    assert cmd(c, "QUIT").startswith("221")
    c.close()


def test_kill_ends_sessions_in_every_state(moat_factory, slow_blocklist_dns):
    m = moat_factory(
        listeners=[("mx", "mx", ""), ("sub", "submission", "")],
        users={"alice": "right horse"},
        extra=dnsbl_conf(slow_blocklist_dns)
        + "max_unknown_rcpts = 2\ntarpit_ms = 30000\n"
        + "[limits]\nauth_fail_delay_ms = 30000\n")
    conns = {}
    # in the tarpit: the second unknown recipient waits 30 s
    c = connect(m, "127.0.0.2")
    cmd(c, "EHLO client.example")
    assert cmd(c, "MAIL FROM:<a@b.example>").startswith("250")
    assert cmd(c, "RCPT TO:<nobody1@localhost>").startswith("550")
    c.sendall(b"RCPT TO:<nobody2@localhost>\r\n")
    conns["tarpit"] = c
    # mid-DATA
    c = connect(m, "127.0.0.2")
    cmd(c, "EHLO client.example")
    cmd(c, "MAIL FROM:<a@b.example>")
    cmd(c, "RCPT TO:<postmaster@localhost>")
    assert cmd(c, "DATA").startswith("354")
    c.sendall(b"Subject: half\r\n\r\nhalf a messa")
    conns["data"] = c
    # mid-TLS handshake: 220 to STARTTLS, then nothing
    c = connect(m, "127.0.0.3")
    cmd(c, "EHLO client.example")
    assert cmd(c, "STARTTLS").startswith("220")
    conns["tls"] = c
    # after a failed AUTH: the reply waits auth_fail_delay_ms
    raw = connect(m, "127.0.0.4", port=m.ports["sub"])
    cmd(raw, "EHLO client.example")
    assert cmd(raw, "STARTTLS").startswith("220")
    c = tls_ctx().wrap_socket(raw, server_hostname="localhost")
    cmd(c, "EHLO client.example")
    c.sendall(b"AUTH PLAIN " + base64.b64encode(b"\0alice\0wrong") + b"\r\n")
    conns["auth"] = c
    # waiting for the DNSBL answer at MAIL
    c = connect(m, "127.0.0.66")
    cmd(c, "EHLO client.example")
    c.sendall(b"MAIL FROM:<a@outside.example>\r\n")
    conns["dnsbl"] = c
    time.sleep(0.3)
    states = {s for s in ctl(m, "sessions")[1].split()}
    assert "wait" in states and "data" in states, states
    rc, out, err = ctl(m, "sessions", "kill", "--ip", "127.0.0.0/8")
    assert rc == 0 and "killed 5 sessions" in out, (out, err)
    for name, c in conns.items():
        got = ended(c, 3)
        if name != "tls":
            assert "421" in got, (name, got)
    assert "127.0.0." not in ctl(m, "sessions")[1]


def test_ban_ends_parked_sessions(moat_factory):
    """An address banned for AUTH failures loses its other sessions at
    once, tarpitted or mid-DATA."""
    m = moat_factory(
        listeners=[("mx", "mx", ""), ("sub", "submission", "")],
        users={"alice": "right horse"},
        extra="[policy]\nmax_unknown_rcpts = 2\ntarpit_ms = 30000\n"
              "auth_fail_limit = 1\n[limits]\nauth_fail_delay_ms = 0\n")
    tarpit = connect(m, "127.0.0.7")
    cmd(tarpit, "EHLO client.example")
    cmd(tarpit, "MAIL FROM:<a@b.example>")
    assert cmd(tarpit, "RCPT TO:<nobody1@localhost>").startswith("550")
    tarpit.sendall(b"RCPT TO:<nobody2@localhost>\r\n")
    data = connect(m, "127.0.0.7")
    cmd(data, "EHLO client.example")
    cmd(data, "MAIL FROM:<a@b.example>")
    cmd(data, "RCPT TO:<postmaster@localhost>")
    assert cmd(data, "DATA").startswith("354")
    raw = connect(m, "127.0.0.7", port=m.ports["sub"])
    cmd(raw, "EHLO client.example")
    cmd(raw, "STARTTLS")
    c = tls_ctx().wrap_socket(raw, server_hostname="localhost")
    cmd(c, "EHLO client.example")
    r = cmd(c, "AUTH PLAIN " + base64.b64encode(b"\0alice\0wrong").decode())
    assert r.startswith("421"), r
    assert m.wait_log("event=ban client=127.0.0.7")
    assert "421" in ended(tarpit, 3)
    assert "421" in ended(data, 3)
    # the administrator's ban too
    tarpit = connect(m, "127.0.0.11")
    cmd(tarpit, "EHLO client.example")
    cmd(tarpit, "MAIL FROM:<a@b.example>")
    assert cmd(tarpit, "RCPT TO:<nobody1@localhost>").startswith("550")
    tarpit.sendall(b"RCPT TO:<nobody2@localhost>\r\n")
    assert ctl(m, "ban", "add", "127.0.0.11/32")[0] == 0
    assert "421" in ended(tarpit, 3)


def test_lifetime_ends_a_tarpitted_session(moat_factory):
    m = moat_factory(extra="[policy]\nmax_unknown_rcpts = 2\n"
                           "tarpit_ms = 30000\nsession_lifetime = 2\n")
    c = connect(m, "127.0.0.8")
    cmd(c, "EHLO client.example")
    cmd(c, "MAIL FROM:<a@b.example>")
    assert cmd(c, "RCPT TO:<nobody1@localhost>").startswith("550")
    c.sendall(b"RCPT TO:<nobody2@localhost>\r\n")
    assert "421" in ended(c, 4)
    assert m.wait_log("event=session_lifetime")


def test_sigterm_ends_parked_sessions(moat_factory):
    m = moat_factory(
        listeners=[("mx", "mx", ""), ("sub", "submission", "")],
        users={"alice": "right horse"},
        extra="[policy]\nmax_unknown_rcpts = 2\ntarpit_ms = 30000\n"
              "[limits]\nauth_fail_delay_ms = 30000\n")
    tarpit = connect(m, "127.0.0.9")
    cmd(tarpit, "EHLO client.example")
    cmd(tarpit, "MAIL FROM:<a@b.example>")
    assert cmd(tarpit, "RCPT TO:<nobody1@localhost>").startswith("550")
    tarpit.sendall(b"RCPT TO:<nobody2@localhost>\r\n")
    hs = connect(m, "127.0.0.9")
    cmd(hs, "EHLO client.example")
    assert cmd(hs, "STARTTLS").startswith("220")
    raw = connect(m, "127.0.0.10", port=m.ports["sub"])
    cmd(raw, "EHLO client.example")
    cmd(raw, "STARTTLS")
    auth = tls_ctx().wrap_socket(raw, server_hostname="localhost")
    cmd(auth, "EHLO client.example")
    auth.sendall(b"AUTH PLAIN " + base64.b64encode(b"\0alice\0wrong") + b"\r\n")
    time.sleep(0.3)
    t0 = time.time()
    m.proc.send_signal(signal.SIGTERM)
    assert "421" in ended(tarpit, 3)
    assert "421" in ended(auth, 3)
    ended(hs, 3)
    m.proc.wait(5)
    assert time.time() - t0 < 5
    assert "event=shutdown_timeout" not in m.log()


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def smtp_pid(m):
    pids = [p for p, comm in m.children().items() if "smtp" in comm]
    assert len(pids) == 1, m.children()
    return pids[0]


def test_replies_not_read_are_capped(moat_factory):
    """A client pipelines 400,000 HELPs (36 MB of replies) and reads
    nothing: the smtp process stops reading while the replies wait, its
    memory stays bounded, and every reply comes once the client reads."""
    import threading
    m = moat_factory()
    pid = smtp_pid(m)
    c = socket.socket()
    c.settimeout(10)
    c.connect(("127.0.0.1", m.port))
    assert read_reply(c).startswith("220")
    assert cmd(c, "EHLO client.example").startswith("250")
    assert cmd(c, "MAIL FROM:<a@b.example>").startswith("250")
    base = rss_kb(pid)
    n = 400000
    batch = b"HELP\r\n" * n + b"QUIT\r\n"
    sender = threading.Thread(target=c.sendall, args=(batch,), daemon=True)
    sender.start()
    time.sleep(1.5)
    grown = rss_kb(pid) - base
    out = subprocess.run([MOAT_BIN, "sessions", "--json", "-c", m.conf],
                         cwd=m.dir, capture_output=True, text=True).stdout
    if RSS_CHECKED:
        assert grown < 8 * 1024, "smtp process grew by %d kB" % grown
    import json
    rows = json.loads(out)["sessions"]
    assert len(rows) == 1 and rows[0]["output"] <= 128 * 1024, rows
    # the client reads: every reply arrives, then the QUIT's
    chunks = []
    while True:
        chunk = c.recv(1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    got = b"".join(chunks)
    sender.join(10)
    assert got.count(b"\r\n214 ") + got.startswith(b"214 ") == n
    assert got.endswith(b"221 2.0.0 Bye\r\n")
    c.close()


def send_big(c, size, tail=b""):
    """DATA of about size bytes (1000-octet lines), then tail and the dot."""
    line = b"x" * 998 + b"\r\n"
    block = line * 1024
    sent = 0
    c.sendall(b"Subject: big\r\n\r\n")
    while sent < size:
        c.sendall(block)
        sent += len(block)
    c.sendall(tail + b".\r\n")
    return sent


def open_tx(m, src="127.0.0.2", rcpt="postmaster@localhost"):
    c = connect(m, src)
    c.settimeout(60)
    assert cmd(c, "EHLO client.example").startswith("250")
    assert cmd(c, "MAIL FROM:<a@b.example>").startswith("250")
    assert cmd(c, "RCPT TO:<%s>" % rcpt).startswith("250")
    assert cmd(c, "DATA").startswith("354")
    return c


IPC_MAX_FRAME = 256 * 1024 * 1024


def test_message_larger_than_a_frame_streams(moat_factory):
    """A 260 MiB message (over the 256 MiB IPC frame cap) is accepted with
    max_message_size = 1G for a local mailbox; the smtp process never
    holds it. For an outside recipient it is refused at the dot."""
    import threading
    m = moat_factory(extra="[relay]\nrelay_networks = 127.0.0.2/32\n"
                           "[delivery]\nsmarthost = [127.0.0.1]:9\n"
                           "[limits]\nmax_message_size = 1G\n")
    pid = smtp_pid(m)
    base = rss_kb(pid)
    # for an outside recipient it could not be handed to the mta: refused
    c = open_tx(m, rcpt="someone@remote.example")
    send_big(c, 250 * 1024 * 1024)
    r = read_reply(c)
    assert r.startswith("552 5.3.4"), r
    c.close()
    peak = [0]
    done = threading.Event()

    def watch():
        while not done.is_set():
            try:
                peak[0] = max(peak[0], rss_kb(pid) - base)
            except OSError:
                return
            time.sleep(0.05)
    w = threading.Thread(target=watch, daemon=True)
    w.start()
    c = open_tx(m)
    t0 = time.time()
    sent = send_big(c, 260 * 1024 * 1024)
    r = read_reply(c)
    print("sent %d bytes in %.1fs" % (sent, time.time() - t0))
    done.set()
    w.join()
    assert r.startswith("250 2.0.0 Ok: queued"), r
    if RSS_CHECKED:
        assert peak[0] < 32 * 1024, "smtp process grew by %d kB" % peak[0]
    assert cmd(c, "QUIT").startswith("221")
    c.close()
    size = int(m.log().split("event=accepted")[1].split("size=")[1].split()[0])
    assert size > sent > IPC_MAX_FRAME, size


def test_abandoned_large_message_leaves_nothing(moat_factory):
    m = moat_factory(extra="[relay]\nrelay_networks = 127.0.0.2/32\n"
                           "[limits]\nmax_message_size = 20M\n")
    # refused at the final dot after 5 MB (a bare LF): nothing stored,
    # and the session goes on
    c = open_tx(m)
    send_big(c, 5 * 1024 * 1024, tail=b"bare\nLF\r\n")
    assert read_reply(c).startswith("550 5.6.0")
    # over the size limit
    assert cmd(c, "MAIL FROM:<a@b.example>").startswith("250")
    assert cmd(c, "RCPT TO:<postmaster@localhost>").startswith("250")
    assert cmd(c, "DATA").startswith("354")
    send_big(c, 25 * 1024 * 1024)
    assert read_reply(c).startswith("552")
    c.close()
    # the client goes away in the middle
    c = open_tx(m)
    c.sendall(b"Subject: cut\r\n\r\n" + (b"y" * 998 + b"\r\n") * 5000)
    c.close()
    # killed by the administrator in the middle
    c = open_tx(m)
    c.sendall(b"Subject: cut\r\n\r\n" + (b"z" * 998 + b"\r\n") * 5000)
    time.sleep(0.3)
    assert ctl(m, "sessions", "kill", "--ip", "127.0.0.2/32")[0] == 0
    assert "421" in ended(c, 3)
    # a whole one after all that: the only message there is
    c = open_tx(m)
    send_big(c, 3 * 1024 * 1024)
    assert read_reply(c).startswith("250")
    c.close()
    got = m.wait_maildir(1, timeout=20)
    time.sleep(0.5)
    assert len(m.maildir()) == 1 and b"x" * 998 in got[0]
    assert m.sql("select count(*) from message") == [["0"]]
    spool = os.path.join(m.dir, "var", "spool")
    assert [f for f in os.listdir(spool) if f.startswith(".partial")] == []


def test_slow_queue_holds_the_message_back(moat_factory):
    """While the queue process does not read (stopped), a message being
    received is not read on either: the smtp process's memory stays
    bounded, and the message is accepted once the queue reads again."""
    import threading
    m = moat_factory(extra="[limits]\nmax_message_size = 200M\n")
    pid = smtp_pid(m)
    qpid = [p for p, comm in m.children().items() if "queue" in comm][0]
    base = rss_kb(pid)
    c = open_tx(m)
    os.kill(qpid, signal.SIGSTOP)
    try:
        sender = threading.Thread(target=send_big, daemon=True,
                                  args=(c, 100 * 1024 * 1024))
        sender.start()
        time.sleep(3)
        grown = rss_kb(pid) - base
    finally:
        os.kill(qpid, signal.SIGCONT)
    if RSS_CHECKED:
        assert grown < 48 * 1024, "smtp process grew by %d kB" % grown
    sender.join(60)
    assert read_reply(c).startswith("250 2.0.0 Ok: queued")
    c.close()
