"""Queue operations of the other MTAs: requeue after a route change
(postsuper -r), pause and resume delivery per destination or for all
(smtpctl pause mta), dead letters listed and put back into the queue.

A real moat delivers to the scripted SMTP servers of test_delivery.py on
loopback (127.0.0.22-25); retry_min is an hour, so nothing is retried on
its own while a test runs: what moves, moves because of the command.
"""
import email
import email.policy
import json
import os
import signal
import subprocess
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


def metric(port, name):
    from test_metrics import samples, scrape
    return samples(scrape(port)[1]).get(name)


def sub_send(m, rcpts, subject="to bounce"):
    """alice sends on the submission listener; the queue id."""
    from submission import PASSWORD, USER, sub_session
    msg = ("From: <alice@example.org>\r\nTo: <%s>\r\nSubject: %s\r\n"
           "Message-ID: <b%f@example.org>\r\n\r\nthe body\r\n"
           % (rcpts[0], subject, time.time()))
    with sub_session(m, "127.0.0.1") as s:
        s.login(USER, PASSWORD)
        s.sendmail("alice@example.org", rcpts, msg)
    return m.wait_sql("SELECT qid FROM message WHERE sender = "
                      "'alice@example.org'", m.sql(
                          "SELECT qid FROM message LIMIT 1"))[-1][0]


def bounce_moat(moat_factory, dns, extra=""):
    from submission import LISTENERS, PASSWORD, USER
    port = free_port()
    m = moat_factory(extra=conf(dns(), "routes = remote.test=[127.0.0.22]:%d"
                                "\n" % free_port()) +
                     "[control]\nmetrics_listen = 127.0.0.1:%d\n" % port +
                     extra, listeners=LISTENERS, users={USER: PASSWORD})
    ctl(m, "queue", "pause", "remote.test", check=0)
    return m, port


def dsn_of(mail):
    """The report of a DSN: (its whole text, the delivery-status part)."""
    msg = email.message_from_bytes(mail, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/report", mail
    assert msg.get_param("report-type") == "delivery-status"
    parts = list(msg.iter_parts())
    status = [p for p in parts
              if p.get_content_type() == "message/delivery-status"]
    assert len(status) == 1, mail
    return mail.decode("utf-8", "replace"), status[0].as_string()


def test_bounce_returns_the_message_to_its_sender(moat_factory, dns):
    """`queue bounce` sends the sender a DSN as a permanent failure does,
    and the message leaves the queue (and the queue's metrics)."""
    m, port = bounce_moat(moat_factory, dns)
    qid = sub_send(m, ["bq@remote.test", "bq2@remote.test"])
    assert m.wait_sql("SELECT state FROM recipient", [["0"], ["0"]]) == \
        [["0"], ["0"]], m.log()
    assert wait_for(lambda: metric(port, "moat_queue_messages") == 1)
    # a dry run counts what would go, and changes nothing
    out = ctlj(m, "queue", "bounce", qid, "--dry-run")["result"][0]
    assert (out["messages"], out["recipients"]) == (1, 2), out
    assert m.sql("SELECT state FROM recipient") == [["0"], ["0"]]
    rc, text, _ = ctl(m, "queue", "bounce", qid)
    assert rc == 0 and "returned to sender 1 message (2 recipients)" \
        in text, text
    # gone at once: the DSN and the deletion were one transaction
    assert m.sql("SELECT count(*) FROM message WHERE qid = '%s'" % qid) == \
        [["0"]]
    got = m.wait_maildir(1, "alice")
    assert len(got) == 1, m.log()
    whole, status = dsn_of(got[0])
    assert "Subject: to bounce" in whole       # the original, returned
    for rcpt in ("bq@remote.test", "bq2@remote.test"):
        assert "Final-Recipient: rfc822; %s" % rcpt in status, status
    assert status.count("Action: failed") == 2
    assert "Status: 5.0.0" in status
    assert "returned to the sender by the administrator" in status
    assert wait_for(lambda: m.sql("SELECT count(*) FROM message") ==
                    [["0"]]), m.log()
    assert ctlj(m, "queue", "list", "--all").get("messages", []) == []
    assert wait_for(lambda: metric(port, "moat_queue_messages") == 0)
    assert metric(port, "moat_queue_oldest_message_age_seconds") == 0
    assert "qid=%s event=bounce" % qid in m.log()
    ev = ctlj(m, "events", "--type", "admin_queue")["events"]
    assert any("op=bounce" in e["detail"] and "messages=1" in e["detail"]
               for e in ev), ev
    # nothing left to bounce
    out = ctlj(m, "queue", "bounce", "--all")["result"][0]
    assert (out["messages"], out["recipients"]) == (0, 0)


def test_bounce_by_filter_null_sender_and_remote_sender(moat_factory, dns):
    """The filters select as for the other actions; mail from <> becomes a
    dead letter (never bounced), a remote sender's bounce goes by its
    route; what the filter leaves stays queued as it was."""
    m, _ = bounce_moat(moat_factory, dns)
    for d in ("other.test", "outside.example"):
        ctl(m, "queue", "pause", d, check=0)
    submit(m, "z@remote.test", sender="")
    submit(m, "y@remote.test", sender="x@outside.example", subject="far")
    submit(m, "k@other.test", sender="alice@example.org")
    assert m.wait_sql("SELECT count(*) FROM recipient WHERE state = 0",
                      [["3"]]) == [["3"]], m.log()
    out = ctlj(m, "queue", "bounce", "--to-domain", "remote.test",
               "--dry-run")["result"][0]
    assert (out["messages"], out["recipients"]) == (2, 2), out
    out = ctlj(m, "queue", "bounce", "--from", "<>", "--dry-run")["result"][0]
    assert (out["messages"], out["recipients"]) == (1, 1), out
    assert m.sql("SELECT count(*) FROM recipient WHERE state = 0") == [["3"]]
    rc, text, _ = ctl(m, "queue", "bounce", "--to-domain", "remote.test")
    assert rc == 0 and "returned to sender 2 messages (2 recipients)" \
        in text, text
    dead = ctlj(m, "queue", "deadletter", "list")["deadletters"]
    assert [(d["from"], d["to"]) for d in dead] == [
        ("", "z@remote.test")], dead
    assert "administrator" in dead[0]["reason"]
    # the DSN to the remote sender waits for outside.example
    left = ctlj(m, "queue", "list", "--all")["messages"]
    assert sorted((r["from"], r["to"]) for r in left) == [
        ("", "x@outside.example"), ("alice@example.org", "k@other.test")], left
    bq = [r["qid"] for r in left if r["from"] == ""][0]
    _, text, _ = ctl(m, "queue", "show", bq, "--body")
    assert "Action: failed" in text and "Final-Recipient: rfc822; " \
        "y@remote.test" in text and "Subject: far" in text, text
    assert ctlj(m, "queue", "list", "--to-domain", "remote.test").get(
        "messages", []) == []
    assert m.maildir("alice") == []


def test_bounce_survives_kill9(moat_factory, dns):
    """kill -9 right after the answer: the DSN was queued with the
    message's end, so it arrives once after the restart, and the
    message does not come back."""
    m, _ = bounce_moat(moat_factory, dns)
    qid = sub_send(m, ["bq@remote.test"])
    # local delivery of the DSN stops with the daemon
    rc, text, _ = ctl(m, "queue", "bounce", qid)
    m.kill9()
    assert rc == 0 and "returned to sender 1 message" in text, text
    assert m.sql("SELECT count(*) FROM message WHERE qid = '%s'" % qid) == \
        [["0"]]
    m.start()
    got = m.wait_maildir(1, "alice")
    assert len(got) == 1, m.log()
    assert "Final-Recipient: rfc822; bq@remote.test" in dsn_of(got[0])[1]
    assert wait_for(lambda: m.sql("SELECT count(*) FROM message") ==
                    [["0"]]), m.log()
    out = ctlj(m, "queue", "bounce", "--all")["result"][0]
    assert out["messages"] == 0
    time.sleep(0.5)
    assert len(m.maildir("alice")) == 1


def test_dry_runs_count_what_the_action_changes(moat_factory, dns, peers):
    """A message with a failed recipient and a deferred one: the dry runs
    of requeue, retry and hold count the one recipient the real run
    changes, not every recipient of the message; the summary tells the
    failed recipient's attempt and error as the list does."""
    pf, pd = free_port(), free_port()
    peers("127.0.0.22", pf, replies={"RCPT": "550 5.1.1 no such user"})
    peers("127.0.0.23", pd, replies={"RCPT": "451 4.3.0 later"})
    m = moat_factory(extra=conf(dns(), "routes = f.example=[127.0.0.22]:%d, "
                                "d.example=[127.0.0.23]:%d\n" % (pf, pd)))
    submit(m, ["a@f.example", "b@d.example"])
    assert wait_for(lambda: sorted(states(m, "f.example") +
                                   states(m, "d.example")) == ["1", "4"]), \
        m.log()
    for action in ("requeue", "retry", "hold"):
        out = ctlj(m, "queue", action, "--to-domain", "d.example",
                   "--dry-run")
        row = out["requeue" if action == "requeue" else "result"][0]
        assert (row["messages"], row["recipients"]) == (1, 1), (action, out)
    assert states(m, "d.example") == ["1"]
    # the summary and the list agree on the failed recipient
    summ = {d["domain"]: d for d in ctlj(m, "queue")["summary"]}
    f = summ["f.example"]
    assert f["failed"] == 1 and f["attempts"] == 1, f
    assert "550 5.1.1 no such user" in f["last_error"], f
    lst = ctlj(m, "queue", "list", "--to", "a@f.example")["messages"][0]
    assert lst["attempts"] == f["attempts"], lst
    assert "451 4.3.0 later" in summ["d.example"]["last_error"], summ
    out = ctlj(m, "queue", "requeue", "--to-domain", "d.example")
    assert out["requeue"][0]["recipients"] == 1, out


def test_bounce_of_an_earlier_version_is_sent_at_start(moat_factory, dns):
    """An earlier `queue bounce` only marked the recipients failed (no DSN,
    the message stayed for good): at start they are bounced now."""
    m, port = bounce_moat(moat_factory, dns)
    sub_send(m, ["old@remote.test"])
    assert m.stop() == 0
    subprocess.run(["sqlite3", os.path.join(m.dir, "var", "spool",
                                            "queue.db"),
                    "UPDATE recipient SET state = 4, last_error = "
                    "'5.0.0 returned by the administrator'"], check=True)
    m.start()
    got = m.wait_maildir(1, "alice")
    assert len(got) == 1, m.log()
    assert "Final-Recipient: rfc822; old@remote.test" in dsn_of(got[0])[1]
    assert "event=stranded_bounced messages=1 recipients=1" in m.log()
    assert wait_for(lambda: m.sql("SELECT count(*) FROM message") ==
                    [["0"]]), m.log()
    assert wait_for(lambda: metric(port, "moat_queue_messages") == 0)
    # once only
    assert m.stop() == 0
    m.start()
    time.sleep(0.5)
    assert len(m.maildir("alice")) == 1
