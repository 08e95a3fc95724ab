#!/usr/bin/env python3
"""ban_apply.py - how long N admin bans take to apply, end to end.

    python3 bench/ban_apply.py [MOAT_BIN] [N]

Starts moat as the caller (root: with its privilege separation) in a
fresh directory, sends N `ban add` requests (distinct /32s) over the
control socket, 16 in flight, and waits until smtp enforces all of them
(`moat stats`: bans_enforced). Prints the wall time and the CPU seconds
each moat process spent. Each ban is a commit of the queue database,
so the wall time is mostly fsync; the CPU of smtp and queue is what
applying the bans costs. Not part of `make bench`.
"""
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

OP_BAN_ADD, CTL_VERSION = 9, 1


def pstr(s):
    b = s.encode()
    return struct.pack("=I", len(b)) + b


def frames(n):
    for i in range(n):
        p = pstr("10.%d.%d.%d/32" % (i >> 16 & 255, i >> 8 & 255, i & 255))
        p += struct.pack("=q", 3600) + pstr("bench")
        yield struct.pack("=IHHQ", len(p), OP_BAN_ADD, CTL_VERSION, i + 1) + p


def send_all(path, n, window=16):
    c = socket.socket(socket.AF_UNIX)
    c.connect(path)
    todo, sent, got, buf = frames(n), 0, 0, b""
    while got < n:
        while sent < n and sent - got < window:
            c.sendall(next(todo))
            sent += 1
        chunk = c.recv(65536)
        if not chunk:
            raise RuntimeError("control socket closed")
        buf += chunk
        while len(buf) >= 16:
            ln = struct.unpack("=I", buf[:4])[0]
            if len(buf) < 16 + ln:
                break
            if buf[16] != 0:
                raise RuntimeError("a ban was refused")
            buf, got = buf[16 + ln:], got + 1
    c.close()


def cpu(parent):
    out = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/stat" % pid) as f:
                st = f.read().split(") ")[1].split()
            if int(st[1]) == parent:
                with open("/proc/%s/comm" % pid) as f:
                    out[f.read().strip()] = (int(st[11]) + int(st[12])) / \
                        os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError):
            pass
    return out


def enforced(moat, d):
    out = subprocess.run([moat, "stats", "-c", "moat.conf"], cwd=d,
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("bans_enforced"):
            return int(line.split()[-1])
    return -1


def main():
    moat = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/moat")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    d = tempfile.mkdtemp(prefix="moat-bans-")
    os.chmod(d, 0o755)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with open(os.path.join(d, "moat.conf"), "w") as f:
        f.write("[server]\nspool_dir = var/spool\nmail_dir = var/mail\n"
                "empty_dir = var/empty\nusers_file = users\n"
                "[delivery]\nblacklist_watch = no\n"
                "[listener mx]\naddress = 127.0.0.1\nport = %d\n" % port)
    log = open(os.path.join(d, "moat.log"), "wb")
    p = subprocess.Popen([moat, "serve", "-c", "moat.conf"], cwd=d,
                         stdout=log, stderr=subprocess.STDOUT)
    try:
        sock = os.path.join(d, "var", "spool", "control.sock")
        while enforced(moat, d) < 0:
            time.sleep(0.1)
        c0, t0 = cpu(p.pid), time.time()
        send_all(sock, n)
        while enforced(moat, d) < n:
            time.sleep(0.1)
        took, c1 = time.time() - t0, cpu(p.pid)
        print("bans=%d applied=%.2fs" % (n, took))
        for k in sorted(c1):
            print("  cpu %-13s %.2fs" % (k, c1[k] - c0.get(k, 0)))
    finally:
        p.terminate()
        p.wait()
        log.close()


if __name__ == "__main__":
    main()
