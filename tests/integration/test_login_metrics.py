"""Per-login metrics (moat_login_*, moat_relay_client_*): counted for
users and relay clients after real traffic, capped by login_metrics_max,
and the names tried at AUTH by strangers never make series; a real
promtool reads the scrape."""
import shutil
import smtplib

import pytest

from conftest import free_port
from test_delivery import Peer
from test_incident_replay import LISTENERS, plain, session
from test_metrics import promtool_check, samples, wait_scrape

SINK = "127.0.0.30"
USERS = {"alice": "alice-password", "bob": "bob-password-1"}


def login_and_send(m, user, n, src="127.0.0.1"):
    s = session(m, src)
    assert s.docmd("AUTH", "PLAIN " + plain(user, USERS[user]))[0] == 235
    for i in range(n):
        s.sendmail("%s@example.org" % user,
                   ["r%d@d.example" % i, "q%d@d.example" % i],
                   b"Subject: hi\r\n\r\nx\r\n")
    s.quit()


def fail_auth(m, user, src="127.0.0.1"):
    s = session(m, src)
    assert s.docmd("AUTH", "PLAIN " + plain(user, "not-the-password"))[0] \
        == 535
    s.close()


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool (Debian: prometheus) not installed")
def test_login_series_capped_and_strangers_never_named(moat_factory):
    peer = Peer(SINK, free_port())
    port = free_port()
    try:
        m = moat_factory(
            listeners=LISTENERS, users=USERS,
            extra="[relay]\nrelay_networks = 127.0.0.2/32\n"
                  "[delivery]\nsmarthost = [%s]:%d\n"
                  "[limits]\nauth_fail_delay_ms = 10\n"
                  "[control]\nmetrics_listen = 127.0.0.1:%d\n"
                  "login_metrics_max = 2\n" % (SINK, peer.port, port))
        login_and_send(m, "alice", 2)
        fail_auth(m, "alice", "127.0.0.11")
        # a relay client: the second (and last) series of its own
        with smtplib.SMTP("127.0.0.1", m.port,
                          source_address=("127.0.0.2", 0)) as s:
            s.sendmail("app@example.org", ["x@d.example"],
                       b"Subject: 1\r\n\r\nx\r\n")
        # past the cap: bob counts as "other"
        login_and_send(m, "bob", 1)
        fail_auth(m, "bob", "127.0.0.12")
        # names nobody logged in with: one "unknown" series, however many
        for i in range(3):
            fail_auth(m, 'stranger"%d\\' % i, "127.0.0.%d" % (13 + i))
        status, text = wait_scrape(port, lambda v: v.get(
            'moat_login_auth_failures_total{login="unknown"}', 0) >= 3
            and v.get('moat_login_auth_failures_total{login="other"}', 0)
            >= 1)
        assert status == 200
        promtool_check(text)
        v = samples(text)
        assert v['moat_login_messages_total{login="alice"}'] == 2
        assert v['moat_login_recipients_total{login="alice"}'] == 4
        assert v['moat_login_auth_failures_total{login="alice"}'] == 1
        assert v['moat_relay_client_messages_total{client="127.0.0.2"}'] == 1
        assert v['moat_relay_client_recipients_total{client="127.0.0.2"}'] \
            == 1
        assert v['moat_login_messages_total{login="other"}'] == 1
        assert v['moat_login_recipients_total{login="other"}'] == 2
        assert v['moat_login_auth_failures_total{login="other"}'] == 1
        assert v['moat_login_auth_failures_total{login="unknown"}'] == 3
        logins = {k.split('login="')[1].split('"')[0] for k in v
                  if k.startswith("moat_login_")}
        assert logins == {"alice", "other", "unknown"}, logins
        assert "stranger" not in text and "bob" not in text
        assert "# TYPE moat_login_messages_total counter" in text
    finally:
        peer.close()
