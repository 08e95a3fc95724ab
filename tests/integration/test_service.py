"""moat as a system service: the default configuration path and
MOAT_CONFIG, sd_notify (READY, STATUS, RELOADING, STOPPING) to a socket
the test binds as systemd would, and `moat reload|stop|status`."""
import json
import os
import signal
import smtplib
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import MOAT_BIN


def moat_cmd(*args, env=None, cwd=None, timeout=60):
    e = dict(os.environ)
    e.pop("MOAT_CONFIG", None)
    e.update(env or {})
    return subprocess.run([MOAT_BIN] + list(args), capture_output=True,
                          text=True, env=e, cwd=cwd, timeout=timeout)


def default_config_path():
    """The path compiled in, as the usage text names it."""
    out = moat_cmd("help").stdout
    line = [l for l in out.splitlines() if "$MOAT_CONFIG, else" in l][0]
    return line.split("else ")[-1].rstrip(".")


class Notify:
    """A UNIX datagram socket like systemd's NOTIFY_SOCKET."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="moat-notify-")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.msgs = []      # (monotonic time, {key: value})

    def poll(self, until=None, timeout=15):
        """Read messages; stop when until(msg) is true (returns it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(4096).decode()
            except socket.timeout:
                continue
            kv = dict(l.split("=", 1) for l in data.split("\n") if "=" in l)
            self.msgs.append((time.monotonic(), kv))
            if until is not None and until(kv):
                return kv
        return None

    def close(self):
        self.sock.close()
        os.unlink(self.path)
        os.rmdir(self.dir)


@pytest.fixture
def notify():
    n = Notify()
    yield n
    n.close()


def start_notified(m, notify):
    """Start m with NOTIFY_SOCKET, watching when its SMTP port answers:
    (time of READY=1, time the banner first came)."""
    env = dict(os.environ, NOTIFY_SOCKET=notify.path)
    m._log = open(m.logpath, "ab")
    m._started = 0
    m.proc = subprocess.Popen([MOAT_BIN, "serve", "-c", m.conf], cwd=m.dir,
                              stdout=m._log, stderr=subprocess.STDOUT,
                              env=env)
    banner_at = None
    ready = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and ready is None:
        if banner_at is None:
            try:
                with socket.create_connection(("127.0.0.1", m.port),
                                              0.2) as s:
                    s.settimeout(0.05)
                    if s.recv(100).startswith(b"220"):
                        banner_at = time.monotonic()
            except OSError:
                pass
        ready = notify.poll(lambda kv: kv.get("READY") == "1", timeout=0.05)
    assert ready is not None, m.log()
    ready_at = [t for t, kv in notify.msgs if kv.get("READY") == "1"][0]
    return ready_at, banner_at, ready


def test_notify_ready_status_reload_stopping(moat_factory, notify):
    m = moat_factory(start=False)
    ready_at, banner_at, ready = start_notified(m, notify)
    # READY=1 only once the SMTP port answers: the banner comes at once
    # (a listener not yet accepting would leave it in the backlog)
    with socket.create_connection(("127.0.0.1", m.port), 1) as s:
        s.settimeout(0.5)
        assert s.recv(100).startswith(b"220 ")
    assert banner_at is None or banner_at <= time.monotonic()
    assert "STATUS" in ready and "session" in ready["STATUS"], ready
    assert "event=ready " in m.log()
    # the counts follow READY=1 at once, not at the next 5 s tick
    first = notify.poll(lambda kv: "STATUS" in kv and "READY" not in kv
                        and kv["STATUS"][0].isdigit(), timeout=2)
    assert first is not None, notify.msgs
    assert "?" not in first["STATUS"], first
    # STATUS= comes again every few seconds, with the counts
    with smtplib.SMTP("127.0.0.1", m.port, timeout=10) as s:
        s.ehlo("client.example")
        st = notify.poll(lambda kv: "STATUS" in kv and "READY" not in kv
                         and kv["STATUS"].startswith("1 session"),
                         timeout=12)
        assert st is not None, notify.msgs
        assert "0 messages queued" in st["STATUS"], st
    # a reload: RELOADING=1 with MONOTONIC_USEC, then READY=1
    n = len(notify.msgs)
    m.proc.send_signal(signal.SIGHUP)
    again = notify.poll(lambda kv: kv.get("READY") == "1")
    assert again is not None, notify.msgs
    new = [kv for _, kv in notify.msgs[n:]]
    reloading = [kv for kv in new if kv.get("RELOADING") == "1"]
    assert reloading and int(reloading[0]["MONOTONIC_USEC"]) > 0, new
    assert new.index(reloading[0]) < new.index(again)
    # `moat reload` does the same
    n = len(notify.msgs)
    r = moat_cmd("reload", "-c", m.conf)
    assert r.returncode == 0 and r.stdout.strip() == "reloaded", r
    new = [kv for _, kv in notify.msgs[n:]]
    notify.poll(lambda kv: kv.get("READY") == "1", timeout=5)
    new = [kv for _, kv in notify.msgs[n:]]
    assert any(kv.get("RELOADING") == "1" for kv in new), new
    assert any(kv.get("READY") == "1" for kv in new), new
    # the children never speak to the manager
    for pid in m.children():
        with open("/proc/%d/environ" % pid, "rb") as f:
            assert b"NOTIFY_SOCKET=" not in f.read()
    # stop: STOPPING=1
    m.proc.send_signal(signal.SIGTERM)
    assert notify.poll(lambda kv: kv.get("STOPPING") == "1") is not None
    assert m.proc.wait(20) == 0


def test_without_notify_socket_nothing_is_sent(moat_factory):
    m = moat_factory()
    assert "event=notify_failed" not in m.log()
    assert "event=ready " in m.log()


def test_status_reload_stop_commands(moat_factory):
    m = moat_factory(extra="[log]\ndaemon = info\n")
    r = moat_cmd("status", "-c", m.conf)
    assert r.returncode == 0, r
    assert "moat is running" in r.stdout
    for word in ("version", "pid", "uptime", "sessions", "queued",
                 m.conf, "listener", "smtp", "queue", "up"):
        assert word in r.stdout, (word, r.stdout)
    j = json.loads(moat_cmd("status", "--json", "-c", m.conf).stdout)
    d = j["daemon"][0]
    assert d["pid"] == m.proc.pid and d["config"] == m.conf
    assert d["sessions"] == 0 and d["queued"] == 0
    assert d["reloaded"] == 0 and d["reload_result"] == ""
    assert {l["listener"]: l["port"] for l in j["listeners"]} == \
        {"mx": m.port}
    assert {c["process"] for c in j["children"] if c["state"] == "up"} == \
        {"smtp", "queue", "auth", "mta", "control", "ca", "lookup"}
    # an open session is counted
    with smtplib.SMTP("127.0.0.1", m.port, timeout=10) as s:
        s.ehlo("x.example")
        d = json.loads(moat_cmd("status", "--json", "-c",
                                m.conf).stdout)["daemon"][0]
        assert d["sessions"] == 1
    # reload, as JSON
    j = json.loads(moat_cmd("reload", "--json", "-c", m.conf).stdout)
    assert j["status"] == "ok" and j["message"] == "reloaded", j
    d = json.loads(moat_cmd("status", "--json", "-c",
                            m.conf).stdout)["daemon"][0]
    assert d["reload_result"] == "ok" and d["reloaded"] > 0
    # recorded as an admin action, with the caller's uid
    ev = json.loads(moat_cmd("events", "--type", "admin_reload", "--json",
                             "-c", m.conf).stdout)["events"]
    assert len(ev) == 1 and "uid=%d op=reload" % os.getuid() in \
        ev[0]["detail"], ev
    # stop waits until the daemon is gone
    r = moat_cmd("stop", "-c", m.conf)
    assert r.returncode == 0 and "stopped" in r.stdout, r
    assert m.proc.poll() is not None
    assert not os.path.exists(os.path.join(m.dir, "var", "spool",
                                           "control.sock"))
    r = moat_cmd("status", "-c", m.conf)
    assert r.returncode == 1 and "not running" in r.stderr


def test_stop_no_wait(moat_factory):
    m = moat_factory()
    r = moat_cmd("stop", "--no-wait", "--json", "-c", m.conf)
    assert r.returncode == 0, r
    assert json.loads(r.stdout)["pid"] == m.proc.pid
    assert m.proc.wait(20) == 0


def test_admin_commands_find_the_daemon_through_moat_config(moat_factory):
    m = moat_factory()
    env = {"MOAT_CONFIG": m.conf}
    # from another directory, without -c
    for args in (["status"], ["queue"], ["sessions"], ["ban", "list"],
                 ["user", "list"], ["events"], ["log"], ["stats"],
                 ["verify", "list"]):
        r = moat_cmd(*args, env=env, cwd="/")
        assert r.returncode == 0, (args, r)
    # -c wins over MOAT_CONFIG
    r = moat_cmd("status", "-c", m.conf, env={"MOAT_CONFIG": "/nonexistent"})
    assert r.returncode == 0, r
    r = moat_cmd("check-config", env=env, cwd="/")
    assert r.returncode == 0 and "[server]" in r.stdout


def test_missing_configuration_says_how_to_name_one():
    r = moat_cmd("status", env={"MOAT_CONFIG": "/nonexistent/moat.conf"})
    assert r.returncode == 1
    assert r.stderr == ("moat: /nonexistent/moat.conf: No such file or "
                        "directory (use -c FILE or MOAT_CONFIG)\n"), r.stderr
    r = moat_cmd("serve", env={"MOAT_CONFIG": "/nonexistent/moat.conf"})
    assert r.returncode == 1 and "use -c FILE or MOAT_CONFIG" in r.stderr
    default = default_config_path()
    assert default.endswith("/moat/moat.conf"), default
    if os.path.exists(default):
        pytest.skip("%s exists on this machine" % default)
    for cmd in (["check-config"], ["queue"], ["serve"]):
        r = moat_cmd(*cmd)
        assert r.returncode == 1
        assert r.stderr == ("moat: %s: No such file or directory (use -c "
                            "FILE or MOAT_CONFIG)\n" % default), r.stderr


def test_builtin_configuration_is_named(tmp_path):
    r = moat_cmd("check-config", "--builtin", cwd=str(tmp_path))
    assert r.returncode == 0 and "port = 2525" in r.stdout
    r = moat_cmd("check-config", "--builtin", "-c", "x.conf")
    assert r.returncode == 2
