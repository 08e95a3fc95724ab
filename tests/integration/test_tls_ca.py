"""The TLS private key lives in the ca process; smtp only asks it to sign.

STARTTLS with RSA and ECDSA certificates (TLS 1.2 and 1.3) completes and
shows the configured certificate; the memory of the smtp process (and
of every other but ca), read through /proc/PID/mem, holds none of the
key's private numbers, while the ca process's does; RSA key exchange is refused; a ca process that
stops answering fails handshakes for a while, not the server; kill -9
of the ca stops the daemon; SIGHUP leaves TLS working.
"""
import os
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

from conftest import ASAN, MOAT_BIN

READ_CHUNK = 16 << 20
REGION_MAX = 1 << 30        # ASan's shadow: terabytes of nothing


def make_cert(d, kind):
    cert, key = os.path.join(d, kind + ".crt"), os.path.join(d, kind + ".key")
    newkey = {"rsa": ["rsa:2048"], "ed25519": ["ed25519"],
              "ec": ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]}[kind]
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey"] + newkey +
        ["-nodes", "-keyout", key, "-out", cert, "-days", "2",
         "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True)
    os.chmod(key, 0o600)
    return cert, key


@pytest.fixture(scope="module")
def certs():
    d = tempfile.mkdtemp(prefix="moat-ca-")
    os.chmod(d, 0o755)
    yield {kind: make_cert(d, kind) for kind in ("rsa", "ec", "ed25519")}
    shutil.rmtree(d, ignore_errors=True)


def private_numbers(key):
    """{label: bytes} of the private parts `openssl pkey -text` prints:
    privateExponent, prime1, prime2 (RSA) or priv (EC), big-endian."""
    out = subprocess.run(["openssl", "pkey", "-in", key, "-text", "-noout"],
                         check=True, capture_output=True, text=True).stdout
    nums, label = {}, None
    for line in out.splitlines():
        m = re.match(r"^(\w+):\s*$", line)
        if m:
            label = m.group(1)
            nums[label] = ""
        elif label and re.match(r"^\s+[0-9a-f:]+$", line):
            nums[label] += line.strip().replace(":", "")
        else:
            label = None
    want = ("privateExponent", "prime1", "prime2", "priv")
    got = {k: bytes.fromhex(v).lstrip(b"\0") for k, v in nums.items()
           if k in want}
    assert got and all(len(v) >= 32 for v in got.values()), out
    return got


def needles(nums):
    """24-byte windows of each number, as stored big-endian (DER, PEM)
    and little-endian (OpenSSL's BIGNUM words on x86-64)."""
    out = {}
    for label, v in nums.items():
        mid = len(v) // 2
        w = v[mid - 12:mid + 12]
        out[label + "/be"] = w
        out[label + "/le"] = w[::-1]
    return out


def memory_holds(pid, wanted):
    """The names of wanted's byte strings found in the readable memory
    of pid (root reads /proc/PID/mem even of a non-dumpable process)."""
    found = set()
    longest = max(len(v) for v in wanted.values())
    with open("/proc/%d/maps" % pid) as f:
        regions = [line.split() for line in f]
    with open("/proc/%d/mem" % pid, "rb", buffering=0) as mem:
        for r in regions:
            lo, hi = (int(x, 16) for x in r[0].split("-"))
            name = r[5] if len(r) > 5 else ""
            if "r" not in r[1] or hi - lo > REGION_MAX or \
                    name in ("[vvar]", "[vsyscall]"):
                continue
            tail = b""
            for at in range(lo, hi, READ_CHUNK):
                try:
                    mem.seek(at)
                    data = mem.read(min(READ_CHUNK, hi - at))
                except OSError:
                    tail = b""
                    continue
                buf = tail + data
                for k, v in wanted.items():
                    if k not in found and v in buf:
                        found.add(k)
                tail = buf[-(longest - 1):]
    return found


def tls_client(cert, version=None, ciphers=None):
    ctx = ssl.create_default_context(cafile=cert)
    if version:
        ctx.minimum_version = ctx.maximum_version = version
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


def starttls(m, ctx, timeout=10):
    """EHLO, STARTTLS, EHLO; returns the server's certificate (DER)."""
    with smtplib.SMTP("127.0.0.1", m.port, timeout=timeout) as s:
        s.ehlo("client.example")
        code, msg = s.starttls(context=ctx)
        assert code == 220, msg
        code, _ = s.ehlo("client.example")
        assert code == 250
        der = s.sock.getpeercert(binary_form=True)
        version = s.sock.version()
        s.quit()
    return der, version


def der_of(cert):
    with open(cert) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def kids_by_name(m):
    """comm -> pid, once every child has its name"""
    assert m.wait_log("cat=daemon event=started")
    deadline = time.time() + 10
    while time.time() < deadline and "moat" in m.children().values():
        time.sleep(0.02)
    return {comm: pid for pid, comm in m.children().items()}


@pytest.fixture(params=["rsa", "ec"])
def served(request, moat_factory, certs):
    cert, key = certs[request.param]
    m = moat_factory(tls=(cert, key), extra="[log]\ntls = debug\n")
    return m, cert, key


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2,
                                     ssl.TLSVersion.TLSv1_3])
def test_starttls_with_the_configured_certificate(served, version):
    m, cert, key = served
    der, got = starttls(m, tls_client(cert, version))
    assert der == der_of(cert)
    assert got == {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                   ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
    assert "moat-ca" in kids_by_name(m)


def test_key_only_in_ca_memory(served):
    m, cert, key = served
    # a few handshakes first: the key is in use
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        starttls(m, tls_client(cert, v))
    wanted = needles(private_numbers(key))
    with open(key, "rb") as f:
        pem = f.read().splitlines()
    # the key file's text too: a line from its middle
    text = dict(wanted, pem=pem[len(pem) // 2])
    kids = kids_by_name(m)
    in_smtp = memory_holds(kids["moat-smtp"], text)
    assert in_smtp == set(), "smtp holds the private key: %s" % in_smtp
    # the control: the same search finds the key where it is
    assert "moat-ca" in kids, kids
    in_ca = memory_holds(kids["moat-ca"], wanted)
    assert in_ca, "the private key was not found in the ca process"
    # nor any other process: the parent, whose memory every child
    # starts from, and its other children
    others = dict(kids, parent=m.proc.pid)
    del others["moat-ca"], others["moat-smtp"]
    if ASAN:        # slow to read: the parent is the one that matters
        others = {"parent": m.proc.pid}
    for name, pid in others.items():
        assert memory_holds(pid, text) == set(), name


def inet_sockets():
    """inodes of every TCP and UDP socket of the host"""
    out = set()
    for t in ("tcp", "tcp6", "udp", "udp6"):
        with open("/proc/net/" + t) as f:
            for line in list(f)[1:]:
                out.add(line.split()[9])
    return out


def test_ca_reads_no_network(served):
    """The ca process has its socketpairs (parent, smtp, control's for
    the console's key, and the one a reload's keys come on) and no
    network socket; the smtp process, as
    a control, has its listeners."""
    m, cert, key = served
    starttls(m, tls_client(cert))
    kids = kids_by_name(m)
    inet = inet_sockets()

    def sockets(pid):
        out = set()
        for fd in os.listdir("/proc/%d/fd" % pid):
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            assert os.path.basename(key) not in target, target
            if target.startswith("socket:["):
                out.add(target[8:-1])
        return out
    assert sockets(kids["moat-smtp"]) & inet
    ca = sockets(kids["moat-ca"])
    assert len(ca) == 4 and not ca & inet, ca


def test_rsa_key_exchange_is_refused(moat_factory, certs):
    cert, key = certs["rsa"]
    m = moat_factory(tls=(cert, key))
    ctx = tls_client(cert, ssl.TLSVersion.TLSv1_2, "AES128-GCM-SHA256")
    with pytest.raises(ssl.SSLError):
        starttls(m, ctx)
    # the server goes on; forward-secret suites still work
    der, _ = starttls(m, tls_client(cert, ssl.TLSVersion.TLSv1_2))
    assert der == der_of(cert)


@pytest.mark.skipif(ASAN, reason="timing")
def test_stalled_ca_fails_handshakes_then_recovers(moat_factory, certs):
    """The smtp side waits at most 3 s for a signature; a late answer
    is dropped by its id and the next handshake gets its own."""
    cert, key = certs["rsa"]
    m = moat_factory(tls=(cert, key))
    ca = kids_by_name(m)["moat-ca"]
    os.kill(ca, signal.SIGSTOP)
    try:
        t0 = time.time()
        with pytest.raises((ssl.SSLError, smtplib.SMTPException, OSError)):
            starttls(m, tls_client(cert), timeout=10)
        assert 2.5 < time.time() - t0 < 9
        assert m.wait_log("event=ca_timeout")
    finally:
        os.kill(ca, signal.SIGCONT)
    for _ in range(3):
        der, _ = starttls(m, tls_client(cert))
        assert der == der_of(cert)
    assert m.proc.poll() is None


def test_ca_killed_stops_whole_daemon(moat_factory, certs):
    m = moat_factory(tls=certs["ec"])
    assert m.wait_log("cat=daemon event=started")
    kids = kids_by_name(m)
    os.kill(kids["moat-ca"], signal.SIGKILL)
    m.proc.wait(20)
    assert m.proc.returncode != 0
    assert "event=child_died child=ca signal=9" in m.log()
    for pid in kids.values():
        deadline = time.time() + 10
        while os.path.exists("/proc/%d" % pid) and time.time() < deadline:
            time.sleep(0.02)
        assert not os.path.exists("/proc/%d" % pid), pid


def test_sighup_keeps_tls_working(moat_factory, certs):
    cert, key = certs["ec"]
    m = moat_factory(tls=(cert, key))
    assert m.wait_log("cat=daemon event=started")     # the parent handles SIGHUP
    before = kids_by_name(m)
    m.proc.send_signal(signal.SIGHUP)
    assert m.wait_log("event=reload")
    der, _ = starttls(m, tls_client(cert))
    assert der == der_of(cert)
    assert kids_by_name(m) == before


def test_key_type_ca_cannot_sign_with_is_refused_up_front(moat_factory,
                                                          certs):
    """An Ed25519 key loads in OpenSSL but the ca process signs RSA and
    EC only: check-config and serve say so, naming the tls_key line,
    and serve listens on nothing."""
    cert, key = certs["ed25519"]
    m = moat_factory(tls=(cert, key), start=False)
    for cmd in ("check-config", "serve"):
        r = subprocess.run([MOAT_BIN, cmd, "-c", m.conf], cwd=m.dir,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 1, r
        assert r.stderr.startswith("moat: %s:8: %s: key type ED25519 is "
                                   "not supported (RSA or EC keys only)"
                                   % (m.conf, key)), r.stderr
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", m.port), 0.5).close()
