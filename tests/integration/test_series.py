"""The queue's time series (`moat stats --series`, CTL_OP_SERIES): real
traffic counts in the minute it happens, per minute in queue.db, and the
rows outlive a restart."""
import smtplib
import time

from conftest import free_port
from test_control import ctl, ctlj
from test_delivery import Peer
from test_incident_replay import LISTENERS, plain, session

SINK = "127.0.0.30"
RELAY = "[relay]\nrelay_networks = 127.0.0.2/32\n"


def totals(m, since="1h"):
    rows = ctlj(m, "stats", "--series", "--since", since)["series"]
    keys = ("msgs_in", "msgs_out", "auth_failures", "rejections")
    return rows, {k: sum(r[k] for r in rows) for k in keys}


def wait_totals(m, want, timeout=15):
    """The sums once they reach want (smtp reports once a second)."""
    deadline = time.time() + timeout
    while True:
        rows, got = totals(m)
        if all(got[k] >= v for k, v in want.items()) or \
                time.time() > deadline:
            return rows, got
        time.sleep(0.2)


def test_series_counts_real_traffic_and_survives_a_restart(moat_factory):
    peer = Peer(SINK, free_port())
    try:
        m = moat_factory(listeners=LISTENERS, users={"alice": "alice-password"},
                         extra=RELAY + "[delivery]\nsmarthost = [%s]:%d\n"
                         % (SINK, peer.port))
        t0 = int(time.time()) // 60 * 60
        ctl(m, "queue", "pause", "d2.example", check=0)
        # accepted and delivered: a relay client's message out, a local
        # one; one more waits in the queue (its destination paused)
        with smtplib.SMTP("127.0.0.1", m.port,
                          source_address=("127.0.0.2", 0)) as s:
            s.sendmail("a@a.example", ["far@d1.example"],
                       b"Subject: 1\r\n\r\nx\r\n")
            s.sendmail("a@a.example", ["postmaster@localhost"],
                       b"Subject: 2\r\n\r\nx\r\n")
            s.sendmail("a@a.example", ["far@d2.example"],
                       b"Subject: 3\r\n\r\nx\r\n")
        # a refused relay
        with smtplib.SMTP("127.0.0.1", m.port,
                          source_address=("127.0.0.7", 0)) as s:
            s.ehlo("x.example")
            s.mail("a@x.example")
            assert s.rcpt("someone@far.example")[0] == 554
        # a failed AUTH
        s = session(m, "127.0.0.9")
        assert s.docmd("AUTH", "PLAIN " + plain("alice", "wrong"))[0] == 535
        s.close()
        m.wait_maildir(1)
        deadline = time.time() + 15
        while time.time() < deadline and len(peer.messages) < 1:
            time.sleep(0.1)
        want = {"msgs_in": 3, "msgs_out": 2, "auth_failures": 1,
                "rejections": 1}
        rows, got = wait_totals(m, want)
        assert got == want, rows
        now = int(time.time())
        assert rows and all(r["minute"] % 60 == 0 and
                            t0 <= r["minute"] <= now for r in rows), rows
        assert rows[-1]["queue_size"] == 1, rows
        # the open minute is answered from memory: asking writes nothing
        # (unless the minute ended meanwhile and its row was written)
        for n in range(3):
            minute = int(time.time()) // 60
            s = session(m, "127.0.0.%d" % (10 + n))
            assert s.docmd("AUTH", "PLAIN " + plain("alice", "x"))[0] == 535
            s.close()
            want["auth_failures"] += 1
            rows, got = wait_totals(m, want)
            newest = ctlj(m, "stats", "--series", "--limit", "1")["series"]
            written = int(m.sql("SELECT coalesce(sum(auth_failures), 0) "
                                "FROM series_minute")[0][0])
            if int(time.time()) // 60 == minute:
                break
        assert got == want, rows
        assert newest == rows[-1:] and newest[0]["auth_failures"] >= 1, \
            (newest, rows)
        assert written < want["auth_failures"], (written, rows)
        # the table the CLI prints: one line a minute, the columns named
        out = ctl(m, "stats", "--series", check=0)[1]
        assert "msgs_in" in out and "auth_failures" in out, out
        # the rows are queue.db's: kept over a restart
        assert m.stop() == 0
        m.start()
        rows2, got2 = totals(m)
        assert got2 == want, (rows, rows2)
        assert m.sql("SELECT sum(msgs_in), sum(msgs_out) FROM "
                     "series_minute") == [["3", "2"]]
        # arguments are checked: more than the 7 days kept is refused
        rc, _, err = ctl(m, "stats", "--series", "--since", "8d")
        assert rc == 2 and "7d" in err, err
    finally:
        peer.close()
