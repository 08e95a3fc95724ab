"""/metrics by the Prometheus conventions: a real promtool reads a scrape
taken after real traffic; the allow-list decides who gets an answer."""
import http.client
import shutil
import smtplib
import subprocess
import time

import pytest

from conftest import MOAT_BIN, free_port

RELAY = ("[relay]\nrelay_networks = 127.0.0.2/32\n"
         "[delivery]\nsmarthost = [127.0.0.1]:9\nretry_min = 3600\n")


def scrape(port, src="127.0.0.1"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5,
                                   source_address=(src, 0))
    c.request("GET", "/metrics")
    r = c.getresponse()
    return r.status, r.read().decode()


def samples(text):
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def wait_scrape(port, cond, src="127.0.0.1", timeout=10):
    deadline = time.time() + timeout
    while True:
        try:
            status, text = scrape(port, src)
            if status != 200 or cond(samples(text)):
                return status, text
        except OSError:
            pass
        if time.time() > deadline:
            return scrape(port, src)
        time.sleep(0.1)


def promtool_check(text):
    """A real promtool reads the scrape: nothing to say."""
    r = subprocess.run(["promtool", "check", "metrics"], input=text,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.strip() == "" and \
        r.stderr.strip() == "", (r.stdout, r.stderr, text)


def traffic(m):
    # two local deliveries, one message stuck for an outside domain, one
    # refused relay (an event and a rejection)
    with smtplib.SMTP("127.0.0.1", m.port, source_address=("127.0.0.2", 0)) as s:
        s.sendmail("a@a.example", ["postmaster@localhost"], b"Subject: 1\r\n\r\nx\r\n")
        s.sendmail("a@a.example", ["postmaster@localhost"], b"Subject: 2\r\n\r\nx\r\n")
        s.sendmail("a@a.example", ["far@d1.example"], b"Subject: 3\r\n\r\nx\r\n")
    with smtplib.SMTP("127.0.0.1", m.port, source_address=("127.0.0.7", 0)) as s:
        s.ehlo("x.example")
        s.mail("a@x.example")
        assert s.rcpt("someone@far.example")[0] == 554


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool (Debian: prometheus) not installed")
def test_promtool_accepts_a_real_scrape(moat_factory):
    port = free_port()
    m = moat_factory(extra=RELAY + "[control]\nmetrics_listen = 127.0.0.1:%d\n"
                     % port)
    traffic(m)
    m.wait_maildir(2)
    status, text = wait_scrape(port, lambda v: v.get(
        "moat_delivery_latency_seconds_count", 0) >= 2 and v.get(
        "moat_queue_messages", 0) == 1 and v.get(
        'moat_events_total{type="relay_denied"}', 0) >= 1 and v.get(
        'moat_rejections_total{reason="relay_denied"}', 0) >= 1)
    assert status == 200
    promtool_check(text)
    v = samples(text)
    assert v['moat_build_info{version="0.1.0"}'] == 1
    # the histogram: cumulative buckets ending in +Inf == count
    assert v["moat_delivery_latency_seconds_count"] == 2
    assert v['moat_delivery_latency_seconds_bucket{le="+Inf"}'] == 2
    assert v['moat_delivery_latency_seconds_bucket{le="1"}'] <= \
        v['moat_delivery_latency_seconds_bucket{le="5"}']
    assert any(k.startswith('moat_sessions{listener="') for k in v)
    assert v['moat_messages_out_total{outcome="delivered"}'] == 2
    assert v['moat_events_total{type="relay_denied"}'] >= 1
    assert v['moat_rejections_total{reason="relay_denied"}'] == 1
    # the stuck message makes the queue's oldest age grow
    time.sleep(2.2)
    _, text = scrape(port)
    assert samples(text)["moat_queue_oldest_message_age_seconds"] >= 2
    # _total only on counters, every family typed
    types = dict(l.split()[2:4] for l in text.splitlines()
                 if l.startswith("# TYPE "))
    for name, t in types.items():
        assert name.endswith("_total") == (t == "counter"), (name, t)


def test_allow_list_decides_who_gets_an_answer(moat_factory):
    port = free_port()
    m = moat_factory(extra=RELAY + "[control]\nmetrics_listen = 127.0.0.1:%d\n"
                     "metrics_allow = 127.0.0.2/32\n" % port)
    status, text = wait_scrape(port, lambda v: True, src="127.0.0.2")
    assert status == 200 and "moat_uptime_seconds" in text
    status, text = scrape(port, src="127.0.0.1")
    assert status == 403 and "moat_" not in text
    status, _ = scrape(port, src="127.0.0.3")
    assert status == 403


def test_non_loopback_needs_an_allow_list(tmp_path):
    conf = tmp_path / "m.conf"
    conf.write_text("[control]\nmetrics_listen = 0.0.0.0:9187\n")
    r = subprocess.run([MOAT_BIN, "check-config", "-c", str(conf)],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert "m.conf:2: metrics_listen: 0.0.0.0 is not a loopback address" \
        in r.stderr and "metrics_allow" in r.stderr
    conf.write_text("[control]\nmetrics_listen = 0.0.0.0:9187\n"
                    "metrics_allow = 192.0.2.0/24, 2001:db8::/32\n")
    r = subprocess.run([MOAT_BIN, "check-config", "-c", str(conf)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
