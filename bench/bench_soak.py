#!/usr/bin/python3
"""bench_soak.py - relay bursts with idle gaps, many destinations, moat only.

    bench_soak.py           the soak figure

smtp-source -> moat -> smtp-sink, all on 127.0.0.1. SOAK_BURSTS (default
10) bursts of SOAK_MESSAGES (default 20000) messages of 2000 bytes each,
sent by 10 smtp-source processes of 2 sessions each, every one to its own
domain: burst k goes to the domains d<10k>..d<10k+9>.soak.example, each
routed to the one smtp-sink, so the run touches 10 x SOAK_BURSTS
destinations. Between bursts: a 3-second pause (idle connections quit),
then `moat stats` and `moat queue` (admin requests over the control
socket). After the last burst the run waits until every message is
delivered or nothing moves for SOAK_STALL (default 60) seconds.

Output on stdout: for each moat process, at the start (after the first
burst's connections are up) and at the end (after the last delivery),

    soak <start|end> proc=<name> rss_kb=<n> pss_kb=<n> fds=<n> sockets=<n> close_wait=<n>

and the figure, in the format of bench.py:

    bench soak moat=<delivered> sent=<n> ratio=<delivered/sent> unit=msgs

"invalid=..." is appended (exit status 1) when fewer were delivered than
accepted, or more. Must run as root (moat drops to _moat). BENCH_KEEP=1
keeps the temporary directory (moat.log, sink.out).
"""
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

import bench_e2e

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MOAT = os.path.join(ROOT, "build", "moat")
SMTP_SOURCE = "/usr/sbin/smtp-source"
BURSTS = int(os.environ.get("SOAK_BURSTS", "10"))
MESSAGES = int(os.environ.get("SOAK_MESSAGES", "20000"))
STALL = int(os.environ.get("SOAK_STALL", "60"))
KEEP = os.environ.get("BENCH_KEEP") == "1"
SOURCES = 10            # smtp-source processes a burst, one domain each
SESSIONS = 2            # sessions each: 20 in all
LENGTH = 2000
PAUSE = 3               # seconds between bursts: idle connections quit
TCP_CLOSE_WAIT = "08"


def log(msg):
    print("bench_soak: " + msg, file=sys.stderr, flush=True)


def domain(i):
    return "d%03d.soak.example" % i


class Moat:
    """moat relaying every soak domain to the sink over static routes."""

    def __init__(self, d, sink_port):
        self.dir = d
        self.port = bench_e2e.free_port()
        self.conf = os.path.join(d, "moat.conf")
        routes = "\n    ".join("%s=[127.0.0.1]:%d/none" % (domain(i), sink_port)
                               for i in range(SOURCES * BURSTS))
        with open(self.conf, "w") as f:
            f.write("""[server]
hostname = moat.soak.localhost
spool_dir = var/spool
mail_dir = var/mail
empty_dir = var/empty
users_file = users
[relay]
relay_networks = 127.0.0.0/8
[limits]
max_sessions_per_ip = 1000
[delivery]
routes = %s
blacklist_watch = no
[watch]
# an internal server relaying everybody's mail: past any sender threshold
hold_external_rcpts = 10000000
hold_external_domains = 10000000
suspend_external_rcpts = 10000000
suspend_external_domains = 10000000
hold_external_rcpts_day = 100000000
suspend_external_rcpts_day = 100000000
[listener mx]
address = 127.0.0.1
port = %d
""" % (routes, self.port))
        self.log = open(os.path.join(d, "moat.log"), "wb")
        self.p = subprocess.Popen([MOAT, "serve", "-c", self.conf], cwd=d,
                                  stdout=self.log, stderr=subprocess.STDOUT)
        if not bench_e2e.wait_port(self.port):
            raise RuntimeError("moat did not start")

    def admin(self, *args):
        r = subprocess.run([MOAT] + list(args) + ["-c", self.conf],
                           cwd=self.dir, capture_output=True, timeout=60)
        if r.returncode != 0:
            log("moat %s: exit %d: %s" % (" ".join(args), r.returncode,
                                          r.stderr.decode(errors="replace")))

    def queued(self):
        db = os.path.join(self.dir, "var", "spool", "queue.db")
        try:
            c = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
            n = c.execute("SELECT count(*) FROM recipient").fetchone()[0]
            c.close()
            return n
        except sqlite3.Error:
            return -1

    def procs(self):
        """name -> pid of the daemon's processes (parent included)."""
        out = {"parent": self.p.pid}
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) != self.p.pid:
                    continue
                with open("/proc/%s/comm" % pid) as f:
                    out[f.read().strip().replace("moat-", "")] = int(pid)
            except (OSError, IndexError, ValueError):
                pass
        return out

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.log.close()


def close_wait_inodes():
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    w = line.split()
                    if w[3] == TCP_CLOSE_WAIT:
                        out.add(w[9])
        except OSError:
            pass
    return out


def usage(pid, cw):
    """(rss_kb, pss_kb, fds, sockets, close_wait) of one process."""
    rss = pss = 0
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    fds = socks = waiting = 0
    try:
        names = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        names = []
    for fd in names:
        try:
            t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        fds += 1
        if t.startswith("socket:["):
            socks += 1
            waiting += t[8:-1] in cw
    return rss, pss, fds, socks, waiting


def report(phase, moat):
    cw = close_wait_inodes()
    for name, pid in sorted(moat.procs().items()):
        rss, pss, fds, socks, waiting = usage(pid, cw)
        print("soak %s proc=%s rss_kb=%d pss_kb=%d fds=%d sockets=%d "
              "close_wait=%d" % (phase, name, rss, pss, fds, socks, waiting),
              flush=True)


def burst(moat, k):
    """One burst: SOURCES smtp-source runs at once; False when one failed."""
    per = MESSAGES // SOURCES
    procs = []
    for i in range(SOURCES):
        procs.append(subprocess.Popen(
            [SMTP_SOURCE, "-s", str(SESSIONS), "-l", str(LENGTH),
             "-m", str(per), "-f", "sender@soak.localhost",
             "-t", "rcpt@%s" % domain(k * SOURCES + i),
             "127.0.0.1:%d" % moat.port],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    ok = True
    for p in procs:
        _, err = p.communicate(timeout=600)
        if p.returncode != 0:
            log("smtp-source exit %d: %s" % (p.returncode,
                                              err.decode(errors="replace")))
            ok = False
    return ok


def run():
    """(delivered, sent, invalid or None)"""
    d = tempfile.mkdtemp(prefix="moat-soak-")
    os.chmod(d, 0o755)
    sink = bench_e2e.Sink(d)
    moat = None
    invalid = None
    sent = MESSAGES // SOURCES * SOURCES * BURSTS
    try:
        moat = Moat(d, sink.port)
        t0 = time.monotonic()
        for k in range(BURSTS):
            if not burst(moat, k):
                invalid = "smtp-source-failed"
            if k == 0:
                report("start", moat)
            got = sink.count() - sink.base
            log("burst %d/%d sent, %d delivered so far, %d recipients "
                "queued, %.0f s" % (k + 1, BURSTS, got, moat.queued(),
                                    time.monotonic() - t0))
            time.sleep(PAUSE)
            moat.admin("stats")
            moat.admin("queue")
        last, moved = -1, time.monotonic()
        while True:
            got = sink.count() - sink.base
            if got >= sent and moat.queued() == 0:
                break
            if got != last:
                last, moved = got, time.monotonic()
            elif time.monotonic() - moved > STALL:
                log("nothing delivered for %d s: %d of %d, %d queued"
                    % (STALL, got, sent, moat.queued()))
                break
            time.sleep(0.2)
        time.sleep(PAUSE)      # the last idle connections quit
        report("end", moat)
        got = sink.count() - sink.base
        log("%d of %d delivered in %.0f s" % (got, sent,
                                              time.monotonic() - t0))
        if got != sent and invalid is None:
            invalid = "delivered-%d-of-%d" % (got, sent)
        return got, sent, invalid
    finally:
        if moat is not None:
            moat.stop()
        sink.stop()
        if KEEP:
            log("kept %s" % d)
        else:
            shutil.rmtree(d, ignore_errors=True)


def main(argv):
    if len(argv) > 1 and argv[1:] != ["soak"]:
        print("usage: bench_soak.py [soak]", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("bench_soak.py: must run as root", file=sys.stderr)
        return 2
    for path in (MOAT, SMTP_SOURCE, bench_e2e.SMTP_SINK):
        if not os.access(path, os.X_OK):
            print("bench_soak.py: %s missing (make bench installs it)" % path,
                  file=sys.stderr)
            return 2
    subprocess.run(["sh", os.path.join(ROOT, "scripts", "ensure-user.sh"),
                    "_moat"], check=True)
    log("%d bursts of %d messages, %d destinations, %d s pauses"
        % (BURSTS, MESSAGES, SOURCES * BURSTS, PAUSE))
    got, sent, invalid = run()
    line = "bench soak moat=%d sent=%d ratio=%.2f unit=msgs" % (
        got, sent, got / sent if sent else 0)
    if invalid:
        line += " invalid=%s" % invalid
    print(line, flush=True)
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
