"""The web console in a real browser: Debian's chromium driven by
playwright-core (tests/browser/, its node_modules from `npm ci`, which
`make deps-test` runs). Each test starts one daemon with the console on
and a console login, and runs one script of tests/browser/ against it;
the script fails on the first check that does not hold."""
import json
import os
import smtplib
import socket
import subprocess

import pytest

from console_fixture import (CONSOLE_PASSWORD, CONSOLE_USER, console,  # noqa: F401
                             )

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


def test_login_overview_logout(console):
    # one message in: the overview's chart of messages in has a point
    with smtplib.SMTP("127.0.0.1", console.moat.port) as s:
        s.sendmail("a@example.net", ["postmaster@localhost"],
                   b"Subject: t\r\n\r\nhello\r\n")
    console.moat.wait_maildir(1)
    finish(start_script(console, "login.mjs", "msgs_in"))


def test_watch_a_session_appear_and_kill_it(console):
    helo = "watched.console.test"
    p = start_script(console, "sessions.mjs", helo)
    expect_line(p, "READY")
    s = socket.create_connection(("127.0.0.1", console.moat.port), 5)
    f = s.makefile("rb")
    assert f.readline().startswith(b"220")
    s.sendall(b"EHLO " + helo.encode() + b"\r\n")
    while True:
        line = f.readline()
        assert line.startswith(b"250")
        if line[3:4] == b" ":
            break
    p.stdin.write("opened\n")
    p.stdin.flush()
    seen = expect_line(p, "SEEN ")
    expect_line(p, "KILLED")
    # the SMTP client was told, then the connection closed
    s.settimeout(5)
    rest = f.read()
    assert b"421" in rest
    s.close()
    p.stdin.write("closed\n")
    p.stdin.flush()
    finish(p)
    # the kill is an event naming the console's admin
    ev = json.loads(subprocess.run(
        [os.environ.get("MOAT_BIN", os.path.join(ROOT, "build", "moat")),
         "events", "--json", "--type", "admin_kill", "-c", console.moat.conf],
        capture_output=True, text=True, check=True).stdout)["events"]
    assert any(seen.split()[1] == e["session"] and
               "admin=console:" + CONSOLE_USER in e["detail"] for e in ev), ev


def test_forged_csrf_is_refused(console):
    finish(start_script(console, "csrf.mjs", "203.0.113.0/24"))


def test_keyboard_only(console):
    finish(start_script(console, "keyboard.mjs"))
