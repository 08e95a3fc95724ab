"""What the log says about one message and one attacker: the accepted
line names the client's Message-ID (escaped where it is written), smtp
and the queue log the same size, a missing user is always `user=-`, and
every auth_fail line counts the failures the ban is decided on, across
connections, the one that triggers the ban included."""
import os
import re
import smtplib
import time

from submission import LISTENERS, PASSWORD, USER, plain, sub_session


def send(m, msg, src="127.0.0.1"):
    s = smtplib.SMTP("127.0.0.1", m.port, timeout=15, source_address=(src, 0))
    s.sendmail("someone@far.example", ["alice@example.org"], msg)
    s.quit()


def wait_rows(m, query, n, timeout=10):
    """The first column of query's rows, once there are n (or timeout)."""
    deadline = time.time() + timeout
    while True:
        rows = [r[0] for r in m.sql(query)]
        if len(rows) >= n or time.time() > deadline:
            return rows
        time.sleep(0.1)


def lines(m, needle):
    return [l for l in m.log().splitlines() if needle in l]


def test_accepted_line_has_message_id_and_one_size(moat_factory):
    m = moat_factory()
    send(m, b"Subject: one\r\nMessage-ID: <abc.123@client.example>\r\n"
            b"\r\nbody\r\n")
    # folded, with a space and a quote inside: escaped, one token
    send(m, b"Message-ID:\r\n <we ird\"x=1@client.example>\r\n\r\nbody\r\n")
    send(m, b"Subject: no id\r\n\r\n" + (b"x" * 70 + b"\r\n") * 1000)
    assert m.wait_log("msgid=-")
    acc = lines(m, "event=accepted")
    assert len(acc) == 3, acc
    assert "msgid=<abc.123@client.example>" in acc[0], acc[0]
    mid = re.search(r" msgid=(\S+)", acc[1]).group(1)
    assert mid.startswith("<we") and " " not in mid, acc[1]
    assert "x=1@client.example>" in mid and not re.search(
        r" x=1", acc[1]), acc[1]
    assert acc[2].endswith("msgid=-"), acc[2]
    for a in acc:
        qid = re.search(r" qid=(\S+)", a).group(1)
        size = re.search(r" size=(\d+)", a).group(1)
        q = [l for l in m.log().splitlines() if "cat=queue" in l and
             "qid=%s " % qid in l and " size=" in l]
        assert q, (qid, m.log())
        assert re.search(r" size=(\d+)", q[0]).group(1) == size, (a, q[0])
    # the 70000-byte one was streamed in chunks: still the same size
    assert int(re.search(r" size=(\d+)", acc[2]).group(1)) > 70000


def test_no_user_is_a_dash(moat_factory):
    m = moat_factory()
    send(m, b"Subject: x\r\n\r\nbody\r\n")
    m.wait_log("event=accepted")
    s = smtplib.SMTP("127.0.0.1", m.port, timeout=15)
    s.ehlo("client.example")
    code, _ = s.docmd("RCPT", "TO:<x@far.example>")       # out of order
    s.docmd("MAIL", "FROM:<a@far.example>")
    code, _ = s.docmd("RCPT", "TO:<x@far.example>")       # relay denied
    assert code == 554
    s.quit()
    assert m.wait_log("event=relay_denied")
    assert m.wait_log("cat=policy event=relay_denied")
    log = m.log()
    assert re.search(r"\buser=\s", log) is None and \
        not re.search(r"\buser=$", log, re.M), \
        [l for l in log.splitlines() if re.search(r"\buser=(\s|$)", l)]
    assert re.search(r"cat=queue qid=\S+ .* user=-", log), log


def test_auth_fail_counts_across_connections_up_to_the_ban(moat_factory):
    m = moat_factory(listeners=LISTENERS, users={USER: PASSWORD},
                     extra="[limits]\nauth_fail_delay_ms = 10ms\n"
                           "[policy]\nauth_fail_limit = 3\nban_time = 1h\n")
    codes = []
    for i in range(3):      # a new connection for each guess
        s = sub_session(m, "127.0.0.31")
        try:
            codes.append(s.docmd("AUTH", "PLAIN " + plain(USER, "g%d" % i))[0])
        finally:
            try:
                s.close()
            except Exception:
                pass
    assert codes == [535, 535, 421], codes
    assert m.wait_log("event=ban client=127.0.0.31")
    fails = [l for l in lines(m, "event=auth_fail client=127.0.0.31")
             if "cat=auth" in l]
    assert [re.search(r" failures=(\d+)", l).group(1) for l in fails] == \
        ["1", "2", "3"], fails
    assert all("session_failures=1" in l for l in fails), fails
    # one form of user= everywhere: the name bare, escaped where written
    assert all(" user=%s mechanism=PLAIN " % USER in l for l in fails), fails
    # the events table says the same
    rows = wait_rows(m, "SELECT detail FROM events WHERE type='auth_fail' "
                        "ORDER BY id", 3)
    assert [re.search(r"failures=(\d+)", r).group(1) for r in rows] == \
        ["1", "2", "3"], rows


def test_suspended_users_auth_is_told_apart(moat_factory):
    """A suspended user with the right password gets the same 535 as a
    wrong password (nothing tells an attacker the account is good), but
    the log and the event say auth_suspended, not auth_fail."""
    import subprocess
    from conftest import MOAT_BIN
    m = moat_factory(listeners=LISTENERS, users={USER: PASSWORD},
                     extra="[limits]\nauth_fail_delay_ms = 10ms\n")
    r = subprocess.run([MOAT_BIN, "user", "suspend", USER, "-c", m.conf],
                       cwd=m.dir, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    s = sub_session(m, "127.0.0.41")
    right = s.docmd("AUTH", "PLAIN " + plain(USER, PASSWORD))
    wrong = s.docmd("AUTH", "PLAIN " + plain(USER, "nope"))
    s.close()
    assert right[0] == wrong[0] == 535 and right[1] == wrong[1]
    assert m.wait_log("event=auth_suspended client=127.0.0.41")
    assert m.wait_log("event=auth_fail client=127.0.0.41")
    types = wait_rows(m, "SELECT type FROM events WHERE "
                         "client_ip='127.0.0.41' ORDER BY id", 2)
    assert types == ["auth_suspended", "auth_fail"], types


def test_lines_carry_their_priority_on_the_journal(moat_factory):
    """Under systemd, stderr is the journal's stream ($JOURNAL_STREAM
    names its device and inode): each line starts with its syslog
    priority and leaves the name and pid to the journal. Any other
    stderr keeps the plain format, whatever the variable says."""
    m = moat_factory(start=False)
    open(m.logpath, "ab").close()
    st = os.stat(m.logpath)
    m.start(env={"JOURNAL_STREAM": "%d:%d" % (st.st_dev, st.st_ino)})
    assert m.wait_log("event=ready pid=")
    text = m.log()
    assert re.search(r"^<5>proc=main level=notice cat=daemon event=ready "
                     r"pid=\d+$", text, re.M), text
    assert re.search(r"^<6>proc=smtp level=info ", text, re.M), text
    assert not re.search(r"^moat\[\d+\]: ", text, re.M), text
    # every line: a priority that matches its level
    prio = {"err": 3, "warn": 4, "notice": 5, "info": 6, "debug": 7}
    for line in text.splitlines():
        g = re.match(r"<(\d)>proc=\S+ level=(\S+) ", line)
        assert g and int(g.group(1)) == prio[g.group(2)], line
    m.stop()

    other = moat_factory(start=False)
    st = os.stat(m.logpath)     # a stream that is not this one's stderr
    other.start(env={"JOURNAL_STREAM": "%d:%d" % (st.st_dev, st.st_ino)})
    assert other.wait_log("event=ready pid=")
    assert re.search(r"^moat\[\d+\]: proc=main level=notice cat=daemon "
                     r"event=ready ", other.log(), re.M), other.log()
    assert "<5>" not in other.log()


def test_a_hostile_login_name_is_one_escaped_token(moat_factory):
    m = moat_factory(listeners=LISTENERS, users={USER: PASSWORD},
                     extra="[limits]\nauth_fail_delay_ms = 10ms\n")
    s = sub_session(m, "127.0.0.32")
    try:
        s.docmd("AUTH", "PLAIN " + plain('x y="1" event=auth_ok', "pw"))
    finally:
        s.close()
    assert m.wait_log("event=auth_fail client=127.0.0.32")
    line = lines(m, "event=auth_fail client=127.0.0.32")[0]
    # split at spaces, as a reader of the log does: one user=, one event=
    tokens = line.split(" ")
    assert [t for t in tokens if t.startswith("event=")] == \
        ["event=auth_fail"], line
    users = [t for t in tokens if t.startswith("user=")]
    assert len(users) == 1 and '"' not in users[0], line
