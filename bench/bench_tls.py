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
import os
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tls_handshakes import (Daemon, cpu_text, handshakes,  # noqa: E402
                            make_cert, measure, run_workers)

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
    handshakes(port, ctx, seconds, out, CIPHERS[kind])


def main(argv):
    if argv[1:] not in ([], ["tls_handshake"]):
        print("usage: bench_tls.py [tls_handshake]", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("bench_tls.py: must run as root", file=sys.stderr)
        return 2
    dm = Daemon(MOAT)
    cpu_ms = {}
    try:
        rsa, ec = make_pair(dm.dir, "rsa"), make_pair(dm.dir, "ec")
        dm.start("tls_cert = %s\ntls_key = %s\ntls_certificates = %s:%s\n"
                 % (rsa + ec))
        for kind in ("rsa", "ecdsa"):
            run_workers(worker, (dm.port, kind, 0.5), 1)    # warm up
            n, cpu = measure(dm.proc.pid, lambda: run_workers(
                worker, (dm.port, kind, SECONDS), WORKERS))
            cpu_ms[kind] = sum(cpu.values())
            print("bench tls_handshake_%s moat=%.1f unit=handshakes/s "
                  "(TLS 1.2, %d clients, %.0f s; cpu_ms_per_handshake=%.2f %s)"
                  % (kind, n / SECONDS, WORKERS, SECONDS, cpu_ms[kind],
                     cpu_text(cpu)), flush=True)
        print("bench tls_handshake moat=%.2f unit=ratio (daemon CPU a "
              "handshake, RSA-2048 / P-256)"
              % (cpu_ms["rsa"] / cpu_ms["ecdsa"] if cpu_ms["ecdsa"] else 0),
              flush=True)
    finally:
        dm.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
