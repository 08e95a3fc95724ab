"""Recipient verification (recipient_verify) against a real Postfix that
stands in for the internal server of a routed domain.

Postfix listens on a loopback port, relays corp.example and knows its
users from a relay_recipient_maps table: an unknown one gets 550 5.1.1
at RCPT. moat probes it (EHLO, MAIL FROM:<>, RCPT TO:, QUIT) before it
answers its own client's RCPT. What Postfix saw is read back from its
log: a "connect from" line per connection, a "disconnect from" line with
the count of each command.
"""
import json
import os
import re
import smtplib
import subprocess
import time

import pytest

from conftest import MOAT_BIN, free_port
from test_delivery import PostfixPeer, dns, wait_for  # noqa: F401

USERS = r"""/^known@corp\.example$/ OK
/^john doe@corp\.example$/ OK
/^late@corp\.example$/ OK
"""


class InternalServer(PostfixPeer):
    """Postfix as the internal server of corp.example: it relays the
    domain (and holds what it gets, as PostfixPeer does) and refuses the
    users its table does not name."""

    def __init__(self, port, tls):
        super().__init__(port, tls)
        users = os.path.join(self.etc, "users.regexp")
        with open(users, "w") as f:
            f.write(USERS)
        self.postconf("-e", "relay_domains = corp.example",
                      "relay_recipient_maps = regexp:%s" % users)

    def connections(self):
        """SMTP sessions that said EHLO (start()'s own check of the port
        connects and leaves without a word), counted once ended."""
        return sum(1 for d in self.disconnects() if "ehlo=" in d)

    def disconnects(self):
        return re.findall(r"smtpd\[\d+\]: disconnect from \S+ (.*)",
                          self.log())

    def wait_connections(self, n, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline and self.connections() < n:
            time.sleep(0.05)
        return self.connections()


@pytest.fixture
def internal(tls_files):
    started = []

    def start(port=None):
        p = InternalServer(port or free_port(), tls_files)
        started.append(p)
        p.started = True
        p.start()
        return p
    yield start
    for p in started:
        p.close()


def verify_moat(moat_factory, pf_port, negative=10800, start=True,
                route=None, delivery=""):
    domains = ("[domains]\nlocal_domains = localhost, example.org\n"
               "mailboxes = postmaster, alice, bob\n"
               "recipient_verify = corp.example\n"
               "verify_cache_negative = %d\n" % negative)
    extra = ("[delivery]\nroutes = corp.example=%s\n"
             "retry_min = 1\nretry_max = 2\n%s"
             "[log]\npolicy = debug\nrelay = debug\n"
             % (route or "[127.0.0.1]:%d" % pf_port, delivery))
    return moat_factory(extra=extra, domains=domains, start=start)


def rcpt(moat, addr, sender="outside@sender.example"):
    """(code, text) of moat's answer to RCPT TO:<addr> from an outsider."""
    with smtplib.SMTP("127.0.0.1", moat.port, timeout=30) as s:
        s.ehlo("client.example")
        s.mail(sender)
        code, text = s.docmd("RCPT TO:<%s>" % addr)
        s.rset()
    return code, text.decode("utf-8", "replace")


def ctl(moat, *args):
    r = subprocess.run([MOAT_BIN] + list(args) + ["-c", moat.conf],
                       cwd=moat.dir, capture_output=True, text=True,
                       timeout=60)
    return r.returncode, r.stdout, r.stderr


def test_known_relayed_unknown_refused(moat_factory, internal):
    pf = internal()
    moat = verify_moat(moat_factory, pf.port)
    code, text = rcpt(moat, "nobody@corp.example")
    assert code == 550 and text.startswith("5.1.1"), (code, text)
    # the probe got Postfix's own refusal
    assert pf.wait_connections(1) == 1, pf.log()
    assert "hold" not in pf.disconnects()[-1]
    assert "Recipient address rejected" in pf.log()
    # a known user: 250, and the message goes on to Postfix
    with smtplib.SMTP("127.0.0.1", moat.port, timeout=30) as s:
        s.ehlo("client.example")
        s.mail("outside@sender.example")
        code, text = s.rcpt("known@corp.example")
        assert code == 250, (code, text)
        code, text = s.rcpt("nobody@corp.example")     # cached now
        assert code == 550, (code, text)
        code, text = s.data(b"Subject: hello\r\n\r\nto the inside\r\n")
        assert code == 250, (code, text)
    files = wait_for(pf.held, timeout=20)
    assert len(files) == 1, moat.log() + pf.log()
    env = pf.postcat(files[0], "-e").decode("utf-8", "replace")
    assert "recipient: known@corp.example" in env
    assert "nobody" not in env
    log = moat.log()
    assert re.search(r"event=verified to=<known@corp\.example> "
                     r"result=found relay=\[127\.0\.0\.1\]:%d "
                     r"reply=\"250 2\.1\.5 Ok\"" % pf.port, log), log
    assert "event=verified to=<nobody@corp.example> result=notfound" in log
    # moat's own delivery aside, every probe ended without DATA
    probes = [d for d in pf.disconnects() if "ehlo=" in d and "data=" not in d]
    assert len(probes) == 2, pf.disconnects()
    for d in probes:
        assert re.match(r"ehlo=1 mail=1 rcpt=[0-9/]+ quit=1 commands=[0-9/]+$", d), d


def test_probe_never_sends_data(moat_factory, internal):
    pf = internal()
    moat = verify_moat(moat_factory, pf.port)
    for addr in ("known@corp.example", "nobody@corp.example",
                 "late@corp.example", "other@corp.example"):
        rcpt(moat, addr)
    assert pf.wait_connections(4) == 4, pf.log()
    d = [x for x in pf.disconnects() if "ehlo=" in x]
    assert sorted(d) == ["ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4"] * 2 \
        + ["ehlo=1 mail=1 rcpt=1 quit=1 commands=4"] * 2, d
    assert not pf.held()


def test_internal_server_down(moat_factory, internal):
    pf = internal()
    moat = verify_moat(moat_factory, pf.port)
    assert rcpt(moat, "known@corp.example")[0] == 250
    pf.run("stop")
    wait_for(lambda: pf.master_pid() is None, timeout=15)
    code, text = rcpt(moat, "late@corp.example")
    assert code == 451 and text.startswith("4.4.3"), (code, text)
    assert rcpt(moat, "someone@corp.example")[0] == 451
    # what was verified before stays known while the server is down
    assert rcpt(moat, "known@corp.example")[0] == 250
    log = moat.log()
    assert "result=tempfail" in log
    assert "event=lookup_tempfail" in log or "lookup_tempfail" in \
        "".join(r[0] for r in moat.sql("SELECT type FROM events"))
    # back up: the next RCPT is probed again (a failure is not cached)
    pf.start()
    assert rcpt(moat, "late@corp.example")[0] == 250


def test_cache_and_restart(moat_factory, internal):
    pf = internal()
    moat = verify_moat(moat_factory, pf.port, negative=3)
    assert rcpt(moat, "known@corp.example")[0] == 250
    assert rcpt(moat, "nobody@corp.example")[0] == 550
    assert pf.wait_connections(2) == 2
    # asked again: answered from the cache, no new probe
    assert rcpt(moat, "known@corp.example")[0] == 250
    assert rcpt(moat, "nobody@corp.example")[0] == 550
    time.sleep(0.5)
    assert pf.connections() == 2, pf.log()
    rows = {r[0]: r for r in wait_for(lambda: len(moat.sql(
        "SELECT address, result, reply, expires - updated FROM verify_cache"))
        == 2 and moat.sql("SELECT address, result, reply, expires - updated"
                          " FROM verify_cache"))}
    assert rows["known@corp.example"][1] == "0"
    assert rows["known@corp.example"][2].startswith("250")
    assert abs(int(rows["known@corp.example"][3]) - 604800) <= 2
    assert rows["nobody@corp.example"][1] == "1"
    assert abs(int(rows["nobody@corp.example"][3]) - 3) <= 2

    # a restart: the answers come back from queue.db
    moat.stop()
    moat.start()
    assert rcpt(moat, "known@corp.example")[0] == 250
    time.sleep(0.5)
    assert pf.connections() == 2, pf.log()

    # the negative answer expires after verify_cache_negative seconds
    time.sleep(3.5)
    assert rcpt(moat, "nobody@corp.example")[0] == 550
    assert pf.wait_connections(3) == 3, pf.log()
    assert rcpt(moat, "known@corp.example")[0] == 250
    time.sleep(0.5)
    assert pf.connections() == 3


def test_quoted_local_part(moat_factory, internal):
    pf = internal()
    moat = verify_moat(moat_factory, pf.port)
    code, text = rcpt(moat, '"john doe"@corp.example')
    assert code == 250, (code, text, moat.log(), pf.log())
    code, text = rcpt(moat, '"jane doe"@corp.example')
    assert code == 550, (code, text)
    # Postfix names each address as it was written to it: quoted
    assert wait_for(lambda: re.search(r'reject: RCPT .* 550 5\.1\.1 .*'
                                      r'to=<"jane doe"@corp\.example>',
                                      pf.log())), pf.log()
    assert 'to=<"john doe"@corp.example>' in pf.log()
    # needless quotes are dropped, as addr_format writes every address
    assert rcpt(moat, '"known"@corp.example')[0] == 250
    assert 'to=<known@corp.example>' in moat.log()


def test_shared_probe(moat_factory, internal):
    """Sessions asking about the same address at once share one probe."""
    import threading
    pf = internal()
    moat = verify_moat(moat_factory, pf.port)
    results = []

    def ask():
        results.append(rcpt(moat, "known@corp.example")[0])
    # hold Postfix's answer back: its smtpd waits before the greeting
    pf.postconf("-e", "smtpd_client_restrictions = sleep 2",
                "smtpd_delay_reject = no")
    pf.run("reload")
    time.sleep(1)
    threads = [threading.Thread(target=ask) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [250] * 5, results
    assert pf.wait_connections(1) == 1, pf.log()
    time.sleep(0.5)
    assert pf.connections() == 1, pf.log()
    assert moat.log().count("event=verified to=<known@corp.example>") == 1


def test_admin_list_and_flush(moat_factory, internal):
    pf = internal()
    moat = verify_moat(moat_factory, pf.port)
    assert rcpt(moat, "known@corp.example")[0] == 250
    assert rcpt(moat, "nobody@corp.example")[0] == 550
    wait_for(lambda: len(moat.sql("SELECT 1 FROM verify_cache")) == 2)
    rc, out, err = ctl(moat, "verify", "list", "--json")
    assert rc == 0, (out, err)
    rows = {r["address"]: r for r in json.loads(out)["verify"]}
    assert rows["known@corp.example"]["result"] == "found"
    assert rows["nobody@corp.example"]["result"] == "notfound"
    assert rows["nobody@corp.example"]["reply"].startswith("550 5.1.1")
    rc, out, err = ctl(moat, "verify", "list")
    assert rc == 0 and "nobody@corp.example" in out, (out, err)
    rc, out, err = ctl(moat, "verify", "flush", "nobody@corp.example")
    assert rc == 0 and "flushed 1" in out + err, (out, err)
    assert len(moat.sql("SELECT 1 FROM verify_cache")) == 1
    # the lookup process forgot it too: probed again
    assert rcpt(moat, "nobody@corp.example")[0] == 550
    assert pf.wait_connections(3) == 3, pf.log()
    rc, out, err = ctl(moat, "verify", "flush")
    assert rc == 0, (out, err)
    assert moat.sql("SELECT count(*) FROM verify_cache") == [["0"]]
    assert rcpt(moat, "known@corp.example")[0] == 250
    assert pf.wait_connections(4) == 4, pf.log()
    types = [r[0] for r in moat.sql("SELECT type FROM events")]
    assert types.count("verify_flush") == 2, types


def test_route_by_name(moat_factory, internal, dns):
    """A route's host given by name: its MX hosts by preference, each one's
    addresses; the one that does not answer is passed over."""
    pf = internal()
    dead = free_port()
    srv = dns(mx=[("internal.example", "mx1.internal.example", 10),
                  ("internal.example", "mx2.internal.example", 20)],
              hosts=[("mx1.internal.example", "127.0.0.3"),
                     ("mx2.internal.example", "127.0.0.1")])
    moat = verify_moat(moat_factory, pf.port,
                       route="internal.example:%d,[127.0.0.1]:%d"
                       % (pf.port, dead),
                       delivery="dns_server = %s\n" % srv)
    assert rcpt(moat, "known@corp.example")[0] == 250, moat.log()
    assert rcpt(moat, "nobody@corp.example")[0] == 550
    log = moat.log()
    assert re.search(r"event=host_failed state=connect error=\"mx1\."
                     r"internal\.example\[127\.0\.0\.3\]:%d" % pf.port,
                     log), log
    assert ("result=found relay=mx2.internal.example[127.0.0.1]:%d"
            % pf.port) in log
