"""The package under a real systemd: `dpkg -i` on a booted Debian gives a
moat that systemd starts (Type=notify: READY=1, a STATUS= with the
counts), that its sandbox really confines (capabilities, no new
privileges, the system call filter), that takes `echo ... | sendmail -t`
from an ordinary user, that `systemctl reload` moves to a new
certificate while a session opened before it finishes on the old one,
that an upgrade restarts with its queue, and that `systemctl stop` ends
cleanly.

The machine is this one booted as a container: systemd-nspawn runs
systemd as PID 1 on an overlay of the root filesystem whose upper layer
is a tmpfs (what dpkg and moat write there disappears with the test),
in a network namespace of its own with only a loopback (the test's SMTP
clients join it from a thread: setns applies to the calling thread
only). The overlay is made "a fresh machine" in two ways: no
policy-rc.d (the image's forbids starting services) and no other MTA's
sendmail."""
import ctypes
import glob
import hashlib
import os
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import ROOT, moat_version

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0,
                       reason="boots a container: needs root"),
    pytest.mark.skipif(os.environ.get("MOAT_ASAN") == "1",
                       reason="the package is the release build"),
    pytest.mark.skipif(shutil.which("systemd-nspawn") is None,
                       reason="systemd-container is not installed"),
    pytest.mark.skipif(shutil.which("dpkg-shlibdeps") is None,
                       reason="dpkg-dev is not installed"),
]

CLONE_NEWNET = 0x40000000
MAILDIR = "/var/lib/moat/mail/postmaster/new"



def host_has_moat():
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "moat"],
                       capture_output=True, text=True)
    return r.returncode == 0 and r.stdout.startswith("install ok")


class Machine:
    """This machine's root booted under systemd-nspawn."""

    def __init__(self, top):
        self.top = top
        self.root = os.path.join(top, "root")
        self.nspawn = None
        self.pid = None
        self.log = os.path.join(top, "console.log")

    def mount(self):
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs",
                        self.top], check=True)
        for d in ("upper", "work", "root"):
            os.mkdir(os.path.join(self.top, d))
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        "lowerdir=/,upperdir=%s/upper,workdir=%s/work"
                        % (self.top, self.top), self.root], check=True)

    def path(self, p):
        return os.path.join(self.root, p.lstrip("/"))

    def boot(self):
        name = "moat-test-%d" % os.getpid()
        console = open(os.path.join(self.top, "console.log"), "wb")
        # basic.target: the machine's own services (its Postfix, slapd...)
        # stay down; moat's unit is started by its package
        self.nspawn = subprocess.Popen(
            ["systemd-nspawn", "--quiet", "--register=no", "--keep-unit",
             "--private-network", "-M", name, "-D", self.root, "--boot",
             "--", "--unit=basic.target"],
            stdin=subprocess.DEVNULL, stdout=console,
            stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while self.pid is None and time.time() < deadline:
            assert self.nspawn.poll() is None, self.console()
            self.pid = self._init_pid()
            time.sleep(0.1)
        assert self.pid is not None, self.console()
        # PID 1 exists before its socket does
        while time.time() < deadline:
            r = self.run("systemctl is-system-running --wait", check=False,
                         timeout=90)
            if "Failed to connect" not in r.stderr:
                break
            time.sleep(0.2)
        assert r.stdout.strip() in ("running", "degraded"), \
            r.stdout + r.stderr + self.console()

    def _init_pid(self):
        """the container's PID 1, seen from here"""
        for status in glob.glob("/proc/[0-9]*/status"):
            try:
                with open(status) as f:
                    text = f.read()
            except OSError:
                continue
            ns = re.search(r"^NSpid:\s+(\d+)\s+1$", text, re.M)
            if ns and re.search(r"^PPid:\s+%d$" % self.nspawn.pid, text,
                                re.M):
                return int(ns.group(1))
        return None

    def console(self):
        with open(self.log, errors="replace") as f:
            return f.read()[-4000:]

    def run(self, cmd, check=True, timeout=120, user=None, input=None):
        """a shell command inside (all its namespaces)"""
        argv = ["nsenter", "-t", str(self.pid), "-a", "--"]
        if user:
            argv += ["runuser", "-u", user, "--"]
        r = subprocess.run(argv + ["sh", "-c", cmd], capture_output=True,
                           text=True, timeout=timeout, input=input,
                           env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                                "LANG": "C.UTF-8",
                                "DEBIAN_FRONTEND": "noninteractive"})
        if check:
            assert r.returncode == 0, "%s: %s%s" % (cmd, r.stdout, r.stderr)
        return r

    def show(self, unit, *props):
        r = self.run("systemctl show %s %s" % (
            unit, " ".join("-p " + p for p in props)))
        return dict(l.split("=", 1) for l in r.stdout.splitlines() if "=" in l)

    def journal(self, *args):
        return self.run("journalctl --no-pager -o cat -u moat " +
                        " ".join(args), check=False).stdout

    def connect(self, port):
        """a TCP connection to the machine's loopback"""
        libc = ctypes.CDLL(None, use_errno=True)
        out = {}

        def inside():
            fd = os.open("/proc/%d/ns/net" % self.pid, os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns")
                out["sock"] = socket.create_connection(("127.0.0.1", port),
                                                       10)
            except Exception as e:      # raised again in the caller
                out["error"] = e
            finally:
                os.close(fd)
        t = threading.Thread(target=inside)
        t.start()
        t.join()
        if "error" in out:
            raise out["error"]
        return out["sock"]

    def smtp(self, port=25):
        machine = self

        class Inside(smtplib.SMTP):
            def _get_socket(self, host, port, timeout):
                return machine.connect(port)
        return Inside("127.0.0.1", port, timeout=30)

    def poweroff(self):
        if self.nspawn is not None and self.nspawn.poll() is None:
            self.nspawn.terminate()     # nspawn asks systemd to power off
            try:
                self.nspawn.wait(60)
            except subprocess.TimeoutExpired:
                self.nspawn.kill()
                self.nspawn.wait()

    def umount(self):
        for p in (self.root, self.top):
            for _ in range(50):
                if not os.path.ismount(p) or subprocess.run(
                        ["umount", p], capture_output=True).returncode == 0:
                    break
                time.sleep(0.2)
            else:       # still busy: detached, freed when the last user goes
                subprocess.run(["umount", "-l", p], capture_output=True)


def make_cert(d, name):
    cert, key = os.path.join(d, name + ".crt"), os.path.join(d, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=" + name,
                    "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True)
    with open(cert) as f:
        fp = hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).hexdigest()
    return cert, key, fp


@pytest.fixture(scope="module")
def machine():
    if host_has_moat():
        pytest.skip("a moat package is installed here: the container "
                    "would start with it")
    top = tempfile.mkdtemp(prefix="moat-systemd-")
    m = Machine(top)
    debs = []
    try:
        for n in (1, 2):
            version = "%s+sd%d" % (moat_version(), n)
            r = subprocess.run(["make", "-s", "deb", "DEB_VERSION=" + version],
                               cwd=ROOT, capture_output=True, text=True)
            assert r.returncode == 0, r.stdout + r.stderr
            built = re.search(r"built (\S+\.deb)", r.stdout).group(1)
            dest = os.path.join(tempfile.gettempdir(),
                                "moat-sd-%d-%d.deb" % (os.getpid(), n))
            shutil.move(os.path.join(ROOT, built), dest)
            debs.append((version, dest))
        m.mount()
        for i, (_, deb) in enumerate(debs):
            shutil.copy(deb, m.path("/root/moat%d.deb" % (i + 1)))
        # a fresh machine: services may start (the image's policy-rc.d
        # forbids it), no other MTA's sendmail, no moat configuration
        for p in ("usr/sbin/policy-rc.d", "usr/sbin/sendmail",
                  "usr/bin/mailq", "etc/moat"):
            if os.path.isdir(m.path(p)) and not os.path.islink(m.path(p)):
                shutil.rmtree(m.path(p))
            elif os.path.lexists(m.path(p)):
                os.unlink(m.path(p))
        m.boot()
        m.versions = [v for v, _ in debs]
        yield m
    finally:
        m.poweroff()
        m.umount()
        shutil.rmtree(top, ignore_errors=True)
        for _, deb in debs:
            os.unlink(deb)


def wait_for(what, timeout=20, every=0.2):
    deadline = time.time() + timeout
    while True:
        v = what()
        if v or time.time() > deadline:
            return v
        time.sleep(every)


def maildir(m):
    d = m.path(MAILDIR)
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def test_package_starts_under_systemd(machine):
    m = machine
    r = m.run("dpkg -i /root/moat1.deb")
    assert "another MTA" not in r.stdout, r.stdout
    assert m.run("systemctl is-enabled moat").stdout.strip() == "enabled"
    # Type=notify: "active" only after READY=1; the counts follow
    st = wait_for(lambda: (lambda p: p["ActiveState"] == "active" and
                           re.match(r"\d+ sessions?, \d+ messages? queued",
                                    p["StatusText"]) and p)(
        m.show("moat", "ActiveState", "SubState", "StatusText", "Type",
               "MainPID")), timeout=30)
    assert st, m.run("systemctl status moat", check=False).stdout
    assert st["Type"] == "notify" and st["SubState"] == "running", st
    main = int(st["MainPID"])
    # the sandbox is in force on the daemon
    status = m.run("cat /proc/%d/status" % main).stdout
    assert re.search(r"^NoNewPrivs:\s+1$", status, re.M), status
    assert re.search(r"^Seccomp:\s+2$", status, re.M), status
    capbnd = int(re.search(r"^CapBnd:\s+(\w+)$", status, re.M).group(1), 16)
    # CHOWN DAC_OVERRIDE FOWNER KILL SETGID SETUID NET_BIND_SERVICE
    # SYS_CHROOT
    allowed = sum(1 << b for b in (0, 1, 3, 5, 6, 7, 10, 18))
    assert capbnd == allowed, hex(capbnd)
    # the children run as _moat, the journal has the start with levels
    kids = m.run("ps -o user=,args= --ppid %d" % main).stdout
    assert kids.count("_moat ") == 7, kids
    assert "event=ready" in m.journal("-p", "notice")
    assert "event=ready" not in m.journal("-p", "warning")
    assert not re.search(r"moat\[\d+\]: moat\[", m.run(
        "journalctl --no-pager -u moat", check=False).stdout)
    # moat status finds the daemon through the default configuration
    out = m.run("moat status").stdout
    assert "moat is running" in out and "pid                    %d" % main \
        in out, out


def test_sendmail_t_from_a_user_is_delivered(machine):
    m = machine
    assert m.run("readlink -f /usr/sbin/sendmail").stdout.strip() == \
        "/usr/sbin/moat"
    before = maildir(m)
    r = m.run("printf 'To: postmaster@localhost\\nSubject: from cron\\n\\n"
              "test\\n' | sendmail -t", user="nobody")
    assert r.returncode == 0 and r.stdout == "", r
    new = wait_for(lambda: [f for f in maildir(m) if f not in before])
    assert len(new) == 1, maildir(m)
    with open(os.path.join(m.path(MAILDIR), new[0])) as f:
        assert "Subject: from cron" in f.read()
    # the submitting uid is the user
    assert re.search(r"cat=queue qid=\S+ from=<nobody@localhost> .* "
                     r"user=local:nobody$", m.journal(), re.M), m.journal()
    # the queue is the administrators' to read
    r = m.run("mailq", user="nobody", check=False)
    assert r.returncode != 0 and "needs root" in r.stderr, r
    assert m.run("mailq").stdout.strip() == "no messages"


def test_reload_new_certificate_open_session_finishes(machine):
    m = machine
    d = tempfile.mkdtemp(prefix="moat-sd-certs-")
    try:
        a_crt, a_key, a_fp = make_cert(d, "old")
        b_crt, b_key, b_fp = make_cert(d, "new")
        tls = m.path("/etc/moat/tls")
        os.makedirs(tls, exist_ok=True)
        cert, key = os.path.join(tls, "cert.pem"), os.path.join(tls, "key.pem")
        shutil.copy(a_crt, cert)
        shutil.copy(a_key, key)
        os.chmod(key, 0o600)
        # the administrator's configuration: TLS, and a route to a host
        # that does not answer (mail to it waits in the queue); no DNS
        # in the machine's network namespace
        conf = m.path("/etc/moat/moat.conf")
        with open(conf) as f:
            text = f.read()
        text, n = re.subn(r"^\[server\]\n", "[server]\ntls_cert = "
                          "/etc/moat/tls/cert.pem\ntls_key = "
                          "/etc/moat/tls/key.pem\n", text, flags=re.M)
        assert n == 1
        text, n = re.subn(r"^\[delivery\]\n", "[delivery]\nroutes = "
                          "remote.test=[127.0.0.1]:9\nblacklist_watch = no\n",
                          text, flags=re.M)
        assert n == 1
        text, n = re.subn(r"^\[authentication\]\n", "[authentication]\n"
                          "spf_check = no\ndkim_verify = no\n"
                          "dmarc_check = no\n", text, flags=re.M)
        assert n == 1
        with open(conf, "w") as f:
            f.write(text)
        m.run("systemctl restart moat")
        main = m.show("moat", "MainPID")["MainPID"]
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE

        def fingerprint(s):
            return hashlib.sha256(s.sock.getpeercert(True)).hexdigest()
        old = m.smtp()
        old.ehlo("client.example")
        old.starttls(context=ctx)
        old.ehlo("client.example")
        assert fingerprint(old) == a_fp
        # renewal: the files replaced in place, then systemctl reload
        shutil.copy(b_crt, cert)
        shutil.copy(b_key, key)
        r = m.run("systemctl reload moat", check=False)
        assert r.returncode == 0, r.stdout + r.stderr + m.journal()
        st = m.show("moat", "ActiveState", "MainPID", "StatusText")
        assert st["ActiveState"] == "active" and st["MainPID"] == main, st
        assert "restart is needed" not in st["StatusText"], st
        assert re.search(r"event=reload_done .*result=ok", m.journal()), \
            m.journal()
        new = m.smtp()
        new.starttls(context=ctx)
        assert fingerprint(new) == b_fp
        new.sendmail("a@client.example", ["postmaster@localhost"],
                     "Subject: after\r\n\r\nnew\r\n")
        new.quit()
        # the session opened before the reload finishes on the old one
        before = maildir(m)
        old.sendmail("a@client.example", ["postmaster@localhost",
                                          "someone@remote.test"],
                     "Subject: across the reload\r\n\r\nold\r\n")
        assert fingerprint(old) == a_fp
        old.quit()
        got = wait_for(lambda: len(maildir(m)) >= len(before) + 1)
        assert got, maildir(m)
        assert "someone@remote.test" in m.run("mailq").stdout
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_upgrade_restarts_with_its_queue(machine):
    m = machine
    main = m.show("moat", "MainPID")["MainPID"]
    with open(m.path("/etc/moat/moat.conf")) as f:
        edited = f.read()
    m.run("dpkg -i /root/moat2.deb")
    assert m.run("dpkg-query -W -f='${Version}' moat").stdout == \
        m.versions[1]
    st = wait_for(lambda: (lambda p: p["ActiveState"] == "active" and p)(
        m.show("moat", "ActiveState", "MainPID")), timeout=30)
    assert st and st["MainPID"] != main, st
    with open(m.path("/etc/moat/moat.conf")) as f:
        assert f.read() == edited
    assert "someone@remote.test" in m.run("mailq").stdout


def test_stop_is_clean(machine):
    m = machine
    s = m.smtp()
    s.ehlo("client.example")
    m.run("systemctl stop moat", timeout=90)
    st = m.show("moat", "ActiveState", "Result", "ExecMainStatus",
                "ExecMainCode")
    assert st["ActiveState"] == "inactive", st
    # exited by itself with 0 (ExecMainCode 1: CLD_EXITED), not killed
    assert st["Result"] == "success" and st["ExecMainStatus"] == "0" and \
        st["ExecMainCode"] == "1", st
    assert m.run("pgrep -x moat", check=False).stdout == ""
    # the open session was told
    code, text = s.getreply()
    assert code == 421, (code, text)
    s.close()
    journal = m.journal()
    assert re.search(r"event=stopped status=0$", journal, re.M), journal
    # purge under systemd: the unit is gone
    m.run("dpkg --purge moat")
    r = m.run("systemctl list-unit-files moat.service --no-legend",
              check=False)
    assert "moat.service" not in r.stdout, r.stdout
