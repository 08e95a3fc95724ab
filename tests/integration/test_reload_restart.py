"""A reload applies what it can and names what only a restart applies
(a listener's port, the spool, ...): in the log, in the answer of
`moat reload` and in `moat status`; a refused file says file:line; a
reload keeps the log levels set at runtime with `moat log`."""
import json
import os
import signal
import smtplib
import subprocess
import time

from conftest import MOAT_BIN, free_port


def moat_cmd(m, *args):
    r = subprocess.run([MOAT_BIN] + list(args) + ["-c", m.conf],
                       capture_output=True, text=True, cwd=m.dir,
                       timeout=60)
    return r.returncode, r.stdout, r.stderr


def rewrite(m, old, new):
    with open(m.conf) as f:
        text = f.read()
    assert old in text, text
    with open(m.conf, "w") as f:
        f.write(text.replace(old, new))


def status(m):
    rc, out, err = moat_cmd(m, "status", "--json")
    assert rc == 0, (out, err)
    return json.loads(out)["daemon"][0]


def accepts(port):
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=3) as s:
            return s.noop()[0] == 250
    except OSError:
        return False


def test_port_change_needs_a_restart_and_says_so(moat_factory):
    m = moat_factory()
    old, new = m.port, free_port()
    rewrite(m, "port = %d" % old, "port = %d" % new)
    rewrite(m, "mailboxes = postmaster, alice, bob",
            "mailboxes = postmaster, alice, bob, carol")
    rc, out, err = moat_cmd(m, "reload")
    assert rc == 3, (rc, out, err)
    assert "reloaded, but not all of it: 1 change needs a restart" in out
    assert "needs a restart: [listener mx] port (%d -> %d)" % (old, new) \
        in out, out
    # the rest was applied: carol exists now
    with smtplib.SMTP("127.0.0.1", old, timeout=10) as s:
        s.ehlo("c.example")
        s.mail("a@outside.example")
        assert s.rcpt("carol@example.org")[0] == 250
    # the old port still serves, the new one does not
    assert accepts(old) and not accepts(new)
    log = m.log()
    assert "event=reload_done" in log and "result=partial" in log
    assert 'restart_needed="[listener mx] port (%d -> %d)"' % (old, new) \
        in log, log
    d = status(m)
    assert d["reload_result"] == "partial" and d["reloaded"] > 0
    assert "[listener mx] port" in d["reload_restart_needed"]
    rc, out, _ = moat_cmd(m, "status")
    assert "reload_restart_needed" in out and "[listener mx] port" in out
    # a second reload still says it: the daemon still has the old port
    m.proc.send_signal(signal.SIGHUP)
    assert m.wait_log("event=reload_done", timeout=10)
    deadline = time.time() + 10
    while m.log().count("result=partial") < 2 and time.time() < deadline:
        time.sleep(0.05)
    assert m.log().count("result=partial") == 2
    # back to the old port: nothing left to restart for
    rewrite(m, "port = %d" % new, "port = %d" % old)
    rc, out, err = moat_cmd(m, "reload")
    assert (rc, out.strip()) == (0, "reloaded"), (rc, out, err)
    assert status(m)["reload_restart_needed"] == ""


def test_every_start_only_knob_is_named(moat_factory, tmp_path):
    m = moat_factory(listeners=[("mx", "mx", ""), ("sub", "submission", "")])
    rewrite(m, "spool_dir = var/spool", "spool_dir = var/spool2")
    rewrite(m, "[listener sub]", "[listener sub2]")
    with open(m.conf, "a") as f:
        f.write("[policy]\nclient_prefix_v6 = 56\n"
                "[control]\nmetrics_listen = 127.0.0.1:%d\n" % free_port())
    # the file names a spool the daemon does not use yet: its socket is
    # still in the old one
    sock = os.path.join(m.dir, "var", "spool", "control.sock")
    rc, out, err = moat_cmd(m, "reload")
    assert rc == 1 and "not running" in err
    rc, out, err = moat_cmd(m, "reload", "--socket", sock)
    assert rc == 3, (out, err)
    for what in ("spool_dir", "client_prefix_v6 (64 -> 56)",
                 "metrics_listen", "[listener sub] removed",
                 "[listener sub2] added"):
        assert what in out, (what, out)
    rc, out, err = moat_cmd(m, "status", "--json", "--socket", sock)
    assert json.loads(out)["daemon"][0]["reload_result"] == "partial"


def test_refused_reload_names_file_and_line(moat_factory):
    m = moat_factory()
    with open(m.conf, "a") as f:
        f.write("[limits]\nmax_errors = ten\n")
    with open(m.conf) as f:
        line = f.read().splitlines().index("max_errors = ten") + 1
    rc, out, err = moat_cmd(m, "reload")
    assert rc == 1, (out, err)
    assert "reload refused: the running configuration stays" in err
    assert "%s:%d: max_errors" % (m.conf, line) in err, err
    d = status(m)
    assert d["reload_result"] == "refused"
    assert "%s:%d:" % (m.conf, line) in d["reload_errors"]
    assert accepts(m.port)


def test_reload_reports_a_bad_table_file(moat_factory):
    m = moat_factory(extra="aliases_file = aliases\n",
                     domains="[domains]\nlocal_domains = localhost\n"
                             "mailboxes = postmaster, alice\n", start=False)
    aliases = os.path.join(m.dir, "aliases")
    with open(aliases, "w") as f:
        f.write("sales: alice\n")
    m.start()
    with open(aliases, "w") as f:
        f.write("sales: alice\nbroken line without colon\n")
    rc, out, err = moat_cmd(m, "reload")
    assert rc == 3, (rc, out, err)
    assert "error: " in out and "%s:2:" % aliases in out, out


def test_reload_keeps_runtime_log_levels(moat_factory):
    m = moat_factory(extra="[log]\nsmtp = notice\nqueue = notice\n")
    assert moat_cmd(m, "log", "smtp", "debug", "--for", "1h")[0] == 0
    assert moat_cmd(m, "log", "queue", "info")[0] == 0

    def levels():
        rc, out, _ = moat_cmd(m, "log", "--json")
        return {r["category"]: r for r in json.loads(out)["log"]}

    m.proc.send_signal(signal.SIGHUP)
    assert m.wait_log("event=reload_done", timeout=10)
    lv = levels()
    assert lv["smtp"]["level"] == "debug"
    assert lv["smtp"]["reverts_to"] == "notice"
    assert lv["queue"]["level"] == "info"
    # the children too: a session logs at debug in smtp
    n = m.log().count("proc=smtp level=debug")
    with smtplib.SMTP("127.0.0.1", m.port, timeout=10) as s:
        s.noop()
    assert m.wait_log("proc=smtp level=debug", timeout=5)
    assert m.log().count("proc=smtp level=debug") > n
    # a reload that changes smtp's level in the file: the timed level
    # stays, and reverts to the file's new level; queue's untimed one
    # gives way to the file's new level for queue
    rewrite(m, "smtp = notice\nqueue = notice", "smtp = warn\nqueue = err")
    rc, out, err = moat_cmd(m, "reload")
    assert rc == 0, (out, err)
    lv = levels()
    assert lv["smtp"]["level"] == "debug"
    assert lv["smtp"]["reverts_to"] == "warn"
    assert lv["queue"]["level"] == "err"
