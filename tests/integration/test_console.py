"""The web console over plain HTTP (no browser): login through the auth
process, the session cookie, CSRF on every POST, the allow-table, the
files built into the binary and their headers, and the configuration's
refusal of a console off loopback without TLS. Over HTTPS: only TLS is
spoken, the cookie is Secure, the key stays in the ca process, a client
certificate of console_client_ca logs in without a password and one of
another CA is refused in the handshake."""
import http.client
import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import tempfile
import time

import pytest

from conftest import MOAT_BIN, free_port
from console_fixture import (CONSOLE_PASSWORD, CONSOLE_USER, Console,  # noqa: F401
                             console, console_passwd)
from test_tls_ca import kids_by_name, memory_holds, needles, private_numbers


def test_files_are_served_with_their_headers(console):
    st, hd, body = console.request("GET", "/")
    assert st == 200
    assert hd["content-type"].startswith("text/html")
    assert b'<script type="module" src="/app.js">' in body
    csp = hd["content-security-policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp
    assert hd["x-frame-options"] == "DENY"
    st, hd, body = console.request("GET", "/app.js")
    assert st == 200 and hd["content-type"].startswith("text/javascript")
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "console",
                           "app.js"), "rb") as f:
        assert body == f.read()
    st, hd, _ = console.request("GET", "/style.css")
    assert st == 200 and hd["content-type"].startswith("text/css")
    assert console.request("GET", "/../moat.conf")[0] == 404
    assert console.request("GET", "/nothing.js")[0] == 404


def test_login_session_and_logout(console):
    # no session: the API is closed
    st, _, body = console.request("GET", "/api/sessions")
    assert st == 401 and json.loads(body)["status"] == "denied"
    st, cookie, csrf = console.login(password="wrong password!")
    assert st == 401 and cookie is None
    st, cookie, csrf = console.login()
    assert st == 200 and cookie and csrf and csrf != cookie
    st, hd, body = console.request("GET", "/api/session", cookie=cookie)
    assert st == 200
    j = json.loads(body)
    assert j["login"] == CONSOLE_USER and j["csrf"] == csrf
    assert hd["cache-control"] == "no-store"
    # the cookie the login set: HttpOnly, SameSite=Strict
    _, hd, _ = console.request("POST", "/api/login",
                               {"user": CONSOLE_USER,
                                "password": CONSOLE_PASSWORD},
                               {"X-CSRF-Token": "login"})
    assert "HttpOnly" in hd["set-cookie"]
    assert "SameSite=Strict" in hd["set-cookie"]
    # the same JSON as moat sessions --json
    st, _, body = console.request("GET", "/api/sessions", cookie=cookie)
    assert st == 200
    api = json.loads(body)
    cli = json.loads(subprocess.run([MOAT_BIN, "sessions", "--json", "-c",
                                     console.moat.conf], capture_output=True,
                                    text=True, check=True).stdout)
    assert api.keys() == cli.keys() and api["status"] == "ok"
    # logout needs the token, then ends the session
    assert console.request("POST", "/api/logout", "", cookie=cookie)[0] == 403
    st, _, _ = console.request("POST", "/api/logout", "",
                               {"X-CSRF-Token": csrf}, cookie=cookie)
    assert st == 200
    assert console.request("GET", "/api/session", cookie=cookie)[0] == 401
    # the failure and the logins are events
    ev = json.loads(subprocess.run(
        [MOAT_BIN, "events", "--json", "-c", console.moat.conf],
        capture_output=True, text=True, check=True).stdout)["events"]
    types = [e["type"] for e in ev]
    assert "console_login_fail" in types and "console_login" in types
    fail = [e for e in ev if e["type"] == "console_login_fail"][0]
    assert fail["user"] == CONSOLE_USER and fail["client"] == "127.0.0.1"


def test_csrf_is_required_for_every_post(console):
    st, cookie, csrf = console.login()
    assert st == 200
    # a ban through the console, as moat ban add: only with the token
    form = {"cidr": "198.51.100.0/24", "reason": "console test"}
    st, _, body = console.request("POST", "/api/ban_add", form, cookie=cookie)
    assert st == 403
    st, _, _ = console.request("POST", "/api/ban_add", form,
                               {"X-CSRF-Token": "x" * 43}, cookie=cookie)
    assert st == 403
    # a cross-site form post: no header, a browser's form content type
    st, _, _ = console.request("POST", "/api/ban_add",
                               "cidr=198.51.100.0%2F24",
                               {"Content-Type":
                                "application/x-www-form-urlencoded",
                                "Origin": "http://evil.example"},
                               cookie=cookie)
    assert st == 403
    bans = json.loads(console.request("GET", "/api/ban_list",
                                      cookie=cookie)[2])["bans"]
    assert not any(b["cidr"] == "198.51.100.0/24" for b in bans)
    # changing state by GET is refused too
    st, _, _ = console.request("GET", "/api/ban_add?cidr=198.51.100.0/24",
                               cookie=cookie)
    assert st == 405
    # with the token: done, and the event names console:LOGIN
    st, _, body = console.request("POST", "/api/ban_add", form,
                                  {"X-CSRF-Token": csrf}, cookie=cookie)
    assert st == 200, body
    assert json.loads(body)["status"] == "ok"
    bans = json.loads(console.request("GET", "/api/ban_list",
                                      cookie=cookie)[2])["bans"]
    assert any(b["cidr"] == "198.51.100.0/24" for b in bans)
    ev = json.loads(console.request("GET", "/api/events?type=ban",
                                    cookie=cookie)[2])["events"]
    assert any("admin=console:%s" % CONSOLE_USER in e["detail"] for e in ev)


def test_only_allowed_operations_with_checked_arguments(console):
    st, cookie, csrf = console.login()
    hdr = {"X-CSRF-Token": csrf}
    # not in the allow-table: reload, stop, passwords
    for op in ("reload", "stop", "user_passwd", "console_passwd", "log_set",
               "user_forget", "nothing"):
        st, _, _ = console.request("POST", "/api/" + op, {}, hdr,
                                   cookie=cookie)
        assert st == 404, op
    assert console.moat.proc.poll() is None
    # arguments are checked as on the control socket
    st, _, body = console.request("GET", "/api/events?ip=not-a-cidr",
                                  cookie=cookie)
    assert st == 400 and "ip" in json.loads(body)["message"]
    st, _, body = console.request("GET", "/api/events?bogus=1", cookie=cookie)
    assert st == 400
    st, _, body = console.request("GET", "/api/events?since=1h&since=2h",
                                  cookie=cookie)
    assert st == 400
    st, _, body = console.request("POST", "/api/session_kill", {}, hdr,
                                  cookie=cookie)
    assert st == 400 and "exactly one" in json.loads(body)["message"]
    # dead letters alone are no filter, as on the command line
    st, _, body = console.request("POST", "/api/queue_act",
                                  {"action": "delete", "dead": "1"}, hdr,
                                  cookie=cookie)
    assert st == 400 and "no filter" in json.loads(body)["message"], body
    st, _, body = console.request("GET", "/api/queue_list?state=nonsense",
                                  cookie=cookie)
    assert st == 400
    st, _, body = console.request("GET", "/api/stats", cookie=cookie)
    assert st == 200 and json.loads(body)["stats"]
    st, _, body = console.request("GET", "/api/series?since=7d",
                                  cookie=cookie)
    assert st == 200 and "series" in json.loads(body)
    st, _, body = console.request("GET", "/api/series?since=8d",
                                  cookie=cookie)
    assert st == 400
    st, _, body = console.request("GET", "/api/incidents?since=1d",
                                  cookie=cookie)
    assert st == 200 and "incidents" in json.loads(body)
    st, _, body = console.request("GET", "/api/incident?id=nonsense",
                                  cookie=cookie)
    assert st == 400


def test_failed_logins_are_limited_per_address(moat_factory):
    port = free_port()
    m = moat_factory(extra="[console]\nconsole_listen = 127.0.0.1:%d\n"
                     "console_login_limit = 2\n" % port)
    assert console_passwd(m, CONSOLE_USER, CONSOLE_PASSWORD).returncode == 0
    from console_fixture import Console
    c = Console(m, port)
    assert c.login(password="bad one 1")[0] == 401
    assert c.login(password="bad one 2")[0] == 401
    # past the limit even the right password is refused, unchecked
    assert c.login()[0] == 429


def test_console_users_file_and_user_del(console):
    path = os.path.join(console.moat.dir, "var", "console_users")
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o600
    with open(path) as f:
        text = f.read()
    assert text.startswith(CONSOLE_USER + ":$argon2id$")
    # a mail user's password is no console login
    assert console.login(user="nobody-here")[0] == 401
    r = subprocess.run([MOAT_BIN, "console", "user", "del", CONSOLE_USER,
                        "-c", console.moat.conf], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    assert console.login()[0] == 401
    r = subprocess.run([MOAT_BIN, "console", "user", "del", CONSOLE_USER,
                        "-c", console.moat.conf], capture_output=True,
                       text=True)
    assert r.returncode != 0 and "no console login %s in" % CONSOLE_USER \
        in r.stderr, r.stderr
    # console logins are no mail accounts: not in moat user list
    r = subprocess.run([MOAT_BIN, "user", "list", "--json", "-c",
                        console.moat.conf], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert CONSOLE_USER not in [u["user"] for u in
                                json.loads(r.stdout)["users"]], r.stdout


def test_console_off_loopback_is_refused(tmp_path):
    conf = tmp_path / "moat.conf"
    conf.write_text("[server]\nspool_dir = var/spool\n"
                    "[console]\nconsole_listen = 192.0.2.1:8025\n")
    r = subprocess.run([MOAT_BIN, "check-config", "-c", str(conf)],
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert "moat.conf:4: console_listen: 192.0.2.1 is not a loopback" \
        in r.stderr


def openssl(*args):
    subprocess.run(("openssl",) + args, check=True, capture_output=True)


def issue(d, name, cn, ca=None):
    """d/name.crt and .key: self-signed (a CA) without ca, else signed by
    ca (a name issued before)"""
    crt, key = os.path.join(d, name + ".crt"), os.path.join(d, name + ".key")
    if ca is None:
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out",
                crt, "-days", "2", "-subj", "/CN=" + cn, "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1")
    else:
        csr = os.path.join(d, name + ".csr")
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out",
                csr, "-subj", "/CN=" + cn)
        openssl("x509", "-req", "-in", csr, "-CA", os.path.join(d, ca +
                ".crt"), "-CAkey", os.path.join(d, ca + ".key"),
                "-CAcreateserial", "-days", "2", "-out", crt)
    os.chmod(key, 0o600)
    return crt, key


@pytest.fixture(scope="module")
def pki():
    d = tempfile.mkdtemp(prefix="moat-console-tls-")
    os.chmod(d, 0o755)
    out = {"dir": d}
    # the server's pair is RSA: both key methods of tls_key.c are used
    out["server"] = (os.path.join(d, "server.crt"),
                     os.path.join(d, "server.key"))
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
            out["server"][1], "-out", out["server"][0], "-days", "2",
            "-subj", "/CN=localhost", "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1")
    os.chmod(out["server"][1], 0o600)
    out["ca"] = issue(d, "ca", "console admins")
    out["admin"] = issue(d, "admin", CONSOLE_USER, "ca")
    out["stranger"] = issue(d, "stranger", "nobody-here", "ca")
    out["other_ca"] = issue(d, "other_ca", "another CA")
    out["forged"] = issue(d, "forged", CONSOLE_USER, "other_ca")
    yield out
    shutil.rmtree(d, ignore_errors=True)


def client_ctx(pki, who=None):
    ctx = ssl.create_default_context(cafile=pki["server"][0])
    if who:
        ctx.load_cert_chain(*pki[who])
    return ctx


@pytest.fixture
def https_console(moat_factory, pki):
    port = free_port()
    m = moat_factory(extra="[console]\nconsole_listen = 127.0.0.1:%d\n"
                     "console_tls_cert = %s\nconsole_tls_key = %s\n"
                     "console_client_ca = %s\n" % (
                         port, pki["server"][0], pki["server"][1],
                         pki["ca"][0]))
    r = console_passwd(m, CONSOLE_USER, CONSOLE_PASSWORD)
    assert r.returncode == 0, r.stderr + r.stdout
    return Console(m, port, client_ctx(pki))


def test_https_only_secure_cookie_and_hsts(https_console):
    c = https_console
    # plain HTTP to the same port gets no answer
    plain = Console(c.moat, c.port)
    with pytest.raises((http.client.HTTPException, OSError)):
        plain.request("GET", "/")
    st, hd, body = c.request("GET", "/")
    assert st == 200 and b"/app.js" in body
    assert hd["strict-transport-security"].startswith("max-age=")
    _, hd, _ = c.request("POST", "/api/login",
                         {"user": CONSOLE_USER, "password": CONSOLE_PASSWORD},
                         {"X-CSRF-Token": "login"})
    assert "; Secure" in hd["set-cookie"] and "HttpOnly" in hd["set-cookie"]
    st, cookie, csrf = c.login()
    assert st == 200
    assert c.login(password="wrong password!")[0] == 401
    st, _, body = c.request("GET", "/api/session", cookie=cookie)
    assert st == 200 and json.loads(body)["login"] == CONSOLE_USER
    # no client certificate: no login by certificate
    assert c.login(form={"certificate": "1"})[0] == 401


def test_console_key_only_in_ca(https_console, pki):
    c = https_console
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = client_ctx(pki)
        ctx.minimum_version = ctx.maximum_version = v
        assert Console(c.moat, c.port, ctx).request("GET", "/")[0] == 200
    key = pki["server"][1]
    with open(key, "rb") as f:
        pem = f.read().splitlines()
    wanted = needles(private_numbers(key))
    kids = kids_by_name(c.moat)
    found = memory_holds(kids["moat-control"],
                         dict(wanted, pem=pem[len(pem) // 2]))
    assert found == set(), "control holds the console's key: %s" % found
    assert memory_holds(kids["moat-ca"], wanted), \
        "the console's key was not found in the ca process"
    # control never had the file open either: it is not among its fds
    fds = os.listdir("/proc/%d/fd" % kids["moat-control"])
    targets = [os.readlink("/proc/%d/fd/%s" % (kids["moat-control"], fd))
               for fd in fds]
    assert os.path.realpath(key) not in targets


def test_client_certificate_logs_in(https_console, pki):
    c = https_console
    admin = Console(c.moat, c.port, client_ctx(pki, "admin"))
    st, cookie, csrf = admin.login(form={"certificate": "1"})
    assert st == 200 and cookie and csrf
    st, _, body = admin.request("GET", "/api/session", cookie=cookie)
    assert json.loads(body)["login"] == CONSOLE_USER
    # the password login is still there on the same connection kind
    assert admin.login()[0] == 200
    # a certificate of the CA naming no console user: refused
    stranger = Console(c.moat, c.port, client_ctx(pki, "stranger"))
    assert stranger.login(form={"certificate": "1"})[0] == 401
    # a certificate of another CA: the handshake fails
    forged = Console(c.moat, c.port, client_ctx(pki, "forged"))
    with pytest.raises((ssl.SSLError, OSError, http.client.HTTPException)):
        forged.login(form={"certificate": "1"})
    ev = json.loads(subprocess.run(
        [MOAT_BIN, "events", "--json", "-c", c.moat.conf],
        capture_output=True, text=True, check=True).stdout)["events"]
    assert any(e["type"] == "console_login" and
               "method=certificate" in e["detail"] for e in ev)


def check_config(tmp_path, console):
    conf = tmp_path / "moat.conf"
    conf.write_text("[server]\nspool_dir = var/spool\n[console]\n" +
                    console)
    return subprocess.run([MOAT_BIN, "check-config", "-c", str(conf)],
                          capture_output=True, text=True)


def test_console_tls_configuration(tmp_path, pki):
    crt, key = pki["server"]
    # off loopback with TLS: accepted
    r = check_config(tmp_path, "console_listen = 192.0.2.1:8025\n"
                     "console_tls_cert = %s\nconsole_tls_key = %s\n"
                     "console_client_ca = %s\n" % (crt, key, pki["ca"][0]))
    assert r.returncode == 0, r.stderr
    r = check_config(tmp_path, "console_listen = 192.0.2.1:8025\n"
                     "console_tls_cert = %s\n" % crt)
    assert r.returncode != 0
    assert "moat.conf:5: console_tls_cert and console_tls_key must be set " \
        "together" in r.stderr
    r = check_config(tmp_path, "console_listen = 127.0.0.1:8025\n"
                     "console_client_ca = %s\n" % pki["ca"][0])
    assert "moat.conf:5: console_client_ca needs console_tls_cert" \
        in r.stderr
    r = check_config(tmp_path, "console_listen = 127.0.0.1:8025\n"
                     "console_tls_cert = %s\nconsole_tls_key = %s\n" %
                     (crt, tmp_path / "missing.key"))
    assert r.returncode != 0
    assert "moat.conf:6: " in r.stderr and "missing.key" in r.stderr
    # a key that is not the certificate's
    r = check_config(tmp_path, "console_listen = 127.0.0.1:8025\n"
                     "console_tls_cert = %s\nconsole_tls_key = %s\n" %
                     (crt, pki["admin"][1]))
    assert r.returncode != 0 and "moat.conf:6: " in r.stderr, r.stderr
