"""LDAP recipient lookups against a real slapd on loopback.

The directory side (src/lookup/ldap_dir.c) is driven through `moat
ldap-query`, which asks an [ldap NAME] section exactly as the lookup
process does; the long-lived form (addresses on stdin) keeps one
directory, its connection and its cache across a slapd outage.

slapd comes from slapd_fixture.py: a test schema whose auxiliary class
`moatRecipient` has a multi-valued `proxyAddresses`, Exchange style.
"""
import os
import select
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from conftest import MOAT_BIN  # noqa: E402
from slapd_fixture import (BIND_DN, BIND_PW, ROOT_DN, ROOT_PW,  # noqa: E402
                           SUFFIX, make_test_ca, restart_slapd, start_slapd,
                           stop_slapd)

FILTER = "(|(mail=%s)(proxyAddresses=smtp:%s))"
ENTRIES = [
    {"uid": "alice", "mail": "alice@corp.example",
     "proxyAddresses": ["SMTP:alice@corp.example", "smtp:al@corp.example",
                        "smtp:a.smith@corp.example"]},
    {"uid": "bob", "mail": "bob@corp.example"},
    {"uid": "carol", "mail": "carol@corp.example"},
    {"uid": "dave", "mail": "dave@corp.example"},
] + [{"uid": "user%d" % i, "mail": "user%d@corp.example" % i}
     for i in range(60)]


def write_bind(d, mode=0o600, dn=BIND_DN, pw=BIND_PW):
    path = os.path.join(str(d), "bind.secret")
    with open(path, "w") as f:
        f.write("# the directory account moat searches as\n"
                "binddn = %s\npassword = %s\n" % (dn, pw))
    os.chmod(path, mode)
    return path


def write_conf(d, servers, tls="none", extra="", bind=True, name="corp"):
    path = os.path.join(str(d), "moat.conf")
    lines = ["[ldap %s]" % name,
             "servers = %s" % " ".join(servers),
             "tls = %s" % tls,
             "base = %s" % SUFFIX,
             "filter = %s" % FILTER,
             "timeout = 2"]
    if bind:
        lines.append("bind_file = %s" % write_bind(d))
    lines.append(extra)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def query(conf, *addrs, name="corp"):
    """moat ldap-query with addresses as arguments: {addr: answer line}."""
    r = subprocess.run([MOAT_BIN, "ldap-query", "-c", conf, name] +
                       list(addrs), capture_output=True, text=True,
                       timeout=30)
    out = {}
    for line in r.stdout.splitlines():
        addr, rest = line.split(" ", 1)
        out[addr] = rest
    return r, out


class Querier:
    """One long-running `moat ldap-query` fed on stdin."""

    def __init__(self, conf, tmp, name="corp"):
        self.errpath = os.path.join(str(tmp), "query.err")
        self.err = open(self.errpath, "w")
        self.proc = subprocess.Popen(
            [MOAT_BIN, "ldap-query", "-c", conf, name],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err,
            text=True, bufsize=1)

    def ask(self, addr, timeout=10):
        """The answer line for addr, and seconds it took."""
        t0 = time.monotonic()
        self.proc.stdin.write(addr + "\n")
        self.proc.stdin.flush()
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert r, "no answer for %s within %ss" % (addr, timeout)
        line = self.proc.stdout.readline().rstrip("\n")
        got, rest = line.split(" ", 1)
        assert got == addr, line
        return rest, time.monotonic() - t0

    def stderr(self):
        with open(self.errpath) as f:
            return f.read()

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


def freeze(pid):
    """SIGSTOP pid and wait until every thread of it is stopped."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        states = []
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                states.append(f.read().rsplit(")", 1)[1].split()[0])
        if all(st == "T" for st in states):
            return
        time.sleep(0.01)
    raise AssertionError("slapd %d did not stop" % pid)


@pytest.fixture(scope="module")
def slapd(tmp_path_factory):
    d = tmp_path_factory.mktemp("slapd")
    proc, uri = start_slapd(d, ENTRIES)
    yield uri
    stop_slapd(proc)


@pytest.fixture
def own_slapd(tmp_path):
    """A slapd of this test's own, which it may stop and restart."""
    holder = {}
    holder["proc"], holder["uri"] = start_slapd(tmp_path, ENTRIES)
    yield holder
    stop_slapd(holder["proc"])


def test_fixture_slapd_answers(slapd):
    """The fixture's directory holds alice under one of her proxy
    addresses (ldapsearch, as an administrator would check it)."""
    r = subprocess.run(["ldapsearch", "-x", "-LLL", "-H", slapd, "-D",
                        BIND_DN, "-w", BIND_PW, "-b", SUFFIX,
                        "(proxyAddresses=smtp:a.smith@corp.example)", "uid"],
                       capture_output=True, text=True, check=True)
    assert "uid: alice" in r.stdout


def test_found_by_mail_and_by_proxy_address(slapd, tmp_path):
    conf = write_conf(tmp_path, [slapd])
    r, out = query(conf, "alice@corp.example", "al@corp.example",
                   "a.smith@corp.example", "bob@corp.example",
                   "Bob@Corp.Example")
    assert r.returncode == 0, r.stderr
    assert out["alice@corp.example"] == "found"
    assert out["al@corp.example"] == "found"          # second value
    assert out["a.smith@corp.example"] == "found"     # third value
    assert out["bob@corp.example"] == "found"
    assert out["bob@corp.example"] == "found"         # lowercased first


def test_not_found(slapd, tmp_path):
    conf = write_conf(tmp_path, [slapd])
    r, out = query(conf, "nobody@corp.example", "alice@other.example",
                   "smtp:alice@corp.example")
    assert r.returncode == 0, r.stderr
    assert set(out.values()) == {"notfound"}


def test_filter_injection_finds_nothing(slapd, tmp_path):
    """A local part written to widen the filter is matched as text: the
    RFC 4515 escaping keeps '*', '(' and ')' out of the filter syntax."""
    conf = write_conf(tmp_path, [slapd])
    evil = ["*)(mail=*@corp.example", "*@corp.example", "*",
            "al*@corp.example", "*)(|(uid=*@corp.example",
            "alice)(uid=*@corp.example", "\\2a@corp.example"]
    r, out = query(conf, *evil)
    assert r.returncode == 0, r.stderr
    assert len(out) == len(evil), r.stdout
    assert set(out.values()) == {"notfound"}, out


def test_wrong_bind_password_is_tempfail(slapd, tmp_path):
    conf = write_conf(tmp_path, [slapd])
    write_bind(tmp_path, pw="wrong")
    r, out = query(conf, "alice@corp.example")
    assert r.returncode == 3
    assert out["alice@corp.example"].startswith("tempfail")
    assert "Invalid credentials" in r.stderr
    assert "wrong" not in r.stderr + r.stdout   # the password never shows


def test_failover_past_a_silent_server(slapd, tmp_path):
    """The first server refuses connections, the second accepts them and
    never answers (the bind times out after `timeout`), the third is
    slapd: the connection ends up on slapd and lookups are answered."""
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))
    dead = "ldap://127.0.0.1:%d" % refused.getsockname()[1]
    refused.close()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    mute = "ldap://127.0.0.1:%d" % silent.getsockname()[1]
    conf = write_conf(tmp_path, [dead, mute, slapd])
    q = Querier(conf, tmp_path)
    try:
        # the attempt takes the mute server's 2 s, as long as this first
        # lookup may wait: it may run out of time, but it is answered
        ans, took = q.ask("alice@corp.example")
        assert ans in ("found", "tempfail ldap: no connection within the "
                       "timeout", "tempfail ldap: timeout"), ans
        assert took < 4
        deadline = time.monotonic() + 10
        while "server=%s" % slapd not in q.stderr() and \
                time.monotonic() < deadline:
            time.sleep(0.1)
        assert "event=ldap_connected ldap=corp server=%s" % slapd in \
            q.stderr()
        assert q.ask("alice@corp.example")[0] == "found"
        assert q.ask("ghost@corp.example")[0] == "notfound"
    finally:
        q.close()
        silent.close()


def test_failover_answers_within_timeout(slapd, tmp_path):
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))
    dead = "ldap://127.0.0.1:%d" % refused.getsockname()[1]
    refused.close()
    conf = write_conf(tmp_path, [dead, slapd])
    r, out = query(conf, "alice@corp.example", "zed@corp.example")
    assert r.returncode == 0, r.stderr
    assert out == {"alice@corp.example": "found",
                   "zed@corp.example": "notfound"}
    assert "event=ldap_connected ldap=corp server=" + slapd in r.stderr


def test_fifty_lookups_at_once(slapd, tmp_path):
    conf = write_conf(tmp_path, [slapd])
    addrs = ["user%d@corp.example" % i for i in range(50)]
    addrs += ["ghost%d@corp.example" % i for i in range(10)]
    t0 = time.monotonic()
    r, out = query(conf, *addrs)
    assert r.returncode == 0, r.stderr
    assert len(out) == 60
    assert all(out["user%d@corp.example" % i] == "found" for i in range(50))
    assert all(out["ghost%d@corp.example" % i] == "notfound"
               for i in range(10))
    assert time.monotonic() - t0 < 5


def test_outage_tempfail_event_cache_and_recovery(own_slapd, tmp_path):
    """slapd stopped: a new address gets tempfail (never found, never
    notfound) and an ldap_unavailable event; an address answered before
    the outage is served from the cache while its TTL runs; slapd back:
    lookups work again without a restart."""
    conf = write_conf(tmp_path, [own_slapd["uri"]],
                      extra="cache_positive = 600\ncache_negative = 600")
    q = Querier(conf, tmp_path)
    try:
        assert q.ask("alice@corp.example")[0] == "found"
        assert q.ask("ghost@corp.example")[0] == "notfound"
        stop_slapd(own_slapd["proc"])
        ans, took = q.ask("carol@corp.example")
        assert ans.startswith("tempfail"), ans
        assert took < 3
        assert "event ldap_unavailable ldap=corp" in q.stderr()
        # during the outage: cached answers, both kinds; tempfail others
        assert q.ask("alice@corp.example")[0] == "found ldap: cached"
        assert q.ask("ghost@corp.example")[0] == "notfound ldap: cached"
        assert q.ask("dave@corp.example")[0].startswith("tempfail")
        own_slapd["proc"] = restart_slapd(own_slapd["proc"])
        deadline = time.monotonic() + 20
        while True:
            ans, _ = q.ask("carol@corp.example")
            if ans == "found" or time.monotonic() > deadline:
                break
            assert ans.startswith("tempfail"), ans
            time.sleep(0.5)
        assert ans == "found"
        assert q.ask("dave@corp.example")[0] == "found"
        # one event for the outage, not one per lookup
        assert q.stderr().count("event ldap_unavailable") == 1
    finally:
        q.close()


def test_broken_connection_is_replaced(own_slapd, tmp_path):
    """slapd restarted between two lookups: the connection moat held
    breaks, the next lookup reconnects and gets its answer."""
    conf = write_conf(tmp_path, [own_slapd["uri"]],
                      extra="cache_positive = 0\ncache_negative = 0")
    q = Querier(conf, tmp_path)
    try:
        assert q.ask("alice@corp.example")[0] == "found"
        own_slapd["proc"] = restart_slapd(own_slapd["proc"])
        time.sleep(0.2)
        assert q.ask("alice@corp.example")[0] == "found"
        assert q.ask("bob@corp.example")[0] == "found"
    finally:
        q.close()


def test_hung_server_is_tempfail_within_timeout(own_slapd, tmp_path):
    """slapd frozen (SIGSTOP): the search gets no answer; the lookup gets
    tempfail after `timeout` (2 s), not a wait without end; after SIGCONT
    lookups work again."""
    conf = write_conf(tmp_path, [own_slapd["uri"]],
                      extra="cache_positive = 0\ncache_negative = 0")
    q = Querier(conf, tmp_path)
    pid = own_slapd["proc"].pid
    try:
        assert q.ask("alice@corp.example")[0] == "found"
        freeze(pid)
        ans, took = q.ask("bob@corp.example")
        assert ans == "tempfail ldap: timeout", ans
        assert 1.5 < took < 4
        assert "event ldap_unavailable" in q.stderr()
        os.kill(pid, signal.SIGCONT)
        deadline = time.monotonic() + 20
        while True:
            ans, _ = q.ask("bob@corp.example")
            if ans == "found" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert ans == "found"
    finally:
        os.kill(pid, signal.SIGCONT)
        q.close()


def test_cache_ttls(own_slapd, tmp_path):
    """A found address is served from the cache for cache_positive
    seconds, also while slapd is down, then tempfail; an unknown one stays
    unknown for cache_negative seconds even after it is added."""
    conf = write_conf(tmp_path, [own_slapd["uri"]],
                      extra="cache_positive = 2\ncache_negative = 2")
    q = Querier(conf, tmp_path)
    try:
        assert q.ask("newbie@corp.example")[0] == "notfound"
        ldif = ("dn: uid=newbie,ou=people,%s\nobjectClass: inetOrgPerson\n"
                "uid: newbie\ncn: newbie\nsn: newbie\n"
                "mail: newbie@corp.example\n" % SUFFIX)
        subprocess.run(["ldapadd", "-x", "-H", own_slapd["uri"], "-D",
                        ROOT_DN, "-w", ROOT_PW], input=ldif, text=True,
                       check=True, capture_output=True)
        assert q.ask("newbie@corp.example")[0] == "notfound ldap: cached"
        time.sleep(2.2)
        assert q.ask("newbie@corp.example")[0] == "found"
        assert q.ask("alice@corp.example")[0] == "found"
        stop_slapd(own_slapd["proc"])
        assert q.ask("alice@corp.example")[0] == "found ldap: cached"
        time.sleep(2.2)
        assert q.ask("alice@corp.example")[0].startswith("tempfail")
    finally:
        q.close()


@pytest.fixture(scope="module")
def tls_slapd(tmp_path_factory):
    d = tmp_path_factory.mktemp("slapd-tls")
    good = make_test_ca(d, "good")
    other = make_test_ca(d, "other")
    proc, uri = start_slapd(d, ENTRIES, tls=good)
    yield {"uri": uri, "ldaps": proc.ldaps_uri, "ca": good[2],
           "other_ca": other[2]}
    stop_slapd(proc)


@pytest.mark.parametrize("mode", ["starttls", "ldaps"])
def test_tls_verified(tls_slapd, tmp_path, mode):
    """StartTLS and ldaps: the server's certificate chains to ca_file:
    lookups work. Another CA (the right name, the wrong issuer): every
    lookup is tempfail, never an answer from an unverified server."""
    uri = tls_slapd["uri"] if mode == "starttls" else tls_slapd["ldaps"]
    conf = write_conf(tmp_path, [uri], tls=mode,
                      extra="ca_file = %s" % tls_slapd["ca"])
    r, out = query(conf, "alice@corp.example", "ghost@corp.example")
    assert r.returncode == 0, r.stderr
    assert out == {"alice@corp.example": "found",
                   "ghost@corp.example": "notfound"}
    conf = write_conf(tmp_path, [uri], tls=mode,
                      extra="ca_file = %s" % tls_slapd["other_ca"])
    r, out = query(conf, "alice@corp.example", "ghost@corp.example")
    assert r.returncode == 3, r.stdout + r.stderr
    assert all(v.startswith("tempfail") for v in out.values()), out
    assert "event ldap_unavailable" in r.stderr


def test_tls_system_store_refuses_a_private_ca(tls_slapd, tmp_path):
    """No ca_file: the system CA store, which does not know the test CA."""
    conf = write_conf(tmp_path, [tls_slapd["uri"]], tls="starttls")
    r, out = query(conf, "alice@corp.example")
    assert out["alice@corp.example"].startswith("tempfail"), out


def test_starttls_refused_by_plain_server(slapd, tmp_path):
    """tls = starttls against a server without TLS: tempfail, not a
    fallback to clear text."""
    conf = write_conf(tmp_path, [slapd], tls="starttls")
    r, out = query(conf, "alice@corp.example")
    assert out["alice@corp.example"].startswith("tempfail"), out
    assert "starttls" in r.stderr


def test_bind_file_readable_by_others_refused(slapd, tmp_path):
    conf = write_conf(tmp_path, [slapd])
    write_bind(tmp_path, mode=0o644)
    r, out = query(conf, "alice@corp.example")
    assert r.returncode == 1 and not out
    assert "mode 644" in r.stderr and "refused" in r.stderr
    r = subprocess.run([MOAT_BIN, "check-config", "-c", conf],
                       capture_output=True, text=True)
    assert r.returncode == 1
    # file:line of the bind_file knob
    assert "%s:7: ldap corp: bind_file" % conf in r.stderr, r.stderr
    assert "mode 644" in r.stderr


# --- through the daemon: RCPT TO answered by the lookup process --------

def moat_conf_dir():
    """A directory the unprivileged lookup process can read (the CA file
    is read after the drop; pytest's tmp_path is mode 0700)."""
    d = tempfile.mkdtemp(prefix="moat-ldap-")
    os.chmod(d, 0o755)
    return d


def ldap_moat(moat_factory, uri, tmp, tls="none", ldap_extra="",
              local=False):
    """moat with corp.example routed (or local) and looked up in slapd."""
    bind = write_bind(tmp)
    domains = ("[domains]\nlocal_domains = localhost, example.org%s\n"
               "mailboxes = postmaster, alice, bob\n"
               "recipient_ldap = corp.example=corp\n"
               "lookup_timeout = 8\n"
               % (", corp.example" if local else ""))
    extra = ("[limits]\nmax_sessions_per_ip = 200\n"
             "[policy]\nmax_unknown_rcpts = 100\ntarpit_ms = 0\n"
             "max_unknown_rcpts_ip = 1000\n")
    if not local:
        extra += "[delivery]\nroutes = corp.example=[127.0.0.1]:9\n"
    extra += ("[ldap corp]\nservers = %s\ntls = %s\nbase = %s\n"
              "filter = %s\nbind_file = %s\ntimeout = 2\n%s\n"
              % (uri, tls, SUFFIX, FILTER, bind, ldap_extra))
    return moat_factory(domains=domains, extra=extra, tls=False)


def rcpts(port, addrs, helo="client.test"):
    """RCPT TO each address in one transaction: {addr: (code, text)}."""
    out = {}
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as c:
        c.ehlo(helo)
        code, msg = c.mail("sender@outside.example")
        assert code == 250, msg
        for a in addrs:
            code, msg = c.rcpt(a)
            out[a] = (code, msg.decode(errors="replace"))
        c.rset()
    return out


def events(m, etype):
    try:
        return m.sql("SELECT detail FROM events WHERE type = '%s'" % etype)
    except subprocess.CalledProcessError:
        return []


def wait_events(m, etype, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = events(m, etype)
        if got:
            return got
        time.sleep(0.1)
    return []


def test_smtp_rcpt_found_unknown_injection(moat_factory, slapd, tmp_path):
    """RCPT for a routed domain: found by mail or by one of several
    proxyAddresses -> 250; unknown -> 550 5.1.1 at RCPT time; an
    injection attempt in a quoted local part finds nothing -> 550."""
    m = ldap_moat(moat_factory, slapd, tmp_path)
    got = rcpts(m.port, ["alice@corp.example", "a.smith@corp.example",
                         "AL@corp.example", "nobody@corp.example",
                         '"*)(mail=*"@corp.example',
                         '"*"@corp.example'])
    assert got["alice@corp.example"][0] == 250, got
    assert got["a.smith@corp.example"][0] == 250, got
    assert got["AL@corp.example"][0] == 250, got
    for a in ("nobody@corp.example", '"*)(mail=*"@corp.example',
              '"*"@corp.example'):
        assert got[a][0] == 550 and got[a][1].startswith("5.1.1"), (a, got)


def test_smtp_local_domain_in_ldap(moat_factory, slapd, tmp_path):
    """A local domain whose users are in the directory."""
    m = ldap_moat(moat_factory, slapd, tmp_path, local=True)
    got = rcpts(m.port, ["bob@corp.example", "ghost@corp.example",
                         "alice@example.org"])
    assert got["bob@corp.example"][0] == 250, got
    assert got["ghost@corp.example"][0] == 550, got
    assert got["alice@example.org"][0] == 250, got


def test_smtp_outage_451_event_cache_recovery(moat_factory, own_slapd,
                                              tmp_path):
    """slapd stopped mid-test: an address not cached gets 451 4.4.3 and
    the event ldap_unavailable is recorded; a cached one is still
    accepted (cache_positive); slapd back: 250 again, no restart."""
    m = ldap_moat(moat_factory, own_slapd["uri"], tmp_path)
    got = rcpts(m.port, ["alice@corp.example", "ghost@corp.example"])
    assert got["alice@corp.example"][0] == 250
    assert got["ghost@corp.example"][0] == 550
    stop_slapd(own_slapd["proc"])
    got = rcpts(m.port, ["carol@corp.example", "alice@corp.example",
                         "ghost@corp.example"])
    assert got["carol@corp.example"][0] == 451, got
    assert got["carol@corp.example"][1].startswith("4.4.3"), got
    assert got["alice@corp.example"][0] == 250, got     # cached
    assert got["ghost@corp.example"][0] == 550, got     # cached too
    ev = wait_events(m, "ldap_unavailable")
    assert ev and "ldap=corp" in ev[0][0], ev
    assert "event=ldap_unavailable" in m.log()
    own_slapd["proc"] = restart_slapd(own_slapd["proc"])
    deadline = time.monotonic() + 20
    while True:
        code = rcpts(m.port, ["carol@corp.example"])["carol@corp.example"]
        if code[0] == 250 or time.monotonic() > deadline:
            break
        assert code[0] == 451, code
        time.sleep(0.5)
    assert code[0] == 250, code


def test_smtp_fifty_sessions_while_directory_hangs(moat_factory, own_slapd,
                                                   tmp_path):
    """50 sessions at once; slapd frozen: the 25 asking the directory
    wait (then 451 after timeout), the 25 asking for a local mailbox are
    answered at once: no lookup waits for another."""
    m = ldap_moat(moat_factory, own_slapd["uri"], tmp_path,
                  ldap_extra="cache_positive = 0\ncache_negative = 0")
    assert rcpts(m.port, ["alice@corp.example"])["alice@corp.example"][0] \
        == 250
    pid = own_slapd["proc"].pid
    results, lock = {}, threading.Lock()

    def one(i, addr):
        t0 = time.monotonic()
        code = rcpts(m.port, [addr])[addr][0]
        with lock:
            results[i] = (addr, code, time.monotonic() - t0)

    freeze(pid)
    try:
        threads = []
        for i in range(50):
            addr = ("user%d@corp.example" % i if i % 2 else
                    ("alice@example.org" if i % 4 else "bob@example.org"))
            threads.append(threading.Thread(target=one, args=(i, addr)))
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert len(results) == 50
    local = [r for r in results.values() if r[0].endswith("example.org")]
    corp = [r for r in results.values() if r[0].endswith("corp.example")]
    assert all(code == 250 for _, code, _ in local), local
    assert max(took for _, _, took in local) < 1.5, local
    assert all(code == 451 for _, code, _ in corp), corp
    assert all(took < 6 for _, _, took in corp), corp
    # thawed: answers again
    deadline = time.monotonic() + 20
    while True:
        code = rcpts(m.port, ["user7@corp.example"])["user7@corp.example"]
        if code[0] == 250 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert code[0] == 250


def test_smtp_fifty_sessions_found(moat_factory, slapd, tmp_path):
    """50 sessions at once, each its own user: every one 250, quickly."""
    m = ldap_moat(moat_factory, slapd, tmp_path)
    results, lock = {}, threading.Lock()

    def one(i):
        addr = "user%d@corp.example" % i
        code = rcpts(m.port, [addr, "x%d@corp.example" % i])
        with lock:
            results[i] = code

    t0 = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 50
    for i, got in results.items():
        assert got["user%d@corp.example" % i][0] == 250, got
        assert got["x%d@corp.example" % i][0] == 550, got
    assert time.monotonic() - t0 < 15


def test_smtp_ldaps_verified(moat_factory):
    """ldaps with the right CA: 250/550; with another CA: 451, never an
    answer from a server whose certificate does not verify."""
    d = moat_conf_dir()
    try:
        good = make_test_ca(d, "good")
        other = make_test_ca(d, "other")
        for f in os.listdir(d):
            os.chmod(os.path.join(d, f), 0o644)
        proc, _ = start_slapd(d, ENTRIES, tls=good)
        try:
            m = ldap_moat(moat_factory, proc.ldaps_uri, d, tls="ldaps",
                          ldap_extra="ca_file = %s" % good[2])
            got = rcpts(m.port, ["alice@corp.example", "ghost@corp.example"])
            assert got["alice@corp.example"][0] == 250, got
            assert got["ghost@corp.example"][0] == 550, got
            m2 = ldap_moat(moat_factory, proc.ldaps_uri, d, tls="ldaps",
                           ldap_extra="ca_file = %s" % other[2])
            got = rcpts(m2.port, ["alice@corp.example",
                                  "ghost@corp.example"])
            assert got["alice@corp.example"][0] == 451, got
            assert got["ghost@corp.example"][0] == 451, got
        finally:
            stop_slapd(proc)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_serve_refuses_open_bind_file(moat_factory, slapd, tmp_path):
    m = ldap_moat(moat_factory, slapd, tmp_path)
    m.stop()
    os.chmod(os.path.join(str(tmp_path), "bind.secret"), 0o640)
    r = subprocess.run([MOAT_BIN, "serve", "-c", m.conf], cwd=m.dir,
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 1
    assert "ldap corp: bind_file" in r.stderr and "mode 640" in r.stderr


def test_smtp_reload_keeps_directory(moat_factory, slapd, tmp_path):
    """SIGHUP: the directory (connection, cache) stays; a changed [ldap]
    section is logged as needing a restart; a section added by the
    reload has no directory yet, so its domain gets 451, never 550."""
    m = ldap_moat(moat_factory, slapd, tmp_path)
    assert rcpts(m.port, ["alice@corp.example"])["alice@corp.example"][0] \
        == 250
    with open(m.conf) as f:
        text = f.read()
    text = text.replace("timeout = 2\n", "timeout = 3\n")
    text = text.replace("recipient_ldap = corp.example=corp\n",
                        "recipient_ldap = corp.example=corp, "
                        "other.example=other\n")
    text = text.replace("routes = corp.example=[127.0.0.1]:9\n",
                        "routes = corp.example=[127.0.0.1]:9, "
                        "other.example=[127.0.0.1]:9\n")
    text += ("[ldap other]\nservers = %s\ntls = none\nbase = %s\n"
             "filter = %s\n" % (slapd, SUFFIX, FILTER))
    with open(m.conf, "w") as f:
        f.write(text)
    m.proc.send_signal(signal.SIGHUP)
    assert m.wait_log("event=ldap_needs_restart ldap=corp"), m.log()
    assert m.wait_log("event=ldap_needs_restart ldap=other"), m.log()
    got = rcpts(m.port, ["bob@corp.example", "ghost@corp.example",
                         "bob@other.example"])
    assert got["bob@corp.example"][0] == 250, got
    assert got["ghost@corp.example"][0] == 550, got
    assert got["bob@other.example"][0] == 451, got


def test_smtp_connect_to_silent_server_blocks_nobody(moat_factory, tmp_path):
    """The only server accepts TCP and never answers: the connect and
    bind run off the lookup process's loop, so while a corp.example RCPT
    waits for them (then 451), a local mailbox is answered at once."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    uri = "ldap://127.0.0.1:%d" % silent.getsockname()[1]
    try:
        m = ldap_moat(moat_factory, uri, tmp_path)
        result = {}

        def corp():
            t0 = time.monotonic()
            got = rcpts(m.port, ["alice@corp.example"])
            result["corp"] = (got["alice@corp.example"][0],
                              time.monotonic() - t0)

        t = threading.Thread(target=corp)
        t.start()
        time.sleep(0.5)         # the attempt is under way
        t0 = time.monotonic()
        got = rcpts(m.port, ["alice@example.org", "bob@example.org"])
        took = time.monotonic() - t0
        t.join(30)
        assert got["alice@example.org"][0] == 250, got
        assert got["bob@example.org"][0] == 250, got
        assert took < 1.0, took
        code, waited = result["corp"]
        assert code == 451, result
        assert 1.5 < waited < 6, result
    finally:
        silent.close()
