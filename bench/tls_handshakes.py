#!/usr/bin/env python3
"""STARTTLS handshakes per second against one moat binary, on loopback.

    python3 bench/tls_handshakes.py build/moat [--key rsa|ec]
        [--seconds 5] [--workers 1,4] [--tls 1.2|1.3]

Starts `moat serve` (as root) with a fresh certificate of the chosen
type, then for each worker count runs that many client processes, each
doing connect, EHLO, STARTTLS, a full handshake (no resumption) and
close in a loop, and prints handshakes per second and the CPU time the
daemon's processes spent per handshake (utime + stime from /proc: on a
busy machine the rate moves with the load, the CPU time much less). Every handshake makes
the server sign once; with the ca process that is one round trip. (The
loop stops at the handshake: the first command after it waits for a
delayed ACK on loopback, some 40 ms, which would hide the handshake's
cost.)
"""
import argparse
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


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_cert(d, kind):
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    newkey = ["rsa:2048"] if kind == "rsa" else \
        ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    subprocess.run(["openssl", "req", "-x509", "-newkey"] + newkey +
                   ["-nodes", "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=localhost"], check=True, capture_output=True)
    os.chmod(key, 0o600)
    return cert, key


def worker(port, cert, version, seconds, out):
    ctx = ssl.create_default_context(cafile=cert)
    ctx.check_hostname = False
    ctx.minimum_version = ctx.maximum_version = version
    n, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            s.ehlo("bench.example")
            code, _ = s.starttls(context=ctx)
            assert code == 220
        n += 1
    out.put(n)


def cpu_ticks(parent):
    """{comm: utime + stime} of parent's children"""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                comm, rest = f.read().rsplit(") ", 1)
            fields = rest.split()
            if int(fields[1]) == parent:
                name = comm.split("(", 1)[1]
                out[name] = int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return out


def run(port, cert, version, seconds, workers):
    q = multiprocessing.Queue()
    ps = [multiprocessing.Process(target=worker,
                                  args=(port, cert, version, seconds, q))
          for _ in range(workers)]
    for p in ps:
        p.start()
    total = sum(q.get() for _ in ps)
    for p in ps:
        p.join()
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("moat")
    ap.add_argument("--key", default="rsa", choices=["rsa", "ec"])
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--workers", default="1,4")
    ap.add_argument("--tls", default="1.3", choices=["1.2", "1.3"])
    a = ap.parse_args()
    version = ssl.TLSVersion.TLSv1_3 if a.tls == "1.3" else \
        ssl.TLSVersion.TLSv1_2
    d = tempfile.mkdtemp(prefix="moat-bench-tls-")
    os.chmod(d, 0o755)
    cert, key = make_cert(d, a.key)
    port = free_port()
    conf = os.path.join(d, "moat.conf")
    with open(conf, "w") as f:
        f.write("[server]\nhostname = mx.bench.example\nspool_dir = var/spool\n"
                "mail_dir = var/mail\nempty_dir = var/empty\n"
                "users_file = users\ntls_cert = %s\ntls_key = %s\n"
                "[limits]\nmax_sessions_per_ip = 1000\n"
                "[delivery]\nblacklist_watch = no\n"
                "[listener mx]\naddress = 127.0.0.1\nport = %d\nrole = mx\n"
                % (cert, key, port))
    log = open(os.path.join(d, "moat.log"), "wb")
    p = subprocess.Popen([os.path.abspath(a.moat), "serve", "-c", conf],
                         cwd=d, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        run(port, cert, version, 0.5, 1)        # warm up
        hz = os.sysconf("SC_CLK_TCK")
        for w in (int(x) for x in a.workers.split(",")):
            before = cpu_ticks(p.pid)
            n = run(port, cert, version, a.seconds, w)
            after = cpu_ticks(p.pid)
            cpu = {k: (after[k] - before.get(k, 0)) * 1000.0 / hz / n
                   for k in after}
            print("key=%s tls=%s workers=%d handshakes_per_s=%.0f "
                  "cpu_ms_per_handshake=%.2f %s"
                  % (a.key, a.tls, w, n / a.seconds, sum(cpu.values()),
                     " ".join("%s=%.2f" % (k, v) for k, v in sorted(
                         cpu.items()) if v > 0)))
            sys.stdout.flush()
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(20)
        log.close()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
