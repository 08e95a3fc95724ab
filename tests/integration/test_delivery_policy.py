"""Where outbound mail may go: a bounce or delay notice (mail from the
null sender, to an address an outsider chose) is not sent to a domain
whose MX hosts are at internal addresses unless the administrator routed
that domain. DNS is dnsmasq on a loopback port; the "internal" servers
are scripted peers on 127.0.0.0/8.
"""
import subprocess

from conftest import MOAT_BIN, free_port
from test_delivery import (auth_file, delivery_conf, dns,  # noqa: F401
                           peers, queue_empty, smarthost_conf, submit,
                           private_ca, wait_for)


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
    there, internal address or not. (The sender is a relay client: an
    outsider may not use a routed domain as its sender.)"""
    port = free_port()
    inside = peers("127.0.0.54", port)
    peers("127.0.0.55", port, replies={"RCPT": "550 5.1.1 no such user"})
    moat = moat_factory(extra=delivery_conf(
        evil_dns(dns, "127.0.0.99"), port,
        "routes = corp.example=[127.0.0.55]:%d\n"
        "    evil.example=[127.0.0.54]:%d\n" % (port, port)))
    submit(moat, "nobody@corp.example", sender="x@evil.example")
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


# --- smarthost credentials go only to a verified smarthost ---

def test_smarthost_credentials_not_sent_to_untrusted_cert(
        moat_factory, dns, peers, tls_files, private_ca, tmp_path):
    """The smarthost presents a certificate no configured CA signed: no
    AUTH, no mail, deferred with the reason."""
    port = free_port()
    peer = peers("127.0.0.60", port, tls=tls_files, auth=("u", "secret"))
    path = auth_file(tmp_path, "u:secret\n")
    moat = moat_factory(extra=smarthost_conf(dns(), port, "127.0.0.60", path,
                                             private_ca))
    submit(moat, "bob@far.example")
    assert wait_for(lambda: "status=deferred" in moat.log()), moat.log()
    assert peer.auths == [] and peer.messages == []
    assert not any(c.upper().startswith(("AUTH", "MAIL"))
                   for c in peer.commands), peer.commands
    assert "certificate verify failed" in moat.log()
    assert moat.sql("SELECT state, attempts FROM recipient") == [["1", "1"]]


def test_smarthost_credentials_need_a_matching_name(
        moat_factory, dns, peers, private_ca, tmp_path):
    """The certificate chains to the CA but names other addresses."""
    port = free_port()
    peer = peers("127.0.0.99", port, tls=private_ca.files, auth=("u", "secret"))
    path = auth_file(tmp_path, "u:secret\n")
    moat = moat_factory(extra=smarthost_conf(dns(), port, "127.0.0.99", path,
                                             private_ca))
    submit(moat, "bob@far.example")
    assert wait_for(lambda: "status=deferred" in moat.log()), moat.log()
    assert peer.auths == [] and peer.messages == []


def test_smarthost_tls_verify_off_is_explicit_and_warned(
        moat_factory, dns, peers, tls_files, tmp_path):
    """smarthost_tls_verify = no: the administrator's choice, delivered
    to the self-signed smarthost, and check-config says what it costs."""
    port = free_port()
    peer = peers("127.0.0.61", port, tls=tls_files, auth=("u", "secret"))
    path = auth_file(tmp_path, "u:secret\n")
    moat = moat_factory(extra=smarthost_conf(
        dns(), port, "127.0.0.61", path).replace(
            "[delivery]\n", "[delivery]\nsmarthost_tls_verify = no\n"))
    submit(moat, "bob@far.example")
    assert len(peer.wait(1)) == 1, moat.log()
    assert peer.auths == [("PLAIN", "u", "secret", True)]
    r = subprocess.run([MOAT_BIN, "check-config", "-c", moat.conf],
                       cwd=moat.dir, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "warning: smarthost_tls_verify = no" in r.stderr, r.stderr
    # and without the knob, no such warning
    with open(moat.conf) as f:
        text = f.read()
    with open(moat.conf, "w") as f:
        f.write(text.replace("smarthost_tls_verify = no\n", ""))
    r = subprocess.run([MOAT_BIN, "check-config", "-c", moat.conf],
                       cwd=moat.dir, capture_output=True, text=True)
    assert r.returncode == 0 and "smarthost_tls_verify" not in r.stderr
    assert "smarthost_tls_verify = yes" in r.stdout


def test_bad_tls_ca_file_is_refused(moat_factory, tmp_path):
    bad = tmp_path / "notca.pem"
    bad.write_text("not a certificate\n")
    moat = moat_factory(extra="[delivery]\ntls_ca_file = %s\n" % bad,
                        start=False)
    r = subprocess.run([MOAT_BIN, "check-config", "-c", moat.conf],
                       cwd=moat.dir, capture_output=True, text=True)
    assert r.returncode == 1 and "tls_ca_file" in r.stderr, r.stderr
