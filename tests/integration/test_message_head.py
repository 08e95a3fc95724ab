"""The header section is held to the dot and the body streamed: the
stored message is what the client sent, whatever its size, and the id in
our Received field is the queue id the client was told."""
import re
import smtplib


def send(moat, msg, to="postmaster@localhost"):
    with smtplib.SMTP("127.0.0.1", moat.port) as s:
        s.ehlo("client.example")
        s.mail("sender@outside.example")
        s.rcpt(to)
        return s.data(msg)


def test_received_id_is_the_queue_id(moat):
    code, reply = send(moat, b"Subject: id\r\n\r\nbody\r\n")
    assert code == 250
    qid = re.search(rb"queued as ([0-9a-f]{12})", reply).group(1)
    m = moat.wait_maildir(1)[0]
    assert re.search(rb"with ESMTP id " + qid + rb"[;\n]", m), m[:400]
    # the queue names the same id in its log line for the message
    moat.wait_log("qid=%s from=<sender@outside.example>" % qid.decode())


def test_two_messages_get_two_ids(moat):
    ids = set()
    with smtplib.SMTP("127.0.0.1", moat.port) as s:
        for i in range(2):
            s.ehlo("client.example")
            s.sendmail("a@outside.example", ["postmaster@localhost"],
                       b"Subject: %d\r\n\r\nx\r\n" % i)
    for m in moat.wait_maildir(2):
        ids.add(re.search(rb"id ([0-9a-f]{12})", m).group(1))
    assert len(ids) == 2


def test_large_body_keeps_headers_and_order(moat):
    body = b"".join(b"line %07d %s\r\n" % (i, b"x" * 60) for i in range(40000))
    head = b"Subject: large\r\nX-Order: 1\r\n\r\n"
    code, _ = send(moat, head + body)
    assert code == 250
    m = moat.wait_maildir(1, timeout=30)[0]
    lf_head = head.replace(b"\r\n", b"\n")
    lf_body = body.replace(b"\r\n", b"\n")
    i = m.index(b"Subject: large\n")
    assert m[i:i + len(lf_head)] == lf_head
    assert m.endswith(lf_body)


def test_message_without_empty_line_is_kept_whole(moat):
    code, _ = send(moat, b"Subject: x\r\nthis line is not a header\r\nend\r\n")
    assert code == 250
    m = moat.wait_maildir(1)[0]
    assert m.endswith(b"Subject: x\nthis line is not a header\nend\n")


def test_header_section_over_the_cap_is_refused(moat):
    line = b"X-Filler: " + b"a" * 900 + b"\r\n"
    msg = line * 1300 + b"\r\nbody\r\n"         # ~1.2 MB of header fields
    code, reply = send(moat, msg)
    assert code == 552
    assert b"5.3.4 Header section" in reply
    moat.wait_log('reason="header section too big"')
    # the session goes on: the next message is taken
    code, _ = send(moat, b"Subject: after\r\n\r\nok\r\n")
    assert code == 250
