"""DKIM signing (RFC 6376, RFC 8463): mail from relay clients and
authenticated users whose From domain has keys in dkim_sign gets one
signature per key, which an independent verifier (Debian's python3-dkim)
accepts with the key it fetches from DNS (dnsmasq serving the TXT records
`moat dkim keygen` printed), after the relay through the queue to a
loopback peer and after a kill -9 between accept and delivery. Mail from
outsiders and for other From domains is not signed; bad keys stop the
start with file:line."""
import os
import re
import shutil
import smtplib
import subprocess
import time

import dkim
import dns.resolver
import pytest

from conftest import MOAT_BIN, free_port
from test_delivery import (DNSMASQ, delivery_conf, dns_ready, peers,  # noqa
                           queue_empty, wait_for)


def keygen(directory, domain, selector, kind):
    """`moat dkim keygen`: the key file and the TXT record's strings."""
    r = subprocess.run([MOAT_BIN, "dkim", "keygen", domain, selector,
                        "--type", kind, "--dir", directory],
                       capture_output=True, text=True, check=True)
    path = os.path.join(directory, "%s.%s.key" % (domain, selector))
    line = r.stdout.strip()
    assert line.startswith("%s._domainkey.%s. IN TXT (" % (selector, domain))
    strings = re.findall(r'"([^"]*)"', line)
    assert all(len(s) <= 255 for s in strings)
    return path, strings


@pytest.fixture
def keys(tmp_path):
    d = str(tmp_path / "keys")
    os.mkdir(d)
    ed = keygen(d, "example.org", "ed1", "ed25519")
    rsa = keygen(d, "example.org", "rsa1", "rsa")
    return {"ed": ed, "rsa": rsa, "dir": d}


@pytest.fixture
def dkim_dns():
    """dnsmasq with MX/A records and the keys' TXT records."""
    procs = []

    def start(mx=(), hosts=(), txt=()):
        port = free_port()
        args = [DNSMASQ, "--no-daemon", "--port=%d" % port,
                "--listen-address=127.0.0.1", "--bind-interfaces",
                "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
                "--pid-file=", "--log-facility=-",
                "--local=/example/", "--local=/org/"]
        for domain, host, pref in mx:
            args.append("--mx-host=%s,%s,%d" % (domain, host, pref))
        for name, addr in hosts:
            args.append("--host-record=%s,%s" % (name, addr))
        for name, strings in txt:
            # each item one string of the record (none holds a comma)
            args.append("--txt-record=%s,%s" % (name, ",".join(strings)))
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        procs.append(p)
        assert dns_ready(port, p), "dnsmasq did not start"
        return port
    yield start
    for p in procs:
        p.terminate()
        p.wait(5)


def dnsfunc(port):
    """python3-dkim's key lookup, asking dnsmasq on port."""
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = ["127.0.0.1"]
    res.port = port

    def lookup(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        try:
            ans = res.resolve(name, "TXT", lifetime=timeout)
        except dns.exception.DNSException:
            return None
        for rr in ans:
            return b"".join(rr.strings)
        return None
    return lookup


def verify_all(data, port):
    """(domain, selector, algorithm, verified) of each DKIM-Signature."""
    d = dkim.DKIM(data)
    out = []
    n = len(re.findall(rb"(?mi)^DKIM-Signature:", data))
    for i in range(n):
        try:
            ok = d.verify(idx=i, dnsfunc=dnsfunc(port))
        except dkim.DKIMException:
            ok = False
        out.append((d.domain.decode(), d.selector.decode(),
                    d.signature_fields[b"a"].decode(), ok))
    return out


def start_edge(moat_factory, dkim_dns, peers, keys, extra="", peer_up=True):
    smtp_port = free_port()
    port = dkim_dns(
        mx=[("relay.example", "mx.relay.example", 10)],
        hosts=[("mx.relay.example", "127.0.0.7")],
        txt=[("ed1._domainkey.example.org", keys["ed"][1]),
             ("rsa1._domainkey.example.org", keys["rsa"][1])])
    peer = peers("127.0.0.7", smtp_port) if peer_up else smtp_port
    conf = delivery_conf("127.0.0.1@%d" % port, smtp_port) + (
        "[dkim]\ndkim_sign = example.org:ed1:%s,\n  example.org:rsa1:%s\n"
        "dkim_expire = 86400\n%s"
        % (keys["ed"][0], keys["rsa"][0], extra))
    moat = moat_factory(extra=conf, start=False)
    return moat, peer, port


MSG = ("From: Alice <alice@example.org>\r\n"
       "To: bob@relay.example\r\n"
       "Subject: signed   by the edge\r\n"
       "Date: Thu, 03 Dec 2026 10:00:00 +0000\r\n"
       "Message-ID: <dkim-%f@example.org>\r\n"
       "MIME-Version: 1.0\r\n"
       "Content-Type: text/plain\r\n"
       "\r\n"
       "Hello  Bob,\r\n\r\n.a line with a leading dot\r\n\r\n\r\n")


def send(moat, msg, sender="alice@example.org", rcpt="bob@relay.example",
         source="127.0.0.2"):
    with smtplib.SMTP("127.0.0.1", moat.port,
                      source_address=(source, 0)) as s:
        s.ehlo("client.example")
        s.sendmail(sender, [rcpt], msg)


def test_relay_client_mail_signed_ed25519_and_rsa(moat_factory, dkim_dns,
                                                  peers, keys):
    moat, peer, port = start_edge(moat_factory, dkim_dns, peers, keys)
    moat.start()
    send(moat, MSG % time.time())
    got = peer.wait(1)
    assert len(got) == 1, moat.log()
    data = got[0][2]
    sigs = verify_all(data, port)
    assert sigs == [("example.org", "ed1", "ed25519-sha256", True),
                    ("example.org", "rsa1", "rsa-sha256", True)], data
    # From oversigned, t= set, relaxed/relaxed
    first = data.split(b"\r\n\r\n")[0]
    assert b"h=from:" in first and b":from;" in first
    assert b"c=relaxed/relaxed" in first and b"t=" in first
    t = int(re.search(rb"t=(\d+);", first).group(1))
    assert re.search(rb"x=%d;" % (t + 86400), first)
    # the verifier can fail: a changed body or From breaks both
    bad = data.replace(b"Hello  Bob", b"Hello Eve")
    assert [s[3] for s in verify_all(bad, port)] == [False, False]
    bad = data.replace(b"From: Alice <alice@", b"From: Alice <eve@")
    assert [s[3] for s in verify_all(bad, port)] == [False, False]


def test_not_signed_for_outsiders_or_other_domains(moat_factory, dkim_dns,
                                                   peers, keys):
    moat, peer, port = start_edge(moat_factory, dkim_dns, peers, keys)
    moat.start()
    # an outsider's mail to a local mailbox
    send(moat, MSG.replace("bob@relay.example", "alice@example.org")
         % time.time(), sender="someone@elsewhere.example",
         rcpt="alice@example.org", source="127.0.0.1")
    got = moat.wait_maildir(1, "alice")
    assert len(got) == 1
    assert b"DKIM-Signature" not in got[0]
    # a relay client's mail from a domain without keys
    send(moat, MSG.replace("alice@example.org", "carol@other.example")
         % time.time(), sender="carol@other.example")
    got = peer.wait(1)
    assert len(got) == 1
    assert b"DKIM-Signature" not in got[0][2]


def test_signature_survives_kill9_before_delivery(moat_factory, dkim_dns,
                                                  peers, keys):
    """accepted and signed, killed before delivery: the restarted daemon
    delivers the message with signatures that still verify"""
    moat, smtp_port, port = start_edge(moat_factory, dkim_dns, peers, keys,
                                  peer_up=False)
    moat.start()
    send(moat, MSG % time.time())
    assert moat.wait_log("event=accepted")
    moat.kill9()
    assert moat.sql("SELECT count(*) FROM message") == [["1"]]
    peer = peers("127.0.0.7", smtp_port)
    moat.start()
    got = peer.wait(1)
    assert len(got) == 1, moat.log()
    assert [s[3] for s in verify_all(got[0][2], port)] == [True, True]


def test_key_mode_and_syntax_refused(moat_factory, keys, tmp_path):
    os.chmod(keys["ed"][0], 0o644)
    moat = moat_factory(extra="[dkim]\ndkim_sign = example.org:ed1:%s\n"
                        % keys["ed"][0], start=False)
    r = subprocess.run([MOAT_BIN, "check-config", "-c", moat.conf],
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert re.search(r"moat\.conf:\d+: dkim_sign example\.org:ed1: .*mode "
                     r"644, must be 0600", r.stderr), r.stderr
    bad = moat_factory(extra="[dkim]\ndkim_sign = example.org:ed1\n",
                       start=False)
    r = subprocess.run([MOAT_BIN, "check-config", "-c", bad.conf],
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert re.search(r"moat\.conf:\d+: dkim_sign: 'example.org:ed1' must be "
                     r"DOMAIN:SELECTOR:KEYFILE", r.stderr), r.stderr


def test_keygen_never_overwrites(keys):
    r = subprocess.run([MOAT_BIN, "dkim", "keygen", "example.org", "ed1",
                        "--type", "ed25519", "--dir", keys["dir"]],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "File exists" in r.stderr
    st = os.stat(keys["ed"][0])
    assert st.st_mode & 0o777 == 0o600
    assert keys["ed"][1][0].startswith("v=DKIM1; k=ed25519; p=")
    assert keys["rsa"][1][0].startswith("v=DKIM1; k=rsa; p=")
    assert len(keys["rsa"][1]) == 2     # 2048 bits: over 255 bytes
