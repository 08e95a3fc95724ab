"""Real filters from Debian behind moat's milter client: rspamd in milter
mode (GTUBE refused with rspamd's reply, a clean message delivered with
rspamd's headers) and opendkim signing (the delivered message carries a
DKIM-Signature of the test domain that verifies with the key opendkim
made)."""
import re
import smtplib

import dkim
import pytest

from filters import OpenDKIM, Rspamd

GTUBE = ("XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*"
         "C.34X")


@pytest.fixture(scope="module")
def rspamd():
    r = Rspamd().start()
    yield r
    r.stop()


def start(moat_factory, *filters, extra=""):
    names = []
    for i, f in enumerate(filters):
        names.append("f%d" % i)
        extra += "[milter f%d]\nsocket = %s\ncommand_timeout = 30\n" \
                 "eom_timeout = 60\n" % (i, f.socket_spec)
    return moat_factory(extra=extra, listeners=[
        ("mx", "mx", "milters = " + ", ".join(names))])


def message(body, sender="alice@outside.example"):
    return ("From: %s\r\nTo: postmaster@example.org\r\n"
            "Subject: filter test\r\nMessage-ID: <t1@outside.example>\r\n"
            "Date: Thu, 03 Dec 2026 10:00:00 +0000\r\n\r\n%s\r\n"
            % (sender, body)).encode()


def test_rspamd_rejects_gtube(moat_factory, rspamd):
    moat = start(moat_factory, rspamd)
    with smtplib.SMTP("127.0.0.1", moat.port, timeout=60) as s:
        s.ehlo("client.example")
        s.mail("alice@outside.example")
        assert s.rcpt("postmaster@example.org")[0] == 250, moat.log()
        code, reply = s.data(message("This is spam.\r\n" + GTUBE))
    assert code == 554, (code, reply)
    assert reply == b"5.7.1 Gtube pattern", reply      # rspamd's own
    assert moat.maildir() == []
    assert "event=milter_reject" in moat.log()


def test_rspamd_headers_on_a_clean_message(moat_factory, rspamd):
    moat = start(moat_factory, rspamd)
    with smtplib.SMTP("127.0.0.1", moat.port, timeout=60) as s:
        s.ehlo("client.example")
        code, reply = s.sendmail("alice@outside.example",
                                 ["postmaster@example.org"],
                                 message("A perfectly normal message.")), \
            None
    got = moat.wait_maildir(1, timeout=20)
    assert len(got) == 1
    head = got[0].split(b"\n\n")[0]
    assert re.search(rb"^X-Spamd-Result: default: False \[", head, re.M), \
        head
    assert re.search(rb"^X-Rspamd-Queue-Id: [0-9a-f]{12}$", head, re.M), \
        head


def test_opendkim_signs(moat_factory):
    dk = OpenDKIM("example.org").start()
    try:
        # the internal server relays through moat: it may use our domain
        moat = start(moat_factory, dk,
                     extra="[relay]\nrelay_networks = 127.0.0.1/32\n")
        with smtplib.SMTP("127.0.0.1", moat.port, timeout=60) as s:
            s.ehlo("client.example")
            s.sendmail("bob@example.org", ["postmaster@example.org"],
                       message("Signed by opendkim.", "bob@example.org"))
        got = moat.wait_maildir(1, timeout=20)
        assert len(got) == 1
        msg = got[0]
        sig = re.search(rb"^DKIM-Signature: (.*?)\n(?=\S)", msg,
                        re.M | re.S)
        assert sig, msg[:600]
        assert re.search(rb"\bd=example\.org;", sig.group(1))
        assert re.search(rb"\bs=test;", sig.group(1))
        # verify it with the public key opendkim wrote
        with open(dk.txt) as f:
            txt = "".join(re.findall(r'"([^"]*)"', f.read()))
        # the Maildir file starts with the Return-Path the queue adds
        raw = msg.split(b"\n", 1)[1] if msg.startswith(b"Return-Path") \
            else msg
        raw = raw.replace(b"\n", b"\r\n")
        assert dkim.verify(raw, dnsfunc=lambda name, timeout=5:
                           txt.encode()), "signature does not verify"
    finally:
        dk.stop()
