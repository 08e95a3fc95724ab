"""Integration test harness: start the real moat binary on loopback.

`moat_server(conf_extra=..., listeners=...)` writes a configuration into a
fresh directory, starts `moat serve -c` and waits until every listener
accepts. The directory is world-traversable because moat's children run
as the unprivileged user `_moat` and must reach the spool below it.
"""
import os
import re
import pwd
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time

import pytest

MOAT_BIN = os.environ.get(
    "MOAT_BIN",
    os.path.join(os.path.dirname(__file__), "..", "..", "build", "moat"))
ASAN = os.environ.get("MOAT_ASAN") == "1"
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def moat_version():
    """MOAT_VERSION of the tree (what `make deb` calls the package)."""
    with open(os.path.join(ROOT, "src", "daemon", "version.h")) as f:
        return re.search(r'#define MOAT_VERSION "([^"]+)"', f.read()).group(1)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def dns_query(name, qtype=1, qid=0x4d4f):
    """A DNS query packet: one question, recursion desired."""
    q = b"".join(bytes([len(label)]) + label.encode()
                 for label in name.rstrip(".").split(".")) + b"\0"
    return (qid.to_bytes(2, "big") + b"\x01\x00\x00\x01\0\0\0\0\0\0" + q
            + qtype.to_bytes(2, "big") + b"\x00\x01")


def wait_dns(port, proc=None, name="ready.moat.test", timeout=5):
    """Wait until a DNS server on 127.0.0.1:port answers a query (any
    answer, NXDOMAIN included); fail if it does not within timeout, or if
    proc (its process) exits."""
    deadline = time.monotonic() + timeout
    query = dns_query(name)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.1)
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError("DNS server on port %d exited with %s"
                                   % (port, proc.returncode))
            s.sendto(query, ("127.0.0.1", port))
            try:
                data = s.recv(512)
            except OSError:     # timeout, or refused: not listening yet
                continue
            if data[:2] == query[:2]:
                return
    raise RuntimeError("DNS server on port %d did not answer within %ss"
                       % (port, timeout))



def install_queue(m, files, extra_sql=""):
    """Replace m's queue.db (m stopped) with one built from files of
    tests/queue_schema/ (the schemas of older versions, and data)."""
    path = os.path.join(m.dir, "var", "spool", "queue.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.unlink(path + suffix)
    con = sqlite3.connect(path)
    for f in files:
        with open(os.path.join(ROOT, "tests", "queue_schema", f)) as fp:
            con.executescript(fp.read())
    if extra_sql:
        con.executescript(extra_sql)
    con.commit()
    con.close()
    pw = pwd.getpwnam("_moat")
    os.chown(path, pw.pw_uid, pw.pw_gid)
    os.chmod(path, 0o600)
    return path

@pytest.fixture(scope="session")
def tls_files():
    """A self-signed certificate for localhost, made once per run."""
    d = tempfile.mkdtemp(prefix="moat-tls-")
    os.chmod(d, 0o755)
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True)
    os.chmod(key, 0o600)
    yield cert, key
    shutil.rmtree(d, ignore_errors=True)


class Moat:
    """One running moat daemon and its directory."""

    def __init__(self, workdir, conf_path, ports, users_file):
        self.dir = workdir
        self.conf = conf_path
        self.ports = ports          # listener name -> port
        self.users_file = users_file
        self.proc = None
        self.logpath = os.path.join(workdir, "moat.log")

    @property
    def port(self):
        return self.ports.get("mx", next(iter(self.ports.values())))

    def start(self, wait=True, cwd=None, env=None):
        """cwd: the directory moat starts in (default: its own); env:
        variables added to the test's environment."""
        env = dict(os.environ, **(env or {}))
        env.setdefault("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0")
        self._started = self.log().count("event=started ") \
            if os.path.exists(self.logpath) else 0
        self._log = open(self.logpath, "ab")
        self.proc = subprocess.Popen(
            [MOAT_BIN, "serve", "-c", self.conf], cwd=cwd or self.dir,
            stdout=self._log, stderr=subprocess.STDOUT, env=env)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=15):
        deadline = time.time() + timeout
        pending = dict(self.ports)
        while pending and time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("moat exited with %s:\n%s"
                                   % (self.proc.returncode, self.log()))
            for name, port in list(pending.items()):
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    del pending[name]
                except OSError:
                    pass
            time.sleep(0.05)
        # every child forked and named (a child is "moat" until it names
        # itself): tests look at them by name
        while time.time() < deadline and not self._all_started():
            time.sleep(0.02)
        if pending or not self._all_started():
            raise RuntimeError("moat not ready:\n" + self.log())
        # the probe connections above are logged; give the daemon a moment
        time.sleep(0.05)

    def _all_started(self):
        if self.log().count("event=started ") <= self._started:
            return False
        kids = self.children()
        return bool(kids) and all(c.startswith("moat-") for c in
                                  kids.values())

    def log(self):
        with open(self.logpath, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_log(self, needle, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if needle in self.log():
                return True
            time.sleep(0.05)
        return False

    def children(self):
        """pid -> comm of the daemon's children."""
        out = {}
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % pid) as f:
                    fields = f.read().split(") ")[1].split()
                if int(fields[1]) == self.proc.pid:
                    with open("/proc/%s/comm" % pid) as f:
                        out[int(pid)] = f.read().strip()
            except (OSError, IndexError):
                pass
        return out

    def stop(self, timeout=20):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
        self._log.close()
        return self.proc.returncode

    def kill9(self):
        """kill -9 the whole daemon, parent and children at once."""
        if self.proc is None or self.proc.poll() is not None:
            return
        kids = list(self.children())
        os.kill(self.proc.pid, signal.SIGKILL)
        for k in kids:
            try:
                os.kill(k, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        # wait until the children are gone too
        deadline = time.time() + 10
        while time.time() < deadline and any(
                os.path.exists("/proc/%d" % k) for k in kids):
            time.sleep(0.02)

    def sql(self, query):
        """Read the queue database with the sqlite3 CLI (tests only)."""
        db = os.path.join(self.dir, "var", "spool", "queue.db")
        r = subprocess.run(["sqlite3", "-readonly", db, query],
                           capture_output=True, text=True, check=True)
        return [line.split("|") for line in r.stdout.splitlines()]

    def wait_sql(self, query, want, timeout=10):
        """The rows of query once they are want (events are stored a
        moment after the reply that caused them), else the last read."""
        deadline = time.time() + timeout
        rows = self.sql(query)
        while rows != want and time.time() < deadline:
            time.sleep(0.05)
            rows = self.sql(query)
        return rows

    def maildir(self, mailbox="postmaster"):
        d = os.path.join(self.dir, "var", "mail", mailbox, "new")
        if not os.path.isdir(d):
            return []
        out = []
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                out.append(f.read())
        return out

    def wait_maildir(self, count, mailbox="postmaster", timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = self.maildir(mailbox)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        return self.maildir(mailbox)


def make_config(workdir, ports, tls=None, extra="", users_file=None,
                listeners=None):
    """A configuration text. listeners: list of (name, role, extra lines)."""
    if listeners is None:
        listeners = [("mx", "mx", "")]
    lines = ["[server]", "hostname = mx.test.example",
             "spool_dir = var/spool", "mail_dir = var/mail",
             "empty_dir = var/empty",
             "users_file = %s" % (users_file or "users")]
    if tls:
        lines += ["tls_cert = %s" % tls[0], "tls_key = %s" % tls[1]]
    text = "\n".join(lines) + "\n"
    text += extra if extra.endswith("\n") or not extra else extra + "\n"
    if "blacklist_watch" not in extra:
        # tests ask no DNS off loopback: the blacklist watch stays off
        # unless a test turns it on (against its own DNS server)
        text += "[delivery]\nblacklist_watch = no\n"
    if "dns_server" not in extra and not any(
            k in extra for k in ("spf_check", "dkim_verify", "dmarc_check")):
        # nor do SPF, DKIM and DMARC ask the machine's resolver: a test
        # that checks them names its own DNS server on loopback
        text += ("[authentication]\nspf_check = no\ndkim_verify = no\n"
                 "dmarc_check = no\n")
    for name, role, more in listeners:
        text += "[listener %s]\naddress = 127.0.0.1\nport = %d\nrole = %s\n%s\n" % (
            name, ports[name], role, more)
    return text


@pytest.fixture
def moat_factory(tls_files):
    """Start daemons with chosen configuration; all stopped at the end.
    tls: True (the RSA test certificate), False, or a (cert, key) pair."""
    started = []
    dirs = []

    def factory(extra="", listeners=None, tls=True, users=None, start=True,
                domains="[domains]\nlocal_domains = localhost, example.org\n"
                        "mailboxes = postmaster, alice, bob\n"):
        workdir = tempfile.mkdtemp(prefix="moat-it-")
        os.chmod(workdir, 0o755)
        dirs.append(workdir)
        names = [l[0] for l in (listeners or [("mx", "mx", "")])]
        ports = {n: free_port() for n in names}
        users_file = os.path.join(workdir, "users")
        conf = make_config(workdir, ports, (tls if isinstance(tls, tuple)
                                           else tls_files) if tls else None,
                           domains + extra, users_file, listeners)
        conf_path = os.path.join(workdir, "moat.conf")
        with open(conf_path, "w") as f:
            f.write(conf)
        for name, pw in (users or {}).items():
            subprocess.run([MOAT_BIN, "passwd", name, "-c", conf_path],
                           input=pw + "\n", text=True, check=True,
                           capture_output=True, cwd=workdir)
        m = Moat(workdir, conf_path, ports, users_file)
        started.append(m)
        if start:
            m.start()
        return m

    yield factory
    for m in started:
        m.stop()
        if m.proc is not None and m.proc.returncode not in (0, None, -9):
            print(m.log())
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def moat(moat_factory):
    """A daemon with one mx listener, relay for 127.0.0.2/32."""
    return moat_factory(extra="[relay]\nrelay_networks = 127.0.0.2/32\n")
