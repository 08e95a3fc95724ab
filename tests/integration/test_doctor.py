"""`moat doctor`: the configuration audited, each finding with a severity
and a fix, the exit status by the worst (0 nothing above info, 3 warning,
4 error, 5 critical).

A good configuration gives nothing above info; each bad point alone gives
its finding; an open relay (relay_networks wide enough to cover the
client's 127.x) is found by the live battery against the running daemon;
the DNS checks ask a dnsmasq on the loopback whose records match (PTR,
A, MX, SPF pointing here) or do not.
"""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import MOAT_BIN, free_port, wait_dns

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"

DOMAINS = "[domains]\nlocal_domains = example.org\nmailboxes = postmaster, alice\n"
GOOD = ("[relay]\nrelay_networks = 127.0.0.2/32\n"
        "[watch]\nalert_command = /bin/true\n")


def doctor(conf=None, *args, timeout=120):
    env = dict(os.environ)
    env.pop("MOAT_CONFIG", None)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0")
    cmd = [MOAT_BIN, "doctor", "--json", *args]
    if conf:
        cmd += ["-c", conf]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       env=env)
    assert r.returncode not in (1, 2), r.stderr
    out = json.loads(r.stdout)
    assert out["exit"] == r.returncode
    return r.returncode, out


def findings(out, check, severity=None):
    return [f for f in out["findings"] if f["check"] == check
            and (severity is None or f["severity"] == severity)]


def above_info(out):
    return [f for f in out["findings"]
            if f["severity"] not in ("ok", "info")]


@pytest.fixture(scope="module")
def cert90():
    """A certificate valid for 90 days (the shared one expires in two:
    doctor warns about that)."""
    d = tempfile.mkdtemp(prefix="moat-doctor-tls-")
    os.chmod(d, 0o755)
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
         "-days", "90", "-subj", "/CN=mx.test.example"],
        check=True, capture_output=True)
    os.chmod(key, 0o600)
    yield cert, key
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def good(moat_factory, cert90):
    """A good configuration, not started: its moat and its path."""
    def make(extra="", **kw):
        if kw.get("tls", True) is True:
            kw["tls"] = cert90
        kw.setdefault("users", {"alice": "correct horse battery"})
        kw.setdefault("domains", DOMAINS)
        base = GOOD
        if "relay_networks" in extra:       # one value per knob
            base = base.replace("relay_networks = 127.0.0.2/32", "")
        m = moat_factory(extra=base + extra, start=False, **kw)
        return m
    return make


def test_good_config_no_warning(good):
    m = good()
    rc, out = doctor(m.conf, "--no-dns")
    assert above_info(out) == [], out
    assert rc == 0
    assert out["source"] == "no daemon answers"
    # the daemon is needed for the live battery: skipped, said so
    assert any("not running" in f["finding"]
               for f in findings(out, "relay_test", "info"))
    assert findings(out, "secrets", "ok")
    assert findings(out, "auth_on_mx", "ok")


@pytest.mark.parametrize("extra,listeners,tls,check,severity,rc", [
    ("", [("mx", "mx", "auth = yes")], True, "auth_on_mx", "error", 4),
    ("[relay]\nrelay_networks = 10.0.0.0/8\n", None, True,
     "relay_networks", "warning", 3),
    ("[relay]\nrelay_networks = 198.51.100.0/22\n", None, True,
     "relay_networks", "error", 4),
    ("[relay]\nrelay_networks = 0.0.0.0/1\n", None, True,
     "relay_networks", "critical", 5),
    ("", None, False, "tls", "warning", 3),
    ("", [("mx", "mx", "starttls = no")], True, "tls", "warning", 3),
    ("", [("mx", "mx", ""), ("sub", "submission", "tls_required = no")],
     True, "tls", "warning", 3),
    ("[log]\nauth = warn\n", None, True, "logging", "warning", 3),
    ("[watch]\nwatch_action = alert\n", None, True, "watch", "warning", 3),
    ("[watch]\nquarantine_after_guessing = no\n", None, True, "watch",
     "warning", 3),
    ("[policy]\nauth_fail_limit = 100\n", None, True, "defences",
     "warning", 3),
    ("[domains]\nlocal_domains = example.org\nmailboxes = alice\n"
     "role_mailbox =\n", None, True, "mailboxes", "warning", 3),
], ids=["auth-on-mx", "relay-private-8", "relay-public-22", "relay-half",
        "no-tls", "no-starttls", "submission-tls-optional", "auth-log-off",
        "watch-alert-only", "no-quarantine", "ban-limit-high",
        "no-postmaster"])
def test_each_bad_point(good, extra, listeners, tls, check, severity, rc):
    if extra.startswith("[domains]"):
        m = good(listeners=listeners, tls=tls, domains=extra)
    else:
        m = good(extra, listeners=listeners, tls=tls)
    code, out = doctor(m.conf, "--no-dns")
    got = findings(out, check, severity)
    assert got, out
    assert all(f["fix"] for f in got)
    assert code == rc
    assert out["worst"] == severity
    # that one point alone
    assert {f["check"] for f in above_info(out)} == {check}, out


@pytest.mark.parametrize("old,new,extra,check,severity,rc", [
    ("hostname = mx.test.example", "hostname = mailhost", "", "hostname",
     "warning", 3),
    ("", "", "[delivery]\nsmarthost = [127.0.0.1]:2525\n"
     "smarthost_auth_file = AUTH\nsmarthost_tls_verify = no\n", "tls",
     "warning", 3),
], ids=["hostname-single-label", "smarthost-unverified"])
def test_conf_edits(good, old, new, extra, check, severity, rc):
    m = good()
    auth = os.path.join(m.dir, "smarthost_auth")
    with open(auth, "w") as f:
        f.write("user:secret\n")
    os.chmod(auth, 0o600)
    text = open(m.conf).read()
    if old:
        text = text.replace(old, new)
    with open(m.conf, "w") as f:
        f.write(text + extra.replace("AUTH", auth))
    code, out = doctor(m.conf, "--no-dns")
    got = findings(out, check, severity)
    assert got and got[0]["fix"], out
    assert {f["check"] for f in above_info(out)} == {check}, out
    assert code == rc


def test_no_alert_command(moat_factory, cert90):
    m = moat_factory(extra=GOOD.replace("alert_command = /bin/true", ""),
                     start=False, users={"alice": "correct horse battery"},
                     domains=DOMAINS, tls=cert90)
    code, out = doctor(m.conf, "--no-dns")
    assert code == 3
    assert findings(out, "watch", "warning")


def test_certificate_expiring(moat_factory):
    """The shared test certificate is valid for two days."""
    m = moat_factory(extra=GOOD, start=False, domains=DOMAINS,
                     users={"alice": "correct horse battery"})
    code, out = doctor(m.conf, "--no-dns")
    got = findings(out, "tls", "warning")
    assert got and "expires in" in got[0]["finding"], out
    assert code == 3


@pytest.mark.parametrize("knob,mode,group,severity,rc", [
    ("users_file", 0o644, None, "error", 4),
    ("users_file", 0o666, None, "critical", 5),
    ("tls_key", 0o640, "_moat", "warning", 3),
    ("smarthost_auth_file", 0o604, None, "error", 4),
    ("dkim_key", 0o644, None, "error", 4),
    ("console_users", 0o644, None, "error", 4),
], ids=["users-world-readable", "users-world-writable",
        "key-group-moat", "smarthost-auth-readable", "dkim-key-readable",
        "console-users-readable"])
def test_secret_readable(good, knob, mode, group, severity, rc):
    d = tempfile.mkdtemp(prefix="moat-doctor-")
    try:
        os.chmod(d, 0o755)
        extra = ""
        path = os.path.join(d, "secret")
        if knob == "smarthost_auth_file":
            with open(path, "w") as f:
                f.write("user:password\n")
            extra = "[delivery]\nsmarthost_auth_file = %s\n" % path
        elif knob == "dkim_key":
            subprocess.run([MOAT_BIN, "dkim", "keygen", "example.org", "s1",
                            "--type", "ed25519", "--dir", d], check=True,
                           capture_output=True)
            path = [os.path.join(d, n) for n in os.listdir(d)
                    if n.endswith(".key") or n.endswith(".pem")
                    or "private" in n][0]
            extra = "[dkim]\ndkim_sign = example.org:s1:%s\n" % path
        elif knob == "console_users":
            with open(path, "w") as f:
                f.write("admin:$argon2id$v=19$m=65536,t=2,p=1$x$y\n")
            extra = ("[console]\nconsole_listen = 127.0.0.1:%d\n"
                     "console_users = %s\n" % (free_port(), path))
        m = good(extra)
        if knob == "users_file":
            path = m.users_file
        elif knob == "tls_key":
            # a copy of the test key, so the shared one stays 0600
            conf = open(m.conf).read()
            key = [l.split("=", 1)[1].strip() for l in conf.splitlines()
                   if l.startswith("tls_key")][0]
            shutil.copy(key, path)
            with open(m.conf, "w") as f:
                f.write(conf.replace(key, path))
        os.chmod(path, mode)
        if group:
            shutil.chown(path, group=group)
        code, out = doctor(m.conf, "--no-dns")
        got = findings(out, "secrets", severity)
        assert got and path in got[0]["finding"], out
        assert "chmod 600 %s" % path in got[0]["fix"]
        if group:
            assert "chown root:root %s" % path in got[0]["fix"]
        assert code == rc
        os.chmod(path, 0o600)
        shutil.chown(path, group="root")
        code, out = doctor(m.conf, "--no-dns")
        assert not above_info(out), out
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_running_daemon_clean_relay_test(good):
    """The running daemon's configuration (found through the socket alone),
    and the battery from 127.0.0.1 refused: plain and inside STARTTLS on
    the mx listener, inside implicit TLS on the submissions one."""
    m = good(listeners=[("mx", "mx", ""), ("smtps", "submissions", "")])
    m.start()
    sock = os.path.join(m.dir, "var", "spool", "control.sock")
    code, out = doctor(None, "--socket", sock, "--no-dns")
    assert out["config"] == m.conf
    assert out["source"] == "the running daemon's"
    oks = [f["finding"] for f in findings(out, "relay_test", "ok")]
    assert any(f.startswith("listener mx: no outside recipient accepted")
               and "from 127.0.0.1" in f for f in oks), out
    assert any(f.startswith("listener mx inside STARTTLS: no outside")
               for f in oks), out
    assert any(f.startswith("listener smtps inside TLS: no outside")
               for f in oks), out
    assert above_info(out) == [], out
    assert code == 0
    # the control socket opened to everyone: critical
    os.chmod(sock, 0o666)
    try:
        code, out = doctor(m.conf, "--no-dns", "--no-relay-test")
    finally:
        os.chmod(sock, 0o660)
    crit = findings(out, "control", "critical")
    assert crit and "anyone may connect" in crit[0]["finding"], out
    assert crit[0]["fix"].startswith("chmod 660 ")
    assert code == 5


def test_open_relay_found_live(good):
    """relay_networks covering every 127.x the client could use: the
    battery runs anyway, since that entry lets the Internet in too, and
    its relayed recipients are critical, naming the trick."""
    m = good("[relay]\nrelay_networks = 0.0.0.0/1\n")
    m.start()
    code, out = doctor(m.conf, "--no-dns")
    crit = findings(out, "relay_test", "critical")
    assert len(crit) == 2, out              # plain, and inside STARTTLS
    assert "inside STARTTLS" in crit[1]["finding"]
    assert "plain" in crit[0]["finding"]
    assert "0.0.0.0/1" in crit[0]["finding"]
    assert "relays for an outside client" in crit[0]["finding"]
    assert code == 5
    # no DATA was ever sent: nothing queued
    assert m.sql("SELECT COUNT(*) FROM message")[0][0] == "0"


@pytest.fixture
def dnsmasq():
    procs = []

    def start(*records):
        port = free_port()
        args = [DNSMASQ, "--no-daemon", "--port=%d" % port,
                "--listen-address=127.0.0.1", "--bind-interfaces",
                "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
                "--pid-file=", "--log-facility=-",
                "--local=/example.org/", "--local=/test.example/",
                "--local=/127.in-addr.arpa/", "--local=/example/",
                *records]
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        procs.append(p)
        wait_dns(port, p)
        return "127.0.0.1@%d" % port
    yield start
    for p in procs:
        p.terminate()
        p.wait(5)


def dns_conf(server):
    return ("[delivery]\ndns_server = %s\nsource_address_v4 = 127.0.0.1\n"
            % server)


def test_dns_pointing_here(good, dnsmasq):
    server = dnsmasq("--host-record=mx.test.example,127.0.0.1",
                     "--mx-host=example.org,mx.test.example,10",
                     "--txt-record=example.org,v=spf1 ip4:127.0.0.1 -all")
    m = good(dns_conf(server))
    code, out = doctor(m.conf, "--no-relay-test", "--address", "127.0.0.1")
    assert findings(out, "fcrdns", "ok"), out
    assert findings(out, "mx", "ok"), out
    assert findings(out, "spf", "ok"), out
    assert above_info(out) == [], out
    assert code == 0


def test_dns_pointing_elsewhere(good, dnsmasq):
    server = dnsmasq("--ptr-record=1.0.0.127.in-addr.arpa,other.test.example",
                     "--host-record=mx.test.example,192.0.2.25",
                     "--host-record=mail.elsewhere.example,192.0.2.26",
                     "--mx-host=example.org,mail.elsewhere.example,10",
                     "--txt-record=example.org,v=spf1 ip4:192.0.2.0/24 -all")
    m = good(dns_conf(server))
    code, out = doctor(m.conf, "--no-relay-test", "--address", "127.0.0.1")
    fc = findings(out, "fcrdns", "error")
    assert fc and "other.test.example" in fc[0]["finding"], out
    mx = findings(out, "mx", "error")
    assert mx and "mail.elsewhere.example" in mx[0]["finding"], out
    spf = findings(out, "spf", "error")
    assert spf and "fail" in spf[0]["finding"], out
    assert "ip4:127.0.0.1" in spf[0]["fix"]
    assert code == 4


def test_dns_ptr_right_forward_wrong(good, dnsmasq):
    """PTR names hostname, but hostname resolves elsewhere: not FCrDNS."""
    server = dnsmasq("--ptr-record=1.0.0.127.in-addr.arpa,mx.test.example",
                     "--host-record=mx.test.example,192.0.2.25",
                     "--mx-host=example.org,mx.test.example,10",
                     "--txt-record=example.org,v=spf1 ip4:127.0.0.1 -all")
    m = good(dns_conf(server))
    code, out = doctor(m.conf, "--no-relay-test", "--address", "127.0.0.1")
    fc = findings(out, "fcrdns", "error")
    assert fc and "resolves to 192.0.2.25" in fc[0]["finding"], out
    assert "A 127.0.0.1" in fc[0]["fix"]
    # the MX host resolves to 192.0.2.25 too: not here
    assert findings(out, "mx", "error")
    assert findings(out, "spf", "ok")
    assert code == 4


def test_dns_no_ptr(good, dnsmasq):
    server = dnsmasq("--host-record=mx.test.example,192.0.2.25")
    m = good(dns_conf(server))
    code, out = doctor(m.conf, "--no-relay-test", "--address", "127.0.0.1")
    fc = findings(out, "fcrdns", "error")
    assert fc and "no PTR" in fc[0]["finding"], out
    assert findings(out, "mx", "warning")       # no MX at all
    assert findings(out, "spf", "warning")      # no SPF record: none
    assert code == 4


def test_table_output(good):
    m = good("[relay]\nrelay_networks = 10.0.0.0/8\n")
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0")
    r = subprocess.run([MOAT_BIN, "doctor", "-c", m.conf, "--no-dns"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 3
    lines = r.stdout.splitlines()
    assert lines[0].startswith("moat doctor: %s" % m.conf)
    assert "CHECK" in r.stdout and "SEVERITY" in r.stdout
    i = [n for n, l in enumerate(lines) if "10.0.0.0/8" in l][0]
    assert lines[i].split()[0] in ("relay_networks", "warning")
    assert "fix:" in lines[i + 1]
    assert lines[-1] == "worst: warning"
    r = subprocess.run([MOAT_BIN, "doctor", "--bogus"], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 2
