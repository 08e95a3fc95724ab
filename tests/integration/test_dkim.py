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
import ssl
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
                "--local=/example/", "--local=/org/", "--local=/net/"]
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


# ---- inbound: signatures of mail from outside checked on mx ----

def inbound_edge(moat_factory, dkim_dns, keys, extra="", domains=None):
    """an edge whose mx checks signatures; the keys are published for
    example.org and example.net"""
    txt = []
    for d in ("example.org", "example.net"):
        txt += [("rsa1._domainkey." + d, keys["rsa"][1]),
                ("ed1._domainkey." + d, keys["ed"][1])]
    port = dkim_dns(txt=txt)
    kw = {"domains": domains} if domains else {}
    return moat_factory(extra="[delivery]\ndns_server = 127.0.0.1@%d\n%s"
                        % (port, extra), **kw)


def signed(keys, body=b"Hello Alice,\r\n\r\nsee you.\r\n",
           canon=(b"relaxed", b"simple"), length=False):
    """a message signed by python3-dkim as example.net, RSA, with a forged
    Authentication-Results field in the inbound edge's name and one of
    another authserv-id"""
    msg = (b"From: Bob <bob@example.net>\r\n"
           b"To: alice@example.org\r\n"
           b"Subject: inbound check\r\n"
           b"Message-ID: <in-%f@example.net>\r\n"
           b"Authentication-Results: mx.test.example; dkim=pass "
           b"header.d=forged.example\r\n"
           b"Authentication-Results: other.example; spf=pass\r\n"
           b"\r\n" % time.time()) + body
    with open(keys["rsa"][0], "rb") as f:
        key = f.read()
    return dkim.sign(msg, b"rsa1", b"example.net", key, canonicalize=canon,
                     include_headers=[b"from", b"to", b"subject",
                                      b"message-id"], length=length) + msg


def deliver_in(moat, msg, rcpt="alice@example.org"):
    with smtplib.SMTP("127.0.0.1", moat.port) as s:
        s.ehlo("sender.example")
        s.sendmail("bob@example.net", [rcpt], msg)


def authres_of(data):
    head = re.split(rb"\r?\n\r?\n", data)[0].decode()
    fields = re.findall(r"(?ms)^Authentication-Results:.*?(?=^\S|\Z)", head)
    return [re.sub(r"\s+", " ", f).strip() for f in fields]


def test_inbound_dkim_pass_fail_none_and_forged_removed(moat_factory,
                                                         dkim_dns, keys):
    moat = inbound_edge(moat_factory, dkim_dns, keys)
    deliver_in(moat, signed(keys))
    # the body changed after signing: the body hash fails
    deliver_in(moat, signed(keys).replace(b"see you.", b"send money."))
    deliver_in(moat, b"From: eve@example.net\r\nSubject: plain\r\n\r\n"
               b"hi\r\n")
    got = moat.wait_maildir(3, "alice")
    assert len(got) == 3, moat.log()
    by = {}
    for m in got:
        kind = "plain" if b"Subject: plain" in m else \
            "bad" if b"send money" in m else "good"
        by[kind] = authres_of(m)
    for kind in ("good", "bad"):
        # ours first, the other authserv-id's kept, the forged one in our
        # name removed
        assert len(by[kind]) == 2, by[kind]
        assert by[kind][1] == \
            "Authentication-Results: other.example; spf=pass"
    assert "; dkim=pass header.d=example.net header.s=rsa1 " \
        "header.a=rsa-sha256" in by["good"][0], by["good"]
    assert '; dkim=fail reason="body hash did not verify" ' \
        "header.d=example.net" in by["bad"][0], by["bad"]
    # SPF and DMARC too: example.net publishes neither
    assert by["plain"] == ["Authentication-Results: mx.test.example; "
                           "spf=none smtp.mailfrom=bob@example.net; "
                           "dkim=none; dmarc=none header.from=example.net"]
    got = [m for m in got if b"see you" in m]
    # our field right below our Received
    assert re.match(rb"Return-Path: [^\n]*\nReceived: [^\n]*\n(\s[^\n]*\n)*"
                    rb"Authentication-Results: mx.test.example;", got[0]), \
        got[0]
    assert "event=authres" in moat.log()


def test_inbound_dkim_of_moat_signed_mail(moat_factory, dkim_dns, keys):
    """mail one moat signs (Ed25519 and RSA) passes another's check"""
    inbound = inbound_edge(
        moat_factory, dkim_dns, keys,
        "[authentication]\nauthserv_id = in.example\n",
        domains="[domains]\nlocal_domains = other.example\n"
                "mailboxes = postmaster, alice\n")
    sender = moat_factory(extra=(
        "[relay]\nrelay_networks = 127.0.0.2/32\n"
        "[delivery]\nroutes = other.example=[127.0.0.1]:%d\n"
        "retry_min = 1\n"
        "[dkim]\ndkim_sign = example.org:ed1:%s,\n  example.org:rsa1:%s\n"
        % (inbound.port, keys["ed"][0], keys["rsa"][0])), start=False)
    # another name than the inbound edge's, or the relay is a loop
    with open(sender.conf) as f:
        text = f.read()
    with open(sender.conf, "w") as f:
        f.write(text.replace("hostname = mx.test.example",
                             "hostname = out.test.example"))
    sender.start()
    msg = (MSG % time.time()).replace("bob@relay.example",
                                      "alice@other.example")
    send(sender, msg, rcpt="alice@other.example")
    got = inbound.wait_maildir(1, "alice")
    assert len(got) == 1, sender.log() + inbound.log()
    ar = authres_of(got[0])
    assert len(ar) == 1 and ar[0].startswith(
        "Authentication-Results: in.example;"), ar
    assert "dkim=pass header.d=example.org header.s=ed1 " \
        "header.a=ed25519-sha256" in ar[0], ar
    assert "dkim=pass header.d=example.org header.s=rsa1 " \
        "header.a=rsa-sha256" in ar[0], ar


def test_inbound_key_missing_or_off(moat_factory, dkim_dns, keys):
    moat = inbound_edge(moat_factory, dkim_dns, keys)
    deliver_in(moat, signed(keys).replace(b"s=rsa1", b"s=gone"))
    got = moat.wait_maildir(1, "alice")
    assert 'dkim=permerror reason="no key" header.d=example.net ' \
        "header.s=gone" in authres_of(got[0])[0], authres_of(got[0])
    off = inbound_edge(moat_factory, dkim_dns, keys,
                       "[authentication]\ndkim_verify = no\n"
                       "spf_check = no\ndmarc_check = no\n")
    deliver_in(off, signed(keys))
    got = off.wait_maildir(1, "alice")
    # nothing of ours, but the field forged in our name is removed all
    # the same (RFC 8601 5); another authserv-id's stays
    assert authres_of(got[0]) == [
        "Authentication-Results: other.example; spf=pass"], \
        authres_of(got[0])
    assert "event=authres_forged_removed" in off.log()
    assert "count=1" in off.log()


def test_inbound_dkim_length_tag_said(moat_factory, dkim_dns, keys):
    """a signature with l= that verifies: the pass says the body was only
    partly signed (RFC 6376 8.2), and text appended after signing still
    passes with that reason"""
    moat = inbound_edge(moat_factory, dkim_dns, keys)
    deliver_in(moat, signed(keys, length=True) + b"appended later\r\n")
    got = moat.wait_maildir(1, "alice")
    assert len(got) == 1, moat.log()
    ar = authres_of(got[0])[0]
    assert '; dkim=pass reason="body partly signed (l=)" ' \
        "header.d=example.net header.s=rsa1" in ar, ar


def test_authenticated_user_mail_signed(moat_factory, dkim_dns, keys,
                                        tls_files):
    """submission with STARTTLS and AUTH: the user's mail is signed (here
    delivered to a local Maildir, so the check reads it back in CRLF)"""
    port = dkim_dns(txt=[("ed1._domainkey.example.org", keys["ed"][1])])
    moat = moat_factory(
        listeners=[("mx", "mx", ""), ("sub", "submission", "")],
        users={"alice": "correct horse"},
        extra="[dkim]\ndkim_sign = example.org:ed1:%s\n" % keys["ed"][0])
    ctx = ssl.create_default_context(cafile=tls_files[0])
    with smtplib.SMTP("127.0.0.1", moat.ports["sub"], timeout=10) as s:
        s.ehlo("client.example")
        s.starttls(context=ctx)
        s.ehlo("client.example")
        s.login("alice", "correct horse")
        s.sendmail("alice@example.org", ["bob@example.org"],
                   (MSG % time.time()).replace("bob@relay.example",
                                               "bob@example.org"))
    got = moat.wait_maildir(1, "bob")
    assert len(got) == 1, moat.log()
    data = got[0].replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    data = data.split(b"\r\n", 1)[1]        # the Return-Path line of delivery
    assert verify_all(data, port) == [("example.org", "ed1",
                                       "ed25519-sha256", True)]


def test_user_gets_no_signature_on_an_address_not_its_own(moat_factory,
                                                          dkim_dns, keys,
                                                          tls_files):
    """A user (AUTH, or moat sendmail by its login) gets our signature
    only on a From it may send as; a section with two From fields, whose
    shown one a receiver picks, is signed for nobody."""
    dkim_dns(txt=[("ed1._domainkey.example.org", keys["ed"][1])])
    moat = moat_factory(
        listeners=[("mx", "mx", ""), ("sub", "submission", "")],
        users={"alice": "correct horse"},
        extra="[dkim]\ndkim_sign = example.org:ed1:%s\n" % keys["ed"][0])
    ctx = ssl.create_default_context(cafile=tls_files[0])
    body = (MSG % time.time()).replace("bob@relay.example", "bob@example.org")
    msgs = [body.replace("Alice <alice@example.org>", "CEO <ceo@example.org>"),
            "From: <ceo@example.org>\r\n" + body]
    with smtplib.SMTP("127.0.0.1", moat.ports["sub"], timeout=10) as s:
        s.ehlo("client.example")
        s.starttls(context=ctx)
        s.ehlo("client.example")
        s.login("alice", "correct horse")
        for m in msgs:
            s.sendmail("alice@example.org", ["bob@example.org"], m)
        s.sendmail("alice@example.org", ["bob@example.org"], body)
    got = moat.wait_maildir(3, "bob")
    signed = [m for m in got if b"DKIM-Signature:" in m]
    assert len(got) == 3 and len(signed) == 1, moat.log()
    assert b"From: Alice <alice@example.org>" in signed[0]
