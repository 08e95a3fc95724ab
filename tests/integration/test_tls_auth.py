"""TLS and AUTH on the submission (STARTTLS) and submissions (implicit TLS)
listeners, with smtplib against the real daemon."""
import base64
import os
import smtplib
import socket
import ssl
import statistics
import subprocess
import time

import pytest

from conftest import free_port

USER, PASSWORD = "alice", "correct horse"
WRONG = "Tr0ub4dor&3-not-the-password"
DELAY_MS = 200

LISTENERS = [("mx", "mx", ""), ("sub", "submission", ""),
             ("subs", "submissions", "")]
EXTRA = ("[limits]\nauth_fail_delay_ms = %d\n"
         "[log]\nsmtp = debug\nauth = debug\ntls = debug\n" % DELAY_MS)


def hermetic():
    """Outbound mail stays queued: the smarthost is a closed port."""
    return "[delivery]\nsmarthost = [127.0.0.1]:%d\n" % free_port()


@pytest.fixture
def sub(moat_factory):
    return moat_factory(listeners=LISTENERS, users={USER: PASSWORD},
                        extra=EXTRA + hermetic())


def tls_context(cert):
    ctx = ssl.create_default_context(cafile=cert)
    ctx.check_hostname = True
    return ctx


def plain(user, password):
    return base64.b64encode(b"\0" + user.encode() + b"\0"
                            + password.encode()).decode()


def b64(s):
    return base64.b64encode(s.encode()).decode()


def starttls_session(moat, ctx):
    s = smtplib.SMTP("127.0.0.1", moat.ports["sub"], timeout=10)
    s.ehlo("client.example")
    code, msg = s.starttls(context=ctx)
    assert code == 220, msg
    s.ehlo("client.example")
    return s


def test_submission_before_tls_no_auth(sub):
    with smtplib.SMTP("127.0.0.1", sub.ports["sub"], timeout=10) as s:
        s.ehlo("client.example")
        assert s.has_extn("starttls")
        assert not s.has_extn("auth"), s.esmtp_features
        code, msg = s.docmd("AUTH", "PLAIN " + plain(USER, PASSWORD))
        assert (code, msg[:6]) == (538, b"5.7.11"), (code, msg)
        code, msg = s.docmd("MAIL", "FROM:<alice@example.org>")
        assert (code, msg[:5]) == (530, b"5.7.0"), (code, msg)
        assert b"STARTTLS" in msg
    assert "event=auth_ok" not in sub.log()


def test_starttls_verifies_with_test_certificate(sub, tls_files):
    with starttls_session(sub, tls_context(tls_files[0])) as s:
        assert isinstance(s.sock, ssl.SSLSocket)
        assert s.sock.version() in ("TLSv1.2", "TLSv1.3")
        assert s.has_extn("auth")
        assert set(s.esmtp_features["auth"].upper().split()) == {"PLAIN",
                                                                 "LOGIN"}
        assert not s.has_extn("starttls")
    assert sub.wait_log("event=tls ")


def test_mail_before_auth_after_tls(sub, tls_files):
    with starttls_session(sub, tls_context(tls_files[0])) as s:
        code, msg = s.docmd("MAIL", "FROM:<alice@example.org>")
        assert (code, msg[:5]) == (530, b"5.7.0"), (code, msg)
        assert b"Authentication required" in msg


def test_auth_plain_after_starttls(sub, tls_files):
    with starttls_session(sub, tls_context(tls_files[0])) as s:
        code, msg = s.docmd("AUTH", "PLAIN " + plain(USER, PASSWORD))
        assert (code, msg[:5]) == (235, b"2.7.0"), (code, msg)
        # authenticated once is enough
        code, msg = s.docmd("AUTH", "PLAIN " + plain(USER, PASSWORD))
        assert code == 503, (code, msg)
        s.sendmail("alice@example.org", ["bob@example.org"],
                   b"Subject: plain\r\n\r\nhi bob\r\n")
    msgs = sub.wait_maildir(1, "bob")
    assert len(msgs) == 1
    assert b"with ESMTPSA" in msgs[0]
    assert sub.wait_log('event=auth_ok client=127.0.0.1 user=alice '
                        'mechanism=PLAIN')


def test_auth_plain_with_initial_response_prompt(sub, tls_files):
    """AUTH PLAIN without initial response: 334, then the credentials."""
    with starttls_session(sub, tls_context(tls_files[0])) as s:
        code, msg = s.docmd("AUTH", "PLAIN")
        assert code == 334, (code, msg)
        code, msg = s.docmd(plain(USER, PASSWORD))
        assert code == 235, (code, msg)




def test_auth_login_after_starttls(sub, tls_files):
    with starttls_session(sub, tls_context(tls_files[0])) as s:
        code, msg = s.docmd("AUTH", "LOGIN")
        assert (code, base64.b64decode(msg)) == (334, b"Username:")
        code, msg = s.docmd(b64(USER))
        assert (code, base64.b64decode(msg)) == (334, b"Password:")
        code, msg = s.docmd(b64(PASSWORD))
        assert (code, msg[:5]) == (235, b"2.7.0"), (code, msg)
    assert sub.wait_log('user=alice mechanism=LOGIN')


def test_smtplib_login(sub, tls_files):
    with starttls_session(sub, tls_context(tls_files[0])) as s:
        code, _ = s.login(USER, PASSWORD)
        assert code == 235


def test_submissions_implicit_tls(sub, tls_files):
    with smtplib.SMTP_SSL("127.0.0.1", sub.ports["subs"], timeout=10,
                          context=tls_context(tls_files[0])) as s:
        code, _ = s.ehlo("client.example")
        assert code == 250
        assert s.has_extn("auth") and not s.has_extn("starttls")
        code, msg = s.docmd("MAIL", "FROM:<alice@example.org>")
        assert code == 530, (code, msg)
        s.login(USER, PASSWORD)
        s.sendmail("alice@example.org", ["postmaster@localhost"],
                   b"Subject: implicit\r\n\r\nover 465\r\n")
    msgs = sub.wait_maildir(1)
    assert len(msgs) == 1 and b"with ESMTPSA" in msgs[0]


def test_submissions_refuses_plaintext(sub):
    """Port 465 speaks TLS from the first byte: no plaintext SMTP at all."""
    with socket.create_connection(("127.0.0.1", sub.ports["subs"]), 5) as c:
        c.settimeout(5)
        c.sendall(b"EHLO client.example\r\n")
        got = b""
        try:
            while True:
                chunk = c.recv(4096)
                if not chunk:
                    break
                got += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    assert b"220" not in got and b"250" not in got, got


def auth_attempt(moat, user, password):
    """One failed AUTH PLAIN in a fresh TLS session; -> (code, msg, secs)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with starttls_session(moat, ctx) as s:
        t = time.monotonic()
        code, msg = s.docmd("AUTH", "PLAIN " + plain(user, password))
        return code, msg, time.monotonic() - t


def test_wrong_password_and_unknown_user_look_the_same(moat_factory):
    # six failures from one address: keep a per-address ban out of the way
    sub = moat_factory(listeners=LISTENERS, users={USER: PASSWORD},
                       extra=EXTRA + "[policy]\nauth_fail_limit = 1000\n")
    wrong, unknown = [], []
    for _ in range(3):
        code, msg, secs = auth_attempt(sub, USER, WRONG)
        assert (code, msg[:5]) == (535, b"5.7.8"), (code, msg)
        wrong.append(secs)
        code2, msg2, secs = auth_attempt(sub, "mallory", WRONG)
        assert (code2, msg2) == (code, msg), "same reply for both"
        unknown.append(secs)
    assert min(wrong) >= DELAY_MS / 1000.0, wrong
    assert min(unknown) >= DELAY_MS / 1000.0, unknown
    diff = abs(statistics.median(wrong) - statistics.median(unknown))
    assert diff < 0.3, (wrong, unknown)


def test_three_failures_close_the_session(sub, tls_files):
    with starttls_session(sub, tls_context(tls_files[0])) as s:
        for i in range(3):
            code, msg = s.docmd("AUTH", "PLAIN " + plain(USER, WRONG))
            assert (code, msg[:5]) == (535, b"5.7.8"), (i, code, msg)
        code, msg = s.getreply()
        assert (code, msg[:5]) == (421, b"4.7.0"), (code, msg)
        with pytest.raises((smtplib.SMTPServerDisconnected, OSError)):
            s.noop()
            s.noop()
    assert sub.wait_log("failures=3")
    assert sub.wait_log("too many authentication failures")


def test_auth_fail_logged_and_recorded_never_the_password(sub, tls_files):
    with starttls_session(sub, tls_context(tls_files[0])) as s:
        code, _ = s.docmd("AUTH", "PLAIN " + plain(USER, WRONG))
        assert code == 535
        code, _ = s.docmd("AUTH", "PLAIN " + plain("nosuchuser", WRONG))
        assert code == 535
    with starttls_session(sub, tls_context(tls_files[0])) as s:
        s.login(USER, PASSWORD)
    assert sub.wait_log('event=auth_fail client=127.0.0.1 user=alice '
                        'mechanism=PLAIN failures=1')
    assert sub.wait_log('event=auth_fail client=127.0.0.1 user=nosuchuser '
                        'mechanism=PLAIN failures=2')
    assert sub.wait_log("event=auth_ok")
    rows = []
    deadline = time.time() + 5
    while time.time() < deadline:
        rows = sub.sql("select type, client_ip, user, detail from events "
                       "where type = 'auth_fail' order by id")
        if len(rows) >= 2:
            break
        time.sleep(0.1)
    assert rows == [["auth_fail", "127.0.0.1", "alice",
                     "mechanism=PLAIN failures=1"],
                    ["auth_fail", "127.0.0.1", "nosuchuser",
                     "mechanism=PLAIN failures=2"]], rows
    sub.stop()
    log = sub.log()
    for secret in (WRONG, PASSWORD, plain(USER, WRONG),
                   plain(USER, PASSWORD), b64(WRONG), b64(PASSWORD)):
        assert secret not in log, secret
    spool = os.path.join(sub.dir, "var", "spool")
    for name in os.listdir(spool):
        if name.startswith("queue.db"):
            with open(os.path.join(spool, name), "rb") as f:
                dump = f.read()
            for secret in (WRONG, PASSWORD):
                assert secret.encode() not in dump, (name, secret)


def test_auth_login_failure_names_the_user(sub, tls_files):
    with starttls_session(sub, tls_context(tls_files[0])) as s:
        code, _ = s.docmd("AUTH", "LOGIN " + b64("nosuchuser"))
        assert code == 334
        code, _ = s.docmd(b64(WRONG))
        assert code == 535
    assert sub.wait_log('event=auth_fail client=127.0.0.1 user=nosuchuser '
                        'mechanism=LOGIN', timeout=3)


def test_authenticated_user_relays_on_submission(sub, tls_files):
    with starttls_session(sub, tls_context(tls_files[0])) as s:
        # not yet authenticated: a foreign domain is relaying, refused
        code, _ = s.docmd("MAIL", "FROM:<alice@example.org>")
        assert code == 530
        s.login(USER, PASSWORD)
        refused = s.sendmail("alice@example.org", ["friend@elsewhere.example"],
                             b"Subject: out\r\n\r\nrelayed\r\n")
        assert refused == {}
    rows = sub.sql("select m.auth_user, m.listener, m.sender, r.address, "
                   "r.domain, r.state from message m join recipient r "
                   "on r.msg_id = m.id")
    # state 0 queued or 1 deferred (an MTA build tried the closed port)
    assert len(rows) == 1 and rows[0][5] in ("0", "1"), rows
    assert rows[0][:5] == ["alice", "sub", "alice@example.org",
                           "friend@elsewhere.example", "elsewhere.example"]
    assert sub.sql("select count(*) from body")[0] == ["1"]


def test_mx_does_not_relay_even_over_tls(sub, tls_files):
    with smtplib.SMTP("127.0.0.1", sub.ports["mx"], timeout=10) as s:
        s.ehlo("client.example")
        s.starttls(context=tls_context(tls_files[0]))
        s.ehlo("client.example")
        assert not s.has_extn("auth")
        assert s.mail("someone@outside.example")[0] == 250
        code, msg = s.rcpt("friend@elsewhere.example")
        assert (code, msg[:5]) == (554, b"5.7.1"), (code, msg)


@pytest.mark.parametrize("listener,tls_opt", [("sub", "--tls"),
                                              ("subs", "--tls-on-connect")])
def test_swaks_auth_plain_submission(sub, listener, tls_opt):
    r = subprocess.run(
        ["swaks", "--server", "127.0.0.1:%d" % sub.ports[listener], tls_opt,
         "--auth", "PLAIN", "--auth-user", USER, "--auth-password", PASSWORD,
         "--from", "alice@example.org", "--to", "bob@localhost",
         "--helo", "client.example"],
        capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "235 2.7.0 Authentication successful" in r.stdout
    assert "250 2.0.0 Ok: queued as" in r.stdout
    assert len(sub.wait_maildir(1, "bob")) == 1


def test_swaks_without_auth_refused_on_submission(sub):
    r = subprocess.run(
        ["swaks", "--server", "127.0.0.1:%d" % sub.ports["sub"], "--tls",
         "--from", "alice@example.org", "--to", "bob@localhost"],
        capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "530 5.7.0 Authentication required" in r.stdout, r.stdout
