"""Inbound SPF (RFC 7208, libspf2) and DMARC (RFC 7489, libopendmarc) on
an mx listener: the records come from dnsmasq, the client is 127.0.0.1
(judged like any other), and the results are read in the
Authentication-Results field of the delivered Maildir file;
DMARC p=reject failures are refused with 550 5.7.1 when dmarc_reject is
on (delivered, marked, when off), p=quarantine failures are stored held."""
import json
import smtplib
import subprocess

import pytest

from conftest import MOAT_BIN
from test_dkim import authres_of, dkim_dns, keys, signed  # noqa: F401

SPF = [
    # pass by ip4; by include, a, mx; fail and softfail; one lookup too many
    ("pass.example", ["v=spf1 ip4:192.0.2.0/24 ip4:127.0.0.1 -all"]),
    ("inc.example", ["v=spf1 include:_spf.inc.example -all"]),
    ("_spf.inc.example", ["v=spf1 mx a:none.inc.example ~all"]),
    ("fail.example", ["v=spf1 ip4:192.0.2.1 -all"]),
    ("soft.example", ["v=spf1 ip4:192.0.2.1 ~all"]),
    ("loop.example", ["v=spf1 include:loop.example -all"]),
    ("ping.example", ["v=spf1 include:pong.example -all"]),
    ("pong.example", ["v=spf1 include:ping.example -all"]),
    ("helo.example", ["v=spf1 a -all"]),
    # DMARC: policies by domain; sub.pass.example falls back to the
    # organizational domain's record and its sp=
    ("_dmarc.pass.example", ["v=DMARC1; p=reject; sp=quarantine"]),
    ("_dmarc.fail.example", ["v=DMARC1; p=reject"]),
    ("_dmarc.soft.example", ["v=DMARC1; p=quarantine"]),
    ("_dmarc.net.example", ["v=DMARC1; p=none"]),
]
HOSTS = [("mx1.inc.example", "127.0.0.1"), ("helo.example", "127.0.0.1")]
MX = [("_spf.inc.example", "mx1.inc.example", 10)]


def edge(moat_factory, dkim_dns, extra=""):
    port = dkim_dns(txt=SPF, hosts=HOSTS, mx=MX)
    return moat_factory(extra="[delivery]\ndns_server = 127.0.0.1@%d\n"
                        "[authentication]\n%s" % (port, extra))


def msg(frm, subject):
    return ("From: <%s>\r\nTo: alice@example.org\r\nSubject: %s\r\n"
            "Message-ID: <%s@t>\r\n\r\nbody\r\n" % (frm, subject, subject)
            ).encode()


def send(moat, sender, frm, subject, helo="client.example"):
    with smtplib.SMTP("127.0.0.1", moat.port, timeout=30) as s:
        s.ehlo(helo)
        s.sendmail(sender, ["alice@example.org"], msg(frm, subject))


def delivered(moat, n):
    got = moat.wait_maildir(n, "alice")
    assert len(got) == n, moat.log()
    by = {}
    for m in got:
        for line in m.split(b"\n"):
            if line.startswith(b"Subject: "):
                by[line[9:].strip().decode()] = authres_of(m)
    return by


def test_spf_pass_fail_softfail_none_and_errors(moat_factory, dkim_dns):
    moat = edge(moat_factory, dkim_dns)
    send(moat, "bob@pass.example", "bob@pass.example", "pass")
    send(moat, "bob@inc.example", "bob@inc.example", "include")
    send(moat, "bob@fail.example", "bob@x.example", "fail")
    send(moat, "bob@soft.example", "bob@x.example", "soft")
    send(moat, "bob@nothing.example", "bob@x.example", "none")
    send(moat, "bob@loop.example", "bob@x.example", "loop")
    send(moat, "bob@ping.example", "bob@x.example", "pingpong")
    send(moat, "", "bob@x.example", "bounce", helo="helo.example")
    by = delivered(moat, 8)
    ar = {k: v[0] for k, v in by.items()}
    assert "; spf=pass smtp.mailfrom=bob@pass.example;" in ar["pass"], ar
    assert "; spf=pass smtp.mailfrom=bob@inc.example;" in ar["include"], ar
    assert "; spf=fail smtp.mailfrom=bob@fail.example;" in ar["fail"], ar
    assert "; spf=softfail smtp.mailfrom=bob@soft.example;" in ar["soft"]
    assert "; spf=none smtp.mailfrom=bob@nothing.example;" in ar["none"]
    assert '; spf=permerror reason="include loop" ' \
        "smtp.mailfrom=bob@loop.example;" in ar["loop"], ar
    # libspf2 counts per record: the limit over both is the layer's
    assert '; spf=permerror reason="too many DNS lookups" ' \
        "smtp.mailfrom=bob@ping.example;" in ar["pingpong"], ar
    # the null sender: the HELO name's record
    assert "; spf=pass smtp.helo=helo.example;" in ar["bounce"], ar
    assert 'results="spf=pass/pass.example' in moat.log()


def test_dmarc_pass_none_and_fail_delivered_without_reject(moat_factory,
                                                          dkim_dns):
    moat = edge(moat_factory, dkim_dns, "dmarc_quarantine = no\n")
    send(moat, "bob@pass.example", "bob@pass.example", "aligned")
    send(moat, "bob@pass.example", "bob@sub.pass.example", "relaxed")
    send(moat, "bob@fail.example", "bob@fail.example", "reject")
    send(moat, "bob@pass.example", "bob@nothing.example", "norecord")
    send(moat, "bob@soft.example", "bob@net.example", "pnone")
    by = delivered(moat, 5)
    ar = {k: v[0] for k, v in by.items()}
    assert ar["aligned"].endswith(
        "; dmarc=pass (p=reject) header.from=pass.example"), ar
    # the organizational domain's record (relaxed alignment, its sp=)
    assert ar["relaxed"].endswith(
        "; dmarc=pass (p=quarantine) header.from=sub.pass.example"), ar
    # p=reject, SPF fail, no signature: delivered, marked
    assert ar["reject"].endswith(
        "; dmarc=fail (p=reject) header.from=fail.example"), ar
    assert ar["norecord"].endswith(
        "; dmarc=none header.from=nothing.example"), ar
    assert ar["pnone"].endswith(
        "; dmarc=fail (p=none) header.from=net.example"), ar


def test_dmarc_reject_refused_with_550(moat_factory, dkim_dns):
    moat = edge(moat_factory, dkim_dns, "dmarc_reject = yes\n")
    with smtplib.SMTP("127.0.0.1", moat.port, timeout=30) as s:
        s.ehlo("client.example")
        with pytest.raises(smtplib.SMTPDataError) as e:
            s.sendmail("bob@fail.example", ["alice@example.org"],
                       msg("bob@fail.example", "refused"))
        assert e.value.smtp_code == 550
        assert e.value.smtp_error.startswith(b"5.7.1"), e.value.smtp_error
        # the session goes on: an aligned message is taken
        s.sendmail("bob@pass.example", ["alice@example.org"],
                   msg("bob@pass.example", "taken"))
    by = delivered(moat, 1)
    assert list(by) == ["taken"], by
    assert "event=dmarc_reject" in moat.log()


def held(moat):
    r = subprocess.run([MOAT_BIN, "queue", "list", "--state", "held",
                        "--json", "-c", moat.conf], cwd=moat.dir,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["messages"]


def test_dmarc_quarantine_held(moat_factory, dkim_dns):
    moat = edge(moat_factory, dkim_dns)
    send(moat, "bob@soft.example", "bob@soft.example", "quarantined")
    send(moat, "bob@pass.example", "bob@pass.example", "clean")
    by = delivered(moat, 1)
    assert list(by) == ["clean"], by
    h = held(moat)
    assert len(h) == 1, (h, moat.log())
    assert "event=dmarc_hold" in moat.log()


def test_dkim_aligned_passes_dmarc_despite_spf_fail(moat_factory, dkim_dns,
                                                    keys):
    """DKIM alone: a signature of example.net, the From domain, passes
    DMARC though the envelope's SPF fails"""
    txt = SPF + [("rsa1._domainkey.example.net", keys["rsa"][1]),
                 ("_dmarc.example.net", ["v=DMARC1; p=reject; adkim=s"])]
    port = dkim_dns(txt=txt, hosts=HOSTS, mx=MX)
    moat = moat_factory(extra="[delivery]\ndns_server = 127.0.0.1@%d\n"
                        "[authentication]\ndmarc_reject = yes\n" % port)
    with smtplib.SMTP("127.0.0.1", moat.port, timeout=30) as s:
        s.ehlo("client.example")
        s.sendmail("bob@fail.example", ["alice@example.org"], signed(keys))
    got = moat.wait_maildir(1, "alice")
    assert len(got) == 1, moat.log()
    ar = authres_of(got[0])[0]
    assert "spf=fail" in ar and "dkim=pass header.d=example.net" in ar, ar
    assert ar.endswith("; dmarc=pass (p=reject) header.from=example.net"), ar


def test_checks_off(moat_factory, dkim_dns):
    moat = edge(moat_factory, dkim_dns, "spf_check = no\ndmarc_check = no\n")
    send(moat, "bob@fail.example", "bob@fail.example", "off")
    ar = delivered(moat, 1)["off"]
    assert ar == ["Authentication-Results: mx.test.example; dkim=none"], ar


def test_silent_dns_blocks_no_other_session(moat_factory):
    """a DNS server that never answers: the message waits at the dot (at
    most 10 s), is taken with spf=temperror, and meanwhile another
    session is served at once"""
    import socket
    import threading
    import time

    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    port = udp.getsockname()[1]
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("127.0.0.1", port))
    tcp.listen(64)      # never accepted, never answered
    try:
        moat = moat_factory(extra="[delivery]\ndns_server = 127.0.0.1@%d\n"
                            % port)
        done = {}

        def slow():
            t = time.time()
            send(moat, "bob@slow.example", "bob@slow.example", "slow")
            done["took"] = time.time() - t
        th = threading.Thread(target=slow)
        th.start()
        time.sleep(1)
        t = time.time()
        with smtplib.SMTP("127.0.0.1", moat.port, timeout=30) as s:
            s.ehlo("other.example")
            s.mail("carol@other.example")
            s.rcpt("alice@example.org")
            s.rset()
        assert time.time() - t < 2, time.time() - t
        th.join(60)
        assert 8 < done["took"] < 15, done
        ar = delivered(moat, 1)["slow"][0]
        assert '; spf=temperror reason="timed out" ' \
            "smtp.mailfrom=bob@slow.example;" in ar, ar
        assert ar.endswith("; dmarc=temperror header.from=slow.example"), ar
    finally:
        udp.close()
        tcp.close()
