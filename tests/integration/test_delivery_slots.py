"""Outbound connection slots over time: an idle connection's QUIT reads the
221 and closes, a closed connection frees its destination's slot, a
destination that refuses connections is retried with backoff (never a
connection storm), and one slow destination cannot take the slots every
other destination needs. Peers are the scripted SMTP server of
test_delivery.py on 127.0.0.0/8; the mta process's sockets are read from
/proc (CLOSE-WAIT: the peer closed and the mta never noticed).
"""
import os
import smtplib
import time

from conftest import free_port
from test_delivery import (Peer, delivery_conf, dns, peers,  # noqa: F401
                           queue_empty, submit, wait_for)

TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "06": "TIME_WAIT",
              "08": "CLOSE_WAIT", "0A": "LISTEN"}


def mta_pid(moat):
    for pid, comm in moat.children().items():
        if comm == "moat-mta":
            return pid
    raise AssertionError("no moat-mta process: %s" % moat.children())


def tcp_states(pid):
    """State names of pid's TCP sockets."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                w = line.split()
                if w[9] in inodes:
                    out.append(TCP_STATES.get(w[3], w[3]))
    return out


def close_wait(moat):
    return tcp_states(mta_pid(moat)).count("CLOSE_WAIT")


def routed(domains, addr, port):
    """One route a line (continuation lines: a config line is short)."""
    return "routes = %s\n" % "\n    ".join(
        "%s=[%s]:%d" % (d, addr, port) for d in domains)


def outside(moat, rcpts):
    """Mail from outside for routed domains (accepted, then relayed)."""
    return submit(moat, rcpts, sender="x@outside.example", source="127.0.0.1")


def test_idle_quit_frees_the_only_slot(moat_factory, dns, peers):
    """max_connections_per_dest = 1: the connection that delivered the
    first message goes idle and quits; the second message, seconds later,
    still gets a connection."""
    port = free_port()
    peer = peers("127.0.0.40", port)
    moat = moat_factory(extra=delivery_conf(
        dns(), port, "max_connections_per_dest = 1\n" +
        routed(["corp.example"], "127.0.0.40", port)))
    outside(moat, "one@corp.example")
    assert len(peer.wait(1)) == 1, moat.log()
    # the idle QUIT, its 221, and the connection closed on both sides
    assert wait_for(lambda: "event=disconnect relay=127.0.0.40" in moat.log(),
                    timeout=6), moat.log()
    assert 'reason="quit"' in moat.log().split(
        "event=disconnect relay=127.0.0.40")[1].split("\n")[0]
    assert "QUIT" in peer.commands
    time.sleep(0.5)
    assert close_wait(moat) == 0, tcp_states(mta_pid(moat))
    outside(moat, "two@corp.example")
    got = peer.wait(2, timeout=8)
    assert len(got) == 2, moat.log()
    assert wait_for(lambda: queue_empty(moat))


def test_one_slot_serves_two_domains_in_a_row(moat_factory, dns, peers):
    """max_connections = 1 and two routed domains: the second domain's
    message waits for the one slot, and the idle connection of the first
    gives it up at once."""
    port = free_port()
    peer = peers("127.0.0.41", port)
    moat = moat_factory(extra=delivery_conf(
        dns(), port, "max_connections = 1\n" +
        routed(["a.example", "b.example"], "127.0.0.41", port)))
    outside(moat, "one@a.example")
    assert len(peer.wait(1)) == 1, moat.log()
    t0 = time.time()
    outside(moat, "two@b.example")
    got = peer.wait(2, timeout=8)
    assert len(got) == 2, moat.log()
    assert time.time() - t0 < 4, "the idle connection held the only slot"
    assert wait_for(lambda: queue_empty(moat))
    assert wait_for(lambda: close_wait(moat) == 0, timeout=5)


def test_many_routed_domains_few_connections(moat_factory, dns, peers):
    """30 routed domains, 4 connections in all, mail in three rounds with
    idle gaps between them: every message is delivered, no socket is left
    half closed."""
    port = free_port()
    peer = peers("127.0.0.42", port)
    domains = ["d%02d.example" % i for i in range(30)]
    moat = moat_factory(extra=delivery_conf(
        dns(), port, "max_connections = 4\n" +
        routed(domains, "127.0.0.42", port)))
    want = 0
    for rnd in range(3):
        outside(moat, ["r%d@%s" % (rnd, d) for d in domains])
        want += len(domains)
        got = wait_for(lambda: sum(len(m[1]) for m in peer.messages) >= want,
                       timeout=20)
        assert got, "round %d: %d of %d delivered\n%s" % (
            rnd, sum(len(m[1]) for m in peer.messages), want, moat.log())
        time.sleep(2.5)         # idle connections quit
    assert wait_for(lambda: queue_empty(moat))
    assert wait_for(lambda: close_wait(moat) == 0, timeout=5), \
        tcp_states(mta_pid(moat))


def test_deferred_queue_delivered_when_smarthost_returns(moat_factory, dns,
                                                         peers):
    """The smarthost is down while two batches arrive; when it is back,
    the retries come in waves with idle time between them: every message
    is delivered, the later wave too."""
    port = free_port()
    moat = moat_factory(extra=delivery_conf(
        dns(), port, "smarthost = [127.0.0.43]:%d\n"
        "max_connections_per_dest = 1\n" % port)
        .replace("retry_min = 1\n", "retry_min = 5\n")
        .replace("retry_max = 2\n", "retry_max = 5\n"))
    for i in range(3):
        submit(moat, "a%d@far.example" % i)
    assert wait_for(lambda: moat.sql(
        "SELECT count(*) FROM recipient WHERE attempts >= 1") == [["3"]]), \
        moat.log()
    time.sleep(3.5)
    for i in range(3):
        submit(moat, "b%d@far.example" % i)
    assert wait_for(lambda: moat.sql(
        "SELECT count(*) FROM recipient WHERE attempts >= 1") == [["6"]]), \
        moat.log()
    peer = peers("127.0.0.43", port)
    got = peer.wait(6, timeout=20)
    assert len(got) == 6, moat.log()
    assert wait_for(lambda: queue_empty(moat))


def attempts_in(moat, window):
    """Connection attempts (failed hops) logged during window seconds."""
    before = moat.log().count("event=hop_failed")
    time.sleep(window)
    return moat.log().count("event=hop_failed") - before


def test_refused_after_idle_quit_is_deferred_not_stormed(moat_factory, dns,
                                                         peers):
    """The destination stops listening after its idle connection quit: the
    next message costs one connection attempt, is deferred with the
    reason, and the destination is marked down."""
    port = free_port()
    peer = peers("127.0.0.44", port)
    moat = moat_factory(extra=delivery_conf(
        dns(), port, routed(["corp.example"], "127.0.0.44", port))
        .replace("retry_min = 1\n", "retry_min = 60\n")
        .replace("retry_max = 2\n", "retry_max = 60\n"))
    outside(moat, "one@corp.example")
    assert len(peer.wait(1)) == 1
    time.sleep(3)
    peer.close()
    outside(moat, "two@corp.example")
    assert attempts_in(moat, 2) <= 2, moat.log()[-3000:]
    assert moat.log().count("event=hop_failed") <= 2
    assert moat.wait_log("event=destination_down domain=corp.example")
    rows = moat.sql("SELECT state, attempts, last_error FROM recipient")
    assert len(rows) == 1 and rows[0][0] == "1" and rows[0][1] == "1", rows
    assert "Connection refused" in rows[0][2], rows


def test_refused_while_a_transaction_hangs_backs_off(moat_factory, dns,
                                                     peers):
    """One connection is stuck in a transaction when the destination
    stops accepting new ones: new connections are tried with backoff, not
    in a loop, and the waiting message is deferred once nothing is left."""
    port = free_port()
    hang = peers("127.0.0.45", port, hang_dot=True)
    moat = moat_factory(extra=delivery_conf(
        dns(), port, "timeout_client = 2\n" +
        routed(["corp.example"], "127.0.0.45", port))
        .replace("retry_min = 1\n", "retry_min = 60\n")
        .replace("retry_max = 2\n", "retry_max = 60\n"))
    outside(moat, "one@corp.example")
    assert wait_for(lambda: "DATA" in hang.commands)
    hang.close()
    outside(moat, "two@corp.example")
    assert attempts_in(moat, 2) <= 4, moat.log()[-3000:]
    # the stuck transaction times out (twice timeout_client): both deferred
    assert wait_for(lambda: moat.sql(
        "SELECT count(*) FROM recipient WHERE state = 1 AND attempts = 1")
        == [["2"]], timeout=15), (moat.sql(
            "SELECT address, state, attempts, last_error FROM recipient"),
            moat.log()[-3000:])
    assert moat.log().count("event=hop_failed") <= 8


def test_slow_destination_does_not_starve_the_others(moat_factory, dns,
                                                     peers):
    """A next hop that takes a second for each reply, with many messages
    waiting for it, and 4 connections in all: mail for another domain is
    still delivered at once, not after a slow transaction."""
    port = free_port()
    slow = peers("127.0.0.46", port, delay=1.0)
    fast = peers("127.0.0.47", port)
    moat = moat_factory(extra=delivery_conf(
        dns(), port, "max_connections = 4\nmax_connections_per_dest = 4\n"
        + routed(["slow.example"], "127.0.0.46", port)
        + "\n    fast.example=[127.0.0.47]:%d\n" % port))
    with smtplib.SMTP("127.0.0.1", moat.port) as s:
        s.ehlo("client.example")
        for i in range(40):
            s.sendmail("x@outside.example", ["s%d@slow.example" % i],
                       "Subject: slow %d\r\n\r\nbody\r\n" % i)
    assert wait_for(lambda: slow.connections >= 3), moat.log()
    time.sleep(0.5)
    t0 = time.time()
    outside(moat, "quick@fast.example")
    got = fast.wait(1, timeout=15)
    took = time.time() - t0
    assert len(got) == 1, moat.log()
    assert took < 3, "the fast domain waited %.1f s" % took
    assert slow.messages == [] or len(slow.messages) < 40
