"""Bans per client network and ban changes one at a time.

An IPv6 client usually holds a whole /64: failures and bans count per
client_prefix_v6 network. The IPv6 case runs in a network namespace of
its own (unshare -n) with a ULA /64 on its loopback; the IPv4 knob is
tried on 127.0.0.0/8. Admin bans reach smtp as single changes, never as
the whole list again.
"""
import os
import smtplib
import socket
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from conftest import MOAT_BIN, free_port  # noqa: E402

from submission import LISTENERS, PASSWORD, USER, plain  # noqa: E402
from submission import tls_context as ctx  # noqa: E402


def banner(host, port, src, timeout=5):
    """The first reply line a client at src gets, or '' if closed."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as c:
        c.settimeout(timeout)
        c.bind((src, 0))
        c.connect((host, port))
        data = b""
        try:
            while not data.endswith(b"\r\n"):
                chunk = c.recv(512)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        return data.decode(errors="replace")


def auth_fail_once(host, port, src):
    """One session from src with one wrong password; the reply code."""
    s = smtplib.SMTP(host, port, timeout=15, source_address=(src, 0))
    try:
        s.ehlo("client.example")
        s.starttls(context=ctx())
        s.ehlo("client.example")
        return s.docmd("AUTH", "PLAIN " + plain(USER, "guess"))[0]
    finally:
        try:
            s.close()
        except Exception:
            pass


def ctl(m, *args):
    r = subprocess.run([MOAT_BIN] + list(args) + ["-c", m.conf], cwd=m.dir,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def test_ipv4_client_prefix_aggregates(moat_factory):
    """client_prefix_v4 = 24: failures from three addresses of one /24
    ban the /24; sessions per address count the /24 too."""
    m = moat_factory(listeners=LISTENERS, users={USER: PASSWORD},
                     extra="[limits]\nauth_fail_delay_ms = 10\n"
                           "max_sessions_per_ip = 2\n"
                           "[policy]\nauth_fail_limit = 3\n"
                           "client_prefix_v4 = 24\n")
    sub = m.ports["sub"]
    # two sessions from .41 and .42 fill the /24's allowance
    a = smtplib.SMTP("127.0.0.1", m.port, source_address=("127.0.7.41", 0))
    b = smtplib.SMTP("127.0.0.1", m.port, source_address=("127.0.7.42", 0))
    assert banner("127.0.0.1", m.port, "127.0.7.43").startswith("421 ")
    assert banner("127.0.0.1", m.port, "127.0.8.1").startswith("220 ")
    a.quit()
    b.quit()
    codes = [auth_fail_once("127.0.0.1", sub, "127.0.7.%d" % i)
             for i in (10, 11, 12)]
    assert codes == [535, 535, 421], codes
    assert m.wait_log("net=127.0.7.0/24")
    assert banner("127.0.0.1", sub, "127.0.7.200").startswith("554 5.7.1")
    assert banner("127.0.0.1", sub, "127.0.8.1").startswith("220 ")
    time.sleep(0.3)     # the queue commits the ban
    assert m.sql("select cidr from bans") == [["127.0.7.0/24"]]


def test_admin_bans_sent_one_at_a_time(moat_factory):
    """Adding and lifting bans sends smtp only the change: the whole
    list goes out once, at start; each change is enforced at once."""
    m = moat_factory(listeners=LISTENERS, users={USER: PASSWORD},
                     extra="[limits]\nauth_fail_delay_ms = 10\n"
                           "[policy]\nauth_fail_limit = 2\n")
    for i in range(1, 6):
        ctl(m, "ban", "add", "127.0.9.%d/32" % i, "--for", "1h")
    ctl(m, "ban", "add", "127.0.10.0/24")
    # a defence's ban, decided in smtp, is not echoed back either
    assert [auth_fail_once("127.0.0.1", m.ports["sub"], "127.0.11.1")
            for _ in range(2)] == [535, 421]
    assert m.wait_log("event=ban_stored cidr=127.0.11.1/32")
    assert banner("127.0.0.1", m.port, "127.0.9.3").startswith("554 5.7.1")
    assert banner("127.0.0.1", m.port, "127.0.10.77").startswith("554 5.7.1")
    assert banner("127.0.0.1", m.port, "127.0.11.1").startswith("554 5.7.1")
    assert banner("127.0.0.1", m.port, "127.0.9.6").startswith("220 ")
    ctl(m, "ban", "del", "127.0.9.3/32")
    ctl(m, "ban", "del", "127.0.10.0/24")
    assert banner("127.0.0.1", m.port, "127.0.9.3").startswith("220 ")
    assert banner("127.0.0.1", m.port, "127.0.10.77").startswith("220 ")
    assert banner("127.0.0.1", m.port, "127.0.9.4").startswith("554 5.7.1")
    assert "bans_enforced" in ctl(m, "stats")
    enforced = [l.split()[-1] for l in ctl(m, "stats").splitlines()
                if l.startswith("bans_enforced")]
    assert enforced == ["5"], enforced
    loads = m.log().count("event=bans_loaded")
    assert loads == 1, "the whole list was sent %d times" % loads
    # after a restart the whole list comes back from the database
    m.stop()
    m.start()
    assert m.wait_log("event=bans_loaded count=5")
    assert banner("127.0.0.1", m.port, "127.0.9.4").startswith("554 5.7.1")
    assert banner("127.0.0.1", m.port, "127.0.11.1").startswith("554 5.7.1")
    assert banner("127.0.0.1", m.port, "127.0.9.3").startswith("220 ")


V6_NET, V6_OTHER = "fd00:6d6f:6174:1", "fd00:6d6f:6174:2"


def v6_scenario(cert, key):
    """Run inside a fresh network namespace: moat on a ULA /64, clients
    from several addresses of it. Exits non-zero on any failure."""
    def ip(*args):
        subprocess.run(["ip"] + list(args), check=True)
    ip("link", "set", "lo", "up")
    for host in ("1", "a", "b", "c", "d"):
        ip("addr", "add", "%s::%s/64" % (V6_NET, host), "dev", "lo", "nodad")
    ip("addr", "add", "%s::1/64" % V6_OTHER, "dev", "lo", "nodad")
    d = tempfile.mkdtemp(prefix="moat-v6-")
    os.chmod(d, 0o755)
    server = "%s::1" % V6_NET
    mx, sub = free_port(), free_port()
    users = os.path.join(d, "users")
    conf = os.path.join(d, "moat.conf")
    with open(conf, "w") as f:
        f.write("[server]\nhostname = mx.test.example\nspool_dir = var/spool\n"
                "mail_dir = var/mail\nempty_dir = var/empty\n"
                "users_file = %s\ntls_cert = %s\ntls_key = %s\n"
                "[delivery]\nblacklist_watch = no\n"
                "[limits]\nauth_fail_delay_ms = 10\nmax_sessions_per_ip = 2\n"
                "[policy]\nauth_fail_limit = 3\n"
                "[listener mx]\naddress = %s\nport = %d\nrole = mx\n"
                "[listener sub]\naddress = %s\nport = %d\n"
                "role = submission\n" % (users, cert, key, server, mx,
                                         server, sub))
    subprocess.run([MOAT_BIN, "passwd", USER, "-c", conf], input=PASSWORD +
                   "\n", text=True, check=True, capture_output=True, cwd=d)
    log = open(os.path.join(d, "moat.log"), "wb")
    p = subprocess.Popen([MOAT_BIN, "serve", "-c", conf], cwd=d, stdout=log,
                         stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 15
        while True:
            try:
                # from the other /64: the probe is no session of the test's
                socket.create_connection((server, sub), 0.2,
                                         (V6_OTHER + "::1", 0)).close()
                break
            except OSError:
                assert time.time() < deadline and p.poll() is None, "no start"
                time.sleep(0.05)
        # sessions per address count the /64
        s1 = smtplib.SMTP(server, mx, source_address=(V6_NET + "::a", 0))
        s2 = smtplib.SMTP(server, mx, source_address=(V6_NET + "::b", 0))
        got = banner(server, mx, V6_NET + "::c")
        assert got.startswith("421 "), "third session of the /64: " + got
        assert banner(server, mx, V6_OTHER + "::1").startswith("220 ")
        s1.quit()
        s2.quit()
        time.sleep(0.2)
        # one AUTH failure from each of three addresses: the /64 is banned
        codes = [auth_fail_once(server, sub, "%s::%s" % (V6_NET, h))
                 for h in ("a", "b", "c")]
        assert codes == [535, 535, 421], codes
        got = banner(server, sub, V6_NET + "::d")
        assert got.startswith("554 5.7.1"), "::d after the ban: " + got
        assert banner(server, mx, V6_OTHER + "::1").startswith("220 ")
        time.sleep(0.3)
        r = subprocess.run(["sqlite3", "-readonly",
                            os.path.join(d, "var/spool/queue.db"),
                            "select cidr from bans"], capture_output=True,
                           text=True, check=True)
        assert r.stdout.split() == [V6_NET + "::/64"], r.stdout
    finally:
        p.terminate()
        p.wait(20)
        log.close()
        if p.returncode not in (0, None):
            sys.stdout.write(open(os.path.join(d, "moat.log")).read())
    print("v6 scenario ok")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for unshare -n")
def test_ipv6_clients_counted_and_banned_per_64(tls_files):
    r = subprocess.run(["unshare", "-n", "--", sys.executable, __file__,
                        "v6", tls_files[0], tls_files[1]],
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, MOAT_BIN=MOAT_BIN))
    assert r.returncode == 0 and "v6 scenario ok" in r.stdout, \
        r.stdout[-4000:] + r.stderr[-4000:]


if __name__ == "__main__" and sys.argv[1:2] == ["v6"]:
    v6_scenario(sys.argv[2], sys.argv[3])
