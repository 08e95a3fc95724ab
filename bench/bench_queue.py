#!/usr/bin/python3
"""bench_queue.py - queue administration: moat's CLI against Postfix's.

    bench_queue.py            every figure
    bench_queue.py NAME       one of queue_summary_100k, purge_user_10k,
                              purge_all_100k (the queue is filled once)

With 100,000 messages queued for 200 destinations (10,000 of them from
one user):

  queue_summary_100k  moat: `moat queue` (summary by destination);
                      Postfix: `postqueue -c DIR -p` (its listing).
  purge_user_10k      moat: `moat queue delete --user U` (10,000 match);
                      Postfix: `postqueue -j`, select the 10,000 messages
                      of that sender, `postsuper -d -` with their ids.
  purge_all_100k      moat: `moat queue delete --all`;
                      Postfix: `postsuper -c DIR -d ALL`.

Times are wall-clock milliseconds of the whole command, as an
administrator waits for it (process start included). moat's queue is
written straight into queue.db with sqlite3 while the daemon is stopped
(its recipients deferred for a day, delivery to a closed loopback port),
then the daemon is started; Postfix's is a private instance in hold mode
(bench.py's Postfix class) filled with smtp-source. During each moat
purge a client keeps sending mail; a purge during which a message was
refused gets "invalid=accepting" appended.

Output, one line per figure:

    bench <name> moat=<ms> postfix=<ms> ratio=<postfix/moat> unit=ms

Must run as root. BENCH_QUEUE_MESSAGES (default 100000) scales the queue
for quick trials only (the user's share stays a tenth); BENCH_KEEP=1
keeps the temporary directories.
"""
import json
import os
import smtplib
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as B  # noqa: E402  (bench.py: Moat, Postfix, helpers)

MESSAGES = int(os.environ.get("BENCH_QUEUE_MESSAGES", "100000"))
DESTS = 200
USER = "bench-user"
USER_SHARE = MESSAGES // 10
FIGURES = ["queue_summary_100k", "purge_user_10k", "purge_all_100k"]
BODY = b"Subject: bench\r\n\r\n" + b"x" * 1000 + b"\r\n"


def ms(argv, **kw):
    t0 = time.monotonic()
    r = subprocess.run(argv, capture_output=True, text=True, timeout=600,
                       **kw)
    dt = (time.monotonic() - t0) * 1000
    if r.returncode != 0:
        raise RuntimeError("%s: status %d: %s" % (" ".join(argv),
                                                  r.returncode, r.stderr))
    return dt, r.stdout


class MoatQ:
    """A moat daemon with a queue written directly into queue.db."""

    def __init__(self):
        import tempfile
        self.dir = tempfile.mkdtemp(prefix="moat-benchq-")
        os.chmod(self.dir, 0o755)
        self.port = B.free_port()
        self.conf = os.path.join(self.dir, "moat.conf")
        with open(self.conf, "w") as f:
            f.write("[server]\nhostname = moat.bench.localhost\n"
                    "spool_dir = var/spool\nmail_dir = var/mail\n"
                    "empty_dir = var/empty\nusers_file = users\n"
                    "[domains]\nlocal_domains = localhost\n"
                    "[relay]\nrelay_networks = 127.0.0.0/8\n"
                    "[delivery]\nsmarthost = [127.0.0.1]:%d\n"
                    "retry_min = 86400\nblacklist_watch = no\n"
                    "[listener mx]\naddress = 127.0.0.1\nport = %d\n"
                    % (B.free_port(), self.port))
        self.proc = None
        self.logf = None

    def start(self):
        self.logf = open(os.path.join(self.dir, "moat.log"), "ab")
        self.proc = subprocess.Popen([B.MOAT, "serve", "-c", self.conf],
                                     cwd=self.dir, stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        sock = os.path.join(self.dir, "var", "spool", "control.sock")
        while time.time() < deadline:
            if B.port_open(self.port) and os.path.exists(sock):
                return
            if self.proc.poll() is not None:
                raise RuntimeError("moat exited; see %s" % self.dir)
            time.sleep(0.05)
        raise RuntimeError("moat did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(60)
        if self.logf:
            self.logf.close()
            self.logf = None

    def fill(self, n):
        """n messages, one recipient each, DESTS domains; a tenth of them
        submitted by USER. Deferred for a day: nothing is tried."""
        db = os.path.join(self.dir, "var", "spool", "queue.db")
        now = int(time.time())
        c = sqlite3.connect(db)
        c.execute("PRAGMA synchronous = OFF")
        with c:
            c.executemany(
                "INSERT INTO message(id, qid, created, sender, sender_domain,"
                " helo, client_ip, auth_user, listener, envid, ret, flags,"
                " size, rcpt_count) VALUES (?, ?, ?, ?, 'bench.example',"
                " 'bench', '127.0.0.1', ?, 'mx', NULL, 0, 0, ?, 1)",
                ((i + 1, "%012x" % (0xb000000000 + i), now - (n - i),
                  "s%d@bench.example" % (i % 1000),
                  USER if i % 10 == 0 else None, len(BODY))
                 for i in range(n)))
            c.executemany("INSERT INTO body(msg_id, data) VALUES (?, ?)",
                          ((i + 1, BODY) for i in range(n)))
            c.executemany(
                "INSERT INTO recipient(msg_id, address, domain, orcpt, notify,"
                " mailbox, state, attempts, next_attempt, updated, last_error)"
                " VALUES (?, ?, ?, NULL, 0, NULL, 1, 1, ?, ?,"
                " '451 4.4.1 connection refused')",
                ((i + 1, "r%d@d%d.example" % (i, i % DESTS),
                  "d%d.example" % (i % DESTS), now + 86400, now)
                 for i in range(n)))
        c.close()
        for name in os.listdir(os.path.dirname(db)):
            if name.startswith("queue.db"):
                subprocess.run(["chown", "_moat:_moat",
                                os.path.join(os.path.dirname(db), name)],
                               check=True)

    def ctl(self, *args):
        dt, out = ms([B.MOAT] + list(args) + ["--json", "-c", self.conf],
                     cwd=self.dir)
        return dt, json.loads(out)


class Sender(threading.Thread):
    """Keeps sending mail to moat while a purge runs."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.halt = threading.Event()
        self.sent = 0
        self.failed = 0

    def run(self):
        while not self.halt.is_set():
            try:
                s = smtplib.SMTP("127.0.0.1", self.port, timeout=10)
                s.sendmail("live@bench.example", ["r@live.example"],
                           b"Subject: live\r\n\r\nx\r\n")
                s.quit()
                self.sent += 1
            except (OSError, smtplib.SMTPException):
                self.failed += 1

    def stop(self):
        self.halt.set()
        self.join(30)


def moat_figures(names):
    m = MoatQ()
    out = {}
    try:
        m.start()
        m.stop()
        B.log("moat: filling queue.db with %d messages" % MESSAGES)
        m.fill(MESSAGES)
        m.start()
        if "queue_summary_100k" in names:
            best = None
            for _ in range(3):
                dt, a = m.ctl("queue")
                best = dt if best is None else min(best, dt)
            got = sum(r["recipients"] for r in a["summary"])
            out["queue_summary_100k"] = (best, None if got == MESSAGES and
                                         len(a["summary"]) == DESTS
                                         else "summary=%d" % got)
        for name, args, want in (
                ("purge_user_10k", ["queue", "delete", "--user", USER],
                 USER_SHARE),
                ("purge_all_100k", ["queue", "delete", "--all"], None)):
            if name not in names:
                continue
            s = Sender(m.port)
            s.start()
            time.sleep(0.2)
            dt, a = m.ctl(*args)
            time.sleep(0.2)
            s.stop()
            n = a["result"][0]["messages"]
            bad = None
            if want is not None and n != want:
                bad = "deleted=%d" % n
            if want is None and n < MESSAGES - USER_SHARE:
                bad = "deleted=%d" % n
            if s.failed or not s.sent:
                bad = "accepting"
            B.log("moat: %s: %d deleted in %.0f ms (daemon: %d ms), %d "
                  "messages accepted meanwhile" % (name, n, dt,
                                                   a["result"][0]["elapsed_ms"],
                                                   s.sent))
            out[name] = (dt, bad)
    finally:
        m.stop()
        if os.environ.get("BENCH_KEEP") != "1":
            import shutil
            shutil.rmtree(m.dir, ignore_errors=True)
        else:
            B.log("moat files kept in " + m.dir)
    return out


def postfix_fill(p):
    """MESSAGES into the hold queue, DESTS destinations, a tenth from USER."""
    per = MESSAGES // DESTS
    procs = []
    for d in range(DESTS):
        sender = ("%s@bench.example" % USER) if d % 10 == 0 else \
            "s%d@bench.example" % d
        procs.append(subprocess.Popen(
            [B.SMTP_SOURCE, "-s", "5", "-m", str(per), "-l", "1024",
             "-f", sender, "-t", "r@d%d.example" % d,
             "127.0.0.1:%d" % p.port], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL))
        if len(procs) >= 8:
            procs.pop(0).wait(600)
    for q in procs:
        q.wait(600)
    hold = os.path.join(p.spool, "hold")
    deadline = time.time() + 600
    while time.time() < deadline:
        n = sum(len(files) for _, _, files in os.walk(hold))
        if n >= MESSAGES:
            return n
        time.sleep(1)
    return sum(len(files) for _, _, files in os.walk(hold))


def postfix_figures(names):
    p = B.Postfix()
    out = {}
    try:
        p.start()
        B.log("postfix: filling the hold queue with %d messages "
              "(smtp-source)" % MESSAGES)
        n = postfix_fill(p)
        bad = None if n >= MESSAGES else "queued=%d" % n
        if "queue_summary_100k" in names:
            dt, _ = ms(["postqueue", "-c", p.etc, "-p"])
            out["queue_summary_100k"] = (dt, bad)
        if "purge_user_10k" in names:
            t0 = time.monotonic()
            r = subprocess.run(["postqueue", "-c", p.etc, "-j"],
                               capture_output=True, text=True, timeout=600)
            ids = [j["queue_id"] for j in map(json.loads,
                                               r.stdout.splitlines())
                   if j.get("sender") == "%s@bench.example" % USER]
            subprocess.run(["postsuper", "-c", p.etc, "-d", "-"],
                           input="\n".join(ids) + "\n", text=True,
                           capture_output=True, timeout=600, check=True)
            dt = (time.monotonic() - t0) * 1000
            out["purge_user_10k"] = (dt, bad or (None if len(ids) ==
                                                 USER_SHARE else
                                                 "matched=%d" % len(ids)))
        if "purge_all_100k" in names:
            dt, _ = ms(["postsuper", "-c", p.etc, "-d", "ALL"])
            out["purge_all_100k"] = (dt, bad)
    finally:
        p.cleanup(os.environ.get("BENCH_KEEP") == "1")
    return out


def fmt(v):
    return "-" if v is None else B.fmt(v)


def main(argv):
    names = argv[1:] or FIGURES
    for n in names:
        if n not in FIGURES:
            print("bench_queue.py: unknown figure %s (%s)" %
                  (n, ", ".join(FIGURES)), file=sys.stderr)
            return 2
    if os.geteuid() != 0:
        print("bench_queue.py: must run as root", file=sys.stderr)
        return 2
    mo = moat_figures(names)
    try:
        pf = postfix_figures(names)
    except Exception as e:          # no Postfix here: moat's side alone
        B.warn("postfix: %s" % e)
        pf = {}
    status = 0
    for n in names:
        mv, mbad = mo.get(n, (None, "missing"))
        pv, pbad = pf.get(n, (None, None))
        line = "bench %s moat=%s postfix=%s ratio=%s unit=ms" % (
            n, fmt(mv), fmt(pv), fmt(pv / mv) if pv and mv else "-")
        bad = ",".join(x for x in (mbad, pbad) if x)
        if bad:
            line += " invalid=" + bad
            status = 1
        print(line, flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
