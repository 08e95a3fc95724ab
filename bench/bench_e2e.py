#!/usr/bin/python3
"""bench_e2e.py - end-to-end relay throughput, moat against Postfix.

    bench_e2e.py            e2e_c10 and e2e_c50
    bench_e2e.py NAME       one of them

smtp-source -> server -> smtp-sink, all on 127.0.0.1: smtp-source sends
BENCH_MESSAGES (default 20000) messages of BENCH_LENGTH (5120) bytes over
10 or 50 sessions to the server, which relays them (moat: a static route
remote.example=[127.0.0.1]:SINK; Postfix: relayhost = [127.0.0.1]:SINK)
to one smtp-sink. The clock runs from the first message sent until the
sink has counted every message accepted and the server's queue is empty.

Output, one line per figure, the format of bench.py:

    bench e2e_c10 moat=<v> postfix=<v> ratio=<r> unit=msg/s

ratio = moat/postfix. "invalid=..." is appended (exit status 1) when the
sink's count differs from the messages accepted (something was lost or
duplicated) or a run timed out. Must run as root. BENCH_KEEP=1 keeps the
temporary directories.

To hook into bench.py: in its main(), after the accept figures, run
    subprocess.run([sys.executable, os.path.join(ROOT, "bench",
                    "bench_e2e.py")] + argv_names_starting_with_e2e)
and pass its stdout through (its lines are already in the right format),
or import it and call run_figure(name) -> (moat, postfix, invalid).
"""
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MOAT = os.path.join(ROOT, "build", "moat")
SMTP_SOURCE = "/usr/sbin/smtp-source"
SMTP_SINK = "/usr/sbin/smtp-sink"
POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"
MESSAGES = int(os.environ.get("BENCH_MESSAGES", "20000"))
LENGTH = int(os.environ.get("BENCH_LENGTH", "5120"))
KEEP = os.environ.get("BENCH_KEEP") == "1"
TIMEOUT = 600
FIGURES = {"e2e_c10": 10, "e2e_c50": 50}


def log(msg):
    print("bench_e2e: " + msg, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Sink:
    """smtp-sink on 127.0.0.1:port; count() is its message counter."""

    def __init__(self, d):
        self.port = free_port()
        self.out = os.path.join(d, "sink.out")
        self.f = open(self.out, "wb")
        self.p = subprocess.Popen([SMTP_SINK, "-u", "nobody", "-c",
                                   "127.0.0.1:%d" % self.port, "1024"],
                                  stdout=self.f, stderr=subprocess.STDOUT)
        if not wait_port(self.port):
            raise RuntimeError("smtp-sink did not start")
        self.base = self.count()

    def count(self):
        with open(self.out, "rb") as f:
            m = re.findall(rb"mesg=(\d+)", f.read()[-4096:])
        return int(m[-1]) if m else 0

    def stop(self):
        self.p.terminate()
        self.p.wait(10)
        self.f.close()


class Moat:
    name = "moat"

    def __init__(self, d, sink_port):
        self.dir = d
        self.port = free_port()
        conf = os.path.join(d, "moat.conf")
        with open(conf, "w") as f:
            f.write("""[server]
hostname = moat.bench.localhost
spool_dir = var/spool
mail_dir = var/mail
empty_dir = var/empty
users_file = users
[relay]
relay_networks = 127.0.0.0/8
[limits]
max_sessions_per_ip = 1000
[delivery]
routes = remote.example=[127.0.0.1]:%d/none
blacklist_watch = no
max_connections = 100
max_connections_per_dest = 50
max_messages_per_connection = 100000
[watch]
# the load comes from an internal server relaying everybody's mail:
# 20,000 messages in seconds are past even a relay client's thresholds
# (25 times a user's), so the admin raises them
hold_external_rcpts = 10000000
hold_external_domains = 10000000
suspend_external_rcpts = 10000000
suspend_external_domains = 10000000
hold_external_rcpts_day = 100000000
suspend_external_rcpts_day = 100000000
[listener mx]
address = 127.0.0.1
port = %d
""" % (sink_port, self.port))
        self.log = open(os.path.join(d, "moat.log"), "wb")
        self.p = subprocess.Popen([MOAT, "serve", "-c", conf], cwd=d,
                                  stdout=self.log, stderr=subprocess.STDOUT)
        if not wait_port(self.port):
            raise RuntimeError("moat did not start")

    def queued(self):
        db = os.path.join(self.dir, "var", "spool", "queue.db")
        try:
            c = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
            n = c.execute("SELECT count(*) FROM message").fetchone()[0]
            c.close()
            return n
        except sqlite3.Error:
            return -1

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.log.close()


class Postfix:
    """A private instance relaying everything to the sink."""
    name = "postfix"

    def __init__(self, d, sink_port):
        self.dir = d
        self.etc = os.path.join(d, "etc")
        self.spool = os.path.join(d, "spool")
        self.data = os.path.join(d, "data")
        self.port = free_port()
        os.mkdir(self.etc)
        os.chmod(self.etc, 0o755)
        os.mkdir(self.spool, 0o755)
        os.mkdir(self.data, 0o700)
        shutil.chown(self.data, "postfix", "postfix")
        shutil.copy("/etc/postfix/master.cf", os.path.join(self.etc,
                                                           "master.cf"))
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write("""compatibility_level = 3.6
queue_directory = {spool}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.bench.localhost
mydomain = bench.localhost
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
relayhost = [127.0.0.1]:{sink}
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
smtpd_recipient_restrictions = permit_mynetworks, reject
default_process_limit = 100
smtp_destination_concurrency_limit = 50
default_destination_concurrency_limit = 50
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtp_tls_security_level = none
maillog_file = {d}/maillog
maillog_file_prefixes = {d}
""".format(spool=self.spool, data=self.data, sink=sink_port, d=d))
        self.postconf("-F", "*/*/chroot = n")
        for line in open(os.path.join(self.etc, "master.cf")):
            f = line.split()
            if f and not line[0].isspace() and not line.startswith("#") \
                    and len(f) > 1 and f[1] == "inet":
                self.postconf("-M#", "%s/inet" % f[0])
        svc = "127.0.0.1:%d" % self.port
        self.postconf("-Me", "%s/inet = %s inet n - n - - smtpd" % (svc, svc))
        subprocess.run([POSTFIX, "-c", self.etc, "start"],
                       capture_output=True, timeout=60)
        if not wait_port(self.port):
            raise RuntimeError("postfix did not start")

    def postconf(self, *args):
        subprocess.run([POSTCONF, "-c", self.etc] + list(args), check=True,
                       capture_output=True, timeout=60)

    def queued(self):
        n = 0
        for sub in ("maildrop", "incoming", "active", "deferred", "hold"):
            for _, _, files in os.walk(os.path.join(self.spool, sub)):
                n += len(files)
        return n

    def stop(self):
        subprocess.run([POSTFIX, "-c", self.etc, "stop"],
                       capture_output=True, timeout=60)
        time.sleep(1)


def run_one(kind, sessions):
    """(msg/s, invalid reason or None) for one server and session count."""
    d = tempfile.mkdtemp(prefix="%s-e2e-" % kind)
    os.chmod(d, 0o755)
    sink = Sink(d)
    srv = None
    try:
        srv = (Moat if kind == "moat" else Postfix)(d, sink.port)
        start = time.monotonic()
        src = subprocess.run(
            [SMTP_SOURCE, "-s", str(sessions), "-m", str(MESSAGES),
             "-l", str(LENGTH), "-f", "sender@bench.localhost",
             "-t", "rcpt@remote.example", "127.0.0.1:%d" % srv.port],
            capture_output=True, timeout=TIMEOUT)
        invalid = None
        if src.returncode != 0:
            invalid = "smtp-source-status-%d" % src.returncode
        deadline = start + TIMEOUT
        while time.monotonic() < deadline:
            if sink.count() - sink.base >= MESSAGES and srv.queued() == 0:
                break
            time.sleep(0.02)
        secs = time.monotonic() - start
        got = sink.count() - sink.base
        if got != MESSAGES and invalid is None:
            invalid = "sink-count-%d-of-%d" % (got, MESSAGES)
        return MESSAGES / secs, invalid
    finally:
        if srv is not None:
            srv.stop()
        sink.stop()
        if not KEEP:
            shutil.rmtree(d, ignore_errors=True)


def run_figure(name):
    sessions = FIGURES[name]
    log("%s: moat, %d sessions, %d messages" % (name, sessions, MESSAGES))
    m, mi = run_one("moat", sessions)
    log("%s: postfix" % name)
    p, pi = run_one("postfix", sessions)
    return m, p, mi or pi


def main(argv):
    if os.geteuid() != 0:
        print("bench_e2e.py: must run as root", file=sys.stderr)
        return 2
    names = argv[1:] or list(FIGURES)
    status = 0
    for name in names:
        if name not in FIGURES:
            print("bench_e2e.py: unknown figure %s" % name, file=sys.stderr)
            return 2
        m, p, invalid = run_figure(name)
        line = "bench %s moat=%.1f postfix=%.1f ratio=%.2f unit=msg/s" % (
            name, m, p, m / p if p else 0)
        if invalid:
            line += " invalid=%s" % invalid
            status = 1
        print(line, flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
