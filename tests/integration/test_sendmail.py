"""Local submission: `moat sendmail` (also run as `sendmail` and `mailq`)
reads a message on standard input and submits it over submit_socket; the
daemon knows the user by the peer's uid (SO_PEERCRED), records it as
`local:LOGIN`, and the compromised-account watch covers it as it covers
an authenticated mailbox. Bad input never reaches the queue."""
import os
import pwd
import socket
import subprocess
import time
import uuid

import pytest

from conftest import MOAT_BIN

SUBMIT = "[submit]\nsubmit_socket = run/submit.sock\n"
# outside mail goes to a port nobody listens on and waits an hour
WATCH_PEER = "[delivery]\nsmarthost = [127.0.0.1]:9\nretry_min = 3600\n"


def sendmail(m, args, data, argv0=None, user=None, env=None):
    """Run moat sendmail with m's configuration; (exit status, stderr)."""
    if isinstance(data, str):
        data = data.encode()
    if argv0 is None:
        cmd = [MOAT_BIN, "sendmail", "-C", m.conf] + args
    else:
        cmd = [argv0, "-C", m.conf] + args
    if user is not None:
        pw = pwd.getpwnam(user)
        cmd = ["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid,
               "--clear-groups", "--"] + cmd
    r = subprocess.run(cmd, input=data, capture_output=True, timeout=30,
                       cwd="/", env=env)
    return r.returncode, r.stderr.decode("utf-8", "replace")


def queued(m):
    return int(m.sql("select count(*) from message")[0][0])


def wait_sql(m, query, want, timeout=5):
    return m.wait_sql(query, want, timeout)


def local_sessions(m):
    return m.log().count("listener=local")


@pytest.fixture
def local_user():
    """A throwaway system user (a web application's, say)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create a user")
    name = "msm" + uuid.uuid4().hex[:8]
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                    "/usr/sbin/nologin", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], check=False)


@pytest.fixture
def sm(moat_factory):
    return moat_factory(extra=SUBMIT)


def test_socket_is_open_to_everyone_and_offers_no_auth(sm):
    path = os.path.join(sm.dir, "run", "submit.sock")
    assert oct(os.stat(path).st_mode & 0o777) == "0o666"
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    f = s.makefile("rwb")
    assert f.readline().startswith(b"220 ")
    f.write(b"EHLO me\r\n")
    f.flush()
    lines = []
    while True:
        line = f.readline()
        lines.append(line)
        if line[3:4] == b" ":
            break
    assert not any(b"AUTH" in l or b"STARTTLS" in l for l in lines), lines
    # a client cannot name itself another user
    f.write(b"AUTH PLAIN AGFsaWNlAHg=\r\n")
    f.flush()
    assert f.readline()[:3] in (b"502", b"503")
    s.close()


def test_echo_t_delivers_and_bcc_is_removed(sm):
    rc, err = sendmail(sm, ["-t"], "To: alice@example.org\n"
                       "Cc: Postmaster <postmaster@example.org>\n"
                       "Bcc: bob@example.org\nSubject: cron\n\ntest\n")
    assert rc == 0, err
    for box in ("alice", "postmaster", "bob"):
        got = sm.wait_maildir(1, box)
        assert len(got) == 1, box
        msg = got[0]
        assert b"\r\n\r\ntest\r\n" in msg or b"\n\ntest\n" in msg
        assert b"Bcc" not in msg and b"bob@" not in msg
        assert b"Subject: cron" in msg
        # Date and Message-ID added, the uid in Received
        assert b"\nDate: " in msg and b"\nMessage-ID: <" in msg
        assert b"(moat, from userid 0)" in msg
    assert "client=local user=local:root" in sm.log()
    assert "event=local client=local uid=0 user=local:root" in sm.log()


def test_sender_and_full_name(sm):
    rc, err = sendmail(sm, ["-f", "app@example.org", "-F", 'Web "App"',
                            "alice@example.org"], "Subject: x\n\nbody\n")
    assert rc == 0, err
    msg = sm.wait_maildir(1, "alice")[0]
    assert msg.startswith(b"Return-Path: <app@example.org>")
    assert b'From: "Web \\"App\\"" <app@example.org>' in msg
    # -fSENDER in one word, a From: of the message's own is kept
    rc, err = sendmail(sm, ["-fbounce@example.org", "alice@example.org"],
                       "From: Someone <some@example.org>\n\nbody\n")
    assert rc == 0, err
    msg = sm.wait_maildir(2, "alice")[1]
    assert msg.startswith(b"Return-Path: <bounce@example.org>")
    assert msg.count(b"From: ") == 1
    assert b"From: Someone <some@example.org>" in msg
    # in angle brackets, as Postfix and Exim take them; <> the null sender
    rc, err = sendmail(sm, ["-f", "<ops@example.org>", "alice@example.org"],
                       "Subject: b\n\nbody\n")
    assert rc == 0, err
    msg = sm.wait_maildir(3, "alice")[2]
    assert msg.startswith(b"Return-Path: <ops@example.org>"), msg[:200]
    rc, err = sendmail(sm, ["-f", "<>", "alice@example.org"],
                       "Subject: n\n\nbody\n")
    assert rc == 0, err
    msg = sm.wait_maildir(4, "alice")[3]
    assert msg.startswith(b"Return-Path: <>"), msg[:200]
    rc, err = sendmail(sm, ["-f", "<a<b>", "alice@example.org"], "x\n")
    assert rc == 64 and "bad sender address" in err, err


def test_lone_dot_ends_input_unless_i(sm):
    text = "Subject: dots\n\nbefore\n.\nafter\n..two\n"
    assert sendmail(sm, ["alice@example.org"], text)[0] == 0
    msg = sm.wait_maildir(1, "alice")[0]
    assert b"before" in msg and b"after" not in msg
    for opt in ("-i", "-oi"):
        assert sendmail(sm, [opt, "bob@example.org"], text)[0] == 0
    got = sm.wait_maildir(2, "bob")
    for msg in got:
        # the dot line and the dot-stuffed one arrive as written
        assert b"\r\n.\r\nafter\r\n..two\r\n" in msg or \
            b"\n.\nafter\n..two\n" in msg, msg


def test_crlf_input_and_local_parts(sm):
    # CRLF input; a bare local part is in our first local domain
    rc, err = sendmail(sm, ["alice"], b"Subject: crlf\r\n\r\nline\r\n")
    assert rc == 0, err
    msg = sm.wait_maildir(1, "alice")[0]
    assert b"\r\r" not in msg and b"line" in msg
    assert b"for <alice@localhost>" in msg


def test_run_as_sendmail_and_mailq(sm, tmp_path):
    link = tmp_path / "sendmail"
    link.symlink_to(os.path.abspath(MOAT_BIN))
    rc, err = sendmail(sm, ["-oem", "-odb", "-B8BITMIME", "-i", "-t"],
                       "To: alice@example.org\n\nvia the link\n",
                       argv0=str(link))
    assert rc == 0, err
    assert err == ""
    assert b"via the link" in sm.wait_maildir(1, "alice")[0]
    q = tmp_path / "mailq"
    q.symlink_to(os.path.abspath(MOAT_BIN))
    r = subprocess.run([str(q), "-C", sm.conf], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    r2 = subprocess.run([MOAT_BIN, "sendmail", "-bp", "-C", sm.conf],
                        capture_output=True, text=True, timeout=30)
    assert r2.returncode == 0, r2.stderr


def test_options_refused_and_warned(sm):
    n = local_sessions(sm)
    rc, err = sendmail(sm, ["-Z", "alice@example.org"], "x\n")
    assert rc == 64 and "unknown option -Z" in err
    rc, err = sendmail(sm, ["-bs"], "")
    assert rc == 64 and "not supported" in err
    rc, err = sendmail(sm, ["-f"], "")
    assert rc == 64 and "needs a value" in err
    rc, err = sendmail(sm, ["-N", "never", "alice@example.org"],
                       "Subject: n\n\nx\n")
    assert rc == 0 and "-N ignored" in err
    assert local_sessions(sm) == n + 1
    # --help: the usage on stdout, exit 0, nothing sent
    for cmd in ([MOAT_BIN, "sendmail", "--help"], [MOAT_BIN, "mailq",
                                                    "--help"]):
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0 and r.stdout.startswith("usage: ") and \
            r.stderr == "", r
    assert local_sessions(sm) == n + 1


def test_bad_input_is_refused_whole(sm):
    n = local_sessions(sm)
    # no recipients at all; -t and a header without any
    rc, err = sendmail(sm, [], "Subject: x\n\nbody\n")
    assert rc == 64 and "no recipients" in err
    rc, err = sendmail(sm, ["-t"], "Subject: x\n\nbody\n")
    assert rc == 65 and "no recipients" in err
    # empty, and nothing but bare LFs
    for data in (b"", b"\n\n\n"):
        rc, err = sendmail(sm, ["alice@example.org"], data)
        assert rc == 65 and "empty" in err, (data, err)
    # a 100 MB line: refused at line 3, long before the end of input
    big = b"Subject: x\n\n" + b"a" * (100 * 1024 * 1024) + b"\n"
    t = time.time()
    rc, err = sendmail(sm, ["alice@example.org"], big)
    assert rc == 65 and "line 3 is longer than 998 bytes" in err, err
    assert time.time() - t < 20
    # a line of 999 bytes is one too many, 998 is fine
    rc, err = sendmail(sm, ["alice@example.org"],
                       "Subject: x\n\n" + "b" * 999 + "\n")
    assert rc == 65 and "line 3" in err
    # a bare CR and a NUL
    rc, err = sendmail(sm, ["alice@example.org"], b"Subject: x\n\na\rb\n")
    assert rc == 65 and "CR without LF" in err
    rc, err = sendmail(sm, ["alice@example.org"], b"Subject: x\n\na\0b\n")
    assert rc == 65 and "NUL" in err
    # over max_message_size (10M by default)
    rc, err = sendmail(sm, ["alice@example.org"],
                       b"Subject: x\n\n" + (b"c" * 900 + b"\n") * 12000)
    assert rc == 65 and "max_message_size" in err
    # a bad recipient in the header
    rc, err = sendmail(sm, ["-t"], "To: a b@example.org\n\nx\n")
    assert rc == 65 and "bad recipient" in err
    # the daemon was never asked: nothing queued, not even a session
    assert local_sessions(sm) == n
    assert queued(sm) == 0
    rc, err = sendmail(sm, ["alice@example.org"],
                       "Subject: x\n\n" + "b" * 998 + "\n")
    assert rc == 0, err
    assert b"b" * 998 in sm.wait_maildir(1, "alice")[0]


def test_refused_recipient_queues_nothing(sm):
    rc, err = sendmail(sm, ["alice@example.org", "nobody@example.org"],
                       "Subject: x\n\nbody\n")
    assert rc == 67 and "nobody@example.org" in err, err
    time.sleep(0.3)
    assert queued(sm) == 0
    assert sm.maildir("alice") == []


def test_daemon_not_running(moat_factory):
    m = moat_factory(extra=SUBMIT, start=False)
    rc, err = sendmail(m, ["alice@example.org"], "Subject: x\n\nbody\n")
    assert rc == 75
    assert "not running" in err and "nothing was sent" in err


def test_submit_socket_off(moat_factory):
    m = moat_factory()
    rc, err = sendmail(m, ["alice@example.org"], "Subject: x\n\nbody\n")
    assert rc == 78 and "submit_socket is not set" in err


def test_uid_is_the_user(sm, local_user):
    rc, err = sendmail(sm, ["-f", "root@example.org", "alice@example.org"],
                       "Subject: from a web app\n\nbody\n", user=local_user)
    assert rc == 0, err
    uid = pwd.getpwnam(local_user).pw_uid
    msg = sm.wait_maildir(1, "alice")[0]
    assert ("(moat, from userid %d)" % uid).encode() in msg
    assert "uid=%d user=local:%s" % (uid, local_user) in sm.log()
    assert "user=local:%s" % local_user in sm.log().split(
        "cat=queue qid=")[1]
    # mailq is for root and the admin group
    r = subprocess.run(["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid,
                        "--clear-groups", "--", MOAT_BIN, "mailq", "-C",
                        sm.conf], capture_output=True, text=True, timeout=30,
                       cwd="/")
    assert r.returncode == 1
    assert "permission denied: mailq needs root or the admin group" in \
        r.stderr


def test_submit_users_restricts(moat_factory, local_user):
    m = moat_factory(extra="[submit]\nsubmit_socket = run/submit.sock\n"
                     "submit_users = root, %adm\n")
    rc, err = sendmail(m, ["alice@example.org"], "Subject: x\n\nbody\n",
                       user=local_user)
    assert rc == 77, err
    assert "local:%s may not submit" % local_user in err
    assert "nothing was sent" in err
    want = [["submit_denied", "local:" + local_user]]
    assert wait_sql(m, "select type, user from events where type = "
                    "'submit_denied'", want) == want
    assert sendmail(m, ["alice@example.org"], "Subject: x\n\nbody\n")[0] == 0
    assert len(m.wait_maildir(1, "alice")) == 1


def test_hacked_web_app_is_held(moat_factory, local_user):
    """A web application's uid sending to many outside domains is held
    exactly as a taken-over mailbox is (test_watch.py's thresholds)."""
    m = moat_factory(extra=SUBMIT + WATCH_PEER + (
        "[watch]\nwatch_action = hold\n"
        "hold_external_rcpts = 10\nsuspend_external_rcpts = 1000\n"))
    user = "local:" + local_user
    for i in range(14):
        rc, err = sendmail(m, ["-f", "www@example.org",
                               "r%d@out%d.example" % (i, i)],
                           "Subject: offer\n\nbuy now\n", user=local_user)
        assert rc == 0, (i, err)
    ev = wait_sql(m, "select type, user from events where type = 'hold'",
                  [["hold", user]])
    assert ev == [["hold", user]], ev
    assert m.sql("select state from user_state where user='%s'" % user) == \
        [["held"]]
    held = m.sql("select count(*) from recipient r join message g on "
                 "g.id = r.msg_id where g.auth_user = '%s' and r.state = 2"
                 % user)
    assert int(held[0][0]) >= 3, held
    # root is another user: not held
    assert sendmail(m, ["alice@example.org"], "Subject: x\n\nok\n")[0] == 0
    assert len(m.wait_maildir(1, "alice")) == 1


def test_suspended_local_user_is_refused(sm):
    """`moat user suspend local:LOGIN` (what the watch does past its
    suspend thresholds) shuts the user out of local submission."""
    ctl = [MOAT_BIN, "user", "suspend", "local:root", "-c", sm.conf]
    assert subprocess.run(ctl, capture_output=True, timeout=30).returncode == 0
    time.sleep(0.3)
    rc, err = sendmail(sm, ["alice@example.org"], "Subject: x\n\nbody\n")
    assert rc == 77 and "local:root may not submit" in err, err
    assert "(suspended)" in err
    ctl[2] = "unsuspend"
    assert subprocess.run(ctl, capture_output=True, timeout=30).returncode == 0
    time.sleep(0.3)
    assert sendmail(sm, ["alice@example.org"], "Subject: x\n\nbody\n")[0] == 0
    assert len(sm.wait_maildir(1, "alice")) == 1


def test_serve_refuses_a_socket_in_use_or_a_file(moat_factory, tmp_path):
    a = moat_factory(extra=SUBMIT)
    path = os.path.join(a.dir, "run", "submit.sock")
    b = moat_factory(extra="[submit]\nsubmit_socket = %s\n" % path,
                     start=False)
    r = subprocess.run([MOAT_BIN, "serve", "-c", b.conf], cwd=b.dir,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "%s:" % b.conf in r.stderr and "is in use by a running daemon" \
        in r.stderr, r.stderr
    # the first daemon's socket still works
    assert sendmail(a, ["alice@example.org"], "Subject: x\n\nbody\n")[0] == 0
    plain = tmp_path / "plain"
    plain.write_text("not a socket")
    c = moat_factory(extra="[submit]\nsubmit_socket = %s\n" % plain,
                     start=False)
    r = subprocess.run([MOAT_BIN, "serve", "-c", c.conf], cwd=c.dir,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "exists and is not a socket" in r.stderr
    assert plain.read_text() == "not a socket"


def test_submit_max_sessions_is_per_user(moat_factory, local_user):
    # one local user holding its share of sessions shuts out no one else
    m = moat_factory(extra=SUBMIT + "submit_max_sessions = 2\n")
    path = os.path.join(m.dir, "run", "submit.sock")
    pw = pwd.getpwnam(local_user)

    def connect_as(uid):
        # SO_PEERCRED takes the effective ids at connect
        os.setegid(pw.pw_gid if uid else 0)
        os.seteuid(uid)
        try:
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(10)
            s.connect(path)
        finally:
            os.seteuid(0)
            os.setegid(0)
        return s, s.makefile("rb").readline()

    held = [connect_as(pw.pw_uid) for _ in range(2)]
    try:
        assert all(g.startswith(b"220 ") for _, g in held), held
        s, g = connect_as(pw.pw_uid)
        s.close()
        assert g.startswith(b"421 4.7.0") and b"local submissions" in g, g
        # root's own session still gets in, and delivers
        rc, err = sendmail(m, ["alice@example.org"], "Subject: x\n\nbody\n")
        assert rc == 0, err
        assert len(m.wait_maildir(1, "alice")) == 1
        assert m.wait_log("uid=%d limit=submit_max_sessions" % pw.pw_uid)
    finally:
        for s, _ in held:
            s.close()
