"""A client of the submission listener, for the tests of AUTH and what
follows it: a daemon with these LISTENERS and USERS, sub_session for a
session in TLS from a chosen loopback address, plain for AUTH PLAIN."""
import base64
import smtplib
import ssl

USER, PASSWORD = "alice", "correct horse"
LISTENERS = [("mx", "mx", ""), ("sub", "submission", "")]


def plain(user, password):
    """The argument of AUTH PLAIN for user and password."""
    return base64.b64encode(b"\0" + user.encode() + b"\0"
                            + password.encode()).decode()


def tls_context():
    """A client context that takes the test certificate."""
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def sub_session(m, src, timeout=15):
    """A session on m's submission listener from src, after STARTTLS and
    EHLO again."""
    s = smtplib.SMTP("127.0.0.1", m.ports["sub"], timeout=timeout,
                     source_address=(src, 0))
    s.ehlo("client.example")
    s.starttls(context=tls_context())
    s.ehlo("client.example")
    return s
