"""Queue operations of the other MTAs: requeue after a route change
(postsuper -r), pause and resume delivery per destination or for all
(smtpctl pause mta), dead letters listed and put back into the queue.

A real moat delivers to the scripted SMTP servers of test_delivery.py on
loopback (127.0.0.22-25); retry_min is an hour, so nothing is retried on
its own while a test runs: what moves, moves because of the command.
"""
import json
import signal
import time

from conftest import free_port
from test_control import ctl, ctlj
from test_delivery import dns, peers, submit, wait_for  # noqa: F401

HOUR = "retry_min = 3600\nretry_max = 7200\n"


def conf(srv, extra):
    return ("[relay]\nrelay_networks = 127.0.0.2/32\n"
            "[delivery]\ndns_server = %s\ntest_smtp_port = %d\n%s%s"
            "[log]\ndelivery = debug\n" % (srv, free_port(), HOUR, extra))


def states(m, domain):
    return sorted(r[0] for r in m.sql(
        "SELECT state FROM recipient WHERE domain = '%s'" % domain))


def reload(m, old, new):
    with open(m.conf) as f:
        text = f.read()
    assert old in text
    with open(m.conf, "w") as f:
        f.write(text.replace(old, new))
    n = m.log().count("cat=queue event=reloaded")
    m.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: m.log().count("cat=queue event=reloaded") > n)
    time.sleep(0.3)        # the mta applies it too


def test_requeue_sends_deferred_mail_by_the_new_route(moat_factory, dns,
                                                      peers):
    """corp.example moves from a server that defers to another one: after
    the reload, `requeue` sends the deferred mail to the new one now
    (without it, the next attempt would be in an hour, to the new route)."""
    port_a, port_b = free_port(), free_port()
    old = peers("127.0.0.22", port_a, replies={"RCPT": "451 4.3.0 later"})
    new = peers("127.0.0.23", port_b)
    m = moat_factory(extra=conf(dns(), "routes = corp.example=[127.0.0.22]:%d\n"
                                % port_a))
    submit(m, ["one@corp.example", "two@corp.example"],
           sender="x@outside.example", source="127.0.0.1")
    assert wait_for(lambda: states(m, "corp.example") == ["1", "1"]), m.log()
    reload(m, "[127.0.0.22]:%d" % port_a, "[127.0.0.23]:%d" % port_b)
    # a dry run counts and changes nothing
    out = ctlj(m, "queue", "requeue", "--to-domain", "corp.example",
               "--dry-run")
    assert out["requeue"][0]["messages"] == 1
    assert out["requeue"][0]["dry_run"] == 1
    time.sleep(1)
    assert new.messages == [] and states(m, "corp.example") == ["1", "1"]
    rc, text, _ = ctl(m, "queue", "requeue", "--to-domain", "corp.example")
    assert rc == 0 and "requeued 1 message (2 recipients due now" in text
    got = new.wait(1)
    assert len(got) == 1 and sorted(got[0][1]) == [
        "one@corp.example", "two@corp.example"], m.log()
    assert wait_for(lambda: m.sql("SELECT count(*) FROM message") == [["0"]])
    assert old.messages == []
    ev = ctlj(m, "events", "--type", "admin_queue")["events"]
    assert any("op=requeue" in e["detail"] for e in ev), ev


def test_requeue_routes_mail_of_a_domain_made_local(moat_factory, dns, peers):
    """A routed domain becomes local (its mailboxes move here): requeue
    sends its waiting mail to the Maildir the configuration names."""
    port = free_port()
    peers("127.0.0.22", port, replies={"RCPT": "451 4.3.0 later"})
    m = moat_factory(extra=conf(dns(), "routes = moved.example=[127.0.0.22]:%d\n"
                                % port))
    submit(m, "bob@moved.example", sender="x@outside.example",
           source="127.0.0.1")
    assert wait_for(lambda: states(m, "moved.example") == ["1"]), m.log()
    with open(m.conf) as f:
        text = f.read()
    text = text.replace("routes = moved.example=[127.0.0.22]:%d\n" % port, "")
    with open(m.conf, "w") as f:
        f.write(text)
    reload(m, "local_domains = localhost, example.org",
           "local_domains = localhost, example.org, moved.example")
    out = ctlj(m, "queue", "requeue", "--to", "bob@moved.example")
    assert out["requeue"][0]["rerouted"] == 1, out
    got = m.wait_maildir(1, "bob")
    assert len(got) == 1 and b"bob@moved.example" in got[0], m.log()


def test_pause_and_resume_a_destination(moat_factory, dns, peers):
    port = free_port()
    peer = peers("127.0.0.24", port)
    m = moat_factory(extra=conf(
        dns(), "routes = p1.example=[127.0.0.24]:%d, "
        "p2.example=[127.0.0.24]:%d\n" % (port, port)))
    rc, text, _ = ctl(m, "queue", "pause", "P1.example", "--reason",
                      "their server is being moved")
    assert rc == 0 and "paused" in text
    # mail for it is still accepted and queued; the others go
    submit(m, "a@p1.example", sender="x@outside.example", source="127.0.0.1")
    submit(m, "b@p2.example", sender="x@outside.example", source="127.0.0.1")
    got = peer.wait(1)
    assert [g[1] for g in got] == [["b@p2.example"]]
    time.sleep(2)
    assert len(peer.messages) == 1 and states(m, "p1.example") == ["0"]
    summary = ctlj(m, "queue")
    assert [(p["paused"], p["waiting"], p["reason"]) for p in
            summary["paused"]] == [("p1.example", 1,
                                    "their server is being moved")]
    rc, text, _ = ctl(m, "queue")
    assert "p1.example" in text and "paused" in text
    # kept across a restart
    assert m.stop() == 0
    m.start()
    time.sleep(2)
    assert len(peer.messages) == 1
    assert [p["paused"] for p in ctlj(m, "queue")["paused"]] == ["p1.example"]
    rc, _, err = ctl(m, "queue", "resume", "p2.example")
    assert rc == 1 and "not paused" in err
    # a local domain has no delivery to pause: said, nothing recorded
    rc, _, err = ctl(m, "queue", "pause", "Example.ORG")
    assert rc != 0 and "example.org is a local domain" in err.lower(), err
    assert [p["paused"] for p in ctlj(m, "queue")["paused"]] == ["p1.example"]
    ctl(m, "queue", "resume", "p1.example", check=0)
    got = peer.wait(2)
    assert [g[1] for g in got][1] == ["a@p1.example"], m.log()
    assert "paused" not in ctlj(m, "queue")
    ev = [e["type"] for e in ctlj(m, "events", "--limit", "50")["events"]]
    assert "queue_pause" in ev and "queue_resume" in ev


def test_pause_all(moat_factory, dns, peers):
    port = free_port()
    peer = peers("127.0.0.25", port)
    m = moat_factory(extra=conf(dns(), "routes = p3.example=[127.0.0.25]:%d\n"
                                % port))
    ctl(m, "queue", "pause", "--all", check=0)
    submit(m, "a@p3.example", sender="x@outside.example", source="127.0.0.1")
    submit(m, "alice@example.org", sender="x@outside.example",
           source="127.0.0.1")
    # local delivery goes on; nothing leaves
    assert len(m.wait_maildir(1, "alice")) == 1
    time.sleep(2)
    assert peer.messages == []
    out = ctlj(m, "queue")
    assert out["paused"][0]["paused"] == "all destinations"
    assert out["paused"][0]["waiting"] == 1
    ctl(m, "queue", "resume", "--all", check=0)
    assert len(peer.wait(1)) == 1
    # usage: a destination is needed, and '*' is spelled --all
    assert ctl(m, "queue", "pause")[0] == 2
    assert ctl(m, "queue", "pause", "*")[0] == 2


def test_deadletter_list_and_reinject(moat_factory, dns, peers):
    port = free_port()
    peer = peers("127.0.0.22", port, replies={"RCPT": "550 5.1.1 no"})
    m = moat_factory(extra=conf(dns(), "routes = gone.example=[127.0.0.22]:%d\n"
                                % port))
    submit(m, "bob@gone.example", sender="")
    assert wait_for(lambda: m.sql(
        "SELECT count(*) FROM deadletter") == [["1"]]), m.log()
    dead = ctlj(m, "queue", "deadletter", "list")["deadletters"]
    assert len(dead) == 1 and dead[0]["to"] == "bob@gone.example"
    assert "550 5.1.1" in dead[0]["reason"]
    qid = dead[0]["qid"]
    # only dead letters go back; a filter (or --all) is needed
    assert ctl(m, "queue", "reinject", "--all")[0] == 2
    assert ctl(m, "queue", "deadletter", "reinject")[0] == 2
    out = ctlj(m, "queue", "deadletter", "reinject", qid, "--dry-run")
    assert out["result"][0]["messages"] == 1
    assert m.sql("SELECT count(*) FROM deadletter") == [["1"]]
    # the server takes it now
    peer.replies = {}
    rc, text, _ = ctl(m, "queue", "deadletter", "reinject", qid)
    assert rc == 0 and "put back into the queue 1 message (1 recipient)" in text, text
    got = peer.wait(1)
    assert len(got) == 1 and got[0][0] == "" and \
        got[0][1] == ["bob@gone.example"], m.log()
    assert m.sql("SELECT count(*) FROM deadletter") == [["0"]]
    assert wait_for(lambda: m.sql("SELECT count(*) FROM message") == [["0"]])
    assert "event=deadletter_reinjected" in m.log()
    ev = ctlj(m, "events", "--type", "admin_queue")["events"]
    assert any("op=reinject" in e["detail"] and "deadletters=1" in e["detail"]
               for e in ev), ev
    # nothing left: a second reinject finds nothing
    out = json.loads(ctl(m, "queue", "deadletter", "reinject", "--all",
                         "--json")[1])
    assert out["result"][0]["messages"] == 0
