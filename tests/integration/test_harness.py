"""The harness itself: its waits fail when what they wait for never comes."""
import subprocess
import time

import pytest

from conftest import free_port, wait_dns


def test_wait_dns_fails_when_nothing_answers():
    t = time.monotonic()
    with pytest.raises(RuntimeError, match="did not answer"):
        wait_dns(free_port(), timeout=0.5)
    assert time.monotonic() - t < 2


def test_wait_dns_returns_once_dnsmasq_answers():
    port = free_port()
    p = subprocess.Popen(
        ["dnsmasq", "--no-daemon", "--port=%d" % port,
         "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv",
         "--no-hosts", "--conf-file=/dev/null", "--local=/moat.test/"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_dns(port, p)
    finally:
        p.terminate()
        p.wait(5)
    # and a server that exits is reported at once
    with pytest.raises(RuntimeError, match="exited"):
        wait_dns(port, p)
