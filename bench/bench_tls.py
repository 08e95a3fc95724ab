#!/usr/bin/env python3
"""The cost of a TLS handshake with an RSA and with an ECDSA certificate.

    python3 bench/bench_tls.py [tls_handshake]

One `moat serve` (as root) holds both an RSA-2048 certificate
(`tls_cert`) and a P-256 one for the same name (`tls_certificates`), as
a server offering both would. Clients on loopback do connect, EHLO,
STARTTLS and a full TLS 1.2 handshake (no resumption) in a loop, with a
cipher list that admits only ECDHE-RSA or only ECDHE-ECDSA suites, so
the same daemon picks one certificate or the other. For each it prints
handshakes per second (two client processes, SECONDS each) and the CPU
time the daemon's processes spent per handshake (utime + stime from
/proc), and then the ratio of the two CPU times:

  bench tls_handshake_rsa moat=<handshakes/s> unit=handshakes/s (cpu ...)
  bench tls_handshake_ecdsa moat=<handshakes/s> unit=handshakes/s (cpu ...)
  bench tls_handshake moat=<RSA CPU / ECDSA CPU a handshake> unit=ratio

On a shared machine the rate moves with the load; the CPU time a
handshake much less.
"""
import multiprocessing
import os
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tls_handshakes import cpu_ticks, free_port, make_cert  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MOAT = os.path.join(ROOT, "build", "moat")
SECONDS = float(os.environ.get("BENCH_TLS_SECONDS", "8"))
WORKERS = 2
CIPHERS = {"rsa": "ECDHE-RSA-AES128-GCM-SHA256",
           "ecdsa": "ECDHE-ECDSA-AES128-GCM-SHA256"}


def make_pair(d, kind):
    """tls_handshakes.make_cert in a directory of its own"""
    sub = os.path.join(d, kind)
    os.mkdir(sub)
    os.chmod(sub, 0o755)
    return make_cert(sub, kind)


def worker(port, kind, seconds, out):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(CIPHERS[kind])
    n, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            s.ehlo("bench.example")
            code, _ = s.starttls(context=ctx)
            assert code == 220
            assert s.sock.cipher()[0] == CIPHERS[kind]
        n += 1
    out.put(n)


def run(port, kind, seconds, workers):
    q = multiprocessing.Queue()
    ps = [multiprocessing.Process(target=worker,
                                  args=(port, kind, seconds, q))
          for _ in range(workers)]
    for p in ps:
        p.start()
    total = sum(q.get() for _ in ps)
    for p in ps:
        p.join()
    return total


def main(argv):
    if argv[1:] not in ([], ["tls_handshake"]):
        print("usage: bench_tls.py [tls_handshake]", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("bench_tls.py: must run as root", file=sys.stderr)
        return 2
    d = tempfile.mkdtemp(prefix="moat-bench-tls-")
    os.chmod(d, 0o755)
    rsa, ec = make_pair(d, "rsa"), make_pair(d, "ec")
    port = free_port()
    conf = os.path.join(d, "moat.conf")
    with open(conf, "w") as f:
        f.write("[server]\nhostname = mx.bench.example\nspool_dir = var/spool\n"
                "mail_dir = var/mail\nempty_dir = var/empty\n"
                "users_file = users\ntls_cert = %s\ntls_key = %s\n"
                "tls_certificates = %s:%s\n"
                "[limits]\nmax_sessions_per_ip = 1000\n"
                "[delivery]\nblacklist_watch = no\n"
                "[listener mx]\naddress = 127.0.0.1\nport = %d\nrole = mx\n"
                % (rsa + ec + (port,)))
    log = open(os.path.join(d, "moat.log"), "wb")
    p = subprocess.Popen([MOAT, "serve", "-c", conf], cwd=d, stdout=log,
                         stderr=subprocess.STDOUT)
    cpu_ms = {}
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        hz = os.sysconf("SC_CLK_TCK")
        for kind in ("rsa", "ecdsa"):
            run(port, kind, 0.5, 1)             # warm up
            before = cpu_ticks(p.pid)
            n = run(port, kind, SECONDS, WORKERS)
            after = cpu_ticks(p.pid)
            cpu = {k: (after[k] - before.get(k, 0)) * 1000.0 / hz / n
                   for k in after}
            cpu_ms[kind] = sum(cpu.values())
            print("bench tls_handshake_%s moat=%.1f unit=handshakes/s "
                  "(TLS 1.2, %d clients, %.0f s; cpu_ms_per_handshake=%.2f %s)"
                  % (kind, n / SECONDS, WORKERS, SECONDS, cpu_ms[kind],
                     " ".join("%s=%.2f" % (k, v) for k, v in sorted(
                         cpu.items()) if v > 0)), flush=True)
        print("bench tls_handshake moat=%.2f unit=ratio (daemon CPU a "
              "handshake, RSA-2048 / P-256)"
              % (cpu_ms["rsa"] / cpu_ms["ecdsa"] if cpu_ms["ecdsa"] else 0),
              flush=True)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(20)
        log.close()
        shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
