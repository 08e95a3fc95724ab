"""The web console in a real browser: Debian's chromium driven by
playwright-core (tests/browser/, its node_modules from `npm ci`, which
`make deps-test` runs). One daemon with the console on and a console
login, one chromium running the scenarios of tests/browser/ in turn; a
scenario fails on the first check that does not hold."""
import json
import os
import smtplib
import socket
import subprocess

import pytest

from conftest import MOAT_BIN
from console_fixture import (CONSOLE_PASSWORD, CONSOLE_USER,  # noqa: F401
                             console)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BROWSER_DIR = os.path.join(ROOT, "tests", "browser")
NODE = "/usr/bin/node"
CHROMIUM = "/usr/bin/chromium"


def require_browser():
    missing = [p for p in (NODE, CHROMIUM) if not os.access(p, os.X_OK)]
    if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules",
                                      "playwright-core")):
        missing.append("tests/browser/node_modules (make deps-test runs "
                       "npm ci there)")
    assert not missing, "browser tests need: %s" % ", ".join(missing)


def start_script(console, name, *extra):
    require_browser()
    return subprocess.Popen(
        [NODE, os.path.join(BROWSER_DIR, name), console.url, CONSOLE_USER,
         CONSOLE_PASSWORD] + list(extra),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, cwd=BROWSER_DIR)


def finish(p, timeout=60):
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    assert p.returncode == 0, "browser script failed:\n%s\n%s" % (out, err)
    return out


def expect_line(p, prefix):
    line = p.stdout.readline()
    if not line.startswith(prefix):
        p.kill()
        _, err = p.communicate()
        pytest.fail("browser script: wanted %r, got %r\n%s"
                    % (prefix, line, err))
    return line.strip()


def smtp_session(port, helo):
    """An SMTP session left open after EHLO: (socket, its reader)."""
    s = socket.create_connection(("127.0.0.1", port), 5)
    f = s.makefile("rb")
    assert f.readline().startswith(b"220")
    s.sendall(b"EHLO " + helo.encode() + b"\r\n")
    while True:
        line = f.readline()
        assert line.startswith(b"250")
        if line[3:4] == b" ":
            return s, f


def test_console_in_chromium(console):
    """One chromium, the scenarios in turn (tests/browser/run.mjs):
    login.mjs: a wrong password refused, the overview with figures and a
      chart of the message sent here, the session kept over a reload,
      logout;
    sessions.mjs: an SMTP session opened while the sessions page is on
      screen appears, and its Kill button ends it (the client gets 421);
    csrf.mjs: POSTs without the token (same origin, and a form from
      another site) refused, nothing banned; with it, banned;
    keyboard.mjs: login, skip link, navigation and an action by keyboard."""
    helo = "watched.console.test"
    cidr = "203.0.113.0/24"
    with smtplib.SMTP("127.0.0.1", console.moat.port) as s:
        s.sendmail("a@example.net", ["postmaster@localhost"],
                   b"Subject: t\r\n\r\nhello\r\n")
    console.moat.wait_maildir(1)
    p = start_script(console, "run.mjs", "login.mjs=msgs_in",
                     "sessions.mjs=" + helo, "csrf.mjs=" + cidr,
                     "keyboard.mjs")
    expect_line(p, "PASS login.mjs")
    expect_line(p, "READY")
    sock, f = smtp_session(console.moat.port, helo)
    p.stdin.write("opened\n")
    p.stdin.flush()
    seen = expect_line(p, "SEEN ")
    expect_line(p, "KILLED")
    # the SMTP client was told, then the connection closed
    sock.settimeout(5)
    assert b"421" in f.read()
    sock.close()
    p.stdin.write("closed\n")
    p.stdin.flush()
    expect_line(p, "PASS sessions.mjs")
    expect_line(p, "PASS csrf.mjs")
    expect_line(p, "PASS keyboard.mjs")
    finish(p)
    # the kill is an event naming the console's admin
    ev = json.loads(subprocess.run(
        [MOAT_BIN, "events", "--json", "--type", "admin_kill", "-c",
         console.moat.conf], capture_output=True, text=True,
        check=True).stdout)["events"]
    assert any(seen.split()[1] == e["session"] and
               "admin=console:" + CONSOLE_USER in e["detail"] for e in ev), ev
    # the forged requests banned nothing; the real one did
    bans = json.loads(subprocess.run(
        [MOAT_BIN, "ban", "list", "--json", "-c", console.moat.conf],
        capture_output=True, text=True, check=True).stdout)["bans"]
    assert [b["cidr"] for b in bans].count(cidr) == 1
