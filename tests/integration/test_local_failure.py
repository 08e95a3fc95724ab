"""Local delivery failures: none leaves a recipient stuck in the queue.

A Maildir that can never be written (new/ is a file) fails the recipient
at once: a bounce to the sender, or a dead letter for the null sender,
and an event. One that can be mended (new/ not writable by the queue
process) defers it; once mended it is delivered, once; past
max_lifetime it bounces instead.
"""
import os
import shutil
import smtplib
import subprocess
import time

from conftest import MOAT_BIN

RELAY = "[relay]\nrelay_networks = 127.0.0.2/32\n"


def send(moat, sender, rcpt, subject):
    with smtplib.SMTP("127.0.0.1", moat.port, timeout=10,
                      source_address=("127.0.0.2", 0)) as s:
        s.sendmail(sender, [rcpt],
                   ("Subject: %s\r\n\r\nbody of %s\r\n"
                    % (subject, subject)).encode())


def wait_for(cond, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    return cond()


def ctl(moat, *args):
    r = subprocess.run([MOAT_BIN] + list(args) + ["-c", moat.conf],
                       cwd=moat.dir, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def rcpt_rows(moat):
    return moat.sql("SELECT address, state, last_error FROM recipient")


def break_new(moat, box):
    """Deliver once so the Maildir exists, then make new/ a file."""
    send(moat, "alice@example.org", "%s@example.org" % box, "first")
    assert len(moat.wait_maildir(1, box)) == 1
    new = os.path.join(moat.dir, "var", "mail", box, "new")
    shutil.rmtree(new)
    with open(new, "w") as f:
        f.write("not a directory\n")


def test_permanent_failure_bounces(moat_factory):
    moat = moat_factory(extra=RELAY)
    break_new(moat, "bob")
    send(moat, "alice@example.org", "bob@example.org", "doomed")
    dsn = moat.wait_maildir(1, "alice")
    assert len(dsn) == 1, (rcpt_rows(moat), moat.log()[-3000:])
    text = dsn[0].decode("utf-8", "replace")
    assert "Final-Recipient: rfc822; bob@example.org" in text, text
    assert "Action: failed" in text and "Status: 5.2.0" in text, text
    assert "Not a directory" in text and "Subject: doomed" in text, text
    assert text.startswith("Return-Path: <>"), text
    # the recipient did not stay held: nothing is left in the queue
    assert wait_for(lambda: moat.sql("SELECT count(*) FROM message")
                    == [["0"]]), rcpt_rows(moat)
    assert "status=failed" in moat.log()
    ev = moat.sql("SELECT detail FROM events WHERE type = 'delivery_failed'")
    assert len(ev) == 1 and "to=<bob@example.org>" in ev[0][0], ev


def test_permanent_failure_null_sender_dead_letter(moat_factory):
    moat = moat_factory(extra=RELAY)
    break_new(moat, "bob")
    send(moat, "", "bob@example.org", "from nobody")
    assert wait_for(lambda: moat.sql("SELECT count(*) FROM deadletter")
                    == [["1"]]), (rcpt_rows(moat), moat.log()[-3000:])
    row = moat.sql("SELECT sender, recipient, reason FROM deadletter")[0]
    assert row[0] == "" and row[1] == "bob@example.org", row
    assert "Not a directory" in row[2], row
    assert wait_for(lambda: moat.sql("SELECT count(*) FROM message")
                    == [["0"]]), rcpt_rows(moat)
    assert moat.maildir("alice") == [] and moat.maildir("postmaster") == []


def unwritable_new(moat, box):
    """Deliver once, then take the queue process's write right on new/."""
    send(moat, "alice@example.org", "%s@example.org" % box, "first")
    assert len(moat.wait_maildir(1, box)) == 1
    new = os.path.join(moat.dir, "var", "mail", box, "new")
    os.chmod(new, 0o500)
    return new


def test_temporary_failure_defers_then_delivers_once(moat_factory):
    moat = moat_factory(extra=RELAY)
    new = unwritable_new(moat, "bob")
    send(moat, "alice@example.org", "bob@example.org", "later")
    assert wait_for(lambda: rcpt_rows(moat) and rcpt_rows(moat)[0][1] == "1"), \
        rcpt_rows(moat)
    assert "Permission denied" in rcpt_rows(moat)[0][2]
    os.chmod(new, 0o700)
    ctl(moat, "queue", "retry", "--to", "bob@example.org")
    got = wait_for(lambda: moat.sql("SELECT count(*) FROM message")
                   == [["0"]])
    assert got, (rcpt_rows(moat), moat.log()[-3000:])
    subjects = [m for m in moat.maildir("bob") if b"Subject: later" in m]
    assert len(subjects) == 1
    assert moat.maildir("alice") == []       # no bounce


def test_temporary_failure_past_lifetime_bounces(moat_factory):
    moat = moat_factory(extra=RELAY + "[delivery]\nmax_lifetime = 2\n")
    unwritable_new(moat, "bob")
    send(moat, "alice@example.org", "bob@example.org", "too late")
    assert wait_for(lambda: rcpt_rows(moat) and rcpt_rows(moat)[0][1] == "1"), \
        rcpt_rows(moat)
    time.sleep(2.5)
    ctl(moat, "queue", "retry", "--to", "bob@example.org")
    dsn = moat.wait_maildir(1, "alice")
    assert len(dsn) == 1, (rcpt_rows(moat), moat.log()[-3000:])
    text = dsn[0].decode("utf-8", "replace")
    assert "Status: 4.4.7" in text and "Action: failed" in text, text
    assert wait_for(lambda: moat.sql("SELECT count(*) FROM message")
                    == [["0"]]), rcpt_rows(moat)
