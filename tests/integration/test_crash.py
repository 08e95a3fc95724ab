"""Crash safety: 250 means durable.

Eight client threads send small messages as fast as they can over reused
connections from a relay network (127.0.0.2) to a foreign domain, so the
messages stay in the queue. Meanwhile the whole daemon is killed with
SIGKILL at random moments three times and restarted. At the end every
queue id a client got a 250 for is in the queue database exactly once,
with the body the client sent, and no message row lacks its body or
recipients.
"""
import os
import random
import re
import smtplib
import socket
import sqlite3
import threading
import time

from conftest import free_port

THREADS = 8
KILLS = 3
QID_RE = re.compile(rb"queued as (\S+)")


class Load:
    def __init__(self, port):
        self.port = port
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.accepted = {}      # qid -> token
        self.attempts = 0
        self.dup_qids = []
        self.errors = 0

    def worker(self, n):
        seq = 0
        while not self.stop.is_set():
            try:
                s = smtplib.SMTP("127.0.0.1", self.port, timeout=10,
                                 source_address=("127.0.0.2", 0))
            except OSError:
                time.sleep(0.02)
                continue
            try:
                s.ehlo("load%d.example" % n)
                while not self.stop.is_set():
                    seq += 1
                    token = "t%d-%d-%s" % (n, seq, os.urandom(4).hex())
                    with self.lock:
                        self.attempts += 1
                    code, _ = s.mail("load%d@example.org" % n)
                    if code != 250:
                        break
                    code, _ = s.rcpt("far%d@elsewhere.example" % n)
                    if code != 250:
                        break
                    code, msg = s.data(
                        ("Subject: %s\r\n\r\nbody of %s\r\n"
                         % (token, token)).encode())
                    if code != 250:
                        break
                    qid = QID_RE.search(msg).group(1).decode()
                    with self.lock:
                        if qid in self.accepted:
                            self.dup_qids.append(qid)
                        self.accepted[qid] = token
            except (smtplib.SMTPException, OSError):
                with self.lock:
                    self.errors += 1
            finally:
                try:
                    s.close()
                except OSError:
                    pass


def test_kill9_under_load_loses_nothing(moat_factory):
    # outbound mail goes to a closed loopback port (deferred, stays
    # queued) and the per-sender watch stays out of the way of the load
    extra = ("[relay]\nrelay_networks = 127.0.0.2/32\n"
             "[delivery]\nsmarthost = [127.0.0.1]:%d\nretry_min = 3600\n"
             "[watch]\nwatch_action = alert\nhold_external_rcpts = 10000000\n"
             "suspend_external_rcpts = 10000000\n" % free_port())
    moat = moat_factory(extra=extra)
    load = Load(moat.port)
    threads = [threading.Thread(target=load.worker, args=(i,), daemon=True)
               for i in range(THREADS)]
    rnd = random.Random()
    seed = rnd.randrange(1 << 30)
    rnd.seed(seed)
    t0 = time.time()
    for t in threads:
        t.start()
    counts = []
    try:
        for _ in range(KILLS):
            time.sleep(rnd.uniform(1.0, 3.0))
            with load.lock:
                before = len(load.accepted)
            moat.kill9()
            counts.append(before)
            time.sleep(rnd.uniform(0.0, 0.3))
            moat.start()
        time.sleep(1.5)
    finally:
        load.stop.set()
        for t in threads:
            t.join(20)
    assert not any(t.is_alive() for t in threads)
    assert moat.stop() == 0, moat.log()
    elapsed = time.time() - t0

    accepted = dict(load.accepted)
    # the load was real and kept going after every restart
    assert len(accepted) >= 1000, (seed, len(accepted), load.attempts)
    assert counts == sorted(counts) and len(accepted) > counts[-1], counts
    assert load.dup_qids == [], load.dup_qids
    assert moat.log().count("cat=daemon event=started ") == KILLS + 1

    db = os.path.join(moat.dir, "var", "spool", "queue.db")
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
        rows = con.execute(
            "select m.qid, m.rcpt_count, b.data, "
            " (select count(*) from recipient r where r.msg_id = m.id) "
            "from message m left join body b on b.msg_id = m.id").fetchall()
        dup = con.execute("select qid, count(*) from message group by qid "
                          "having count(*) > 1").fetchall()
        orphan_rcpt = con.execute(
            "select count(*) from recipient r where not exists "
            "(select 1 from message m where m.id = r.msg_id)").fetchone()[0]
        orphan_body = con.execute(
            "select count(*) from body b where not exists "
            "(select 1 from message m where m.id = b.msg_id)").fetchone()[0]
    finally:
        con.close()
    assert dup == []
    assert orphan_rcpt == 0 and orphan_body == 0
    stored = {}
    for qid, rcpt_count, data, nrcpt in rows:
        assert data is not None, "message %s has no body" % qid
        assert rcpt_count == 1 and nrcpt == 1, (qid, rcpt_count, nrcpt)
        stored[qid] = bytes(data)
    missing = sorted(set(accepted) - set(stored))
    assert missing == [], "seed %d: %d of %d accepted messages lost: %s" % (
        seed, len(missing), len(accepted), missing[:10])
    wrong = [q for q, tok in accepted.items()
             if ("Subject: %s" % tok).encode() not in stored[q]
             or ("body of %s" % tok).encode() not in stored[q]]
    assert wrong == [], wrong[:10]
    # whatever is stored beyond the 250s was in flight at a kill
    assert len(stored) - len(accepted) <= KILLS * THREADS
    print("seed %d: %d accepted, %d attempts, %d stored, %.1fs"
          % (seed, len(accepted), load.attempts, len(stored), elapsed))
