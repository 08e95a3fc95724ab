"""`moat relaytest`: the built-in open-relay and smuggling battery.

It must pass against moat, and it must be able to fail: against a
deliberately open relay (Debian's python3-aiosmtpd with its default
handler, which accepts every RCPT) and against a tiny server that ends
DATA at a bare-LF dot (SMTP smuggling). nmap's smtp-open-relay and
smtp-enum-users scripts are run against both moat and aiosmtpd, so that
the nmap check too is shown able to report a relay.

Only 127.0.0.0/8 is ever connected to. Each test uses its own client
address (--from-ip 127.0.3.N) so that moat's per-address harvest limits
of one test never touch another.
"""
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import MOAT_BIN, free_port

SYSTEM_PYTHON = "/usr/bin/python3"
NMAP = "/usr/bin/nmap"


def relaytest(*args, timeout=120):
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0")
    return subprocess.run([MOAT_BIN, "relaytest", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def rows(stdout):
    """Table rows as dicts (case, sender, recipient, stage, code, verdict)."""
    out = []
    for line in stdout.splitlines()[1:]:
        if not line.strip():
            break
        f = line.split()
        out.append({"case": f[0], "sender": f[1], "recipient": f[2],
                    "stage": f[3], "code": f[4], "verdict": f[5]})
    return out


def wait_port(port, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on port %d" % port)


@pytest.fixture
def open_relay():
    """aiosmtpd with its default handler: accepts every RCPT."""
    port = free_port()
    proc = subprocess.Popen(
        [SYSTEM_PYTHON, "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:%d" % port],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_port(port)
    except RuntimeError:
        proc.kill()
        raise RuntimeError("aiosmtpd did not start (is python3-aiosmtpd "
                           "installed? scripts/deps.sh test): %s"
                           % proc.communicate()[1].decode())
    yield port
    proc.terminate()
    proc.wait(10)


class NaiveServer:
    """An SMTP server that splits lines at LF and ends DATA at any line
    that is '.' once CR and LF are stripped: vulnerable to smuggling.
    It refuses every outside recipient, so only smuggling can fail."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.messages = 0
        self.stop = False
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(conn,),
                             daemon=True).start()

    def session(self, conn):
        f = conn.makefile("rb")
        conn.sendall(b"220 naive.test ESMTP\r\n")
        data = False
        try:
            for raw in f:
                line = raw.rstrip(b"\r\n").rstrip(b"\r")
                if data:
                    if line == b".":
                        data = False
                        self.messages += 1
                        conn.sendall(b"250 queued\r\n")
                    continue
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    conn.sendall(b"250 naive.test\r\n")
                elif verb == b"MAIL":
                    conn.sendall(b"250 ok\r\n")
                elif verb == b"RCPT":
                    if b"@localhost>" in line.lower():
                        conn.sendall(b"250 ok\r\n")
                    else:
                        conn.sendall(b"554 relay denied\r\n")
                elif verb == b"DATA":
                    data = True
                    conn.sendall(b"354 go\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    break
                else:
                    conn.sendall(b"500 what\r\n")
        except OSError:
            pass
        conn.close()

    def close(self):
        self.stop = True
        self.sock.close()


@pytest.fixture
def naive_server():
    s = NaiveServer()
    yield s
    s.close()


def test_relaytest_passes_against_moat(moat):
    r = relaytest("127.0.0.1:%d" % moat.port, "--local-domain", "example.org",
                  "--from-ip", "127.0.3.1", "--timeout", "5")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "result: PASS" in r.stdout
    got = rows(r.stdout)
    assert len(got) > 60
    assert not [x for x in got if x["verdict"] in ("FAIL", "ERROR")], r.stdout
    control = got[0]
    assert control["case"] == "control" and control["verdict"] == "PASS"
    smug = [x for x in got if x["case"].startswith("smuggle-")]
    assert len(smug) == 6 and all(x["verdict"] == "PASS" for x in smug)
    # moat rejects every smuggling probe as one message; nothing relayed
    assert all(x["code"] == "550" for x in smug), r.stdout
    assert moat.proc.poll() is None
    assert moat.wait_log("event=relay_denied")


def test_relaytest_json_against_moat(moat):
    r = relaytest("127.0.0.1:%d" % moat.port, "--local-domain", "localhost",
                  "--from-ip", "127.0.3.2", "--json", "--no-smuggling")
    assert r.returncode == 0, r.stdout + r.stderr
    got = json.loads(r.stdout)
    assert got[0]["case"] == "control" and got[0]["code"] == 250
    assert {x["kind"] for x in got} == {"control", "external", "local"}
    for x in got:
        assert x["verdict"] in ("PASS", "WARN"), x
        if x["kind"] == "external" and x["stage"] == "RCPT":
            assert 400 <= x["code"] < 600, x
    plain = [x for x in got if x["case"] == "plain"]
    assert len(plain) == 5
    assert {x["sender"] for x in plain} == {
        "<>", "<relaytest>", "<postmaster@localhost>",
        "<someone@relaytest.invalid>", "<postmaster@[127.0.0.1]>"}


def test_relaytest_fails_for_trusted_client(moat):
    """From inside relay_networks moat relays by design: the battery sees it."""
    r = relaytest("127.0.0.1:%d" % moat.port, "--local-domain", "example.org",
                  "--from-ip", "127.0.0.2", "--no-smuggling")
    assert r.returncode == 1, r.stdout + r.stderr
    got = rows(r.stdout)
    assert [x for x in got if x["case"] == "plain" and x["verdict"] == "FAIL"]
    assert "result: FAIL" in r.stdout


def test_relaytest_fails_against_open_relay(open_relay):
    r = relaytest("127.0.0.1:%d" % open_relay, "--local-domain", "example.org",
                  "--external-domain", "outside.example", "--timeout", "5")
    assert r.returncode == 1, r.stdout + r.stderr
    got = rows(r.stdout)
    fails = {x["case"] for x in got if x["verdict"] == "FAIL"}
    for case in ("plain", "upper-case", "source-route", "foreign-literal",
                 "percent-bare"):
        assert case in fails, r.stdout
    assert [x for x in got if x["case"] == "percent-hack"
            and x["verdict"] == "WARN"], r.stdout
    assert re.search(r"^relay: [1-9]\d* of \d+ tricks relayed$", r.stdout,
                     re.M), r.stdout
    assert "result: FAIL" in r.stdout
    # JSON tells the same
    r = relaytest("127.0.0.1:%d" % open_relay, "--local-domain", "example.org",
                  "--json", "--no-smuggling")
    assert r.returncode == 1
    got = json.loads(r.stdout)
    assert [x for x in got if x["case"] == "plain" and x["verdict"] == "FAIL"
            and x["code"] == 250]


def test_relaytest_detects_smuggling(naive_server):
    r = relaytest("127.0.0.1:%d" % naive_server.port, "--local-domain",
                  "localhost", "--timeout", "3")
    assert r.returncode == 1, r.stdout + r.stderr
    got = rows(r.stdout)
    # nothing relays: only the smuggling vectors with a bare LF before
    # the dot fail (the naive server splits lines at LF only)
    assert not [x for x in got if x["verdict"] == "FAIL"
                and not x["case"].startswith("smuggle-")], r.stdout
    smug = {x["case"]: x["verdict"] for x in got
            if x["case"].startswith("smuggle-")}
    assert smug["smuggle-lf-dot-lf"] == "FAIL"
    assert smug["smuggle-lf-dot-crlf"] == "FAIL"
    assert smug["smuggle-crlf-dot-lf"] == "FAIL"
    assert "smuggled commands answered" in r.stdout
    assert re.search(r"^smuggling: [1-9] of 6 vectors", r.stdout, re.M)


def test_relaytest_usage_and_unreachable():
    assert relaytest().returncode == 2
    assert relaytest("127.0.0.1:25").returncode == 2      # no --local-domain
    assert relaytest("127.0.0.1:25", "--local-domain").returncode == 2
    assert relaytest("127.0.0.1:99999", "--local-domain",
                     "example.org").returncode == 2
    assert relaytest("127.0.0.1:25", "--local-domain",
                     "exa mple.org").returncode == 2
    assert relaytest("127.0.0.1:25", "--local-domain", "example.org",
                     "--timeout", "0").returncode == 2
    assert relaytest("127.0.0.1:25", "--local-domain", "example.org",
                     "--bogus").returncode == 2
    r = relaytest("--help")
    assert r.returncode == 0 and "--local-domain" in r.stdout
    # nothing listens on a fresh port: exit 3, and it says why
    r = relaytest("127.0.0.1:%d" % free_port(), "--local-domain",
                  "example.org", "--timeout", "2")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "cannot connect" in r.stderr
    r = relaytest("[::1]:%d" % free_port(), "--local-domain", "example.org",
                  "--timeout", "2")
    assert r.returncode == 3, r.stdout + r.stderr


def nmap_relay(port):
    """nmap's relay and user enumeration scripts, forced on any port."""
    r = subprocess.run(
        [NMAP, "-Pn", "-n", "-p", str(port), "--script",
         "+smtp-open-relay,+smtp-enum-users", "--script-args",
         "smtp-open-relay.domain=example.org,smtp-open-relay.ip=127.0.0.1,"
         "smtp-enum-users.domain=example.org",
         "127.0.0.1"], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def enumerated_users(out):
    """User names nmap's smtp-enum-users listed (indented lines after it)."""
    users, inside = [], False
    for line in out.splitlines():
        if "smtp-enum-users:" in line:
            inside = True
            rest = line.split("smtp-enum-users:", 1)[1].strip()
            if rest:
                users.append(rest)
            if line.startswith("|_"):
                inside = False
            continue
        if inside:
            if not line.startswith("|"):
                break
            users.append(line.lstrip("|_ ").strip())
            if line.startswith("|_"):
                inside = False
    return users


def test_nmap_finds_no_relay_in_moat(moat_factory):
    # nmap tries all its tricks in one session; with moat's default
    # max_errors the session is cut (421) before nmap can conclude
    moat = moat_factory(extra="[relay]\nrelay_networks = 127.0.0.2/32\n"
                              "[limits]\nmax_errors = 1000\n")
    out = nmap_relay(moat.port)
    assert "smtp-open-relay" in out, out
    assert "Server doesn't seem to be an open relay" in out, out
    assert "is an open relay" not in out, out
    users = enumerated_users(out)
    # either no output at all or a message that nothing was found
    for u in users:
        assert not re.match(r"^[a-z]+$", u), (u, out)
    assert moat.proc.poll() is None


def test_nmap_finds_open_relay_in_aiosmtpd(open_relay):
    out = nmap_relay(open_relay)
    assert re.search(r"smtp-open-relay: Server is an open relay", out), out
    assert "root" in enumerated_users(out), out


def test_relaytest_on_start_passes(moat_factory):
    m = moat_factory(extra="[server]\nrelaytest_on_start = yes\n"
                           "[relay]\nrelay_networks = 127.0.0.2/32\n")
    assert m.wait_log("event=relaytest listener=mx")
    log = m.log()
    line = [l for l in log.splitlines() if "event=relaytest " in l][0]
    assert "result=pass" in line and "fail=0" in line, log
    assert "source=127.0.0.1" in line, log
    assert m.proc.poll() is None


def test_relaytest_on_start_picks_untrusted_source(moat_factory):
    m = moat_factory(extra="[server]\nrelaytest_on_start = yes\n"
                           "[relay]\nrelay_networks = 127.0.0.1/32\n")
    assert m.wait_log("event=relaytest listener=mx")
    line = [l for l in m.log().splitlines() if "event=relaytest " in l][0]
    assert "source=127.0.0.2" in line and "result=pass" in line, line
    assert m.proc.poll() is None


def test_relaytest_on_start_skips_trusted_loopback(moat_factory):
    m = moat_factory(extra="[server]\nrelaytest_on_start = yes\n"
                           "[relay]\nrelay_networks = 127.0.0.0/8\n")
    assert m.wait_log("event=relaytest_skipped listener=mx")
    assert m.proc.poll() is None


def test_relaytest_without_control_has_no_verdict(moat_factory):
    """A submission port refuses MAIL before AUTH: the control case cannot
    run, so refusals of the tricks prove nothing; no PASS, exit 4."""
    m = moat_factory(listeners=[("sub", "submission", "")])
    r = relaytest("127.0.0.1:%d" % m.ports["sub"], "--local-domain",
                  "example.org", "--no-smuggling", "--timeout", "5")
    assert r.returncode == 4, r.stdout + r.stderr
    got = rows(r.stdout)
    assert got[0]["case"] == "control" and got[0]["verdict"] != "PASS"
    assert "result: PASS" not in r.stdout
    assert re.search(r"^result: NO VERDICT \(the control case.*could not "
                     r"run", r.stdout, re.M), r.stdout
    r = relaytest("127.0.0.1:%d" % m.ports["sub"], "--local-domain",
                  "example.org", "--no-smuggling", "--json")
    assert r.returncode == 4, r.stdout + r.stderr
    assert json.loads(r.stdout)[0]["verdict"] != "PASS"


def test_relaytest_on_start_without_control_refuses_to_serve(moat_factory):
    """No postmaster mailbox (nor role_mailbox): the control case is
    refused, the battery at start has no verdict, and a configuration it
    could not check never serves."""
    m = moat_factory(start=False, extra="[server]\nrelaytest_on_start = yes\n",
                     domains="[domains]\nlocal_domains = example.org\n"
                             "mailboxes = alice\nrole_mailbox =\n")
    m.start(wait=False)
    assert m.proc.wait(30) == 1, m.log()
    log = m.log()
    assert "case=control" in log and "result=no_verdict" in log, log
    assert "event=relaytest_refused" in log, log


def test_relaytest_inside_tls(moat_factory):
    """--starttls runs every case inside TLS (moat logs a handshake each),
    and still sees a relay (from relay_networks, by design); --tls against
    a port without implicit TLS cannot run."""
    m = moat_factory(extra="[relay]\nrelay_networks = 127.0.0.2/32\n"
                     "[log]\ntls = info\n")
    r = relaytest("127.0.0.1:%d" % m.port, "--local-domain", "localhost",
                  "--from-ip", "127.0.3.20", "--starttls", "--json",
                  "--no-smuggling")
    assert r.returncode == 0, r.stdout + r.stderr
    got = json.loads(r.stdout)
    assert got[0]["case"] == "control" and got[0]["code"] == 250
    assert all(x["verdict"] in ("PASS", "WARN") for x in got), got
    assert m.log().count("event=tls client=127.0.3.20") >= len(got)
    r = relaytest("127.0.0.1:%d" % m.port, "--local-domain", "example.org",
                  "--from-ip", "127.0.0.2", "--starttls", "--no-smuggling")
    assert r.returncode == 1, r.stdout + r.stderr
    assert [x for x in rows(r.stdout)
            if x["case"] == "plain" and x["verdict"] == "FAIL"]
    r = relaytest("127.0.0.1:%d" % m.port, "--local-domain", "localhost",
                  "--from-ip", "127.0.3.21", "--tls", "--timeout", "2")
    assert r.returncode == 3, r.stdout + r.stderr
