"""Routes with failover and outbound addressing: a route (or the smarthost)
lists several hosts tried in order, an MX destination in a route keeps its
MX order, a route whose hosts are all down is tried once per host and not
once per message; outbound connections come from source_address_v4, a
host's addresses are tried in the address_preference order, and a client
certificate is presented to a TLS server that asks for one.

Peers: the scripted SMTP server of test_delivery.py (IPv4 or IPv6; it
records the address each connection came from and the subject of the
client certificate, STARTTLS with a chosen server context), and a host
that accepts and never answers. DNS is dnsmasq on loopback
(test_delivery.py's fixture). Everything stays on 127.0.0.0/8 and ::1.
"""
import os
import smtplib
import socket
import ssl
import subprocess
import threading

import pytest

from conftest import MOAT_BIN, free_port
from test_delivery import (delivery_conf, dns, peers,  # noqa: F401
                           private_ca, queue_empty, submit, wait_for)


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


def routed(moat, rcpt):
    """Mail from outside to a routed domain."""
    submit(moat, rcpt, sender="x@outside.example", source="127.0.0.1")


def recipients(moat):
    return moat.sql("SELECT address, state, last_error FROM recipient")


def all_deferred(moat, n):
    """True once n recipients are deferred (state 1)."""
    return wait_for(lambda: moat.sql(
        "SELECT count(*) FROM recipient WHERE state = 1") == [[str(n)]])


def routed_to_peer(moat_factory, dns, peers, addr, extra, tls=None,
                   mode=""):
    """A daemon routing corp.example to a peer on addr; extra: more
    [delivery] lines; mode: the route's TLS suffix."""
    up = free_port()
    peer = peers(addr, up, tls=tls)
    moat = moat_factory(extra=delivery_conf(
        dns(), free_port(), "routes = corp.example=[%s]:%d%s\n%s"
        % (addr, up, mode, extra)))
    return moat, peer


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
        assert all_deferred(moat, 6), recipients(moat)
        assert len(silent.conns) == 1, moat.log()
        log = moat.log()
        assert log.count("event=hop_failed") == 2, log
        assert log.count("event=hop_failed relay=127.0.0.13") == 1, log
        errors = moat.sql("SELECT DISTINCT last_error FROM recipient")
        assert len(errors) == 1 and "451 4.4.1" in errors[0][0], errors
    finally:
        silent.close()


def test_source_address_v4(moat_factory, dns, peers):
    moat, peer = routed_to_peer(moat_factory, dns, peers, "127.0.0.13",
                                "source_address_v4 = 127.0.0.7\n")
    routed(moat, "someone@corp.example")
    assert len(peer.wait(1)) == 1, moat.log()
    assert peer.clients == ["127.0.0.7"]


def test_source_address_not_on_this_machine_defers(moat_factory, dns, peers):
    moat, peer = routed_to_peer(moat_factory, dns, peers, "127.0.0.13",
                                "source_address_v4 = 192.0.2.55\n")
    routed(moat, "someone@corp.example")
    assert all_deferred(moat, 1), recipients(moat)
    err = moat.sql("SELECT last_error FROM recipient")[0][0]
    assert "cannot send from source address 192.0.2.55" in err, err
    assert "451 4.4.1" in err
    assert peer.clients == []
    # the mta process lives on
    assert "moat-mta" in moat.children().values()
    assert "fatal" not in moat.log()


def test_source_address_per_family(moat_factory, dns, peers):
    """source_address_v4 binds IPv4 connections only: an IPv6 host is
    reached from source_address_v6 (here ::1), the v4 one (not on this
    machine) never used; a v6 source not on this machine defers."""
    moat, peer = routed_to_peer(moat_factory, dns, peers, "::1",
                                "source_address_v4 = 192.0.2.55\n"
                                "source_address_v6 = ::1\n")
    routed(moat, "someone@corp.example")
    assert len(peer.wait(1)) == 1, moat.log()
    assert peer.clients == ["::1"]
    moat, peer = routed_to_peer(moat_factory, dns, peers, "::1",
                                "source_address_v6 = 2001:db8::55\n")
    routed(moat, "someone@corp.example")
    assert all_deferred(moat, 1), recipients(moat)
    err = moat.sql("SELECT last_error FROM recipient")[0][0]
    assert "cannot send from source address 2001:db8::55" in err, err
    assert peer.clients == []


@pytest.mark.parametrize("pref,want", [("ipv6", "::1"),
                                       ("ipv4", "127.0.0.1"),
                                       ("any", "127.0.0.1")])
def test_address_preference(moat_factory, dns, peers, pref, want):
    """A host with an A and an AAAA record, a peer on both: the
    preferred family gets the connection (any: IPv4 first)."""
    port = free_port()
    srv = dns(hosts=[("dual.corp.example", "127.0.0.1,::1")])
    v4, v6 = peers("127.0.0.1", port), peers("::1", port)
    moat = moat_factory(extra=delivery_conf(
        srv, port, "routes = corp.example=[dual.corp.example]\n"
        "address_preference = %s\n" % pref))
    routed(moat, "someone@corp.example")
    assert wait_for(lambda: v4.messages + v6.messages), moat.log()
    used = v6 if want == "::1" else v4
    other = v4 if used is v6 else v6
    assert len(used.messages) == 1 and other.clients == [], moat.log()


def test_address_preference_falls_back_to_the_other_family(moat_factory,
                                                           dns, peers):
    port = free_port()
    srv = dns(hosts=[("dual.corp.example", "127.0.0.1,::1")])
    v4 = peers("127.0.0.1", port)
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


def test_tls_client_certificate_presented(moat_factory, dns, peers,
                                          private_ca, tmp_path):
    d = str(tmp_path)
    os.chmod(d, 0o755)
    cert, key = client_cert(private_ca, d, "edge.example.org")
    moat, peer = routed_to_peer(
        moat_factory, dns, peers, "127.0.0.21",
        "tls_ca_file = %s\ntls_client_cert = %s\ntls_client_key = %s\n"
        % (private_ca.ca, cert, key), tls=tls_server(private_ca),
        mode="/verify")
    routed(moat, "someone@corp.example")
    assert len(peer.wait(1)) == 1, (peer.tls_errors, moat.log())
    assert peer.peer_subjects == [(("organizationName", "Example Org"),
                                   ("commonName", "edge.example.org"))]
    assert ('event=client_cert path=%s subject="CN=edge.example.org,'
            'O=Example Org"' % cert) in moat.log()


def test_tls_without_client_certificate_is_deferred(moat_factory, dns,
                                                    peers, private_ca):
    moat, peer = routed_to_peer(
        moat_factory, dns, peers, "127.0.0.22",
        "tls_ca_file = %s\n" % private_ca.ca, tls=tls_server(private_ca),
        mode="/verify")
    routed(moat, "someone@corp.example")
    assert all_deferred(moat, 1), recipients(moat)
    assert peer.messages == [] and peer.peer_subjects == []
    assert peer.tls_errors, peer.clients


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
