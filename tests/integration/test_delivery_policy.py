"""Where outbound mail may go: a bounce or delay notice (mail from the
null sender, to an address an outsider chose) is not sent to a domain
whose MX hosts are at internal addresses unless the administrator routed
that domain. DNS is dnsmasq on a loopback port; the "internal" servers
are scripted peers on 127.0.0.0/8.
"""
from conftest import free_port
from test_delivery import (delivery_conf, dns, peers,  # noqa: F401
                           queue_empty, submit, wait_for)


def evil_dns(dns, addr):
    """x@evil.example's MX is at addr (an internal address)."""
    return dns(mx=[("evil.example", "mx.evil.example", 10)],
               hosts=[("mx.evil.example", addr)])


def test_bounce_not_sent_to_internal_mx(moat_factory, dns, peers):
    """An outsider sends from evil.example, whose MX is at a loopback
    address, to a routed domain whose server refuses the recipient: the
    bounce is a dead letter, nothing reaches the internal address."""
    port = free_port()
    inside = peers("127.0.0.50", port)
    peers("127.0.0.51", port, replies={"RCPT": "550 5.1.1 no such user"})
    moat = moat_factory(extra=delivery_conf(
        evil_dns(dns, "127.0.0.50"), port,
        "routes = corp.example=[127.0.0.51]:%d\n" % port))
    submit(moat, "nobody@corp.example", sender="x@evil.example",
           source="127.0.0.1")
    assert wait_for(lambda: moat.sql(
        "SELECT count(*) FROM deadletter") == [["1"]]), moat.log()
    row = moat.sql("SELECT sender, recipient, reason FROM deadletter")[0]
    assert row[:2] == ["", "x@evil.example"], row
    assert "internal addresses" in row[2], row
    assert inside.connections == 0 and inside.messages == []
    assert "event=internal_refused domain=evil.example" in moat.log()
    assert wait_for(lambda: queue_empty(moat))


def test_delay_notice_not_sent_to_internal_mx(moat_factory, dns, peers):
    """The same with a delay notice: the routed server keeps saying 451."""
    port = free_port()
    inside = peers("127.0.0.52", port)
    peers("127.0.0.53", port, replies={"RCPT": "451 4.3.0 later"})
    moat = moat_factory(extra=delivery_conf(
        evil_dns(dns, "127.0.0.52"), port,
        "delay_notice = 1\nroutes = corp.example=[127.0.0.53]:%d\n" % port))
    submit(moat, "late@corp.example", sender="x@evil.example",
           source="127.0.0.1")
    assert moat.wait_log("event=delay_dsn", timeout=15), moat.log()
    assert wait_for(lambda: moat.sql(
        "SELECT count(*) FROM deadletter") == [["1"]]), moat.log()
    assert "internal addresses" in moat.sql(
        "SELECT reason FROM deadletter")[0][0]
    assert inside.connections == 0 and inside.messages == []


def test_bounce_to_routed_internal_domain_is_sent(moat_factory, dns, peers):
    """The administrator routed the sender's domain: its bounce goes
    there, internal address or not."""
    port = free_port()
    inside = peers("127.0.0.54", port)
    peers("127.0.0.55", port, replies={"RCPT": "550 5.1.1 no such user"})
    moat = moat_factory(extra=delivery_conf(
        evil_dns(dns, "127.0.0.99"), port,
        "routes = corp.example=[127.0.0.55]:%d\n"
        "    evil.example=[127.0.0.54]:%d\n" % (port, port)))
    submit(moat, "nobody@corp.example", sender="x@evil.example",
           source="127.0.0.1")
    got = inside.wait(1)
    assert len(got) == 1 and got[0][0] == "" and \
        got[0][1] == ["x@evil.example"], moat.log()
    assert wait_for(lambda: queue_empty(moat))
    assert moat.sql("SELECT count(*) FROM deadletter") == [["0"]]


def test_relayed_mail_to_internal_mx_still_goes(moat_factory, dns, peers):
    """Mail with a sender (a relay client's) is not affected."""
    port = free_port()
    inside = peers("127.0.0.56", port)
    moat = moat_factory(extra=delivery_conf(evil_dns(dns, "127.0.0.56"),
                                            port))
    submit(moat, "someone@evil.example")
    assert len(inside.wait(1)) == 1, moat.log()
