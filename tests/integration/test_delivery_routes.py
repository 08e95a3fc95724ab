"""Routes with failover and outbound addressing: a route (or the smarthost)
lists several hosts tried in order, an MX destination in a route keeps its
MX order, a route whose hosts are all down is tried once per host and not
once per message; outbound connections come from source_address_v4, a
host's addresses are tried in the address_preference order, and a client
certificate is presented to a TLS server that asks for one.

Peers: the scripted SMTP server of test_delivery.py, and Sink below (IPv4
or IPv6, records the address each connection came from and the subject of
the client certificate, STARTTLS with a chosen server context). DNS is
dnsmasq on loopback (test_delivery.py's fixture). Everything stays on
127.0.0.0/8 and ::1.
"""
import os
import shutil
import smtplib
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import MOAT_BIN, free_port
from test_delivery import (delivery_conf, dns, peers,  # noqa: F401
                           private_ca, queue_empty, submit, wait_for)


class Sink:
    """An SMTP server on (addr, port) that keeps what it saw.

    tls: an ssl.SSLContext offered with STARTTLS (a server that asks for
    a client certificate when its verify_mode says so). Records
    self.clients (the address of each connection), self.messages
    (mail_from, rcpts, data, address), self.peer_subjects (the subject of
    each client certificate, as a tuple of (name, value)) and
    self.tls_errors (failed handshakes).
    """

    def __init__(self, addr, port, tls=None):
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        self.sock = socket.socket(family)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, port))
        self.sock.listen(16)
        self.tls = tls
        self.clients, self.messages = [], []
        self.peer_subjects, self.tls_errors = [], []
        self.stopped = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stopped:
            try:
                c, peer = self.sock.accept()
            except OSError:
                return
            self.clients.append(peer[0])
            threading.Thread(target=self._session, args=(c, peer[0]),
                             daemon=True).start()

    def _session(self, c, peer):
        f = c.makefile("rb")
        tls_on = False

        def send(line):
            c.sendall(line.encode() + b"\r\n")
        try:
            send("220 sink.example ESMTP")
            mail, rcpts = None, []
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.decode("latin-1").rstrip("\r\n")
                verb = cmd.split(" ")[0].upper()
                if verb == "EHLO":
                    ext = ["sink.example", "8BITMIME"]
                    if self.tls and not tls_on:
                        ext.append("STARTTLS")
                    for i, l in enumerate(ext):
                        send("250%s%s" % (" " if i == len(ext) - 1 else "-",
                                           l))
                elif verb == "STARTTLS":
                    send("220 go ahead")
                    try:
                        c = self.tls.wrap_socket(c, server_side=True)
                    except (ssl.SSLError, OSError) as e:
                        self.tls_errors.append(str(e))
                        return
                    cert = c.getpeercert()
                    if cert:
                        self.peer_subjects.append(
                            tuple(kv for rdn in cert["subject"]
                                  for kv in rdn))
                    f = c.makefile("rb")
                    tls_on = True
                elif verb == "MAIL":
                    if self.tls and not tls_on:
                        send("530 5.7.0 Must issue a STARTTLS command first")
                        continue
                    mail, rcpts = cmd[10:].split(">")[0].lstrip("<"), []
                    send("250 2.1.0 ok")
                elif verb == "RCPT":
                    rcpts.append(cmd[8:].split(">")[0].lstrip("<"))
                    send("250 2.1.5 ok")
                elif verb == "DATA":
                    send("354 go")
                    data = b""
                    while True:
                        l = f.readline()
                        if not l or l == b".\r\n":
                            break
                        data += l[1:] if l.startswith(b"..") else l
                    self.messages.append((mail, rcpts, data, peer))
                    send("250 2.0.0 queued")
                elif verb == "RSET":
                    mail, rcpts = None, []
                    send("250 ok")
                elif verb == "QUIT":
                    send("221 bye")
                    return
                else:
                    send("502 5.5.2 what")
        except (OSError, ssl.SSLError) as e:
            if not tls_on and self.tls:
                self.tls_errors.append(str(e))
        finally:
            try:
                c.close()
            except OSError:
                pass

    def wait(self, count, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline and len(self.messages) < count:
            time.sleep(0.05)
        return self.messages

    def close(self):
        self.stopped = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class Silent:
    """A host that accepts connections and never says a word (a hung
    server): each attempt waits for timeout_client. Counts connections."""

    def __init__(self, addr, port):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, port))
        self.sock.listen(64)
        self.conns = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.fixture
def sinks():
    made = []

    def make(*a, **kw):
        s = Sink(*a, **kw)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


def routed(moat, rcpt):
    """Mail from outside to a routed domain."""
    submit(moat, rcpt, sender="x@outside.example", source="127.0.0.1")


def recipients(moat):
    return moat.sql("SELECT address, state, last_error FROM recipient")


def test_route_fails_over_to_the_second_host(moat_factory, dns, peers):
    """The first host of the route refuses connections: the second gets
    the mail, on the same attempt."""
    port, dead, up = free_port(), free_port(), free_port()
    srv = dns()
    peer = peers("127.0.0.13", up)
    moat = moat_factory(extra=delivery_conf(
        srv, port, "routes = corp.example=[127.0.0.12]:%d, "
        "[127.0.0.13]:%d\n" % (dead, up)))
    routed(moat, "someone@corp.example")
    got = peer.wait(1)
    assert len(got) == 1 and got[0][1] == ["someone@corp.example"], got
    assert wait_for(lambda: queue_empty(moat)), recipients(moat)
    log = moat.log()
    assert "event=hop_failed relay=127.0.0.12[127.0.0.12]:%d" % dead in log
    assert "relay=127.0.0.13[127.0.0.13]:%d" % up in log
    assert "status=deferred" not in log


def test_route_hosts_on_indented_lines_and_mx_order(moat_factory, dns,
                                                    peers):
    """A route's second destination without brackets is an MX lookup:
    its hosts are tried by preference (the better one is down) after
    the first destination (a 4xx greeting)."""
    port, first = free_port(), free_port()
    srv = dns(mx=[("inner.example", "mx2.inner.example", 20),
                  ("inner.example", "mx1.inner.example", 10)],
              hosts=[("mx1.inner.example", "127.0.0.14"),
                     ("mx2.inner.example", "127.0.0.15")])
    busy = peers("127.0.0.16", first,
                 replies={"BANNER": "421 4.3.2 too busy, try later"})
    good = peers("127.0.0.15", port)
    moat = moat_factory(extra=delivery_conf(
        srv, port, "routes = corp.example=[127.0.0.16]:%d\n"
        "  inner.example\n" % first))
    routed(moat, "someone@corp.example")
    got = good.wait(1)
    assert len(got) == 1, moat.log()
    assert busy.connections == 1 and busy.messages == []
    log = moat.log()
    order = [log.index("relay=127.0.0.16[127.0.0.16]:%d" % first),
             log.index("relay=mx1.inner.example[127.0.0.14]:%d" % port),
             log.index("relay=mx2.inner.example[127.0.0.15]:%d" % port)]
    assert order == sorted(order), log


def test_smarthost_list_fails_over(moat_factory, dns, peers):
    port, dead, up = free_port(), free_port(), free_port()
    srv = dns()
    peer = peers("127.0.0.13", up)
    moat = moat_factory(extra=delivery_conf(
        srv, port, "smarthost = [127.0.0.12]:%d, [127.0.0.13]:%d\n"
        % (dead, up)))
    submit(moat, "bob@anywhere.example")
    got = peer.wait(1)
    assert len(got) == 1 and got[0][1] == ["bob@anywhere.example"]


def test_route_all_hosts_down_one_attempt_per_host(moat_factory, dns):
    """Both hosts of the route are down (one hangs, one refuses) while a
    burst of messages comes in: one connection per host, not one per
    message; every message deferred; later ones at once."""
    port, hung, dead = free_port(), free_port(), free_port()
    srv = dns()
    silent = Silent("127.0.0.12", hung)
    try:
        moat = moat_factory(extra=delivery_conf(
            srv, port, "routes = corp.example=[127.0.0.12]:%d,"
            "[127.0.0.13]:%d\ntimeout_client = 3\n" % (hung, dead))
            .replace("retry_min = 1\n", "retry_min = 3600\n")
            .replace("retry_max = 2\n", "retry_max = 7200\n"))
        with smtplib.SMTP("127.0.0.1", moat.port) as s:
            s.ehlo("client.example")
            for i in range(5):
                s.sendmail("x@outside.example", ["n%d@corp.example" % i],
                           "Subject: %d\r\n\r\nbody\r\n" % i)
        assert moat.wait_log("event=destination_down domain=corp.example",
                             timeout=20), moat.log()
        routed(moat, "late@corp.example")
        assert wait_for(lambda: moat.sql(
            "SELECT count(*) FROM recipient WHERE state = 1") == [["6"]]), \
            recipients(moat)
        assert len(silent.conns) == 1, moat.log()
        log = moat.log()
        assert log.count("event=hop_failed") == 2, log
        assert log.count("event=hop_failed relay=127.0.0.13") == 1, log
        errors = moat.sql("SELECT DISTINCT last_error FROM recipient")
        assert len(errors) == 1 and "451 4.4.1" in errors[0][0], errors
    finally:
        silent.close()


def test_source_address_v4(moat_factory, dns, sinks):
    port, up = free_port(), free_port()
    srv = dns()
    sink = sinks("127.0.0.13", up)
    moat = moat_factory(extra=delivery_conf(
        srv, port, "routes = corp.example=[127.0.0.13]:%d\n"
        "source_address_v4 = 127.0.0.7\n" % up))
    routed(moat, "someone@corp.example")
    got = sink.wait(1)
    assert len(got) == 1 and got[0][3] == "127.0.0.7", (got, moat.log())
    assert sink.clients == ["127.0.0.7"]


def test_source_address_not_on_this_machine_defers(moat_factory, dns, sinks):
    port, up = free_port(), free_port()
    srv = dns()
    sink = sinks("127.0.0.13", up)
    moat = moat_factory(extra=delivery_conf(
        srv, port, "routes = corp.example=[127.0.0.13]:%d\n"
        "source_address_v4 = 192.0.2.55\n" % up))
    routed(moat, "someone@corp.example")
    assert wait_for(lambda: moat.sql(
        "SELECT count(*) FROM recipient WHERE state = 1") == [["1"]]), \
        recipients(moat)
    err = moat.sql("SELECT last_error FROM recipient")[0][0]
    assert "cannot send from source address 192.0.2.55" in err, err
    assert "451 4.4.1" in err
    assert sink.clients == []
    # the mta process lives on
    assert "moat-mta" in moat.children().values()
    assert "fatal" not in moat.log()


@pytest.mark.parametrize("pref,want", [("ipv6", "::1"),
                                       ("ipv4", "127.0.0.1"),
                                       ("any", "127.0.0.1")])
def test_address_preference(moat_factory, dns, sinks, pref, want):
    """A host with an A and an AAAA record, a sink on both: the
    preferred family gets the connection (any: IPv4 first)."""
    port = free_port()
    srv = dns(hosts=[("dual.corp.example", "127.0.0.1,::1")])
    v4, v6 = sinks("127.0.0.1", port), sinks("::1", port)
    moat = moat_factory(extra=delivery_conf(
        srv, port, "routes = corp.example=[dual.corp.example]\n"
        "address_preference = %s\n" % pref))
    routed(moat, "someone@corp.example")
    assert wait_for(lambda: v4.messages + v6.messages), moat.log()
    used = v6 if want == "::1" else v4
    other = v4 if used is v6 else v6
    assert len(used.messages) == 1 and other.clients == [], moat.log()


def test_address_preference_falls_back_to_the_other_family(moat_factory,
                                                           dns, sinks):
    port = free_port()
    srv = dns(hosts=[("dual.corp.example", "127.0.0.1,::1")])
    v4 = sinks("127.0.0.1", port)
    moat = moat_factory(extra=delivery_conf(
        srv, port, "routes = corp.example=[dual.corp.example]\n"
        "address_preference = ipv6\n"))
    routed(moat, "someone@corp.example")
    assert len(v4.wait(1)) == 1, moat.log()
    assert "event=hop_failed relay=dual.corp.example[::1]" in moat.log()


def client_cert(ca, d, cn):
    """A client certificate signed by the private CA; the key root's,
    mode 0600."""
    cakey = os.path.join(os.path.dirname(ca.ca), "ca.key")
    key, csr = os.path.join(d, "client.key"), os.path.join(d, "client.csr")
    cert = os.path.join(d, "client.pem")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
        "-out", csr, "-subj", "/O=Example Org/CN=%s" % cn)
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca.ca, "-CAkey", cakey,
        "-CAcreateserial", "-out", cert, "-days", "2")
    os.chmod(key, 0o600)
    os.chmod(cert, 0o644)
    return cert, key


def tls_server(ca):
    """A server context that requires a client certificate from ca."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(ca.cert, ca.key)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(ca.ca)
    return ctx


def test_tls_client_certificate_presented(moat_factory, dns, sinks,
                                          private_ca, tmp_path):
    port, up = free_port(), free_port()
    srv = dns()
    d = str(tmp_path)
    os.chmod(d, 0o755)
    cert, key = client_cert(private_ca, d, "edge.example.org")
    sink = sinks("127.0.0.21", up, tls=tls_server(private_ca))
    moat = moat_factory(extra=delivery_conf(
        srv, port, "routes = m365.example=[127.0.0.21]:%d/verify\n"
        "tls_ca_file = %s\ntls_client_cert = %s\ntls_client_key = %s\n"
        % (up, private_ca.ca, cert, key)))
    routed(moat, "someone@m365.example")
    got = sink.wait(1)
    assert len(got) == 1, (sink.tls_errors, moat.log())
    assert sink.peer_subjects == [(("organizationName", "Example Org"),
                                   ("commonName", "edge.example.org"))]
    assert ('event=client_cert path=%s subject="CN=edge.example.org,'
            'O=Example Org"' % cert) in moat.log()


def test_tls_without_client_certificate_is_deferred(moat_factory, dns,
                                                    sinks, private_ca):
    port, up = free_port(), free_port()
    srv = dns()
    sink = sinks("127.0.0.22", up, tls=tls_server(private_ca))
    moat = moat_factory(extra=delivery_conf(
        srv, port, "routes = m365.example=[127.0.0.22]:%d/verify\n"
        "tls_ca_file = %s\n" % (up, private_ca.ca)))
    routed(moat, "someone@m365.example")
    assert wait_for(lambda: moat.sql(
        "SELECT count(*) FROM recipient WHERE state = 1") == [["1"]]), \
        recipients(moat)
    assert sink.messages == [] and sink.peer_subjects == []
    assert sink.tls_errors, sink.clients


def test_check_config_refuses_client_key_of_another_cert(private_ca,
                                                         tmp_path):
    d = str(tmp_path)
    os.chmod(d, 0o755)
    cert, key = client_cert(private_ca, d, "edge.example.org")
    conf = tmp_path / "moat.conf"
    text = ("[server]\nhostname = mx.test.example\n[delivery]\n"
            "tls_client_cert = %s\ntls_client_key = %s\n")
    conf.write_text(text % (cert, private_ca.key))
    r = subprocess.run([MOAT_BIN, "check-config", "-c", str(conf)],
                       capture_output=True, text=True, timeout=15)
    assert r.returncode == 1, r
    assert r.stderr.startswith("moat: %s:5: %s:" % (conf, private_ca.key)), \
        r.stderr
    conf.write_text(text % (cert, key))
    r = subprocess.run([MOAT_BIN, "check-config", "-c", str(conf)],
                       capture_output=True, text=True, timeout=15)
    assert r.returncode == 0, r.stderr
    assert "tls_client_cert = %s" % cert in r.stdout
