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


def handshakes(port, ctx, seconds, out, cipher=None):
    """connect, EHLO, STARTTLS with ctx in a loop for seconds; the count
    goes to out (cipher: the suite each handshake must have agreed on)"""
    n, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            s.ehlo("bench.example")
            code, _ = s.starttls(context=ctx)
            assert code == 220
            if cipher is not None:
                assert s.sock.cipher()[0] == cipher
        n += 1
    out.put(n)


def worker(port, cert, version, seconds, out):
    ctx = ssl.create_default_context(cafile=cert)
    ctx.check_hostname = False
    ctx.minimum_version = ctx.maximum_version = version
    handshakes(port, ctx, seconds, out)


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


def run_workers(target, args, workers):
    """workers processes of target(*args, queue); the sum of their counts"""
    q = multiprocessing.Queue()
    ps = [multiprocessing.Process(target=target, args=args + (q,))
          for _ in range(workers)]
    for p in ps:
        p.start()
    total = sum(q.get() for _ in ps)
    for p in ps:
        p.join()
    return total


def measure(pid, count):
    """count() under the daemon pid: (its result, the daemon's CPU ms a
    unit of it by process name)"""
    hz = os.sysconf("SC_CLK_TCK")
    before = cpu_ticks(pid)
    n = count()
    after = cpu_ticks(pid)
    return n, {k: (after[k] - before.get(k, 0)) * 1000.0 / hz / n
               for k in after}


def cpu_text(cpu):
    return " ".join("%s=%.2f" % (k, v) for k, v in sorted(cpu.items())
                    if v > 0)


class Daemon:
    """`moat serve` in a fresh directory (start: with tls_lines in
    [server]) and one mx listener on a free port; ends, and its
    directory goes, with stop()"""

    def __init__(self, moat, prefix="moat-bench-tls-"):
        self.dir = tempfile.mkdtemp(prefix=prefix)
        os.chmod(self.dir, 0o755)
        self.moat = os.path.abspath(moat)
        self.port = free_port()
        self.proc = None

    def start(self, tls_lines):
        conf = os.path.join(self.dir, "moat.conf")
        with open(conf, "w") as f:
            f.write("[server]\nhostname = mx.bench.example\n"
                    "spool_dir = var/spool\nmail_dir = var/mail\n"
                    "empty_dir = var/empty\nusers_file = users\n%s"
                    "[limits]\nmax_sessions_per_ip = 1000\n"
                    "[delivery]\nblacklist_watch = no\n"
                    "[listener mx]\naddress = 127.0.0.1\nport = %d\n"
                    "role = mx\n" % (tls_lines, self.port))
        self.log = open(os.path.join(self.dir, "moat.log"), "wb")
        self.proc = subprocess.Popen([self.moat, "serve", "-c", conf],
                                     cwd=self.dir, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", self.port),
                                         0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        return self

    def stop(self):
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(20)
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


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
    dm = Daemon(a.moat)
    try:
        cert, key = make_cert(dm.dir, a.key)
        dm.start("tls_cert = %s\ntls_key = %s\n" % (cert, key))
        run_workers(worker, (dm.port, cert, version, 0.5), 1)  # warm up
        for w in (int(x) for x in a.workers.split(",")):
            n, cpu = measure(dm.proc.pid, lambda: run_workers(
                worker, (dm.port, cert, version, a.seconds), w))
            print("key=%s tls=%s workers=%d handshakes_per_s=%.0f "
                  "cpu_ms_per_handshake=%.2f %s"
                  % (a.key, a.tls, w, n / a.seconds, sum(cpu.values()),
                     cpu_text(cpu)))
            sys.stdout.flush()
    finally:
        dm.stop()


if __name__ == "__main__":
    main()
