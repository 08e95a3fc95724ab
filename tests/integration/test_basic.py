"""The receive path end to end: smtplib and swaks against the real daemon."""
import smtplib
import ssl
import subprocess
import os

import pytest


def test_local_delivery_smtplib(moat):
    with smtplib.SMTP("127.0.0.1", moat.port) as s:
        code, _ = s.ehlo("client.example")
        assert code == 250
        s.sendmail("sender@outside.example", ["postmaster@localhost"],
                   b"Subject: hello\r\n\r\nfirst line\r\n.leading dot\r\n")
    msgs = moat.wait_maildir(1)
    assert len(msgs) == 1
    m = msgs[0]
    assert m.startswith(b"Return-Path: <sender@outside.example>\n")
    assert b"Received: from client.example ([127.0.0.1])" in m
    assert b"\n.leading dot\n" in m      # dot-unstuffed, LF line ends
    assert b"\r\n" not in m


def test_swaks_delivery(moat):
    r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % moat.port,
                        "--to", "alice@example.org", "--from", "x@y.example"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "250 2.0.0 Ok: queued as" in r.stdout
    assert len(moat.wait_maildir(1, "alice")) == 1


def test_unknown_user_rejected_at_rcpt(moat):
    with smtplib.SMTP("127.0.0.1", moat.port) as s:
        s.ehlo()
        s.mail("a@b.example")
        code, msg = s.rcpt("nobody@localhost")
        assert code == 550 and b"5.1.1" in msg


def test_relay_denied_for_outsider(moat):
    with smtplib.SMTP("127.0.0.1", moat.port) as s:
        s.ehlo()
        s.mail("a@b.example")
        code, msg = s.rcpt("victim@elsewhere.example")
        assert code == 554 and b"5.7.1" in msg and b"Relay access denied" in msg
    assert moat.wait_log("event=relay_denied")


def test_relay_network_queues_outbound(moat_factory):
    from conftest import free_port
    # the outbound peer is a closed loopback port: the mail stays queued
    moat = moat_factory(extra="[relay]\nrelay_networks = 127.0.0.2/32\n"
                              "[delivery]\nsmarthost = [127.0.0.1]:%d\n"
                              "retry_min = 3600\n" % free_port())
    with smtplib.SMTP("127.0.0.1", moat.port,
                      source_address=("127.0.0.2", 0)) as s:
        s.ehlo()
        s.sendmail("a@example.org", ["far@elsewhere.example"],
                   b"Subject: out\r\n\r\nbody\r\n")
    rows = moat.sql("select r.address, r.domain, r.state in (0, 1) "
                    "from recipient r")
    assert rows == [["far@elsewhere.example", "elsewhere.example", "1"]]
    rows = moat.sql("select sender, client_ip from message")
    assert rows == [["a@example.org", "127.0.0.2"]]


def test_vrfy_reveals_nothing_expn_refused(moat):
    with smtplib.SMTP("127.0.0.1", moat.port) as s:
        s.ehlo()
        assert s.verify("postmaster")[0] == 252
        assert s.verify("nobody")[0] == 252
        assert s.expn("staff")[0] == 502


def test_sigterm_exits_zero(moat):
    assert moat.stop() == 0
    assert "event=stopped status=0" in moat.log()
