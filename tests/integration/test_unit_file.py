"""dist/moat.service: systemd accepts it, its exposure is at most 3.0, and
its sandbox is wide enough for moat.

systemd is not PID 1 on the test machines, so the sandbox is checked
against what moat really does: the daemon runs under strace with the
unit's CapabilityBoundingSet applied (setpriv), starts with directories
to make and a low port to bind, takes a message over STARTTLS, answers
an admin command, reloads and stops. Every system call it made must pass
the unit's SystemCallFilter, every socket be of a family in
RestrictAddressFamilies, every /proc file be the process's own
(ProcSubset=pid), and nothing be written outside the spool and the state
(ProtectSystem=strict with ReadWritePaths)."""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import MOAT_BIN, ROOT

UNIT = os.path.join(ROOT, "dist", "moat.service")
EXPOSURE_MAX = 3.0


def unit_settings():
    """name -> list of values, in file order (a setting may repeat)."""
    out = {}
    with open(UNIT) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;[" or "=" not in line:
                continue
            k, v = line.split("=", 1)
            out.setdefault(k.strip(), []).append(v.strip())
    return out


def analyze(*args):
    return subprocess.run(["systemd-analyze", *args],
                          capture_output=True, text=True)


def unit_with_binary(tmp_path):
    """The unit with ExecStart at the built binary (the installed path
    may not exist here)."""
    with open(UNIT) as f:
        text = f.read().replace("/usr/sbin/moat", os.path.abspath(MOAT_BIN))
    path = tmp_path / "moat.service"
    path.write_text(text)
    return str(path)


def test_unit_verifies(tmp_path):
    r = analyze("verify", "--man=no", unit_with_binary(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stderr.strip() == "", r.stderr


def test_unit_verify_catches_a_missing_binary(tmp_path):
    """The check can fail: a unit whose binary is not there is refused."""
    path = tmp_path / "moat.service"
    with open(UNIT) as f:
        path.write_text(f.read().replace("/usr/sbin/moat",
                                         str(tmp_path / "nothing")))
    r = analyze("verify", "--man=no", str(path))
    assert r.returncode != 0
    assert "is not executable" in r.stderr, r.stderr


def exposure(path):
    r = analyze("security", "--offline=yes", path)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
    assert m, r.stdout + r.stderr
    return float(m.group(1)), r.stdout


def test_unit_exposure_at_most_3(tmp_path):
    level, text = exposure(unit_with_binary(tmp_path))
    assert level <= EXPOSURE_MAX, text
    # docs/INSTALL.md states the figure
    with open(os.path.join(ROOT, "docs", "INSTALL.md")) as f:
        assert "exposure %.1f" % level in f.read(), \
            "docs/INSTALL.md does not say exposure %.1f" % level


def test_exposure_check_can_fail(tmp_path):
    """Without its hardening the same service scores far worse."""
    keep = ("Description", "Type", "ExecStart", "ExecReload", "WantedBy")
    lines = []
    with open(UNIT) as f:
        for line in f:
            k = line.split("=", 1)[0].strip()
            if line.startswith("[") or k in keep:
                lines.append(line)
    path = tmp_path / "bare.service"
    path.write_text("".join(lines).replace("/usr/sbin/moat",
                                           os.path.abspath(MOAT_BIN)))
    level, text = exposure(str(path))
    assert level > EXPOSURE_MAX, text


def test_unit_names_what_the_install_layout_uses():
    s = unit_settings()
    assert s["Type"] == ["notify"]
    assert s["ExecStart"] == ["/usr/sbin/moat serve -c /etc/moat/moat.conf"]
    assert s["ExecReload"][0].startswith("/usr/sbin/moat reload") or \
        "kill -HUP" in s["ExecReload"][0]
    assert s["ReadWritePaths"] == ["/var/spool/moat /var/lib/moat"]
    assert s["ProtectSystem"] == ["strict"]
    assert s["RuntimeDirectory"] == ["moat"]
    assert "LimitNOFILE" in s


def syscall_group(name, seen=None):
    """The system calls of a systemd group, nested groups expanded."""
    seen = set() if seen is None else seen
    if name in seen:
        return set()
    seen.add(name)
    r = analyze("syscall-filter", name)
    assert r.returncode == 0, r.stderr
    out = set()
    for line in r.stdout.splitlines()[1:]:
        item = line.strip()
        if not item or item.startswith("#"):
            continue
        if item.startswith("@"):
            out |= syscall_group(item, seen)
        else:
            out.add(item)
    return out


def allowed_syscalls():
    """The unit's SystemCallFilter: allow lists, then deny lists (~)."""
    allow, deny = set(), set()
    for value in unit_settings()["SystemCallFilter"]:
        target = allow
        if value.startswith("~"):
            target, value = deny, value[1:]
        for item in value.split():
            target |= syscall_group(item) if item.startswith("@") else {item}
    return allow - deny


def free_low_port():
    """A port below 1024 that nothing listens on: binding it needs
    CAP_NET_BIND_SERVICE."""
    for port in range(700, 1000):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip("no free port below 1024 on 127.0.0.1")


def capabilities():
    caps = unit_settings()["CapabilityBoundingSet"][0].split()
    return ",".join("+" + c.lower().replace("cap_", "") for c in caps)


@pytest.fixture
def traced(tls_files):
    """moat under strace, capabilities cut to the unit's; yields (workdir,
    port, run) where run() does a day's work and returns the trace."""
    if os.geteuid() != 0:
        pytest.skip("needs root: moat's start as root is what the unit runs")
    if "MOAT_ASAN" in os.environ:
        pytest.skip("ASan's own system calls are not moat's")
    work = tempfile.mkdtemp(prefix="moat-unit-")
    os.chmod(work, 0o755)
    port = free_low_port()
    state = os.path.join(work, "state")
    conf = os.path.join(work, "moat.conf")
    with open(conf, "w") as f:
        f.write("[server]\nhostname = mx.test.example\n"
                "spool_dir = %s/spool\nmail_dir = %s/mail\n"
                "empty_dir = %s/empty\nusers_file = %s/users\n"
                "tls_cert = %s\ntls_key = %s\n"
                "[domains]\nlocal_domains = localhost\nmailboxes = postmaster\n"
                "[control]\nadmin_group = adm\n"
                "[delivery]\nblacklist_watch = no\n"
                "[listener mx]\naddress = 127.0.0.1\nport = %d\n"
                % (work, state, state, state, tls_files[0], tls_files[1],
                   port))
    trace = os.path.join(work, "trace")
    log = open(os.path.join(work, "log"), "wb")
    # systemd's notification socket, as Type=notify gives it: the
    # notifications' system calls are in the trace too
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(os.path.join(work, "notify"))
    notify.setblocking(False)
    env = dict(os.environ, NOTIFY_SOCKET=os.path.join(work, "notify"))
    proc = subprocess.Popen(
        ["strace", "-f", "-qq", "-o", trace,
         "setpriv", "--bounding-set=-all," + capabilities(), "--inh-caps=-all",
         MOAT_BIN, "serve", "-c", conf], stdout=log, stderr=subprocess.STDOUT,
        env=env)
    notes = []

    def notified():
        while True:
            try:
                notes.append(notify.recv(4096).decode())
            except BlockingIOError:
                return notes

    def daemon_pid():
        try:
            with open(os.path.join(work, "spool", "moat.lock")) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    def run():
        deadline = time.time() + 20
        while time.time() < deadline:
            assert proc.poll() is None, open(log.name).read()
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("moat did not listen:\n" + open(log.name).read())
        r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % port,
                            "--to", "postmaster@localhost", "-tls"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        new = os.path.join(state, "mail", "postmaster", "new")
        deadline = time.time() + 10
        while time.time() < deadline and not (
                os.path.isdir(new) and os.listdir(new)):
            time.sleep(0.1)
        assert os.listdir(new), "no message delivered"
        r = subprocess.run([MOAT_BIN, "queue", "-c", conf],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
        pid = daemon_pid()
        os.kill(pid, signal.SIGHUP)
        time.sleep(1)
        os.kill(pid, signal.SIGTERM)
        proc.wait(60)
        with open(log.name) as f:
            text = f.read()
        assert proc.returncode == 0, text
        assert "event=stopped status=0" in text, text
        with open(trace) as f:
            return f.read()

    yield work, run, notified
    notify.close()
    if proc.poll() is None:
        pid = daemon_pid()
        if pid:
            os.kill(pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    log.close()
    shutil.rmtree(work, ignore_errors=True)


CALL = re.compile(r"^\d+\s+([a-z0-9_]+)\((.*)$", re.M)


def test_sandbox_fits_what_moat_does(traced):
    work, run, notified = traced
    text = run()
    with open(MOAT_BIN, "rb") as f:
        speaks_notify = b"READY=1" in f.read()
    if speaks_notify:
        # Type=notify: the start is over only when moat says so
        assert any("READY=1" in n for n in notified()), notified()
    # from moat's exec on: what setpriv did before is not the unit's
    start = text.find('execve("%s"' % MOAT_BIN)
    assert start != -1, "moat's exec is not in the trace"
    text = text[text.rfind("\n", 0, start) + 1:]
    calls = CALL.findall(text)
    assert calls, "empty trace"
    names = {c[0] for c in calls}
    missing = names - allowed_syscalls()
    assert not missing, "SystemCallFilter lacks %s" % sorted(missing)

    families = set(unit_settings()["RestrictAddressFamilies"][0].split())
    used = set(re.findall(r"^\d+\s+socket(?:pair)?\((AF_[A-Z0-9]+)", text,
                          re.M))
    assert used, "no socket in the trace"
    assert used <= families, "RestrictAddressFamilies lacks %s" % (
        sorted(used - families))

    opened = re.findall(r'^\d+\s+open(?:at)?\([^"]*"([^"]+)"', text, re.M)
    procs = {p for p in opened if p.startswith("/proc/")}
    foreign = {p for p in procs
               if not re.match(r"/proc/(self|thread-self|\d+)/", p)}
    assert not foreign, "ProcSubset=pid hides %s" % sorted(foreign)

    # writes: only below the spool and the state (here in work); making
    # a directory that is there (the parents of spool_dir) fails with
    # EEXIST on a read-only file system too
    written = set()
    for name, args in calls:
        path = re.match(r'(?:AT_FDCWD, )?"([^"]+)"', args)
        if path is None or args.endswith("EEXIST (File exists)"):
            continue
        p = path.group(1)
        writes = name in ("mkdir", "mkdirat", "unlink", "unlinkat",
                          "rename", "renameat", "renameat2", "chmod",
                          "fchmodat", "chown", "fchownat") or (
            name in ("open", "openat") and
            re.search(r"O_(WRONLY|RDWR|CREAT)", args))
        if writes and p.startswith("/") and not p.startswith(work + "/") \
                and p not in ("/dev/null",):
            written.add("%s %s" % (name, p))
    assert not written, "ProtectSystem=strict forbids: %s" % sorted(written)

    # the start really needed its root powers: it bound a low port and
    # chrooted the network process
    assert re.search(r"^\d+\s+chroot\(", text, re.M)
    assert re.search(r"^\d+\s+setresuid\(", text, re.M)
