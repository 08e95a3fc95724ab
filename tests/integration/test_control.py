"""The control socket and the administration CLI (issue 5), against a
running daemon with real sessions and a real queue.

Mail relayed by 127.0.0.2/127.0.0.4 goes to a smarthost on a closed
loopback port, so it stays queued (deferred) for the CLI to look at.
"""
import json
import os
import re
import socket
import sqlite3
import struct
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import MOAT_BIN, free_port, wait_dns

CTL_VERSION = 1
CTL_FRAME_ANSWER = 0x7a00
OP_SESSIONS = 2
OP_QUEUE_ACT = 7

RELAY = ("[relay]\nrelay_networks = 127.0.0.2/32, 127.0.0.4/32\n"
         "[delivery]\nsmarthost = [127.0.0.1]:9\nretry_min = 3600\n")


def ctl(m, *args, user=None, check=None):
    """Run `moat ARGS -c CONF`; (exit status, stdout, stderr)."""
    argv = [MOAT_BIN] + list(args) + ["-c", m.conf]
    if user:
        argv = ["setpriv", "--reuid=" + user, "--regid=nogroup",
                "--clear-groups"] + argv
    r = subprocess.run(argv, cwd=m.dir, capture_output=True, text=True,
                       timeout=60)
    if check is not None:
        assert r.returncode == check, (args, r.returncode, r.stdout, r.stderr)
    return r.returncode, r.stdout, r.stderr


def ctlj(m, *args):
    """`moat ARGS --json`, which must succeed; the parsed answer."""
    rc, out, err = ctl(m, *(list(args) + ["--json"]))
    assert rc == 0, (args, rc, out, err)
    return json.loads(out)


def send(m, sender, rcpts, src="127.0.0.2", subject="t"):
    import smtplib
    s = smtplib.SMTP("127.0.0.1", m.port, source_address=(src, 0), timeout=10)
    s.sendmail(sender, rcpts, ("Subject: %s\r\n\r\nbody\r\n" % subject).encode())
    s.quit()


def queued(m):
    return {r["qid"]: r for r in ctlj(m, "queue", "list")["messages"]}


def wait_for(cond, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    return cond()


def db(m):
    return sqlite3.connect(os.path.join(m.dir, "var", "spool", "queue.db"),
                           timeout=10)


def wait_schema(m, table):
    """The queue process has made its schema (read-only: never creates
    the file before the queue process does)."""
    path = os.path.join(m.dir, "var", "spool", "queue.db")

    def have():
        try:
            with sqlite3.connect("file:%s?mode=ro" % path, uri=True) as c:
                return c.execute("SELECT 1 FROM sqlite_master WHERE name = "
                                 "?", (table,)).fetchone() is not None
        except sqlite3.Error:
            return False
    assert wait_for(have), "no table %s in %s" % (table, path)


def raw(m, frames, read=True):
    """Send raw frames on the control socket; the answers (status, text)."""
    path = os.path.join(m.dir, "var", "spool", "control.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    s.sendall(frames)
    out = []
    if read:
        buf = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            buf += chunk
            while len(buf) >= 16:
                ln, typ, ver, rid = struct.unpack("=IHHQ", buf[:16])
                if len(buf) < 16 + ln:
                    break
                body, buf = buf[16:16 + ln], buf[16 + ln:]
                status = body[0]
                mlen = struct.unpack("=I", body[1:5])[0]
                out.append((status, body[5:5 + mlen].decode()))
            if out and not frames.endswith(b"KEEP"):
                break
    s.close()
    return out


@pytest.fixture
def qmoat(moat_factory):
    return moat_factory(extra=RELAY)


def test_not_running_and_status(moat_factory):
    m = moat_factory(extra=RELAY)
    rc, out, _ = ctl(m, "status", check=0)
    assert "moat is running" in out
    m.stop()
    rc, out, err = ctl(m, "queue")
    assert rc == 1 and "not running" in err
    rc, _, err = ctl(m, "queue", "delete")     # usage: no filter
    assert rc == 2 and "no filter" in err
    rc, _, err = ctl(m, "ban", "add", "10.0.0.1/8")
    assert rc == 2 and "host bits" in err


def test_sessions_list_and_kill(qmoat):
    import smtplib
    a = smtplib.SMTP("127.0.0.1", qmoat.port, source_address=("127.0.0.3", 0))
    a.ehlo("alpha.example")
    b = smtplib.SMTP("127.0.0.1", qmoat.port, source_address=("127.0.0.5", 0))
    b.ehlo("beta.example")
    b.mail("x@beta.example")
    rows = ctlj(qmoat, "sessions")["sessions"]
    by_client = {r["client"]: r for r in rows}
    assert by_client["127.0.0.3"]["helo"] == "alpha.example"
    assert by_client["127.0.0.5"]["command"] == "MAIL"
    assert by_client["127.0.0.5"]["state"] == "mail"
    assert by_client["127.0.0.3"]["listener"] == "mx"
    rc, out, _ = ctl(qmoat, "sessions")
    assert "alpha.example" in out and "duration" in out
    # kill by id: the client sees 421
    ctl(qmoat, "sessions", "kill", by_client["127.0.0.3"]["id"], check=0)
    code, msg = a.noop()
    assert code == 421, (code, msg)
    # kill by network
    rc, out, _ = ctl(qmoat, "sessions", "kill", "--ip", "127.0.0.5/32",
                     check=0)
    assert "killed 1 session" in out
    code, _ = b.noop()
    assert code == 421
    assert wait_for(lambda: ctlj(qmoat, "sessions")["sessions"] == [])
    rc, _, err = ctl(qmoat, "sessions", "kill", "00000000000000ff")
    assert rc == 1 and "no session" in err
    ev = ctlj(qmoat, "events", "--type", "admin_kill")["events"]
    assert len(ev) == 2 and all("uid=0" in e["detail"] for e in ev)


def fill(m):
    send(m, "ann@a.example", ["x@d1.example", "y@d2.example"])
    send(m, "bob@b.example", ["x@d1.example"])
    send(m, "bob@b.example", ["z@d3.example"], src="127.0.0.4")
    send(m, "", ["x@d2.example"], src="127.0.0.4")
    assert wait_for(lambda: len(queued(m)) == 4)


def test_queue_filters(qmoat):
    fill(qmoat)
    m = qmoat

    def count(*f):
        return len(ctlj(m, "queue", "list", *f)["messages"])
    assert count("--from", "bob@b.example") == 2
    assert count("--from", "<>") == 1
    assert count("--to", "x@d1.example") == 2
    assert count("--to-domain", "d2.example") == 2
    assert count("--client-ip", "127.0.0.4/32") == 2
    assert count("--client-ip", "127.0.0.0/8") == 4
    assert count("--client-ip", "::1/128") == 0
    assert count("--newer-than", "1h") == 4
    assert count("--older-than", "1h") == 0
    assert count("--state", "queued,deferred") == 4
    assert count("--state", "held") == 0
    # an authenticated user and an old message, written behind its back
    with db(m) as c:
        c.execute("UPDATE message SET auth_user = 'carol', created = "
                  "created - 7200 WHERE sender = 'ann@a.example'")
    assert count("--user", "carol") == 1
    assert count("--older-than", "1h") == 1
    assert count("--older-than", "1h", "--to-domain", "d1.example") == 1
    assert count("--older-than", "3h") == 0
    # the summary by destination
    s = {r["domain"]: r for r in ctlj(m, "queue")["summary"]}
    assert s["d1.example"]["recipients"] == 2
    assert s["d1.example"]["deferred"] + s["d1.example"]["queued"] == 2
    assert s["d1.example"]["oldest"] <= time.time()
    assert s["d2.example"]["recipients"] == 2
    rc, out, _ = ctl(m, "queue", check=0)
    assert "d1.example" in out and "3 destinations" in out
    # show: envelope, recipients, headers; --body
    qid = ctlj(m, "queue", "list", "--from", "<>")["messages"][0]["qid"]
    shown = ctlj(m, "queue", "show", qid)
    env = shown["envelope"][0]
    assert env["qid"] == qid and env["client"] == "127.0.0.4"
    # numbers are numbers, times epoch seconds, as in `queue list`
    listed = ctlj(m, "queue", "list", qid)["messages"][0]
    assert env["created"] == listed["created"] and \
        isinstance(env["created"], int) and env["created"] > 1.7e9
    assert isinstance(env["size"], int) and env["recipients"] == 1
    rc, out, _ = ctl(m, "queue", "show", qid, check=0)
    lines = dict(l.split(None, 1) for l in out.splitlines()
                 if l.split(None, 1)[:1] in (["created"], ["size"], ["qid"]))
    assert re.fullmatch(r"\d+[smhd]( ?\d+[smhd])? ago", lines["created"]), out
    assert lines["qid"] == qid
    assert shown["recipients"][0]["address"] == "x@d2.example"
    assert "Subject: t" in shown["headers"][0]["text"]
    assert "body" not in shown["headers"][0]["text"]
    body = ctlj(m, "queue", "show", qid, "--body")["message"][0]["text"]
    assert "body" in body
    rc, _, err = ctl(m, "queue", "show", "0123456789ab")
    assert rc == 1 and "no such message" in err


def test_hold_release_round_trip(qmoat):
    fill(qmoat)
    m = qmoat
    r = ctlj(m, "queue", "hold", "--to-domain", "d1.example")
    assert r["result"][0]["messages"] == 2
    held = ctlj(m, "queue", "list", "--state", "held")["messages"]
    assert len(held) == 2 and all("held" in x["state"] for x in held)
    rows = db(m).execute("SELECT count(*) FROM recipient WHERE state = 2"
                         ).fetchone()[0]
    assert rows == 3        # every pending recipient of those messages
    dry = ctlj(m, "queue", "release", "--all", "--dry-run")
    assert dry["result"][0]["dry_run"] == 1
    assert db(m).execute("SELECT count(*) FROM recipient WHERE state = 2"
                         ).fetchone()[0] == 3
    rc, out, _ = ctl(m, "queue", "release", "--state", "held", check=0)
    assert "released 2 messages" in out and " s" in out
    assert ctlj(m, "queue", "list", "--state", "held")["messages"] == []
    ev = ctlj(m, "events", "--type", "admin_queue")["events"]
    assert [e["detail"].split()[1] for e in ev] == ["op=hold", "op=release"]


def test_delete_subset_leaves_rest(qmoat):
    fill(qmoat)
    m = qmoat
    before = queued(m)
    r = ctlj(m, "queue", "delete", "--from", "bob@b.example", "--dry-run")
    assert r["result"][0]["messages"] == 2
    assert len(queued(m)) == 4
    r = ctlj(m, "queue", "delete", "--from", "bob@b.example")
    assert r["result"][0]["messages"] == 2
    after = queued(m)
    assert len(after) == 2
    assert all(x["from"] != "bob@b.example" for x in after.values())
    assert set(after) < set(before)
    c = db(m)
    assert c.execute("SELECT count(*) FROM body").fetchone()[0] == 2
    assert c.execute("SELECT count(*) FROM recipient WHERE msg_id NOT IN "
                     "(SELECT id FROM message)").fetchone()[0] == 0
    # one message by id, then everything
    qid = next(iter(after))
    ctl(m, "queue", "delete", qid, check=0)
    assert list(queued(m)) != [qid] and len(queued(m)) == 1
    ctl(m, "queue", "delete", "--all", check=0)
    assert queued(m) == {}
    c = db(m)
    assert c.execute("SELECT count(*) FROM body").fetchone()[0] == 0
    assert c.execute("SELECT count(*) FROM recipient").fetchone()[0] == 0
    # the server still takes mail, and a filtered delete still removes
    # bodies and recipients with their messages
    send(m, "ann@a.example", ["x@d1.example"])
    assert wait_for(lambda: len(queued(m)) == 1)
    ctl(m, "queue", "delete", "--from", "ann@a.example", check=0)
    assert queued(m) == {}
    assert c.execute("SELECT count(*) FROM body").fetchone()[0] == 0
    assert c.execute("SELECT count(*) FROM recipient").fetchone()[0] == 0


def test_dead_letter_purge(qmoat):
    m = qmoat
    wait_schema(m, "deadletter")
    c = db(m)
    now = int(time.time())
    with c:
        for i in range(5):
            c.execute("INSERT INTO deadletter(qid, time, created, sender, "
                      "recipient, reason, data) VALUES (?, ?, ?, '', ?, "
                      "'550 5.1.1 no', x'00')",
                      ("%012x" % i, now - i * 86400, now - i * 86400,
                       "u%d@%s.example" % (i, "old" if i >= 3 else "new")))
    dead = ctlj(m, "queue", "list", "--dead")["deadletters"]
    assert len(dead) == 5
    r = ctlj(m, "queue", "delete", "--dead", "--older-than", "2d")
    assert r["result"][0]["messages"] == 3
    r = ctlj(m, "queue", "delete", "--dead", "--to-domain", "new.example")
    assert r["result"][0]["messages"] == 2
    assert ctlj(m, "queue", "list", "--dead")["deadletters"] == []
    rc, _, err = ctl(m, "queue", "hold", "--dead")
    assert rc == 2 and "dead letters" in err


def test_ban_listed_persisted_and_enforced(qmoat):
    m = qmoat
    rc, out, _ = ctl(m, "ban", "add", "127.0.0.6/32", "--for", "7d",
                     "--reason", "test ban", check=0)
    assert "banned 127.0.0.6/32 for 7d" in out
    ctl(m, "ban", "add", "2001:db8::/32", check=0)
    bans = {b["cidr"]: b for b in ctlj(m, "ban", "list")["bans"]}
    assert bans["127.0.0.6/32"]["reason"] == "test ban"
    assert bans["127.0.0.6/32"]["expires"] > time.time() + 6 * 86400
    assert bans["2001:db8::/32"]["expires"] == 0
    rows = db(m).execute("SELECT cidr, origin FROM bans ORDER BY cidr"
                         ).fetchall()
    assert ("127.0.0.6/32", "admin") in rows
    # a new connection from the banned address is refused at once
    s = socket.create_connection(("127.0.0.1", m.port), timeout=5,
                                 source_address=("127.0.0.6", 0))
    banner = s.recv(512)
    s.close()
    assert not banner.startswith(b"220"), banner
    # the ban survives a restart
    m.stop()
    m.start()
    assert "127.0.0.6/32" in {b["cidr"] for b in ctlj(m, "ban", "list")["bans"]}
    ctl(m, "ban", "del", "127.0.0.6/32", check=0)
    rc, _, err = ctl(m, "ban", "del", "127.0.0.6/32")
    assert rc == 1 and "not banned" in err

    def ok():
        s = socket.create_connection(("127.0.0.1", m.port), timeout=5,
                                     source_address=("127.0.0.6", 0))
        b = s.recv(512)
        s.close()
        return b.startswith(b"220")
    assert wait_for(ok, 5)
    types = [e["type"] for e in ctlj(m, "events")["events"]]
    assert "ban" in types and "unban" in types


def test_user_states(qmoat):
    m = qmoat
    send(m, "ann@a.example", ["x@d1.example"])
    assert wait_for(lambda: len(queued(m)) == 1)
    with db(m) as c:
        c.execute("UPDATE message SET auth_user = 'mallory'")
    rc, out, _ = ctl(m, "user", "suspend", "mallory", "--reason", "spam",
                     check=0)
    assert "suspended" in out and "1 queued recipient of" in out
    users = {u["user"]: u for u in ctlj(m, "user", "list")["users"]}
    assert users["mallory"]["state"] == "suspended"
    assert users["mallory"]["queued"] == 1
    assert ctlj(m, "queue", "list", "--state", "held")["messages"]
    ctl(m, "user", "unsuspend", "mallory", check=0)
    users = {u["user"]: u for u in ctlj(m, "user", "list")["users"]}
    assert users["mallory"]["state"] == "active"
    assert db(m).execute("SELECT state FROM user_state WHERE user = "
                         "'mallory'").fetchone()[0] == "active"
    ev = ctlj(m, "events", "--user", "mallory")["events"]
    assert [e["type"] for e in ev] == ["suspend", "unsuspend"]


def test_log_level_changed_and_reverted(qmoat):
    m = qmoat
    levels = {r["category"]: r for r in ctlj(m, "log")["log"]}
    assert levels["smtp"]["level"] == "info"
    rc, out, _ = ctl(m, "log", "smtp", "debug", "--for", "2s", check=0)
    assert "debug for 2s, then info" in out
    levels = {r["category"]: r for r in ctlj(m, "log")["log"]}
    assert levels["smtp"]["level"] == "debug"
    assert levels["smtp"]["reverts_to"] == "info"
    # the smtp process logs at debug now
    s = socket.create_connection(("127.0.0.1", m.port), timeout=5)
    s.recv(512)
    s.sendall(b"NOOP\r\n")
    s.recv(512)
    assert m.wait_log("level=debug cat=smtp", 5)
    s.sendall(b"QUIT\r\n")
    s.close()
    time.sleep(2.5)
    levels = {r["category"]: r for r in ctlj(m, "log")["log"]}
    assert levels["smtp"]["level"] == "info"
    assert m.wait_log("event=log_level_reverted category=smtp level=info", 5)
    mark = len(m.log())
    s = socket.create_connection(("127.0.0.1", m.port), timeout=5)
    s.recv(512)
    s.sendall(b"NOOP\r\nQUIT\r\n")
    s.recv(512)
    s.close()
    time.sleep(0.5)
    assert "level=debug cat=smtp" not in m.log()[mark:]
    rc, _, err = ctl(m, "log", "smtp", "loud")
    assert rc == 2
    assert "log_set" in ctlj(m, "events", "--type", "admin_log"
                             )["events"][0]["detail"]


def test_metrics(moat_factory):
    port = free_port()
    m = moat_factory(extra=RELAY + "[control]\nmetrics_listen = 127.0.0.1:%d\n"
                     % port)
    send(m, "ann@a.example", ["x@d1.example"])
    assert wait_for(lambda: len(queued(m)) == 1)

    def scrape():
        try:
            return urllib.request.urlopen("http://127.0.0.1:%d/metrics"
                                          % port, timeout=5)
        except OSError:
            return None
    r = wait_for(scrape, 5)
    assert r is not None and r.status == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = r.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            values[k] = int(v)
    assert values["moat_queue_messages"] == 1
    assert values['moat_queue_recipients{state="deferred"}'] + \
        values['moat_queue_recipients{state="queued"}'] == 1
    assert any(k.startswith('moat_sessions{listener="') for k in values)
    assert "moat_uptime_seconds" in values
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=5)
    assert e.value.code == 404
    stats = {(s["name"], s["labels"]): s["value"]
             for s in ctlj(m, "stats")["stats"]}
    assert stats[("queue_messages", "")] == 1


def test_metrics_off_by_default_and_loopback_only(moat_factory, tmp_path):
    m = moat_factory(extra=RELAY)
    assert "event=metrics_listen" not in m.log()
    conf = tmp_path / "bad.conf"
    conf.write_text("[control]\nmetrics_listen = 0.0.0.0:9187\n")
    r = subprocess.run([MOAT_BIN, "check-config", "-c", str(conf)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "loopback" in r.stderr


def test_access_refused_to_unprivileged(qmoat):
    m = qmoat
    fill(m)
    sock = os.path.join(m.dir, "var", "spool", "control.sock")
    st = os.stat(sock)
    assert st.st_mode & 0o777 == 0o660
    for argv in (["queue"], ["queue", "delete", "--all"], ["sessions"]):
        rc, out, err = ctl(m, *argv, user="nobody")
        assert rc == 1 and "permission denied" in err, (argv, rc, err)
    # even with the socket in reach, the credentials check refuses
    if os.geteuid() == 0:
        os.chmod(os.path.dirname(sock), 0o755)
        os.chmod(sock, 0o666)
        try:
            rc, out, err = ctl(m, "queue", "delete", "--all", "--socket",
                               sock, user="nobody")
            assert rc == 1 and "permission denied" in err, (rc, out, err)
        finally:
            os.chmod(sock, 0o660)
        assert wait_for(lambda: ctlj(m, "events", "--type",
                                     "control_denied")["events"])
    assert len(queued(m)) == 4


def frame(op, payload=b"", version=CTL_VERSION, rid=7, length=None):
    n = len(payload) if length is None else length
    return struct.pack("=IHHQ", n, op, version, rid) + payload


def test_malformed_and_oversized_requests(qmoat):
    m = qmoat
    fill(m)
    # bytes left over after the arguments
    out = raw(m, frame(OP_SESSIONS, b"\x00"))
    assert out and out[0][0] == 2 and "malformed" in out[0][1]
    # an unknown operation
    out = raw(m, frame(999))
    assert out and out[0][0] == 2 and "unknown operation" in out[0][1]
    # a delete whose filter is cut short
    out = raw(m, frame(OP_QUEUE_ACT, b"\x00\x05\x00\x00"))
    assert out and out[0][0] == 2
    # another protocol version
    out = raw(m, frame(OP_SESSIONS, version=9))
    assert out and out[0][0] == 2 and "version" in out[0][1]
    # a frame far over the limit: answered, then the connection closes
    out = raw(m, frame(OP_QUEUE_ACT, b"\x00" * 100, length=50 * 1024 * 1024))
    assert out and out[0][0] == 2 and "too large" in out[0][1]
    # garbage
    out = raw(m, os.urandom(16) + b"\xff" * 64)
    assert out and out[0][0] == 2
    # nothing changed, and the daemon still answers
    assert len(queued(m)) == 4
    stats = {(s["name"], s["labels"]): s["value"]
             for s in ctlj(m, "stats")["stats"]}
    assert stats[("control_requests_total", 'result="malformed"')] >= 6


def test_events_filters(qmoat):
    m = qmoat
    import smtplib
    s = smtplib.SMTP("127.0.0.1", m.port, source_address=("127.0.0.7", 0))
    s.ehlo("x.example")
    code, _ = s.mail("a@x.example")
    code, _ = s.rcpt("someone@far.example")     # relay denied
    assert code >= 500
    s.quit()
    assert wait_for(lambda: ctlj(m, "events", "--ip", "127.0.0.7/32"
                                 )["events"])
    ev = ctlj(m, "events", "--ip", "127.0.0.7/32", "--since", "1h")["events"]
    assert all(e["client"] == "127.0.0.7" for e in ev)
    assert ctlj(m, "events", "--ip", "10.0.0.0/8")["events"] == []
    assert len(ctlj(m, "events", "--limit", "1")["events"]) == 1
    # --follow prints new events as they come
    p = subprocess.Popen([MOAT_BIN, "events", "--follow", "--json",
                          "--type", "ban", "-c", m.conf], cwd=m.dir,
                         stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        ctl(m, "ban", "add", "127.0.0.9", check=0)
        line = p.stdout.readline()
        assert json.loads(line)["type"] == "ban"
    finally:
        p.kill()
        p.wait()


AUTH_LISTENERS = [("mx", "mx", ""), ("sub", "submission", "")]
AUTH_USER, AUTH_PW = "alice", "correct horse"


def sub_session(m):
    import smtplib
    import ssl
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s = smtplib.SMTP("127.0.0.1", m.ports["sub"], timeout=10)
    s.ehlo("client.example")
    s.starttls(context=ctx)
    s.ehlo("client.example")
    return s


def try_login(m, user, pw):
    """One AUTH PLAIN (smtplib's login() would try LOGIN after it)."""
    import base64
    s = sub_session(m)
    creds = base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode())
    code, _ = s.docmd("AUTH", "PLAIN " + creds.decode())
    s.close()
    return code == 235


def stats_of(m):
    return {(s["name"], s["labels"]): s["value"]
            for s in ctlj(m, "stats")["stats"]}


def test_stats_lifetime_counters(moat_factory):
    import smtplib
    port = free_port()
    m = moat_factory(listeners=AUTH_LISTENERS, users={AUTH_USER: AUTH_PW},
                     extra=RELAY + "[control]\nmetrics_listen = 127.0.0.1:%d\n"
                     % port)
    # accepted and delivered locally
    send(m, "ann@a.example", ["postmaster@localhost"], src="127.0.0.2")
    assert m.wait_maildir(1)
    # relay denied, unknown user
    s = smtplib.SMTP("127.0.0.1", m.port, source_address=("127.0.0.7", 0))
    s.ehlo("x.example")
    s.mail("a@x.example")
    assert s.rcpt("someone@far.example")[0] == 554
    assert s.rcpt("nobody@localhost")[0] == 550
    s.quit()
    # AUTH: one success, one failure
    assert try_login(m, AUTH_USER, AUTH_PW)
    assert not try_login(m, AUTH_USER, "wrong")
    # refused at connect
    ctl(m, "ban", "add", "127.0.0.8", check=0)

    def refused():
        try:
            c = socket.create_connection(("127.0.0.1", m.port), timeout=5,
                                         source_address=("127.0.0.8", 0))
            got = c.recv(512)
            c.close()
            return got.startswith(b"554")
        except OSError:
            return False
    assert wait_for(refused, 5)
    st = wait_for(lambda: (lambda v: v if v[("messages_out_total",
                  'outcome="delivered"')] >= 1 else None)(stats_of(m)), 5)
    assert st[("messages_in_total", "")] == 1
    started = {k[1]: v for k, v in st.items()
               if k[0] == "sessions_started_total"}
    assert set(started) == {'listener="mx"', 'listener="sub"'}, st
    assert sum(started.values()) >= 4 and started['listener="mx"'] >= 1
    assert st[("rejections_total", 'reason="relay_denied"')] == 1
    assert st[("rejections_total", 'reason="unknown_user"')] == 1
    assert st[("rejections_total", 'reason="banned"')] >= 1
    assert st[("rejections_total", 'reason="dnsbl"')] == 0
    assert st[("auth_attempts_total", 'result="success"')] == 1
    assert st[("auth_attempts_total", 'result="failure"')] == 1
    assert st[("bans", "")] == 1
    assert ("uptime_seconds", "") in st
    # the same numbers on /metrics, with HELP and TYPE
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                  timeout=5).read().decode()
    assert "# TYPE moat_rejections_total counter" in text
    assert "# HELP moat_messages_in_total " in text
    assert 'moat_auth_attempts_total{result="failure"} 1' in text
    assert 'moat_messages_out_total{outcome="delivered"} 1' in text
    assert text.count("# TYPE moat_sessions ") == 1


def test_user_list_and_passwd_at_once(moat_factory):
    m = moat_factory(listeners=AUTH_LISTENERS, users={AUTH_USER: AUTH_PW,
                                                     "bob": "bob's password"},
                     extra=RELAY)
    assert try_login(m, AUTH_USER, AUTH_PW)
    assert not try_login(m, "bob", "wrong")
    users = {u["user"]: u for u in ctlj(m, "user", "list")["users"]}
    assert users["alice"]["in_file"] == 1
    assert users["alice"]["state"] == "active"
    assert users["bob"]["in_file"] == 1
    assert wait_for(lambda: {u["user"]: u for u in ctlj(m, "user", "list")
                             ["users"]}["bob"]["auth_events_24h"] == 1, 5)
    # an account that only the queue knows (a relay client, held)
    ctl(m, "user", "hold", "ip:192.0.2.9", check=0)
    users = {u["user"]: u for u in ctlj(m, "user", "list")["users"]}
    assert users["ip:192.0.2.9"]["in_file"] == 0
    assert users["ip:192.0.2.9"]["state"] == "held"
    # a new password works at once, without SIGHUP; the old one does not
    r = subprocess.run([MOAT_BIN, "user", "passwd", "alice", "-c", m.conf],
                       input="new secret\n", text=True, capture_output=True,
                       cwd=m.dir, timeout=60)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "password for alice set" in r.stdout
    assert try_login(m, AUTH_USER, "new secret")
    assert not try_login(m, AUTH_USER, AUTH_PW)
    assert try_login(m, "bob", "bob's password")
    with open(m.users_file) as f:
        text = f.read()
    assert text.count("alice:$argon2id$") == 1 and "bob:$argon2id$" in text
    assert os.stat(m.users_file).st_mode & 0o777 == 0o600
    # a new user too
    r = subprocess.run([MOAT_BIN, "user", "passwd", "carol", "-c", m.conf],
                       input="carol's password\n", text=True, capture_output=True,
                       cwd=m.dir, timeout=60)
    assert r.returncode == 0, r.stderr
    assert try_login(m, "carol", "carol's password")
    ev = ctlj(m, "events", "--type", "admin_passwd")["events"]
    assert {e["user"] for e in ev} == {"alice", "carol"}
    # a name that could split a line of the file never gets there
    rc, _, _ = ctl(m, "user", "passwd", "eve:x")
    assert rc == 2


@pytest.fixture
def rdns_dns():
    """dnsmasq on loopback answering PTR for 127.0.0.21 only."""
    port = free_port()
    p = subprocess.Popen(
        ["dnsmasq", "--no-daemon", "--port=%d" % port,
         "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv",
         "--no-hosts", "--conf-file=/dev/null",
         "--local=/0.0.127.in-addr.arpa/",
         "--ptr-record=21.0.0.127.in-addr.arpa,client.rdns.example"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_dns(port, p)
    yield port
    p.terminate()
    p.wait()


def test_sessions_show_reverse_names(moat_factory, rdns_dns):
    m = moat_factory(extra=RELAY + "[delivery]\ndns_server = 127.0.0.1@%d\n"
                     % rdns_dns)
    conns = []
    for src in ("127.0.0.21", "127.0.0.22"):
        c = socket.create_connection(("127.0.0.1", m.port), timeout=5,
                                     source_address=(src, 0))
        assert c.recv(512).startswith(b"220")
        conns.append(c)

    def names():
        v = {s["client"]: s["rdns"] for s in ctlj(m, "sessions")["sessions"]}
        return v if v.get("127.0.0.21") not in (None, "-") and \
            v.get("127.0.0.22") not in (None, "-") else None
    got = wait_for(names, 5)
    assert got == {"127.0.0.21": "client.rdns.example",
                   "127.0.0.22": "unknown"}, got
    rc, out, _ = ctl(m, "sessions", check=0)
    assert "client.rdns.example" in out
    # a second session from the same address: from the cache, at once
    c = socket.create_connection(("127.0.0.1", m.port), timeout=5,
                                 source_address=("127.0.0.21", 0))
    c.recv(512)
    conns.append(c)
    rows = [s for s in ctlj(m, "sessions")["sessions"]
            if s["client"] == "127.0.0.21"]
    assert [r["rdns"] for r in rows] == ["client.rdns.example"] * 2
    st = stats_of(m)
    # (the readiness probe from 127.0.0.1 was looked up too)
    assert st[("rdns_lookups_total", 'source="dns"')] >= 2
    assert st[("rdns_lookups_total", 'source="cache"')] >= 1
    for c in conns:
        c.close()


def test_sessions_without_a_resolver(moat_factory):
    # a DNS server that never answers: names stay "-", mail flows
    m = moat_factory(extra=RELAY + "[delivery]\ndns_server = 127.0.0.1@%d\n"
                     % free_port())
    c = socket.create_connection(("127.0.0.1", m.port), timeout=5,
                                 source_address=("127.0.0.23", 0))
    assert c.recv(512).startswith(b"220")
    rows = ctlj(m, "sessions")["sessions"]
    assert [r["rdns"] for r in rows] == ["-"]
    send(m, "ann@a.example", ["postmaster@localhost"])
    assert m.wait_maildir(1)
    c.close()


def test_user_suspend_of_nobody_fails_and_leaves_no_row(moat_factory):
    m = moat_factory(extra=RELAY, listeners=AUTH_LISTENERS,
                     users={AUTH_USER: AUTH_PW})
    for verb in ("suspend", "hold"):
        rc, out, err = ctl(m, "user", verb, "nosuchuser")
        assert rc == 1 and "no user nosuchuser" in err, (rc, out, err)
    rc, out, err = ctl(m, "user", "unsuspend", "nosuchuser")
    assert rc == 1 and "neither held nor suspended" in err, (rc, err)
    wait_schema(m, "user_state")
    assert db(m).execute("SELECT count(*) FROM user_state").fetchone()[0] \
        == 0
    # a user of the file is fine, and so is a relay client's key
    ctl(m, "user", "suspend", AUTH_USER, check=0)
    ctl(m, "user", "hold", "ip:192.0.2.7", check=0)
    assert sorted(r[0] for r in db(m).execute(
        "SELECT user FROM user_state")) == [AUTH_USER, "ip:192.0.2.7"]


def test_user_del(moat_factory):
    m = moat_factory(extra=RELAY, listeners=AUTH_LISTENERS,
                     users={AUTH_USER: AUTH_PW, "bob": "bob's password"})
    ctl(m, "user", "suspend", "bob", check=0)
    assert try_login(m, "bob", "bob's password") is False
    rc, out, err = ctl(m, "user", "del", "bob")
    assert rc == 0, err
    assert "bob removed from" in out and "account state removed" in out
    with open(m.users_file) as f:
        text = f.read()
    assert "bob:" not in text and "alice:$argon2id$" in text
    assert db(m).execute("SELECT count(*) FROM user_state WHERE user = "
                         "'bob'").fetchone()[0] == 0
    # its events of the day still name it; the file and the state do not
    users = {u["user"]: u for u in ctlj(m, "user", "list")["users"]}
    assert (users["bob"]["in_file"], users["bob"]["state"]) == \
        (0, "active")
    assert try_login(m, AUTH_USER, AUTH_PW)
    ev = ctlj(m, "events", "--type", "user_del")["events"]
    assert [e["user"] for e in ev] == ["bob"]
    rc, out, err = ctl(m, "user", "del", "bob")
    assert rc == 1 and "no user bob in" in err, (rc, err)
    rc, _, err = ctl(m, "user", "del")
    assert rc == 2 and err.startswith("moat: user: which user?\n")


def test_unsuspend_tells_of_held_mail_and_releases_it(qmoat):
    m = qmoat
    send(m, "ann@a.example", ["x@d1.example", "y@d1.example"])
    assert wait_for(lambda: len(queued(m)) == 1)
    with db(m) as c:
        c.execute("UPDATE message SET auth_user = 'mallory'")
    ctl(m, "user", "suspend", "mallory", check=0)
    rc, out, _ = ctl(m, "user", "unsuspend", "mallory", check=0)
    assert "2 queued recipients of its mail are still held" in out, out
    assert "moat queue release --user mallory" in out, out
    assert ctlj(m, "queue", "list", "--state", "held")["messages"]
    ctl(m, "user", "suspend", "mallory", check=0)
    rc, out, _ = ctl(m, "user", "unsuspend", "mallory", "--release",
                     check=0)
    # active, then released: no word of mail still held
    assert out.startswith("mallory is now active\n"), out
    assert "still held" not in out and "release" in out, out
    assert not ctlj(m, "queue", "list", "--state", "held")["messages"]
    ctl(m, "user", "hold", "ip:192.0.2.99", check=0)
    rc, out, _ = ctl(m, "user", "release", "ip:192.0.2.99", check=0)
    assert "none of its mail is held" in out, out


def test_passwords_shorter_than_the_minimum_are_refused(moat_factory):
    m = moat_factory(extra=RELAY, listeners=AUTH_LISTENERS,
                     users={AUTH_USER: "long enough pw"}, start=False)
    with open(m.conf) as f:
        text = f.read()
    with open(m.conf, "w") as f:
        f.write(text.replace("[server]\n", "[server]\n"
                             "password_min_length = 12\n", 1))
    m.start()
    for argv in (["passwd", "bob"], ["user", "passwd", "bob"]):
        r = subprocess.run([MOAT_BIN] + argv + ["-c", m.conf],
                           input="x\n", text=True, capture_output=True,
                           cwd=m.dir, timeout=60)
        assert r.returncode == 1, (argv, r.stdout, r.stderr)
        assert "password refused: 1 character, at least 12 wanted" \
            in r.stderr, r.stderr
    with open(m.users_file) as f:
        assert "bob:" not in f.read()
    # long enough: set; carol has no mailbox: a warning, not a refusal
    r = subprocess.run([MOAT_BIN, "passwd", "carol", "-c", m.conf],
                       input="twelve chars\n", text=True, capture_output=True,
                       cwd=m.dir, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "warning: carol is not one of mailboxes" in r.stderr
    r = subprocess.run([MOAT_BIN, "passwd", "bob", "-c", m.conf],
                       input="twelve chars\n", text=True, capture_output=True,
                       cwd=m.dir, timeout=60)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    # the configuration found through $MOAT_CONFIG rules `user passwd`
    # as it finds the daemon (not the built-in one's 10)
    r = subprocess.run([MOAT_BIN, "user", "passwd", "bob"],
                       input="eleven char\n", text=True, capture_output=True,
                       cwd="/", timeout=60,
                       env=dict(os.environ, MOAT_CONFIG=m.conf))
    assert r.returncode == 1 and "at least 12 wanted" in r.stderr, r


def test_counts_in_words_and_cut_lists(qmoat):
    m = qmoat
    import smtplib
    a = smtplib.SMTP("127.0.0.1", m.port, source_address=("127.0.0.3", 0))
    a.ehlo("alpha.example")
    rc, out, _ = ctl(m, "sessions", check=0)
    assert out.rstrip().endswith("1 session"), out
    a.quit()
    for i in range(5):
        send(m, "ann@a.example", ["x%d@d1.example" % i])
    assert wait_for(lambda: len(queued(m)) == 5)
    rc, out, _ = ctl(m, "queue", "list", "--limit", "2", check=0)
    assert "... 3 more; use --limit 5 to see them all" in out, out
    rc, out, _ = ctl(m, "queue", "list", "--limit", "5", check=0)
    assert "more; use --limit" not in out, out
    rc, out, _ = ctl(m, "queue", "summary", check=0)
    assert "1 destination, 5 messages, 5 recipients" in out, out
    # events: the newest are shown, the cut says how many older are not
    for i in range(3):
        ctl(m, "ban", "add", "192.0.2.%d" % i, check=0)
    rc, out, _ = ctl(m, "events", "--type", "ban", "--limit", "1", check=0)
    assert "... 2 more (older); use --limit 3" in out, out
    # the dry run's flag is a number in JSON, as in_file of user list is
    res = ctlj(m, "queue", "delete", "--all", "--dry-run")
    assert res["result"][0]["dry_run"] == 1 and \
        "would act on 5 messages (5 recipients)" in res["message"]


def test_events_follow_prints_its_header(qmoat):
    m = qmoat
    ctl(m, "ban", "add", "192.0.2.77", check=0)
    p = subprocess.Popen([MOAT_BIN, "events", "--follow", "-c", m.conf],
                         cwd=m.dir, stdout=subprocess.PIPE, text=True)
    try:
        header = p.stdout.readline().split()
        first = p.stdout.readline()
    finally:
        p.terminate()
        p.wait(10)
    assert header == "time type client user session detail".split(), header
    assert " ban " in first and "192.0.2.77" in first, first


def test_socket_found_through_a_config_with_a_mistake(moat_factory):
    # the running daemon's spool_dir has a '#' inside the value; an edit
    # with a mistake does not parse, and the fallback reading spool_dir
    # alone cuts comments as the parser does: the socket is still found
    m = moat_factory(start=False)
    with open(m.conf) as f:
        text = f.read()
    with open(m.conf, "w") as f:
        f.write(text.replace("spool_dir = var/spool",
                             "spool_dir = var/sp#ool ; the queue"))
    m.start()
    assert os.path.exists(os.path.join(m.dir, "var", "sp#ool", "queue.db"))
    with open(m.conf, "a") as f:
        f.write("[server]\nno_such_knob = 1\n")
    rc, out, err = ctl(m, "status")
    assert rc == 0, (out, err)
    assert "warning:" in err and "no_such_knob" in err, err
