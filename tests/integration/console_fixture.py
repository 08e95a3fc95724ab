"""A moat daemon with the web console on, and one console login; shared by
test_console.py (plain HTTP) and test_console_browser.py (Chromium)."""
import http.client
import json
import os
import subprocess
import urllib.parse

import pytest

from conftest import MOAT_BIN, free_port

CONSOLE_USER = "admin"
CONSOLE_PASSWORD = "correct horse battery"


class Console:
    """The console of one daemon: its URL and a small HTTP client."""

    def __init__(self, moat, port, ctx=None):
        self.moat = moat
        self.port = port
        self.ctx = ctx      # an ssl.SSLContext: HTTPS
        self.url = "%s://127.0.0.1:%d/" % ("https" if ctx else "http", port)

    def request(self, method, path, body=None, headers=None, cookie=None):
        """(status, headers dict (lower-case names), body bytes)"""
        h = dict(headers or {})
        if cookie:
            h["Cookie"] = "moat_console=" + cookie
        if isinstance(body, dict):
            body = urllib.parse.urlencode(body)
            h.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if self.ctx:
            c = http.client.HTTPSConnection("127.0.0.1", self.port,
                                            timeout=10, context=self.ctx)
        else:
            c = http.client.HTTPConnection("127.0.0.1", self.port,
                                           timeout=10)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def login(self, user=CONSOLE_USER, password=CONSOLE_PASSWORD,
              form=None):
        """(status, cookie or None, csrf or None)"""
        st, hd, body = self.request("POST", "/api/login",
                                    form or {"user": user,
                                             "password": password},
                                    {"X-CSRF-Token": "login"})
        cookie = None
        sc = hd.get("set-cookie", "")
        if sc.startswith("moat_console="):
            cookie = sc.split(";")[0].split("=", 1)[1]
        csrf = json.loads(body).get("csrf") if st == 200 else None
        return st, cookie, csrf


def console_passwd(moat, name, password):
    return subprocess.run([MOAT_BIN, "console", "passwd", name, "-c",
                           moat.conf], input=password + "\n", text=True,
                          capture_output=True, cwd=moat.dir)


@pytest.fixture
def console(moat_factory):
    port = free_port()
    m = moat_factory(extra="[relay]\nrelay_networks = 127.0.0.2/32\n"
                     "[console]\nconsole_listen = 127.0.0.1:%d\n" % port)
    r = console_passwd(m, CONSOLE_USER, CONSOLE_PASSWORD)
    assert r.returncode == 0, r.stderr + r.stdout
    return Console(m, port)
