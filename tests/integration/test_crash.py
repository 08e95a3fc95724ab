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

from conftest import ASAN, free_port

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


# Local delivery: exactly once across kill -9.

LOCAL_THREADS = 8
LOCAL_KILLS = 10
MAILBOXES = ("postmaster", "alice", "bob")
MARK_RE = re.compile(rb"X-Load-Mark: (\S+)")


class LocalLoad:
    """Clients sending to local mailboxes, each message marked uniquely;
    acked holds (mailbox, mark) of every message that got its 250."""

    def __init__(self, port):
        self.port = port
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked = set()
        self.sent = 0

    def worker(self, n):
        rnd = random.Random(n)
        seq = 0
        while not self.stop.is_set():
            try:
                s = smtplib.SMTP("127.0.0.1", self.port, timeout=10)
            except OSError:
                time.sleep(0.02)
                continue
            try:
                s.ehlo("client%d.example" % n)
                while not self.stop.is_set():
                    seq += 1
                    mark = "m%d-%d-%s" % (n, seq, os.urandom(3).hex())
                    boxes = rnd.sample(MAILBOXES, rnd.choice((1, 1, 2)))
                    msg = ("Message-ID: <%s@client.example>\r\n"
                           "X-Load-Mark: %s\r\nSubject: %s\r\n\r\n"
                           "body of %s\r\n" % (mark, mark, mark, mark))
                    with self.lock:
                        self.sent += 1
                    s.sendmail("load%d@client.example" % n,
                               ["%s@localhost" % b for b in boxes],
                               msg.encode())
                    with self.lock:
                        self.acked.update((b, mark) for b in boxes)
            except (smtplib.SMTPException, OSError):
                pass
            finally:
                try:
                    s.close()
                except OSError:
                    pass


def mua_mover(maildir, stop):
    """What a mail reader does: move messages from new/ to cur/ and add
    the ':2,S' info (seen). Never over a file there already: a second
    copy under the same name stays in new/, to be counted."""
    new, cur = os.path.join(maildir, "new"), os.path.join(maildir, "cur")
    while not stop.is_set():
        try:
            names = os.listdir(new)
        except OSError:
            names = []
        for name in names[::2]:
            try:
                os.link(os.path.join(new, name),
                        os.path.join(cur, name + ":2,S"))
                os.unlink(os.path.join(new, name))
            except OSError:
                pass
        time.sleep(0.05)


def count_marks(moat):
    """(mailbox, mark) -> how many files hold it, in new/ and cur/."""
    seen = {}
    for box in MAILBOXES:
        for sub in ("new", "cur"):
            d = os.path.join(moat.dir, "var", "mail", box, sub)
            for name in (os.listdir(d) if os.path.isdir(d) else []):
                with open(os.path.join(d, name), "rb") as f:
                    m = MARK_RE.search(f.read())
                assert m, (box, sub, name)
                key = (box, m.group(1).decode())
                seen[key] = seen.get(key, 0) + 1
    return seen


def test_kill9_local_delivery_exactly_once(moat_factory):
    moat = moat_factory()
    load = LocalLoad(moat.port)
    stop_mua = threading.Event()
    alice = os.path.join(moat.dir, "var", "mail", "alice")
    threads = [threading.Thread(target=load.worker, args=(i,), daemon=True)
               for i in range(LOCAL_THREADS)]
    threads.append(threading.Thread(target=mua_mover, args=(alice, stop_mua),
                                    daemon=True))
    rnd = random.Random()
    seed = rnd.randrange(1 << 30)
    rnd.seed(seed)
    t0 = time.time()
    for t in threads:
        t.start()
    try:
        for _ in range(LOCAL_KILLS):
            time.sleep(rnd.uniform(0.5, 2.0))
            moat.kill9()
            time.sleep(rnd.uniform(0.0, 0.2))
            moat.start()
        time.sleep(1.0)
    finally:
        load.stop.set()
        for t in threads[:-1]:
            t.join(20)
    # a final clean restart, then everything is delivered
    assert moat.stop() == 0, moat.log()
    moat.start()
    deadline = time.time() + 30
    while time.time() < deadline and moat.sql(
            "SELECT count(*) FROM recipient") != [["0"]]:
        time.sleep(0.2)
    stop_mua.set()
    threads[-1].join(5)
    assert moat.sql("SELECT count(*) FROM recipient") == [["0"]], \
        moat.sql("SELECT state, last_error FROM recipient LIMIT 5")
    assert moat.stop() == 0, moat.log()

    seen = count_marks(moat)
    acked = set(load.acked)
    lost = sorted(acked - set(seen))
    twice = sorted(k for k, n in seen.items() if n > 1)
    assert lost == [], "seed %d: %d of %d lost: %s" % (
        seed, len(lost), len(acked), lost[:5])
    assert twice == [], "seed %d: %d of %d delivered twice or more: %s" % (
        seed, len(twice), len(seen), twice[:5])
    # the load was real (ASan builds are slower)
    assert len(acked) >= (100 if ASAN else 500), (seed, len(acked), load.sent)
    print("seed %d: %d acknowledged deliveries, %d in the Maildirs, "
          "%d messages sent, %d found from an attempt a kill cut short, "
          "%.1fs" % (seed, len(acked), len(seen), load.sent,
                     moat.log().count("found=earlier_attempt"),
                     time.time() - t0))
