"""The server's certificates: reload, SNI, RSA and ECDSA, tickets, versions.

A reload (SIGHUP) that swaps the certificate leaves a session that is
already in TLS, and one whose handshake has not begun, on the old
certificate while new sessions get the new one (compared by SHA-256
fingerprint); the old keys leave the ca process when the last old
session ends; a reload with a key that does not match fails with the
file and the line and changes nothing. The SNI name picks among several
certificates by their names; an RSA and an ECDSA certificate for one
name are picked by the client's signature algorithms (openssl s_client
-sigalgs, TLS 1.3) or cipher list (TLS 1.2). Session tickets resume, also
across a reload, and a ticket two key rotations old does not.
tls_protocols and tls_ciphers are obeyed.
"""
import hashlib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

from conftest import MOAT_BIN


def make_cert(d, name, kind="rsa", cn=None, sans=None):
    cert, key = os.path.join(d, name + ".crt"), os.path.join(d, name + ".key")
    newkey = {"rsa": ["rsa:2048"],
              "ec": ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]}[kind]
    args = ["openssl", "req", "-x509", "-newkey"] + newkey + \
        ["-nodes", "-keyout", key, "-out", cert, "-days", "2",
         "-subj", "/CN=%s" % (cn or "localhost")]
    if sans:
        args += ["-addext", "subjectAltName=" +
                 ",".join("DNS:" + s for s in sans)]
    subprocess.run(args, check=True, capture_output=True)
    os.chmod(key, 0o600)
    return cert, key


@pytest.fixture(scope="module")
def certs():
    d = tempfile.mkdtemp(prefix="moat-certs-")
    os.chmod(d, 0o755)
    out = {
        "a": make_cert(d, "a", sans=["localhost"]),
        "b": make_cert(d, "b", sans=["localhost"]),
        "ec": make_cert(d, "ec", "ec", sans=["localhost"]),
        "other": make_cert(d, "other", sans=["other.example",
                                             "*.wild.example"]),
        "cnonly": make_cert(d, "cnonly", "ec", cn="cn.example"),
    }
    out["dir"] = d
    yield out
    shutil.rmtree(d, ignore_errors=True)


def fingerprint_file(cert):
    with open(cert) as f:
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).hexdigest()


def client_ctx(version=None, ciphers=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if version:
        ctx.minimum_version = ctx.maximum_version = version
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


def reply(f):
    """one SMTP reply (all its lines): (code, text)"""
    lines = []
    while True:
        line = f.readline()
        if not line:
            raise ConnectionError("closed")
        lines.append(line.decode())
        if line[3:4] != b"-":
            return int(line[:3]), "".join(lines)


def plain_to_starttls(port):
    """a connection that has had 220 to STARTTLS, its handshake not begun"""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rb")
    assert reply(f)[0] == 220
    s.sendall(b"EHLO client.example\r\n")
    assert reply(f)[0] == 250
    s.sendall(b"STARTTLS\r\n")
    assert reply(f)[0] == 220
    return s


def handshake(s, ctx, sni=None, session=None):
    """TLS on a socket plain_to_starttls gave, then EHLO (which also
    brings TLS 1.3 tickets in); the TLS socket"""
    t = ctx.wrap_socket(s, server_hostname=sni, session=session)
    t.sendall(b"EHLO client.example\r\n")
    f = t.makefile("rb")
    assert reply(f)[0] == 250
    t.moat_file = f
    return t


def tls_session(port, ctx=None, sni=None, session=None):
    return handshake(plain_to_starttls(port), ctx or client_ctx(), sni,
                     session)


def fp(t):
    return hashlib.sha256(t.getpeercert(binary_form=True)).hexdigest()


def quit_(t):
    t.sendall(b"QUIT\r\n")
    assert reply(t.moat_file)[0] == 221
    t.close()


def write_pair(src, dst):
    """copy a certificate and key over dst's files (a renewal)"""
    for s, d in zip(src, dst):
        tmp = d + ".new"
        shutil.copyfile(s, tmp)
        os.chmod(tmp, 0o600 if d.endswith(".key") else 0o644)
        os.rename(tmp, d)


def reload_and_wait(m, needle="cat=tls event=tls_reloaded"):
    before = m.log().count(needle)
    m.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while time.time() < deadline and m.log().count(needle) == before:
        time.sleep(0.05)
    assert m.log().count(needle) > before, m.log()[-3000:]


@pytest.fixture
def live(moat_factory, certs):
    """a daemon whose tls_cert/tls_key are copies we may overwrite"""
    d = tempfile.mkdtemp(prefix="moat-live-")
    os.chmod(d, 0o755)
    pair = (os.path.join(d, "live.crt"), os.path.join(d, "live.key"))
    write_pair(certs["a"], pair)
    m = moat_factory(tls=pair, extra="[log]\ntls = debug\n")
    yield m, pair
    shutil.rmtree(d, ignore_errors=True)


def test_reload_new_sessions_new_certificate(live, certs):
    m, pair = live
    fa, fb = fingerprint_file(certs["a"][0]), fingerprint_file(certs["b"][0])
    assert fa != fb
    inside = tls_session(m.port)                # in TLS before the reload
    assert fp(inside) == fa
    waiting = plain_to_starttls(m.port)         # handshake not begun yet
    write_pair(certs["b"], pair)
    reload_and_wait(m)
    # new sessions: the new certificate
    new = tls_session(m.port)
    assert fp(new) == fb
    quit_(new)
    # the session in TLS goes on, a whole transaction of it
    inside.sendall(b"MAIL FROM:<someone@sender.test>\r\n")
    assert reply(inside.moat_file)[0] == 250
    inside.sendall(b"RCPT TO:<postmaster@localhost>\r\n")
    assert reply(inside.moat_file)[0] == 250
    inside.sendall(b"DATA\r\n")
    assert reply(inside.moat_file)[0] == 354
    inside.sendall(b"Subject: across a reload\r\n\r\nhello\r\n.\r\n")
    assert reply(inside.moat_file)[0] == 250
    # the one that had its STARTTLS before finishes on the old key
    waited = handshake(waiting, client_ctx())
    assert fp(waited) == fa
    # generation 0 lives while these do, then its keys leave ca
    assert "event=ca_keys_dropped generation=0" not in m.log()
    quit_(inside)
    quit_(waited)
    assert m.wait_log("event=ca_keys_dropped generation=0"), m.log()[-3000:]
    assert m.wait_log("event=tls_generation_freed generation=0")
    # and generation 1 is what new sessions still get
    again = tls_session(m.port)
    assert fp(again) == fb
    quit_(again)
    assert len(m.wait_maildir(1)) == 1


def test_reload_with_a_bad_key_keeps_the_old(live, certs):
    m, pair = live
    fa = fingerprint_file(certs["a"][0])
    # a new certificate whose key was not copied: they do not match
    write_pair((certs["b"][0],), (pair[0],))
    reload_and_wait(m, "event=reload_failed")
    line = [l for l in m.log().splitlines() if "event=reload_failed" in l][-1]
    n = [i + 1 for i, l in enumerate(open(m.conf).read().splitlines())
         if l.startswith("tls_key")][0]
    assert "%s:%d: tls_key: %s: key does not match certificate" % (
        m.conf, n, pair[1]) in line, line
    assert "event=tls_reloaded" not in m.log()
    # still the old pair, which ca still holds
    write_pair((certs["a"][0],), (pair[0],))
    t = tls_session(m.port)
    assert fp(t) == fa
    quit_(t)


def test_sni_picks_the_certificate(moat_factory, certs):
    other = "%s:%s" % certs["other"]
    cnonly = "%s:%s" % certs["cnonly"]
    m = moat_factory(tls=certs["a"], extra="[server]\ntls_certificates = %s, %s\n"
                     % (other, cnonly))
    fa = fingerprint_file(certs["a"][0])
    fo = fingerprint_file(certs["other"][0])
    fc = fingerprint_file(certs["cnonly"][0])
    for sni, want in ((None, fa), ("localhost", fa), ("other.example", fo),
                      ("OTHER.example", fo), ("x.wild.example", fo),
                      ("wild.example", fa), ("a.b.wild.example", fa),
                      ("cn.example", fc), ("nobody.example", fa)):
        t = tls_session(m.port, sni=sni)
        assert fp(t) == want, sni
        quit_(t)
    # and s_client -servername, as an administrator would check it
    r = subprocess.run(
        ["openssl", "s_client", "-starttls", "smtp", "-connect",
         "127.0.0.1:%d" % m.port, "-servername", "other.example"],
        input=b"QUIT\r\n", capture_output=True, timeout=20)
    pem = re.search(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----",
                    r.stdout, re.S)
    assert pem, r.stdout
    assert hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem.group().decode())) \
        .hexdigest() == fo


def test_a_name_with_one_key_type_lends_the_default_other(moat_factory,
                                                           certs):
    """A name that has only an ECDSA certificate: a client that can only
    use RSA, naming that host, gets the default RSA certificate (what it
    gets without SNI) rather than a failed handshake; one that can use
    ECDSA gets the named one."""
    m = moat_factory(tls=certs["a"], extra="[server]\ntls_certificates = "
                     "%s:%s\n" % certs["cnonly"])
    fa = fingerprint_file(certs["a"][0])
    fc = fingerprint_file(certs["cnonly"][0])
    t = tls_session(m.port, client_ctx(ssl.TLSVersion.TLSv1_2,
                                       "ECDHE-RSA-AES128-GCM-SHA256"),
                    sni="cn.example")
    assert fp(t) == fa
    quit_(t)
    t = tls_session(m.port, client_ctx(ssl.TLSVersion.TLSv1_2,
                                       "ECDHE-ECDSA-AES128-GCM-SHA256"),
                    sni="cn.example")
    assert fp(t) == fc
    quit_(t)
    assert s_client_cert(m.port, "-tls1_3", "-servername", "cn.example",
                         "-sigalgs", "rsa_pss_rsae_sha256") == fa
    assert s_client_cert(m.port, "-tls1_3", "-servername", "cn.example",
                         "-sigalgs", "ecdsa_secp256r1_sha256") == fc
    assert re.search(r"event=tls_certificate generation=\d+ context=1 "
                     r"names=1 first=cn.example rsa=default ecdsa=yes",
                     m.log()), m.log()


def s_client_cert(port, *args):
    r = subprocess.run(
        ["openssl", "s_client", "-starttls", "smtp", "-connect",
         "127.0.0.1:%d" % port] + list(args),
        input=b"QUIT\r\n", capture_output=True, timeout=20)
    pem = re.search(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----",
                    r.stdout, re.S)
    if not pem:
        return None
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem.group().decode())) \
        .hexdigest()


def test_rsa_and_ecdsa_for_one_name(moat_factory, certs):
    m = moat_factory(tls=certs["a"], extra="[server]\ntls_certificates = %s:%s\n"
                     "[log]\ntls = debug\n" % certs["ec"])
    frsa = fingerprint_file(certs["a"][0])
    fec = fingerprint_file(certs["ec"][0])
    # TLS 1.3: the client's signature algorithms choose
    assert s_client_cert(m.port, "-tls1_3", "-sigalgs",
                         "ecdsa_secp256r1_sha256") == fec
    assert s_client_cert(m.port, "-tls1_3", "-sigalgs",
                         "rsa_pss_rsae_sha256") == frsa
    # TLS 1.2: the cipher list does
    t = tls_session(m.port, client_ctx(ssl.TLSVersion.TLSv1_2,
                                       "ECDHE-ECDSA-AES128-GCM-SHA256"))
    assert fp(t) == fec
    quit_(t)
    t = tls_session(m.port, client_ctx(ssl.TLSVersion.TLSv1_2,
                                       "ECDHE-RSA-AES128-GCM-SHA256"))
    assert fp(t) == frsa
    quit_(t)
    # ca signed with both keys
    log = m.log()
    assert re.search(r"event=ca_sign op=%d result=signed" % 3, log), log[-2000:]
    assert re.search(r"event=ca_sign op=[12] result=signed", log)


def test_tickets_resume_and_rotate(live, certs):
    m, pair = live
    # the live daemon with 2-second ticket keys
    m.stop()
    with open(m.conf) as f:
        text = f.read()
    text = text.replace("[server]\n", "[server]\ntls_ticket_lifetime = 2\n", 1)
    with open(m.conf, "w") as f:
        f.write(text)
    m.start()
    ctx = client_ctx(ssl.TLSVersion.TLSv1_3)
    first = tls_session(m.port, ctx)
    assert not first.session_reused
    ticket = first.session
    assert ticket is not None and ticket.has_ticket
    quit_(first)
    t = tls_session(m.port, ctx, session=ticket)
    assert t.session_reused
    quit_(t)
    # across a reload with a new certificate: the keys are the process's
    write_pair(certs["b"], pair)
    reload_and_wait(m)
    t = tls_session(m.port, ctx, session=ticket)
    assert t.session_reused
    quit_(t)
    # one rotation later the key that made it still decrypts
    time.sleep(2.3)
    t = tls_session(m.port, ctx, session=ticket)
    assert t.session_reused
    quit_(t)
    assert "previous=kept" in m.log()
    # two rotations after it was made, its key is gone
    time.sleep(2.3)
    t = tls_session(m.port, ctx, session=ticket)
    assert not t.session_reused
    quit_(t)
    assert "event=tls_ticket_unknown_key" in m.log()


def test_tickets_off(moat_factory, certs):
    m = moat_factory(tls=certs["a"], extra="[server]\ntls_ticket_lifetime = 0\n")
    ctx = client_ctx(ssl.TLSVersion.TLSv1_3)
    t = tls_session(m.port, ctx)
    sess = t.session
    quit_(t)
    assert sess is None or not sess.has_ticket
    if sess is not None:
        t = tls_session(m.port, ctx, session=sess)
        assert not t.session_reused
        quit_(t)


def test_protocols(moat_factory, certs):
    m = moat_factory(tls=certs["a"])
    # default: 1.2 and 1.3; a TLS 1.1 client is refused
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        t = tls_session(m.port, client_ctx(v))
        assert t.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                               ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[v]
        quit_(t)
    ctx = client_ctx(ssl.TLSVersion.TLSv1_1, "DEFAULT:@SECLEVEL=0")
    with pytest.raises(ssl.SSLError):
        tls_session(m.port, ctx)
    m3 = moat_factory(tls=certs["a"], extra="[server]\ntls_protocols = TLSv1.3\n")
    with pytest.raises(ssl.SSLError):
        tls_session(m3.port, client_ctx(ssl.TLSVersion.TLSv1_2))
    t = tls_session(m3.port, client_ctx(ssl.TLSVersion.TLSv1_3))
    assert t.version() == "TLSv1.3"
    quit_(t)


def test_ciphers(moat_factory, certs):
    m = moat_factory(tls=certs["a"], extra="[server]\ntls_ciphers = "
                     "ECDHE-RSA-CHACHA20-POLY1305\n")
    t = tls_session(m.port, client_ctx(ssl.TLSVersion.TLSv1_2))
    assert t.cipher()[0] == "ECDHE-RSA-CHACHA20-POLY1305"
    quit_(t)
    with pytest.raises(ssl.SSLError):
        tls_session(m.port, client_ctx(ssl.TLSVersion.TLSv1_2,
                                       "ECDHE-RSA-AES128-GCM-SHA256"))


def test_bad_pair_in_tls_certificates_refused_at_start(tmp_path, certs):
    conf = tmp_path / "moat.conf"
    conf.write_text(
        "[server]\nspool_dir = var/spool\nmail_dir = var/mail\n"
        "empty_dir = var/empty\ntls_cert = %s\ntls_key = %s\n"
        "tls_certificates = %s:%s\n" % (certs["a"] + (certs["other"][0],
                                                      certs["ec"][1])))
    r = subprocess.run([MOAT_BIN, "check-config", "-c", str(conf)],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 1
    assert "%s:7: %s: key does not match certificate" % (
        conf, certs["ec"][1]) in r.stderr, r.stderr


def test_reloaded_key_only_in_ca_memory(live, certs):
    """The key a reload loads is read by a child of the parent and
    handed to ca: neither the parent nor smtp ever holds it."""
    from test_tls_ca import memory_holds, needles, private_numbers
    m, pair = live
    write_pair(certs["b"], pair)
    reload_and_wait(m)
    t = tls_session(m.port)         # the new key in use
    assert fp(t) == fingerprint_file(certs["b"][0])
    quit_(t)
    wanted = needles(private_numbers(certs["b"][1]))
    with open(certs["b"][1], "rb") as f:
        pem = f.read().splitlines()
    text = dict(wanted, pem=pem[len(pem) // 2])
    kids = {comm: pid for pid, comm in m.children().items()}
    assert memory_holds(m.proc.pid, text) == set(), "parent"
    assert memory_holds(kids["moat-smtp"], text) == set(), "smtp"
    assert memory_holds(kids["moat-ca"], wanted), "ca has not the key"


def test_reload_answer_waits_for_ca_on_the_keys(moat_factory, certs):
    # ca holds at most 8 generations of 16 keys: with a session kept on
    # each generation, the 8th reload's keys do not fit in ca. The
    # answer of `moat reload` comes after ca's word on them, and says so
    d = tempfile.mkdtemp(prefix="moat-gens-")
    os.chmod(d, 0o755)
    pairs = [make_cert(d, "h%d" % i, "ec", sans=["h%d.example" % i])
             for i in range(16)]
    m = moat_factory(tls=pairs[0], extra="[server]\ntls_certificates = %s\n" % (
        "\n  ".join("%s:%s" % p for p in pairs[1:])))
    held = []
    try:
        for n in range(8):
            held.append(tls_session(m.port))
            r = subprocess.run([MOAT_BIN, "reload", "-c", m.conf],
                               capture_output=True, text=True, timeout=60)
            if n < 7:
                assert r.returncode == 0, (n, r.stdout, r.stderr)
                assert "ca:" not in r.stdout, (n, r.stdout)
        assert "the new TLS keys did not load" in r.stdout, \
            (r.returncode, r.stdout, r.stderr)
        assert "too many generations" in r.stdout, r.stdout
        assert r.returncode != 0, (r.stdout, r.stderr)
        # the certificates in use stay
        t = tls_session(m.port)
        quit_(t)
    finally:
        for t in held:
            t.close()
        shutil.rmtree(d, ignore_errors=True)
