"""Aliases (aliases_file) and the role addresses, end to end: a real moat
on loopback takes RCPTs from an outside client (127.0.0.1, not in
relay_networks) and delivers what an alias names: local Maildirs, the
route of an internal domain (a scripted SMTP server standing in for the
internal server), an outside address only from an "external" line (its
MX found through dnsmasq). A bad aliases file is "file:line: what" and
no start; a reload with a bad file keeps the aliases it had.
postmaster@ and abuse@ of every local and routed domain, and the bare
<postmaster>, go to role_mailbox unless an alias names them.
"""
import os
import signal
import smtplib
import subprocess
import time

from conftest import MOAT_BIN, free_port
from test_delivery import delivery_conf, dns, peers, wait_for  # noqa: F401

# no "postmaster" mailbox: a source that names postmaster@ would win
# over role_mailbox
LOCAL = "[domains]\nlocal_domains = localhost, example.org\n" \
        "mailboxes = alice, bob, carol\n"


def aliases_conf(moat_dir, text, role=None):
    """Write the aliases file under moat_dir; the [domains] lines."""
    path = os.path.join(moat_dir, "aliases")
    with open(path, "w") as f:
        f.write(text)
    return LOCAL + "aliases_file = %s\n" % path + \
        ("role_mailbox = %s\n" % role if role else "")


def start(moat_factory, dns, peers, text, role=None, routes=True,
          mx=(), hosts=()):
    """A daemon with aliases text, corp.example routed to a scripted
    server on 127.0.0.12; returns (moat, internal server, peer port)."""
    port, inner = free_port(), free_port()
    srv = dns(mx=mx, hosts=hosts)
    internal = peers("127.0.0.12", inner)
    moat = moat_factory(extra=delivery_conf(
        srv, port, "routes = corp.example=[127.0.0.12]:%d\n" % inner
        if routes else ""), domains=LOCAL, start=False)
    with open(moat.conf) as f:
        conf = f.read()
    conf = conf.replace(LOCAL, aliases_conf(moat.dir, text, role))
    with open(moat.conf, "w") as f:
        f.write(conf)
    moat.start()
    return moat, internal, port


def rcpt_codes(moat, rcpts, sender="someone@outside.example"):
    """RCPT each address from an outside client; {addr: code}."""
    out = {}
    with smtplib.SMTP("127.0.0.1", moat.port, timeout=30) as s:
        s.ehlo("client.outside.example")
        s.mail(sender)
        for r in rcpts:
            out[r] = s.rcpt(r)[0]
        s.rset()
    return out


def send(moat, rcpts, sender="someone@outside.example"):
    msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: alias test\r\n"
           "Message-ID: <a%f@outside.example>\r\n\r\nhello\r\n"
           % (sender, rcpts[0], time.time()))
    with smtplib.SMTP("127.0.0.1", moat.port, timeout=30) as s:
        s.ehlo("client.outside.example")
        refused = s.sendmail(sender, rcpts, msg)
    assert refused == {}
    return msg


def test_alias_to_local_mailbox(moat_factory, dns, peers):
    moat, internal, _ = start(moat_factory, dns, peers,
                              "# sales desk\nsales: alice\n")
    codes = rcpt_codes(moat, ["sales@example.org", "Sales@EXAMPLE.org",
                              "nobody@example.org"])
    assert codes["sales@example.org"] == 250, moat.log()
    assert codes["Sales@EXAMPLE.org"] == 250
    assert codes["nobody@example.org"] == 550
    send(moat, ["sales@example.org"])
    got = moat.wait_maildir(1, "alice")
    assert len(got) == 1, moat.log()
    assert b"Subject: alias test" in got[0]
    # the alias itself is no mailbox
    assert moat.maildir("sales") == []
    assert internal.messages == []


def test_alias_to_internal_address_goes_to_the_route(moat_factory, dns,
                                                     peers):
    moat, internal, _ = start(
        moat_factory, dns, peers,
        "helpdesk@example.org: Desk@corp.example\n")
    send(moat, ["helpdesk@example.org"])
    got = internal.wait(1)
    assert len(got) == 1, moat.log()
    assert got[0][1] == ["Desk@corp.example"]
    assert moat.maildir("helpdesk") == []


def test_alias_to_several_targets(moat_factory, dns, peers):
    moat, internal, _ = start(
        moat_factory, dns, peers,
        "team: alice, bob,\n"
        "      carol@corp.example   # continued on an indented line\n"
        "all: team, alice, devs\n"
        "devs: bob, dave@corp.example\n")
    send(moat, ["team@example.org"])
    assert len(moat.wait_maildir(1, "alice")) == 1, moat.log()
    assert len(moat.wait_maildir(1, "bob")) == 1
    got = internal.wait(1)
    assert len(got) == 1 and got[0][1] == ["carol@corp.example"]
    # nested aliases, each target once however often it is named
    send(moat, ["all@example.org"])
    assert len(moat.wait_maildir(2, "alice")) == 2
    assert len(moat.wait_maildir(2, "bob")) == 2
    got = internal.wait(2)
    assert len(got) == 2, moat.log()
    assert sorted(got[1][1]) == ["carol@corp.example", "dave@corp.example"]
    time.sleep(0.5)
    assert len(moat.maildir("alice")) == 2
    assert len(moat.maildir("bob")) == 2


def test_outside_target_refused_without_external(moat_factory, dns, peers,
                                                 tmp_path):
    path = tmp_path / "aliases"
    path.write_text("ok: alice\nfwd: alice, friend@partner.example\n")
    conf = tmp_path / "moat.conf"
    conf.write_text(
        "[server]\nhostname = mx.test.example\nspool_dir = var/spool\n"
        "mail_dir = var/mail\nempty_dir = var/empty\nusers_file = users\n"
        + LOCAL + "aliases_file = %s\n" % path +
        "[listener mx]\naddress = 127.0.0.1\nport = %d\n" % free_port())
    want = "%s:2: target friend@partner.example is not in a local or " \
           "routed domain" % path
    r = subprocess.run([MOAT_BIN, "check-config", "-c", str(conf)],
                       capture_output=True, text=True, timeout=15,
                       cwd=tmp_path)
    assert r.returncode == 1 and want in r.stderr, r.stderr
    r = subprocess.run([MOAT_BIN, "serve", "-c", str(conf)],
                       capture_output=True, text=True, timeout=15,
                       cwd=tmp_path)
    assert r.returncode == 1 and want in r.stderr, r.stderr


def test_outside_target_allowed_when_flagged(moat_factory, dns, peers):
    moat, internal, port = start(
        moat_factory, dns, peers,
        "external fwd: alice, Friend@partner.example\n",
        mx=[("partner.example", "mx.partner.example", 10)],
        hosts=[("mx.partner.example", "127.0.0.7")])
    partner = peers("127.0.0.7", port)
    send(moat, ["fwd@example.org"])
    got = partner.wait(1)
    assert len(got) == 1, moat.log()
    assert got[0][1] == ["Friend@partner.example"]
    assert len(moat.wait_maildir(1, "alice")) == 1
    # an outsider still cannot relay to that domain directly
    codes = rcpt_codes(moat, ["friend@partner.example"])
    assert codes["friend@partner.example"] == 554


def test_alias_loop(moat_factory, dns, peers, tmp_path):
    # a loop with a way out: delivered once to what leaves the loop
    moat, internal, _ = start(
        moat_factory, dns, peers,
        "a: b, alice\nb: c\nc: a, b\n")
    send(moat, ["a@example.org"])
    assert len(moat.wait_maildir(1, "alice")) == 1, moat.log()
    time.sleep(0.5)
    assert len(moat.maildir("alice")) == 1
    assert internal.messages == []
    # a loop with nothing to deliver: no start, file:line
    path = tmp_path / "aliases"
    path.write_text("x: y\ny: x\n")
    conf = tmp_path / "moat.conf"
    conf.write_text(
        "[server]\nhostname = mx.test.example\nspool_dir = var/spool\n"
        "mail_dir = var/mail\nempty_dir = var/empty\nusers_file = users\n"
        + LOCAL + "aliases_file = %s\n" % path +
        "[listener mx]\naddress = 127.0.0.1\nport = %d\n" % free_port())
    r = subprocess.run([MOAT_BIN, "serve", "-c", str(conf)],
                       capture_output=True, text=True, timeout=15,
                       cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert "%s:1: alias x: every target leads back into a loop of " \
           "aliases" % path in r.stderr


def test_role_addresses_go_to_role_mailbox(moat_factory, dns, peers):
    moat, internal, _ = start(moat_factory, dns, peers,
                              "sales: alice\n", role="carol")
    rcpts = ["postmaster@example.org", "abuse@example.org",
             "postmaster@corp.example", "Abuse@Corp.Example",
             "postmaster@localhost"]
    codes = rcpt_codes(moat, rcpts)
    assert all(codes[r] == 250 for r in rcpts), (codes, moat.log())
    for i, r in enumerate(rcpts):
        send(moat, [r])
        assert len(moat.wait_maildir(i + 1, "carol")) == i + 1, moat.log()
    # the bare <postmaster> of RFC 5321 as well
    with smtplib.SMTP("127.0.0.1", moat.port, timeout=30) as s:
        s.ehlo("client.outside.example")
        s.mail("someone@outside.example")
        assert s.rcpt("<postmaster>")[0] == 250
        s.data(b"Subject: to the bare postmaster\r\n\r\nhi\r\n")
    got = moat.wait_maildir(len(rcpts) + 1, "carol")
    assert len(got) == len(rcpts) + 1, moat.log()
    # never to the internal server, never to the postmaster mailbox
    time.sleep(0.5)
    assert internal.messages == []
    assert moat.maildir("postmaster") == []


def test_alias_names_a_role_address(moat_factory, dns, peers):
    moat, internal, _ = start(
        moat_factory, dns, peers,
        "abuse@corp.example: security@corp.example\npostmaster: bob\n",
        role="carol")
    send(moat, ["abuse@corp.example"])
    got = internal.wait(1)
    assert len(got) == 1 and got[0][1] == ["security@corp.example"], \
        moat.log()
    send(moat, ["postmaster@corp.example"])
    assert len(moat.wait_maildir(1, "bob")) == 1, moat.log()
    # abuse@ of another domain keeps the default
    send(moat, ["abuse@example.org"])
    assert len(moat.wait_maildir(1, "carol")) == 1, moat.log()


def test_reload_aliases(moat_factory, dns, peers):
    moat, internal, _ = start(moat_factory, dns, peers, "sales: alice\n")
    path = os.path.join(moat.dir, "aliases")
    assert rcpt_codes(moat, ["info@example.org"])["info@example.org"] == 550
    with open(path + ".new", "w") as f:
        f.write("sales: alice\ninfo: bob\n")
    os.rename(path + ".new", path)
    moat.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: rcpt_codes(moat, ["info@example.org"])
                    ["info@example.org"] == 250, 10), moat.log()
    # a bad file: logged with its line, the aliases stay as they were
    with open(path + ".new", "w") as f:
        f.write("sales: alice\ninfo bob\n")
    os.rename(path + ".new", path)
    moat.proc.send_signal(signal.SIGHUP)
    assert moat.wait_log("%s:2:" % path), moat.log()
    codes = rcpt_codes(moat, ["info@example.org", "sales@example.org"])
    assert codes == {"info@example.org": 250, "sales@example.org": 250}
