"""Recipient validation at RCPT time by the lookup process: recipient
tables of routed (internal) and local domains, mailboxes user@domain and
mailboxes_file, the role addresses, reloads (SIGHUP, a changed file, a
bad file), the lookup timeout, many pipelining sessions at once, the
harvesting defences and the anti-spoofing rule for routed domains."""
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import MOAT_BIN, free_port
from test_delivery import (delivery_conf, dns, peers, submit,  # noqa: F401
                           wait_for)

CORP = ["alice@corp.example", "Bob.Smith@corp.example",
        "# a comment", "", "@catch.example"]


def write(path, lines):
    """Write a table the way an administrator should: a new file renamed
    over the old one."""
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)


def table_dir():
    """A directory the moat user can read (pytest's tmp_path is not)."""
    d = tempfile.mkdtemp(prefix="moat-rt-")
    os.chmod(d, 0o755)
    return d


def routed(moat_factory, dns, peers, table=CORP, extra="", policy="",
           start=True):
    """A daemon whose routed domains corp.example and catch.example go
    to a sink on loopback and have the recipient table corp.txt; also
    plain.example, routed without any recipient source."""
    port, inner = free_port(), free_port()
    sink = peers("127.0.0.12", inner)
    workdir_table = os.path.join(table_dir(), "corp.txt")
    write(workdir_table, table)
    conf = delivery_conf(dns(), port,
                         "routes = corp.example=[127.0.0.12]:%d,"
                         " catch.example=[127.0.0.12]:%d,"
                         " plain.example=[127.0.0.12]:%d\n"
                         % (inner, inner, inner))
    domains = ("[domains]\nlocal_domains = localhost, example.org\n"
               "mailboxes = postmaster, alice, bob\n"
               "recipient_tables = corp.example=%s, catch.example=%s\n%s"
               % (workdir_table, workdir_table, extra))
    m = moat_factory(extra=conf + policy, domains=domains, start=start)
    m.table = workdir_table
    m.sink = sink
    return m


@pytest.fixture
def tables():
    made = []
    yield made
    for p in made:
        shutil.rmtree(os.path.dirname(p), ignore_errors=True)


def rcpt_codes(moat, rcpts, sender="x@outside.example",
               source="127.0.0.1"):
    with smtplib.SMTP("127.0.0.1", moat.port,
                      source_address=(source, 0)) as s:
        s.ehlo("client.example")
        s.mail(sender)
        return [s.rcpt(r) for r in rcpts]


def test_unknown_user_of_a_routed_domain_is_refused_at_rcpt(
        moat_factory, dns, peers, tables):
    m = routed(moat_factory, dns, peers)
    tables.append(m.table)
    (c1, t1), (c2, t2), (c3, _) = rcpt_codes(
        m, ["nobody@corp.example", "alice@corp.example",
            "BOB.SMITH@Corp.Example"])
    assert c1 == 550 and b"5.1.1" in t1, (c1, t1)
    assert c2 == 250 and c3 == 250, (c2, c3)
    # a listed one is relayed to the route, its local part as written
    submit(m, ["alice@corp.example", "BOB.SMITH@Corp.Example"],
           sender="x@outside.example", source="127.0.0.1")
    got = m.sink.wait(1)
    assert len(got) == 1, got
    assert got[0][1] == ["alice@corp.example", "BOB.SMITH@corp.example"]
    # the internal server never heard of the unknown one
    assert not any("nobody" in c for c in m.sink.commands)
    assert "event=reject client=127.0.0.1 to=<nobody@corp.example> " \
        "code=550" in m.log()


def test_catch_all_and_routed_domain_without_source(
        moat_factory, dns, peers, tables):
    m = routed(moat_factory, dns, peers)
    tables.append(m.table)
    codes = rcpt_codes(m, ["anyone@catch.example", "x.y@catch.example",
                           "anyone@plain.example"])
    assert [c for c, _ in codes] == [250, 250, 250], codes
    # the routed domain without a source: warned about at start
    assert "event=routed_without_recipients domain=plain.example" in m.log()
    assert "routed_without_recipients domain=corp.example" not in m.log()


def test_role_addresses_of_a_routed_domain_are_local(
        moat_factory, dns, peers, tables):
    m = routed(moat_factory, dns, peers)
    tables.append(m.table)
    submit(m, ["postmaster@corp.example", "abuse@plain.example"],
           sender="x@outside.example", source="127.0.0.1")
    # one copy: both addresses are the same local mailbox
    assert len(m.wait_maildir(1, "postmaster")) == 1
    time.sleep(0.5)
    assert len(m.maildir("postmaster")) == 1
    assert m.sink.messages == []


def test_mailboxes_user_at_domain(moat_factory):
    m = moat_factory(domains="[domains]\n"
                     "local_domains = localhost, example.org\n"
                     "mailboxes = postmaster, carol@example.org\n")
    (c1, _), (c2, _), (c3, _) = rcpt_codes(
        m, ["carol@example.org", "Carol@EXAMPLE.org", "carol@localhost"])
    assert (c1, c2, c3) == (250, 250, 550)
    submit(m, "carol@example.org", sender="x@outside.example",
           source="127.0.0.1")
    got = m.wait_maildir(1, "carol@example.org")
    assert len(got) == 1 and b"To: <carol@example.org>" in got[0]


def test_mailboxes_file(moat_factory, tables):
    mb = os.path.join(table_dir(), "mailboxes")
    tables.append(mb)
    write(mb, ["# users", "dave", "erin@example.org", ""])
    m = moat_factory(domains="[domains]\nlocal_domains = localhost, "
                     "example.org\nmailboxes = postmaster\n"
                     "mailboxes_file = %s\n" % mb)
    codes = rcpt_codes(m, ["dave@localhost", "DAVE@example.org",
                           "erin@example.org", "erin@localhost",
                           "frank@example.org"])
    assert [c for c, _ in codes] == [250, 250, 250, 550, 550], codes
    submit(m, ["dave@example.org"], sender="x@outside.example",
           source="127.0.0.1")
    assert len(m.wait_maildir(1, "dave")) == 1


def test_table_reloaded_on_sighup(moat_factory, dns, peers, tables):
    m = routed(moat_factory, dns, peers)
    tables.append(m.table)
    assert rcpt_codes(m, ["carl@corp.example"])[0][0] == 550
    before = m.log().count("why=configuration")
    write(m.table, CORP + ["carl@corp.example"])
    m.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: m.log().count("why=configuration") > before,
                    timeout=10), m.log()
    assert rcpt_codes(m, ["carl@corp.example"])[0][0] == 250


def test_table_reloaded_when_it_changes(moat_factory, dns, peers, tables):
    m = routed(moat_factory, dns, peers)
    tables.append(m.table)
    assert rcpt_codes(m, ["dora@corp.example"])[0][0] == 550
    write(m.table, CORP + ["dora@corp.example"])
    assert m.wait_log("why=changed", timeout=10), m.log()
    assert rcpt_codes(m, ["dora@corp.example"])[0][0] == 250
    # taken out again: refused again
    write(m.table, CORP)
    assert wait_for(lambda: m.log().count("why=changed") >= 2, timeout=10)
    assert rcpt_codes(m, ["dora@corp.example"])[0][0] == 550


def test_bad_table_keeps_the_old_one(moat_factory, dns, peers, tables):
    m = routed(moat_factory, dns, peers)
    tables.append(m.table)
    write(m.table, CORP + ["emil@corp.example", "not an address@@"])
    needle = "%s:7: " % m.table
    assert wait_for(lambda: "event=table_failed" in m.log() and
                    needle in m.log(), timeout=10), m.log()
    assert "keeping the table loaded before" in m.log()
    codes = rcpt_codes(m, ["alice@corp.example", "emil@corp.example"])
    assert [c for c, _ in codes] == [250, 550], codes
    # once mended it loads
    write(m.table, CORP + ["emil@corp.example"])
    assert m.wait_log("why=changed", timeout=10)
    assert rcpt_codes(m, ["emil@corp.example"])[0][0] == 250


def test_bad_table_at_start_is_file_line_and_no_start(moat_factory, dns,
                                                      peers, tables):
    m = routed(moat_factory, dns, peers, table=["alice@corp.example",
                                                "bad line here"],
               start=False)
    tables.append(m.table)
    r = subprocess.run([MOAT_BIN, "check-config", "-c", m.conf],
                       capture_output=True, text=True, timeout=15)
    assert r.returncode == 1
    assert "%s:2: " % m.table in r.stderr, r.stderr
    r = subprocess.run([MOAT_BIN, "serve", "-c", m.conf], cwd=m.dir,
                       capture_output=True, text=True, timeout=15)
    assert r.returncode == 1
    assert "%s:2: " % m.table in r.stderr, r.stderr


def test_catch_all_of_a_local_domain_is_refused(moat_factory, tables):
    t = os.path.join(table_dir(), "local.txt")
    tables.append(t)
    write(t, ["alice@example.org", "@example.org"])
    m = moat_factory(domains="[domains]\nlocal_domains = example.org\n"
                     "recipient_tables = example.org=%s\n" % t, start=False)
    r = subprocess.run([MOAT_BIN, "check-config", "-c", m.conf],
                       capture_output=True, text=True, timeout=15)
    assert r.returncode == 1
    assert "%s:2: @example.org: a catch-all of a local domain" % t \
        in r.stderr, r.stderr


def test_local_domain_table_delivers_to_its_mailbox(moat_factory, tables):
    t = os.path.join(table_dir(), "local.txt")
    tables.append(t)
    write(t, ["gina@example.org"])
    m = moat_factory(domains="[domains]\nlocal_domains = example.org\n"
                     "mailboxes = postmaster\n"
                     "recipient_tables = example.org=%s\n" % t)
    codes = rcpt_codes(m, ["gina@example.org", "hans@example.org"])
    assert [c for c, _ in codes] == [250, 550]
    submit(m, "gina@example.org", sender="x@outside.example",
           source="127.0.0.1")
    assert len(m.wait_maildir(1, "gina@example.org")) == 1


def test_table_that_never_loaded_is_451(moat_factory, dns, peers, tables):
    """A reload names a new table that does not load: its domain gets
    451 4.4.3 (never accept-all, never reject-all) and an event."""
    m = routed(moat_factory, dns, peers)
    tables.append(m.table)
    bad = m.table + ".bad"
    write(bad, ["@@"])
    with open(m.conf) as f:
        text = f.read()
    with open(m.conf, "w") as f:
        f.write(text.replace("catch.example=%s" % m.table,
                             "catch.example=%s" % bad))
    m.proc.send_signal(signal.SIGHUP)
    assert m.wait_log("its domains get 451 until it loads"), m.log()
    (c1, t1), (c2, _) = rcpt_codes(m, ["x@catch.example",
                                       "alice@corp.example"])
    assert c1 == 451 and b"4.4.3" in t1, (c1, t1)
    assert b"Recipient address lookup failed" in t1
    assert c2 == 250
    assert wait_for(lambda: m.sql("SELECT count(*) FROM events WHERE "
                                  "type='lookup_tempfail'") != [["0"]])


def test_lookup_timeout_is_451(moat_factory, dns, peers, tables):
    m = routed(moat_factory, dns, peers, extra="lookup_timeout = 1\n")
    tables.append(m.table)
    lookup = [p for p, n in m.children().items() if n == "moat-lookup"][0]
    os.kill(lookup, signal.SIGSTOP)
    try:
        t0 = time.time()
        with smtplib.SMTP("127.0.0.1", m.port, timeout=10) as s:
            s.ehlo("client.example")
            s.mail("x@outside.example")
            code, text = s.rcpt("alice@corp.example")
            took = time.time() - t0
            assert code == 451 and b"4.4.3" in text, (code, text)
            assert b"Recipient lookup timed out" in text
            assert 0.9 <= took < 5, took
            os.kill(lookup, signal.SIGCONT)
            # the late answer is dropped; the next RCPT has its own
            code, _ = s.rcpt("alice@corp.example")
            assert code == 250
            code, _ = s.rcpt("nobody@corp.example")
            assert code == 550
    finally:
        os.kill(lookup, signal.SIGCONT)
    assert m.wait_log("event=lookup_timeout")
    assert wait_for(lambda: m.sql("SELECT count(*) FROM events WHERE "
                                  "type='lookup_timeout'") != [["0"]])


def pipelined_session(port, n, results, i):
    """One client: EHLO, then MAIL and n RCPTs (known and unknown
    alternating) and RSET and QUIT in one write; the replies in order."""
    rcpts = []
    for k in range(n):
        if k % 3 == 2:
            rcpts.append(("u%d-%d@corp.example" % (i, k), "550"))
        elif k % 3 == 1:
            rcpts.append(("bob.smith@corp.example", "250"))
        else:
            rcpts.append(("alice@corp.example", "250"))
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        f = s.makefile("rb")
        assert f.readline().startswith(b"220")
        s.sendall(b"EHLO c%d.example\r\n" % i)
        while not f.readline().startswith(b"250 "):
            pass
        batch = b"MAIL FROM:<x@outside.example>\r\n"
        for r, _ in rcpts:
            batch += b"RCPT TO:<%s>\r\n" % r.encode()
        batch += b"RSET\r\nQUIT\r\n"
        s.sendall(batch)
        got = [f.readline()[:3].decode() for _ in range(n + 3)]
        want = ["250"] + [w for _, w in rcpts] + ["250", "221"]
        results[i] = (got == want, got, want)
        s.close()
    except Exception as e:      # reported by the test
        results[i] = (False, repr(e), None)


def test_fifty_sessions_pipelining_rcpts(moat_factory, dns, peers, tables):
    m = routed(moat_factory, dns, peers,
               policy="[policy]\nmax_unknown_rcpts = 100\n"
                      "max_unknown_rcpts_ip = 100000\ntarpit_ms = 0\n"
                      "[limits]\nmax_sessions_per_ip = 200\n")
    tables.append(m.table)
    results = {}
    threads = [threading.Thread(target=pipelined_session,
                                args=(m.port, 30, results, i))
               for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    bad = {i: r for i, r in results.items() if not r[0]}
    assert len(results) == 50 and not bad, bad


def test_harvesting_routed_domain_is_cut_off(moat_factory, dns, peers,
                                             tables):
    m = routed(moat_factory, dns, peers,
               policy="[policy]\nmax_unknown_rcpts = 3\ntarpit_ms = 100\n")
    tables.append(m.table)
    with smtplib.SMTP("127.0.0.1", m.port, timeout=10,
                      source_address=("127.0.0.31", 0)) as s:
        s.ehlo("harvester.example")
        s.mail("x@spam.example")
        for i in range(3):
            code, _ = s.rcpt("guess%d@corp.example" % i)
            assert code == 550
        code, msg = s.rcpt("guess9@corp.example")
        assert code == 421, (code, msg)
    assert m.wait_log("event=harvest client=127.0.0.31")


def test_outsider_may_not_use_a_routed_domain_as_sender(
        moat_factory, dns, peers, tables):
    m = routed(moat_factory, dns, peers)
    tables.append(m.table)
    for sender in ("ceo@corp.example", "x@plain.example"):
        with smtplib.SMTP("127.0.0.1", m.port) as s:
            s.ehlo("forger.example")
            code, msg = s.mail(sender)
            assert code == 550 and b"5.7.1" in msg, (sender, code, msg)
    # the internal server in relay_networks may
    with smtplib.SMTP("127.0.0.1", m.port,
                      source_address=("127.0.0.2", 0)) as s:
        s.ehlo("exchange.corp.example")
        code, _ = s.mail("ceo@corp.example")
        assert code == 250
