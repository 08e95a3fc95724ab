"""Compromised-account detection: an authenticated user whose account is
used for a spam run is held, then suspended, at the configured thresholds;
its mail stays held; the events table shows why; the alert command ran."""
import os
import signal
import smtplib
import sqlite3
import time

import pytest

from conftest import free_port, install_queue
from test_delivery import Peer

from submission import (LISTENERS, PASSWORD, USER,  # noqa: F401
                        plain, sub_session)


def login(m):
    s = sub_session(m, "127.0.0.1")
    code, msg = s.docmd("AUTH", "PLAIN " + plain(USER, PASSWORD))
    return s, code


@pytest.fixture
def alert_script():
    # the command runs as the moat user: a directory it can reach
    import shutil
    import tempfile
    d = tempfile.mkdtemp(prefix="moat-alert-")
    out = os.path.join(d, "alerts.txt")
    script = os.path.join(d, "alert.sh")
    with open(script, "w") as f:
        # and how many sockets it inherited: none of the queue's
        f.write("#!/bin/sh\necho \"$MOAT_EVENT user=$MOAT_USER "
                "$MOAT_DETAIL\" >> %s\n"
                "echo \"sockets=$(ls -l /proc/$$/fd | grep -c socket:)\" "
                ">> %s.fds\n" % (out, out))
    os.chmod(script, 0o755)
    os.chmod(d, 0o777)
    yield script, out
    shutil.rmtree(d, ignore_errors=True)


def test_spam_run_is_held_then_suspended(moat_factory, alert_script):
    script, alerts = alert_script
    peer = Peer("127.0.0.30", free_port())
    try:
        m = moat_factory(listeners=LISTENERS, users={USER: PASSWORD}, extra=(
            "[delivery]\nsmarthost = [127.0.0.30]:%d\nretry_min = 1\n"
            "[watch]\nwatch_action = hold\nhold_external_domains = 100\n"
            "suspend_external_domains = 300\nhold_external_rcpts = 100000\n"
            "suspend_external_rcpts = 100000\nalert_command = %s\n"
            % (peer.port, script)))
        s, code = login(m)
        assert code == 235
        accepted, refused_at = 0, None
        for i in range(1000):
            try:
                s.sendmail("alice@example.org",
                           ["victim%d@d%d.example" % (i, i % 300)],
                           b"Subject: offer\r\n\r\nbuy now\r\n")
                accepted += 1
            except (smtplib.SMTPException, OSError):
                refused_at = i
                break
        # the run stopped itself at the suspend threshold: its session
        # was closed, and the account can no longer log in
        assert refused_at is not None and 300 <= refused_at <= 310, \
            (accepted, refused_at)
        s2, code = login(m)
        assert code == 535
        s2.close()
        time.sleep(1.5)
        delivered = len(peer.messages)
        # what got out went before the hold threshold; the rest is held
        assert delivered <= 100, delivered
        rows = m.sql("select count(*) from recipient r join message g "
                     "on g.id = r.msg_id where g.auth_user = 'alice' "
                     "and r.state = 2")
        assert int(rows[0][0]) >= accepted - 100, (rows, accepted)
        time.sleep(2)       # retries would have happened by now
        assert len(peer.messages) == delivered
        ev = m.sql("select type, user from events where type in "
                   "('hold', 'suspend') order by id")
        assert ev == [["hold", "alice"], ["suspend", "alice"]], ev
        assert m.sql("select state from user_state where user='alice'") == \
            [["suspended"]]
        assert "event=hold sender=\"alice\"" in m.log()
        assert "alert=yes" in m.log()
        deadline = time.time() + 5
        while time.time() < deadline and not os.path.exists(alerts):
            time.sleep(0.1)
        with open(alerts) as f:
            lines = f.read().splitlines()
        assert lines[0].startswith("hold user=alice"), lines
        assert lines[1].startswith("suspend user=alice"), lines
        with open(alerts + ".fds") as f:
            assert set(f.read().split()) == {"sockets=0"}
    finally:
        peer.close()


def test_relay_client_address_is_held(moat_factory):
    """A relay client (no AUTH) past its threshold, hold_external_rcpts
    times relay_client_factor (4 x 5 here): its mail is held, from the
    20th outside recipient on, not from the 4th (a user's threshold);
    each of its senders alone stays under the 4."""
    m = moat_factory(extra=(
        "[relay]\nrelay_networks = 127.0.0.2/32\n"
        "[delivery]\nsmarthost = [127.0.0.1]:%d\nretry_min = 3600\n"
        "[watch]\nhold_external_rcpts = 4\nhold_external_domains = 1000\n"
        "relay_client_factor = 5\n"
        % free_port()))
    with smtplib.SMTP("127.0.0.1", m.port, timeout=10,
                      source_address=("127.0.0.2", 0)) as s:
        s.ehlo("internal.example")
        for i in range(30):
            s.sendmail("app%d@example.org" % (i % 10),
                       ["x%d@far.example" % i], b"Subject: x\r\n\r\nx\r\n")
    time.sleep(0.5)
    assert m.sql("select user, state from user_state") == \
        [["ip:127.0.0.2", "held"]]
    held = m.sql("select count(*) from recipient where state = 2")
    assert int(held[0][0]) == 30
    assert m.sql("select type, client_ip from events where type='hold'") == \
        [["hold", "127.0.0.2"]]
    detail = m.sql("select detail from events where type='hold'")[0][0]
    assert "external_rcpts=20 " in detail, detail


def test_sighup_changes_thresholds_at_once(moat_factory):
    """An admin raises a relay client's thresholds after a false alarm:
    SIGHUP applies them in the queue process, no restart."""
    m = moat_factory(extra=(
        "[relay]\nrelay_networks = 127.0.0.2/32\n"
        "[delivery]\nsmarthost = [127.0.0.1]:%d\nretry_min = 3600\n"
        "[watch]\nhold_external_rcpts = 4\nhold_external_domains = 1000\n"
        "relay_client_factor = 1\n" % free_port()))
    with open(m.conf) as f:
        text = f.read()
    with open(m.conf, "w") as f:
        f.write(text.replace("hold_external_rcpts = 4",
                             "hold_external_rcpts = 1000"))
    m.proc.send_signal(signal.SIGHUP)
    assert m.wait_log("cat=queue event=reloaded"), m.log()
    with smtplib.SMTP("127.0.0.1", m.port, timeout=10,
                      source_address=("127.0.0.2", 0)) as s:
        s.ehlo("internal.example")
        for i in range(10):
            s.sendmail("app@example.org", ["x%d@far.example" % i],
                       b"Subject: x\r\n\r\nx\r\n")
    time.sleep(0.5)
    assert m.sql("select count(*) from events where type='hold'") == [["0"]]
    assert m.sql("select count(*) from user_state") == [["0"]]
    assert int(m.sql("select count(*) from recipient where state = 2")
               [0][0]) == 0


WATCH_PEER = ("[delivery]\nsmarthost = [127.0.0.1]:9\nretry_min = 3600\n")


def send_outside(m, n, start=0):
    """n messages of alice, one outside recipient each; how many went in."""
    s, code = login(m)
    assert code == 235
    ok = 0
    try:
        for i in range(start, start + n):
            s.sendmail("alice@example.org", ["r%d@out%d.example" % (i, i)],
                       b"Subject: t\r\n\r\nbody\r\n")
            ok += 1
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        try:
            s.quit()
        except Exception:
            pass
    return ok


def test_window_survives_restart(moat_factory):
    """An account that sends, restarts moat, and sends again is counted
    for both: the counts live in the queue database."""
    m = moat_factory(listeners=LISTENERS, users={USER: PASSWORD}, extra=(
        WATCH_PEER + "[watch]\nwatch_action = hold\n"
        "hold_external_rcpts = 10\nsuspend_external_rcpts = 1000\n"))
    assert send_outside(m, 7) == 7
    assert m.stop() == 0
    m.start()
    assert send_outside(m, 5, start=7) == 5
    ev = m.sql("select type, user from events where type = 'hold'")
    assert ev == [["hold", "alice"]], ev
    assert m.sql("select state from user_state where user='alice'") == \
        [["held"]]


def test_window_survives_a_crash(moat_factory):
    """Counts are written within a second: kill -9 keeps them too."""
    m = moat_factory(listeners=LISTENERS, users={USER: PASSWORD}, extra=(
        WATCH_PEER + "[watch]\nwatch_action = hold\n"
        "hold_external_rcpts = 10\nsuspend_external_rcpts = 1000\n"))
    assert send_outside(m, 7) == 7
    time.sleep(1.5)
    m.kill9()
    m.start()
    assert send_outside(m, 3, start=7) == 3
    ev = m.sql("select type, user from events where type = 'hold'")
    assert ev == [["hold", "alice"]], ev


def test_daily_threshold(moat_factory):
    """A sender under the hourly threshold every hour is held past the
    daily one: traffic of three hours ago (in the database, as a restart
    finds it) counts for the day, not for the hour."""
    m = moat_factory(listeners=LISTENERS, users={USER: PASSWORD}, extra=(
        WATCH_PEER + "[watch]\nwatch_action = hold\n"
        "hold_external_rcpts = 10\nsuspend_external_rcpts = 1000\n"
        "hold_external_rcpts_day = 15\nsuspend_external_rcpts_day = 1000\n"))
    assert send_outside(m, 2) == 2
    assert m.stop() == 0
    db = sqlite3.connect(os.path.join(m.dir, "var", "spool", "queue.db"))
    then = int(time.time()) - 3 * 3600
    with db:
        for i in range(9):
            db.execute("insert into watch_traffic(sender, time, rcpts, "
                       "ext_rcpts, ext_domains) values ('alice', ?, 1, 1, ?)",
                       (then + i, "old%d.example" % i))
    db.close()
    m.start()
    assert send_outside(m, 3, start=2) == 3     # 5 this hour, 14 today
    assert m.sql("select count(*) from events where type='hold'") == [["0"]]
    assert send_outside(m, 1, start=5) == 1     # 15 today
    ev = m.sql("select type, user, detail from events where type='hold'")
    assert len(ev) == 1 and ev[0][:2] == ["hold", "alice"], ev
    assert "external_rcpts_day=15" in ev[0][2], ev


def test_old_queue_db_gains_the_watch_table(moat_factory):
    """A queue.db made before the watch was persisted is migrated."""
    m = moat_factory(listeners=LISTENERS, users={USER: PASSWORD},
                     extra=WATCH_PEER)
    assert m.wait_log("cat=queue event=started")
    assert m.stop() == 0
    # a version 1 file, from before the watch was persisted
    install_queue(m, ["v1.sql"])
    m.start()
    assert m.wait_log("event=db_upgraded")
    assert send_outside(m, 2) == 2
    assert m.stop() == 0
    rows = m.sql("select sender, ext_rcpts from watch_traffic")
    assert rows == [["alice", "1"], ["alice", "1"]], rows
