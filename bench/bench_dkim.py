#!/usr/bin/python3
"""bench_dkim.py - the cost of DKIM signing under accept_c50's load.

    bench_dkim.py               accept_c50_dkim

accept_c50 of bench.py (smtp-source, 50 sessions, a new connection per
message, BENCH_MESSAGES messages of BENCH_LENGTH bytes from the relay
client 127.0.0.1, each durably queued and held), three times in a row
with the same client and the same binary:

  nosign   moat without dkim_sign
  ed25519  moat signing every message (From: bench@localhost) with an
           Ed25519 key (dkim_sign = localhost:ed:KEY)
  rsa      the same with an RSA-2048 key

The keys are made by `moat dkim keygen` before the clock. After each
signing run, ca's count of signatures (event=ca_stopped dkim_signed=N)
must equal the messages sent, else the figure is invalid.

Output, the format of bench.py:

    bench accept_c50_dkim moat=<ed25519 msg/s> nosign=<msg/s> rsa=<msg/s> ratio=<ed25519/nosign> unit=msg/s

and on stderr the slowdown of each signing run against nosign. The
target is a slowdown of at most 15% with Ed25519 (ratio >= 0.85).
Must run as root. BENCH_KEEP=1 keeps the temporary directories.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import bench


def log(msg):
    print("bench_dkim: " + msg, file=sys.stderr, flush=True)


class SigningMoat(bench.Moat):
    """bench.py's moat, signing with the key of kind (None: not)."""

    def __init__(self, keydir, kind):
        super().__init__()
        self.kind = kind
        self.key = None
        if kind is not None:
            self.key = os.path.join(keydir, "localhost.%s.key" % kind)
            if not os.path.exists(self.key):
                subprocess.run([bench.MOAT, "dkim", "keygen", "localhost",
                                kind, "--type",
                                "ed25519" if kind == "ed" else "rsa",
                                "--bits", "2048", "--dir", keydir],
                               check=True, capture_output=True)

    def extra_conf(self):
        if self.key is None:
            return ""
        return "\n[dkim]\ndkim_sign = localhost:%s:%s\n" % (self.kind,
                                                           self.key)

    def signed(self):
        """ca's count of signatures in the last run's log."""
        with open(self.log_path, errors="replace") as f:
            counts = re.findall(r"event=ca_stopped .*dkim_signed=(\d+)",
                                f.read())
        return int(counts[-1]) if counts else 0


def main(argv):
    if len(argv) > 2 or (len(argv) == 2 and argv[1] != "accept_c50_dkim"):
        print("usage: bench_dkim.py [accept_c50_dkim]", file=sys.stderr)
        return 2
    keep = os.environ.get("BENCH_KEEP") == "1"
    keydir = tempfile.mkdtemp(prefix="dkim-bench-keys-")
    servers = []
    rates, invalid = {}, []
    try:
        for kind in (None, "ed", "rsa"):
            srv = SigningMoat(keydir, kind)
            servers.append(srv)
            name = {None: "nosign", "ed": "ed25519", "rsa": "rsa"}[kind]
            rate, _, problem = bench.measure(srv, 50, False, False)
            if kind is not None and problem is None and \
                    srv.signed() != bench.MESSAGES:
                problem = "ca signed %d of %d messages" % (srv.signed(),
                                                           bench.MESSAGES)
            if problem:
                log("%s: %s: figure invalid" % (name, problem))
                invalid.append(name)
            rates[name] = rate
        base = rates["nosign"]
        for name in ("ed25519", "rsa"):
            log("%s: %.1f msg/s against %.1f unsigned: %.1f%% slower"
                % (name, rates[name], base,
                   100 * (1 - rates[name] / base) if base else 0))
        line = ("bench accept_c50_dkim moat=%s nosign=%s rsa=%s ratio=%.2f "
                "unit=msg/s" % (bench.fmt(rates["ed25519"]), bench.fmt(base),
                                bench.fmt(rates["rsa"]),
                                rates["ed25519"] / base if base else 0))
        if invalid:
            line += " invalid=" + ",".join(invalid)
        print(line, flush=True)
    finally:
        for srv in servers:
            srv.cleanup(keep)
        if not keep:
            shutil.rmtree(keydir, ignore_errors=True)
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
