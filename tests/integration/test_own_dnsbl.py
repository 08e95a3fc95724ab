"""The blacklist watch: moat's own addresses looked up on DNS blacklists
served by a real dnsmasq on loopback. A listing is an event, an
alert_command run, a metric and a `moat status` line; a listing gone is
a delisting; a DNS server that does not answer delists nothing."""
import http.client
import json
import os
import shutil
import socket
import stat
import subprocess
import time

import pytest

from conftest import MOAT_BIN, free_port, wait_dns

V4, V6 = "192.0.2.10", "2001:db8::10"
V4_NAME = "10.2.0.192"
V6_NAME = ".".join(reversed(
    "20010db8000000000000000000000010"))    # nibbles, reversed


def dnsmasq(port, listed):
    """dnsmasq answering for bl.moat.example and ok.moat.example; with listed, bl.moat.example
    lists V4 (127.0.0.2, with a TXT reason) and V6 (127.0.0.4)."""
    argv = ["dnsmasq", "--no-daemon", "--port=%d" % port,
            "--listen-address=127.0.0.1", "--bind-interfaces",
            "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
            "--local=/bl.moat.example/", "--local=/ok.moat.example/",
            "--host-record=ready.ok.moat.example,192.0.2.99"]
    if listed:
        argv += ["--host-record=%s.bl.moat.example,127.0.0.2" % V4_NAME,
                 '--txt-record=%s.bl.moat.example,listed for sending spam' % V4_NAME,
                 "--host-record=%s.bl.moat.example,127.0.0.4" % V6_NAME]
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    wait_dns(port, p, name="ready.ok.moat.example")
    return p


def stop(p):
    p.terminate()
    p.wait()


def ctl(m, *args):
    r = subprocess.run([MOAT_BIN] + list(args) + ["-c", m.conf], cwd=m.dir,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def scrape(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/metrics")
    return c.getresponse().read().decode()


def metrics(port):
    out = {}
    for line in scrape(port).splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def wait_for(cond, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.1)
    return cond()


def events(m, typ):
    try:
        return m.sql("select client_ip, detail from events where "
                     "type='%s' order by client_ip" % typ)
    except subprocess.CalledProcessError:
        return []       # busy while the queue writes: asked again


LISTED4 = 'moat_dnsbl_listed{address="%s",list="bl.moat.example"}' % V4
LISTED6 = 'moat_dnsbl_listed{address="%s",list="bl.moat.example"}' % V6
CLEAN4 = 'moat_dnsbl_listed{address="%s",list="ok.moat.example"}' % V4
ERRORS = 'moat_dnsbl_errors_total{list="bl.moat.example"}'


@pytest.fixture
def alert_dir():
    d = os.path.join("/tmp", "moat-alert-%d" % os.getpid())
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o777)      # alert_command runs as the daemon's user
    script = os.path.join(d, "alert.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\necho \"$MOAT_EVENT $MOAT_CLIENT $MOAT_DETAIL\" "
                ">> %s/alerts\n" % d)
    os.chmod(script, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP |
             stat.S_IROTH | stat.S_IXOTH)
    yield d
    subprocess.run(["rm", "-rf", d])


def test_listing_alert_metric_status_and_delisting(moat_factory, alert_dir):
    port, mport = free_port(), free_port()
    dns = dnsmasq(port, listed=True)
    try:
        m = moat_factory(extra=(
            "[delivery]\ndns_server = 127.0.0.1@%d\nblacklist_watch = yes\n"
            "blacklist_addresses = %s, %s\nblacklist_zones = bl.moat.example, "
            "ok.moat.example\nblacklist_interval = 1s\n"
            "[watch]\nalert_command = %s/alert.sh\n"
            "[control]\nmetrics_listen = 127.0.0.1:%d\n"
            % (port, V4, V6, alert_dir, mport)))
        # listed on one list, not on the other: an event and an alert each
        assert wait_for(lambda: len(events(m, "own_ip_listed")) == 2), \
            m.log()
        got = dict(events(m, "own_ip_listed"))
        assert got[V4] == "list=bl.moat.example answer=127.0.0.2 " \
            "reason=listed for sending spam", got
        assert got[V6] == "list=bl.moat.example answer=127.0.0.4 " \
            "reason=-", got
        alerts = os.path.join(alert_dir, "alerts")
        assert wait_for(lambda: os.path.exists(alerts) and
                        open(alerts).read().count("own_ip_listed") == 2)
        assert "own_ip_listed %s list=bl.moat.example" % V4 in open(alerts).read()
        s = metrics(mport)
        assert s[LISTED4] == 1 and s[LISTED6] == 1 and s[CLEAN4] == 0, s
        assert s['moat_dnsbl_checks_total{list="ok.moat.example"}'] >= 2, s
        if shutil.which("promtool"):
            r = subprocess.run(["promtool", "check", "metrics"],
                               input=scrape(mport), capture_output=True,
                               text=True, timeout=30)
            assert r.returncode == 0, r.stdout + r.stderr
        out = ctl(m, "status")
        assert "blacklists:            %s listed on bl.moat.example (127.0.0.2: " \
            "listed for sending spam)" % V4 in out, out
        assert "%s listed on bl.moat.example (127.0.0.4)" % V6 in out, out
        st = json.loads(ctl(m, "status", "--json"))
        assert {(r["address"], r["list"]) for r in st["blacklist"]
                if r["listed"]} == {(V4, "bl.moat.example"), (V6, "bl.moat.example")}, st
        now = json.loads(ctl(m, "blacklist", "check", "--json"))
        assert now["message"].startswith("checked now: 2 listings of 4"), now
        # checks go on every second: a listing is announced once
        time.sleep(1.5)
        assert len(events(m, "own_ip_listed")) == 2

        # the server stops answering: errors, no delisting
        stop(dns)
        dns = None
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.1", port))
        try:
            before = metrics(mport).get(ERRORS, 0)
            assert wait_for(lambda: metrics(mport).get(ERRORS, 0)
                            >= before + 2), m.log()
            s = metrics(mport)
            assert s[LISTED4] == 1 and s[LISTED6] == 1, s
            assert events(m, "own_ip_delisted") == []
            assert "event=blacklist_error address=%s list=bl.moat.example " \
                "error=\"no answer within" % V4 in m.log()
        finally:
            silent.close()

        # answering again, without the listings: delisted
        dns = dnsmasq(port, listed=False)
        assert wait_for(lambda: len(events(m, "own_ip_delisted")) == 2), \
            m.log()
        s = metrics(mport)
        assert s[LISTED4] == 0 and s[LISTED6] == 0, s
        assert "blacklists:            not listed" in ctl(m, "status")
        assert open(alerts).read().count("own_ip_listed") == 2

        # turned off by a reload: no state left behind
        with open(m.conf) as f:
            text = f.read()
        with open(m.conf, "w") as f:
            f.write(text.replace("blacklist_watch = yes",
                                 "blacklist_watch = no"))
        ctl(m, "reload")
        assert "the blacklist watch is off" in ctl(m, "blacklist")
        assert not any(k.startswith("moat_dnsbl_listed")
                       for k in metrics(mport))
    finally:
        if dns is not None:
            stop(dns)


def test_off_by_default_in_tests_and_check_refused(moat):
    """The harness's configuration turns the watch off: no lookups, and
    `moat blacklist check` says so."""
    out = ctl(moat, "blacklist", "check")
    assert "the blacklist watch is off" in out, out
    assert "event=blacklist_checked" not in moat.log()
