#!/usr/bin/python3
"""bench.py - moat against Postfix, side by side, on loopback.

    bench.py            every figure
    bench.py NAME       one figure: accept_c1, accept_c10, accept_c50,
                        accept_reuse_c10 or mem_c50

Both servers receive the same load from Postfix's smtp-source with
identical arguments and durably queue every message without delivering
anything:

  moat     build/moat serve, one mx listener on 127.0.0.1:<free port>,
           relay_networks = 127.0.0.0/8; mail for remote.example is
           committed to var/spool/queue.db and held there by the
           compromised-account watch (hold_external_rcpts = 1): nothing
           is delivered.
  Postfix  a private instance (own config_directory, queue_directory and
           data_directory in a temporary directory, smtpd bound to
           127.0.0.1:<free port>) that puts every message on hold
           (check_client_access static:HOLD): cleanup fsyncs it into the
           hold queue and nothing is ever delivered.

The system's own Postfix instance (/etc/postfix) is neither read for
configuration nor started nor stopped.

Output, on stdout, one line per figure:

    bench <name> moat=<v> postfix=<v> ratio=<r> unit=<msg/s|MB>

accept_*: accepted messages per second (smtp-source wall time), ratio =
moat/postfix. mem_c50: peak PSS in MB of all the processes of each
server during the 50-session run, ratio = postfix/moat. Either way a
ratio above 1 means moat does better. A figure whose queued count differs
from the messages sent, or whose smtp-source failed, gets "invalid=..."
appended, a warning on stderr, and the exit status is 1.

Progress and warnings go to stderr. Must run as root (moat drops to
_moat, Postfix to postfix). Environment: BENCH_MESSAGES (default 20000)
and BENCH_LENGTH (default 5120) change the load for quick trials only;
BENCH_KEEP=1 keeps the temporary directories.
"""
import os
import pty
import resource
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

import bench_e2e

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MOAT = os.path.join(ROOT, "build", "moat")
SMTP_SOURCE = "/usr/sbin/smtp-source"
POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"

MESSAGES = int(os.environ.get("BENCH_MESSAGES", "20000"))
LENGTH = int(os.environ.get("BENCH_LENGTH", "5120"))
SENDER = "bench@localhost"
RECIPIENT = "bench@remote.example"
RUN_TIMEOUT = 900          # seconds for one smtp-source run
SAMPLE_INTERVAL = 0.1      # seconds between PSS samples

# name -> (sessions, reuse connections)
LOADS = {
    "accept_c1": (1, False),
    "accept_c10": (10, False),
    "accept_c50": (50, False),
    "accept_reuse_c10": (10, True),
}
FIGURES = ["accept_c1", "accept_c10", "accept_c50", "accept_reuse_c10",
           "mem_c50"]


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def warn(msg):
    print("bench: warning: " + msg, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return False


def children(pid):
    """Direct children of pid, over all its threads."""
    out = []
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for t in tasks:
        try:
            with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                out.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return out


def tree(pid):
    """pid and all its descendants that exist now."""
    if pid is None or not pid_alive(pid):
        return []
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.append(p)
        todo.extend(children(p))
    return seen


def pss_kb(pids):
    """Sum of Pss over pids, and {command: Pss} of each, in kB."""
    total, each = 0, {}
    for p in pids:
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        kb = int(line.split()[1])
                        break
                else:
                    continue
            with open("/proc/%d/comm" % p) as f:
                comm = f.read().strip()
        except (OSError, ValueError):
            continue            # gone meanwhile
        total += kb
        each[comm] = each.get(comm, 0) + kb
    return total, each


CLK_TCK = os.sysconf("SC_CLK_TCK")


def tree_cpu(pids):
    """CPU seconds of pids, with their reaped children's (Postfix's
    master reaps its smtpd and cleanup processes)."""
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                v = f.read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in v[11:15])
        except (OSError, ValueError, IndexError):
            pass
    return total / CLK_TCK


def busy_cpu():
    """CPU seconds of all the machine in user, nice and system mode."""
    with open("/proc/stat") as f:
        v = f.readline().split()
    return (int(v[1]) + int(v[2]) + int(v[3])) / CLK_TCK


def self_children_cpu():
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def run_tty(argv, timeout=120):
    """Run argv with its stdout/stderr on a pseudo-terminal: Postfix
    commands print their errors only to a terminal (or syslog, absent
    here). Returns (exit status, output)."""
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave,
                             stderr=slave, close_fds=True)
    finally:
        os.close(slave)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        # read until the command has exited and its output is drained;
        # not until end of file: a daemon it started may keep the
        # terminal open
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.1)
            if r:
                try:
                    b = os.read(master, 4096)
                except OSError:     # EIO: no writer left
                    b = b""
                if b:
                    chunks.append(b)
                    continue
            if p.poll() is not None:
                break
            if r:               # end of output, the command still running
                time.sleep(0.05)
        rc = p.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        os.close(master)
        if p.poll() is None:
            p.kill()
            p.wait()
    return rc, b"".join(chunks).decode("utf-8", "replace").replace("\r", "")


class PssSampler(threading.Thread):
    """Peak PSS of the process tree of root_pid(), every 100 ms."""

    def __init__(self, root_pid):
        super().__init__(daemon=True)
        self.root_pid = root_pid
        self.peak_kb = 0
        self.peak_each = {}
        self.samples = 0
        self.stop_ev = threading.Event()

    def run(self):
        while not self.stop_ev.is_set():
            kb, each = pss_kb(tree(self.root_pid()))
            if kb > self.peak_kb:
                self.peak_kb, self.peak_each = kb, each
            self.samples += 1
            self.stop_ev.wait(SAMPLE_INTERVAL)

    def stop(self):
        self.stop_ev.set()
        self.join()


class Sink:
    """Postfix's smtp-sink: answers every command, stores nothing, fsyncs
    nothing. The same smtp-source run against it gives the most this
    client gets from any server on this machine: the ceiling beside
    which the two figures stand. The sink itself is bench_e2e's."""
    name = "sink"

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sink-bench-")
        self.sink = None
        self.port = None

    def start(self):
        self.sink = bench_e2e.Sink(self.dir)
        self.port = self.sink.port

    def pid(self):
        return self.sink.p.pid if self.alive() else None

    def alive(self):
        return self.sink is not None and self.sink.p.poll() is None

    def queued(self):
        # the counter is written as messages end; give it a moment
        deadline = time.monotonic() + 5
        while self.sink.count() - self.sink.base < MESSAGES and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        return self.sink.count() - self.sink.base

    def stop(self):
        if self.sink is not None:
            sink, self.sink = self.sink, None
            sink.stop()

    def problems(self):
        return []

    def cleanup(self, keep):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Moat:
    name = "moat"

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="moat-bench-")
        os.chmod(self.dir, 0o755)       # the daemon runs as _moat
        self.proc = None
        self.port = None
        self.logf = None
        self.log_path = os.path.join(self.dir, "moat.log")
        self.runs = 0
        self.delivery_note = None
        try:
            self.bin = self.copy_binary()
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def start(self):
        var = os.path.join(self.dir, "var")
        shutil.rmtree(var, ignore_errors=True)
        self.port = free_port()
        conf = os.path.join(self.dir, "moat.conf")
        with open(conf, "w") as f:
            f.write("""\
[server]
hostname = moat.bench.localhost
spool_dir = {d}/var/spool
mail_dir = {d}/var/mail
empty_dir = {d}/var/empty
users_file = {d}/var/users

[domains]
local_domains = localhost
mailboxes = postmaster
{domains}
[relay]
relay_networks = 127.0.0.0/8

[delivery]
blacklist_watch = no

[limits]
max_sessions = 1000
max_sessions_per_ip = 1000

[listener mx]
role = mx
address = 127.0.0.1
port = {port}
{listener}""".format(d=self.dir, port=self.port, domains=self.domains_conf(),
                 listener=self.listener_conf()))
            f.write(self.delivery_conf())
            f.write(self.extra_conf())
        chk = subprocess.run([self.bin, "check-config", "-c", conf],
                             capture_output=True, text=True, timeout=60)
        if chk.returncode != 0:
            raise RuntimeError("moat check-config: " + (chk.stderr or
                                                         chk.stdout).strip())
        self.runs += 1
        if self.delivery_note and self.runs == 1:
            log("moat delivery kept on loopback: " + self.delivery_note)
        self.logf = open(self.log_path, "a")
        self.logf.write("=== bench: start %d port %d\n" % (self.runs, self.port))
        self.logf.flush()
        log_start = self.logf.tell()
        self.proc = subprocess.Popen([self.bin, "serve", "-c", conf],
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=self.logf,
                                     cwd=self.dir, start_new_session=True)
        # Ready: smtp listens ("event=ready"). Then, for a steady state,
        # the queue has opened its database and auth has loaded its users,
        # which it does after hashing its dummy password at start (argon2id,
        # a transient 64 MiB): markers of the log at the default levels,
        # waited for up to 20 s from the start.
        required, settled = ["event=ready"], \
            ["cat=queue event=started", "event=users_loaded"]
        t0 = time.monotonic()
        self.start_peak_kb, self.start_peak_each = 0, {}
        while True:
            kb, each = pss_kb(tree(self.proc.pid))
            if kb > self.start_peak_kb:
                self.start_peak_kb, self.start_peak_each = kb, each
            if self.proc.poll() is not None:
                raise RuntimeError("moat exited with status %d at start; "
                                   "see %s" % (self.proc.returncode,
                                               self.log_path))
            with open(self.log_path, errors="replace") as f:
                f.seek(log_start)
                text = f.read()
            ready = all(m in text for m in required)
            if ready and all(m in text for m in settled):
                return
            if ready and time.monotonic() - t0 > 20:
                warn("moat: no %s in its log after 20 s; measuring anyway"
                     % " or ".join('"%s"' % m for m in settled
                                   if m not in text))
                return
            if not ready and time.monotonic() - t0 > 15:
                raise RuntimeError("moat did not get ready in 15 s; see %s"
                                   % self.log_path)
            time.sleep(0.01)

    def copy_binary(self):
        """A private copy of build/moat, so that every figure runs the same
        binary even when a make elsewhere rewrites build/moat meanwhile."""
        dst = os.path.join(self.dir, "moat")
        for _ in range(30):
            try:
                shutil.copy2(MOAT, dst)
                v = subprocess.run([dst, "version"], capture_output=True,
                                   text=True, timeout=30)
                if v.returncode == 0:
                    self.version = v.stdout.strip()
                    return dst
            except OSError:
                pass
            time.sleep(1)       # being rebuilt: try again
        raise RuntimeError("%s does not run (being rebuilt?)" % MOAT)

    def domains_conf(self):
        """More [domains] lines (bench_rcpt.py's recipient sources)."""
        return ""

    def extra_conf(self):
        """More sections at the end of moat.conf."""
        return ""

    def listener_conf(self):
        """More lines of the mx listener (bench_milter.py's milters)."""
        return ""

    def routed_domains(self):
        """Domains routed, like remote.example, to the closed port."""
        return []

    def delivery_conf(self):
        """moat's counterpart of Postfix's HOLD: its compromised-account
        watch holds the relay client's mail from the first message on
        ([watch] hold_external_rcpts = 1: the first message crosses the
        threshold and is held in the same commit as every later one), so
        nothing is delivered. Delivery is kept on loopback all the same:
        remote.example goes to a closed port of 127.0.0.1 and DNS to
        127.0.0.1 too."""
        closed = free_port()    # nobody listens there
        routes = ["%s=[127.0.0.1]:%d" % (d, closed)
                  for d in ["remote.example"] + self.routed_domains()]
        out = ("\n[delivery]\nroutes = %s\n"
               "dns_server = 127.0.0.1@%d\n"
               "\n[watch]\nwatch_action = hold\nhold_external_rcpts = 1\n"
               "relay_client_factor = 1\n"
               % (" ".join(routes), closed))
        self.delivery_note = "every message held (watch), delivery to a " \
            "closed loopback port"
        return out

    def pid(self):
        return self.proc.pid if self.proc and self.proc.poll() is None \
            else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def queued(self):
        db = os.path.join(self.dir, "var", "spool", "queue.db")
        try:
            out = subprocess.run(["sqlite3", db,
                                  "select count(*) from message"],
                                 capture_output=True, text=True, timeout=60)
            if out.returncode == 0:
                return int(out.stdout.strip())
            warn("moat: sqlite3: " + out.stderr.strip())
        except (OSError, ValueError, subprocess.TimeoutExpired) as e:
            warn("moat: sqlite3: %s" % e)
        try:
            con = sqlite3.connect(db, timeout=30)
            try:
                return con.execute("select count(*) from message").fetchone()[0]
            finally:
                con.close()
        except sqlite3.Error as e:
            warn("moat: cannot count the queue: %s" % e)
            return -1

    def stop(self):
        if self.proc is None:
            return
        p, self.proc = self.proc, None
        try:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    warn("moat did not stop in 20 s; killing its group")
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except OSError:
                        pass
                    p.wait(timeout=10)
            elif p.returncode != 0:
                warn("moat had exited with status %d" % p.returncode)
        finally:
            if self.logf:
                self.logf.close()
                self.logf = None

    def problems(self):
        """Log lines at level err/warn/crit (run over all starts), but
        the warning that remote.example, routed to stand for the outside
        world, has no recipient source: in this benchmark it has none on
        purpose."""
        out = []
        try:
            with open(self.log_path, errors="replace") as f:
                for line in f:
                    if any(" level=%s " % lv in line
                           for lv in ("err", "warn", "crit", "alert",
                                      "emerg")) or "fatal" in line:
                        if "event=routed_without_recipients " \
                                "domain=remote.example " in line:
                            continue
                        out.append(line.rstrip())
        except OSError:
            pass
        return out

    def cleanup(self, keep):
        self.stop()
        if keep:
            log("moat files kept in " + self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


class Postfix:
    name = "postfix"

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="postfix-bench-")
        os.chmod(self.dir, 0o755)
        self.etc = os.path.join(self.dir, "etc")
        self.spool = os.path.join(self.dir, "spool")
        self.data = os.path.join(self.dir, "data")
        self.maillog = os.path.join(self.dir, "maillog")
        self.port = None
        self.master = None
        self.started = False
        os.mkdir(self.etc)
        os.chmod(self.etc, 0o755)
        shutil.copy("/etc/postfix/master.cf", os.path.join(self.etc,
                                                           "master.cf"))

    def postconf(self, *args):
        out = subprocess.run([POSTCONF, "-c", self.etc] + list(args),
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError("postconf %s: %s" % (" ".join(args),
                                                    out.stderr.strip()))

    def configure(self):
        d = self.dir
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write("""\
# private benchmark instance: receive, durably queue on hold, deliver nothing
compatibility_level = 3.6
queue_directory = {spool}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.bench.localhost
mydomain = bench.localhost
myorigin = $myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
relayhost =
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
smtpd_client_restrictions = check_client_access static:HOLD
smtpd_recipient_restrictions = permit_mynetworks, reject
default_process_limit = 100
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
maillog_file = {log}
maillog_file_prefixes = {d}
""".format(spool=self.spool, data=self.data, log=self.maillog, d=d))
            f.write(self.main_cf_extra())
        # no chroot (it would need copies of /etc files in the spool),
        # no port 25: only smtpd on 127.0.0.1:PORT
        self.postconf("-F", "*/*/chroot = n")
        self.postconf("-M#", "smtp/inet")
        for line in open(os.path.join(self.etc, "master.cf")):
            f = line.split()
            if f and not line[0].isspace() and not line.startswith("#") \
                    and len(f) > 1 and f[1] == "inet":
                self.postconf("-M#", "%s/inet" % f[0])
        svc = "127.0.0.1:%d" % self.port
        self.postconf("-Me", "%s/inet = %s inet n - n - - smtpd" % (svc, svc))

    def main_cf_extra(self):
        """More main.cf lines (bench_rcpt.py's relay_recipient_maps)."""
        return ""

    def start(self):
        for d in (self.spool, self.data):
            shutil.rmtree(d, ignore_errors=True)
        os.mkdir(self.spool, 0o755)
        os.mkdir(self.data, 0o700)
        shutil.chown(self.data, "postfix", "postfix")
        self.port = free_port()
        self.configure()
        rc, out = run_tty([POSTFIX, "-c", self.etc, "check"])
        if rc != 0:
            raise RuntimeError("postfix check: status %d: %s" % (rc, out))
        rc, out = run_tty([POSTFIX, "-c", self.etc, "start"])
        self.started = True
        if rc != 0:
            raise RuntimeError("postfix start: status %d: %s" % (rc, out))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            self.master = self.master_pid()
            if self.master and port_open(self.port):
                return
            time.sleep(0.1)
        raise RuntimeError("postfix did not listen on port %d in 20 s; see %s"
                           % (self.port, self.maillog))

    def master_pid(self):
        try:
            with open(os.path.join(self.spool, "pid", "master.pid")) as f:
                pid = int(f.read().split()[0])
            return pid if pid_alive(pid) else None
        except (OSError, ValueError, IndexError):
            return None

    def pid(self):
        return self.master if self.master and pid_alive(self.master) \
            else None

    def alive(self):
        return self.pid() is not None

    def queued(self):
        def count(sub):
            n = 0
            for _, _, files in os.walk(os.path.join(self.spool, sub)):
                n += len(files)
            return n
        for sub in ("incoming", "active", "deferred", "maildrop"):
            n = count(sub)
            if n:
                warn("postfix: %d files in %s (expected all on hold)"
                     % (n, sub))
        return count("hold")

    def stop(self):
        if not self.started:
            return
        self.started = False
        master = self.master or self.master_pid()
        pids = tree(master)
        rc, out = run_tty([POSTFIX, "-c", self.etc, "stop"])
        deadline = time.monotonic() + 20
        while master and pid_alive(master) and time.monotonic() < deadline:
            time.sleep(0.1)
        if master and pid_alive(master):
            warn("postfix did not stop in 20 s (%s); aborting" % out.strip())
            run_tty([POSTFIX, "-c", self.etc, "abort"])
            time.sleep(1)
        for p in pids:          # anything of this instance left behind
            if pid_alive(p):
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
        self.master = None

    def problems(self):
        out = []
        try:
            with open(self.maillog, errors="replace") as f:
                for line in f:
                    if ("warning:" in line or "fatal:" in line
                            or "panic:" in line or "error:" in line) \
                            and "dict_nis_init" not in line:
                        out.append(line.rstrip())
        except OSError:
            pass
        return out

    def cleanup(self, keep):
        self.stop()
        if keep:
            log("postfix files kept in " + self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def smtp_source_args(sessions, reuse, port, rcpt=RECIPIENT, numbered=False):
    args = [SMTP_SOURCE, "-m", str(MESSAGES), "-l", str(LENGTH),
            "-s", str(sessions), "-f", SENDER, "-t", rcpt]
    if reuse:
        args.append("-d")       # don't disconnect: next message, same session
    if numbered:
        args.append("-N")       # recipients 1rcpt, 2rcpt, ...: each once
    return args + ["127.0.0.1:%d" % port]


def measure(server, sessions, reuse, sample_mem, rcpt=RECIPIENT,
            numbered=False, prepare=None):
    """Fresh server, one smtp-source run. Returns (msg/s, peak PSS MB or
    None, problem or None). prepare(server), when given, runs on the
    started server before the clock: it returns a problem that makes the
    figure invalid, or None."""
    server.start()
    sampler = None
    try:
        before = prepare(server) if prepare else None
        # write back what the previous run and the queue wipe left dirty,
        # so that it does not land on this run's fsyncs
        os.sync()
        args = smtp_source_args(sessions, reuse, server.port, rcpt, numbered)
        if sample_mem:
            sampler = PssSampler(server.pid)
            sampler.start()
        cpu0 = (busy_cpu(), tree_cpu(tree(server.pid())),
                self_children_cpu())
        t0 = time.monotonic()
        try:
            p = subprocess.run(args, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True,
                               timeout=RUN_TIMEOUT)
            rc, err = p.returncode, (p.stderr or p.stdout).strip()
        except subprocess.TimeoutExpired:
            rc, err = -1, "timed out after %d s" % RUN_TIMEOUT
        wall = time.monotonic() - t0
        cpu1 = (busy_cpu(), tree_cpu(tree(server.pid())),
                self_children_cpu())
        if sampler:
            sampler.stop()
        # CPU used meanwhile by processes that are neither this server,
        # smtp-source nor bench.py: other load that slows the figure
        own = (cpu1[1] - cpu0[1]) + (cpu1[2] - cpu0[2])
        other = max(0.0, (cpu1[0] - cpu0[0]) - own) / wall if wall else 0
        problem = before
        if rc != 0:
            problem = (problem + "; " if problem else "") + \
                "smtp-source exited with status %d: %s" % (rc, err)
        if not server.alive():
            problem = (problem + "; " if problem else "") + "server died"
        queued = server.queued()
        if queued != MESSAGES:
            problem = (problem + "; " if problem else "") + \
                "queued %d of %d messages" % (queued, MESSAGES)
        rate = MESSAGES / wall if wall > 0 else 0.0
        mem = sampler.peak_kb / 1024.0 if sampler else None
        log("%-7s s=%-2d %-5s %d msgs in %.1f s = %.1f msg/s, queued %d, "
            "cpu: server %.0f%%, smtp-source+bench %.0f%%, other %.0f%% of "
            "a core%s"
            % (server.name, sessions, "reuse" if reuse else "new", MESSAGES,
               wall, rate, queued, 100 * (cpu1[1] - cpu0[1]) / wall,
               100 * (cpu1[2] - cpu0[2]) / wall, 100 * other,
               "" if mem is None else ", peak PSS %.1f MB (%d samples)"
               % (mem, sampler.samples)))
        if other > 0.25:
            warn("other processes used %.0f%% of a core during the %s run: "
                 "its figure is likely low" % (100 * other, server.name))
        if sampler:
            log("%-7s peak PSS by command (MB): %s" % (server.name, ", ".join(
                "%s %.1f" % (c, kb / 1024.0) for c, kb in
                sorted(sampler.peak_each.items(), key=lambda x: -x[1]))))
            if getattr(server, "start_peak_kb", 0):
                log("%-7s (not in the figure) peak PSS while starting, before "
                    "the load: %.1f MB: %s" % (server.name,
                    server.start_peak_kb / 1024.0, ", ".join(
                        "%s %.1f" % (c, kb / 1024.0) for c, kb in sorted(
                            server.start_peak_each.items(),
                            key=lambda x: -x[1]))))
        return rate, mem, problem
    finally:
        if sampler and sampler.is_alive():
            sampler.stop()
        server.stop()


def fmt(v):
    return "%.1f" % v


def emit(name, m, p, unit, higher_better, invalid):
    if higher_better:
        ratio = m / p if p else float("inf")
    else:
        ratio = p / m if m else float("inf")
    line = "bench %s moat=%s postfix=%s ratio=%s unit=%s" % (
        name, fmt(m), fmt(p), fmt(ratio) if ratio != float("inf") else "inf",
        unit)
    if invalid:
        line += " invalid=" + ",".join(invalid)
    print(line, flush=True)


def git_rev():
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short",
                              "HEAD"], capture_output=True, text=True
                             ).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except OSError:
        return "unknown"


# The other benchmarks, each its own script with the same output format:
# figure name -> script (or the C program for the deny-list lookup).
OTHERS = {
    "e2e_c10": "bench_e2e.py", "e2e_c50": "bench_e2e.py",
    "rcpt_table_c50": "bench_rcpt.py", "rcpt_ldap_c50": "bench_rcpt.py",
    "accept_c50_rspamd": "bench_milter.py",
    "queue_summary_100k": "bench_queue.py", "purge_user_10k": "bench_queue.py",
    "purge_all_100k": "bench_queue.py",
    "flood_banner_ms": "bench_flood.py", "flood_accept_ratio": "bench_flood.py",
    "cidr_lookup_100k": None,
    "rcpt_table_load_1m": None,
    "soak": "bench_soak.py",
    "tls_handshake": "bench_tls.py",
    "accept_c50_dkim": "bench_dkim.py",
}


def run_others(names):
    """Run the other figures' scripts; 0 when all went well."""
    rc = 0
    scripts = []
    for n in names:
        if OTHERS[n] is not None and OTHERS[n] not in scripts:
            scripts.append(OTHERS[n])
    for script in scripts:
        args = [n for n in names if OTHERS[n] == script]
        if len(args) == len([n for n in OTHERS if OTHERS[n] == script]):
            args = []           # all of them: the script's own default
        r = subprocess.run([sys.executable, os.path.join(ROOT, "bench", script)]
                           + args)
        rc = rc or r.returncode
    if "cidr_lookup_100k" in names:
        r = subprocess.run([os.path.join(ROOT, "build", "cidr_bench")])
        rc = rc or r.returncode
    if "rcpt_table_load_1m" in names:
        r = subprocess.run([os.path.join(ROOT, "build", "rcpt_table_load")])
        rc = rc or r.returncode
    return rc


def main(argv):
    if len(argv) > 2 or (len(argv) == 2 and argv[1] not in FIGURES and
                         argv[1] not in OTHERS):
        print("usage: bench.py [%s]" % "|".join(list(FIGURES) + list(OTHERS)),
              file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("bench.py: must run as root (moat drops to _moat, Postfix to "
              "postfix)", file=sys.stderr)
        return 2
    # every figure, alone or in the full run, needs moat's user
    subprocess.run(["sh", os.path.join(ROOT, "scripts", "ensure-user.sh"),
                    "_moat"], check=True)
    if len(argv) == 2 and argv[1] in OTHERS:
        return run_others([argv[1]])
    want = [argv[1]] if len(argv) == 2 else FIGURES
    for path in (MOAT, SMTP_SOURCE, bench_e2e.SMTP_SINK, POSTFIX, POSTCONF):
        if not os.access(path, os.X_OK):
            print("bench.py: %s missing (make bench installs it)" % path,
                  file=sys.stderr)
            return 2

    # turn SIGTERM/SIGHUP into an exception so that the finally below
    # stops both servers
    def on_signal(sig, frame):
        raise SystemExit(128 + sig)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    pf_version = subprocess.run([POSTCONF, "-d", "-h", "mail_version"],
                                capture_output=True, text=True).stdout.strip()
    log("moat %s, Postfix %s, %d messages of %d bytes each, to <%s>"
        % (git_rev(), pf_version, MESSAGES, LENGTH, RECIPIENT))

    runs = [n for n in LOADS if n in want]
    if "mem_c50" in want and "accept_c50" not in runs:
        runs.append("accept_c50")       # mem_c50 is sampled in that run
    keep = os.environ.get("BENCH_KEEP") == "1"
    t_all = time.monotonic()
    bad = False
    moat = postfix = sink = None
    mem_line = None
    try:
        sink = Sink()
        moat = Moat()
        log("moat binary: %s (%s, copied to %s)" % (MOAT, moat.version,
                                                     moat.bin))
        postfix = Postfix()
        for name in FIGURES:
            if name not in runs:
                continue
            sessions, reuse = LOADS[name]
            sample = name == "accept_c50" and "mem_c50" in want
            r = {}
            for srv in (moat, postfix):
                r[srv.name] = measure(srv, sessions, reuse, sample)
            ceiling, _, cproblem = measure(sink, sessions, reuse, False)
            if cproblem:
                warn("%s smtp-sink: %s" % (name, cproblem))
            else:
                log("%s ceiling: smtp-sink, storing nothing, %.1f msg/s: at "
                    "most %.1fx the Postfix figure is possible here; moat "
                    "reaches %.0f%% of it"
                    % (name, ceiling, ceiling / r["postfix"][0]
                       if r["postfix"][0] else 0,
                       100 * r["moat"][0] / ceiling if ceiling else 0))
            invalid = []
            for who in ("moat", "postfix"):
                if r[who][2]:
                    warn("%s %s: %s: figure invalid" % (name, who, r[who][2]))
                    invalid.append(who)
            bad = bad or bool(invalid)
            if name in want:
                emit(name, r["moat"][0], r["postfix"][0], "msg/s", True,
                     invalid)
            if sample:
                mem_line = (r["moat"][1], r["postfix"][1], invalid)
        if mem_line:
            emit("mem_c50", mem_line[0], mem_line[1], "MB", False,
                 mem_line[2])
        for srv in (moat, postfix):
            probs = srv.problems()
            if probs:
                warn("%s logged %d error/warning lines, first ones:"
                     % (srv.name, len(probs)))
                for line in probs[:10]:
                    print("    " + line, file=sys.stderr)
    except (SystemExit, KeyboardInterrupt):
        warn("interrupted; stopping the servers")
        raise
    except BaseException as e:
        warn("aborted: %s: %s" % (type(e).__name__, e))
        keep = True             # for a look at the logs
        raise
    finally:
        for srv in (moat, postfix, sink):
            if srv is not None:
                try:
                    srv.cleanup(keep)
                except Exception as e:    # keep stopping the other one
                    warn("stopping %s: %s" % (srv.name, e))
        log("total %.0f s" % (time.monotonic() - t_all))
    if len(argv) == 1:
        bad = run_others(list(OTHERS)) != 0 or bad
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
