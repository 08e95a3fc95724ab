#!/usr/bin/python3
"""bench_milter.py - accept_c50 with the rspamd milter in front.

    bench_milter.py             accept_c50_rspamd

accept_c50 of bench.py (smtp-source, 50 sessions, a new connection per
message, BENCH_MESSAGES messages of BENCH_LENGTH bytes, each durably
queued and held, nothing delivered) with one difference: every session
is filtered by the same rspamd, in milter mode, on loopback:

  moat     [milter rspamd] socket = inet:127.0.0.1:PORT, the listener's
           milters = rspamd
  Postfix  smtpd_milters = inet:127.0.0.1:PORT, milter_protocol = 6,
           milter_default_action = tempfail

rspamd is the tests' (tests/integration/filters.py): its proxy worker
scanning by itself (self_scan) in BENCH_RSPAMD_WORKERS processes
(default 2), with the core scan (GTUBE) and the module that adds
X-Spamd-Result, without rspamd's rule set (which would take a minute
to load here and cost both servers the same per message). One rspamd
serves both runs, moat's first; it is started before and stopped after
them. Before each run a probe checks that the server passes a message
through rspamd: a GTUBE message is refused with rspamd's 554.

Output, the format of bench.py:

    bench accept_c50_rspamd moat=<msg/s> postfix=<msg/s> ratio=<r> unit=msg/s

ratio = moat/postfix; target >= 2. Must run as root. BENCH_KEEP=1 keeps
the temporary directories.
"""
import os
import smtplib
import sys
import time

import bench

sys.path.insert(0, os.path.join(bench.ROOT, "tests", "integration"))

SESSIONS = 50
WORKERS = int(os.environ.get("BENCH_RSPAMD_WORKERS", "2"))
GTUBE = ("XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*"
         "C.34X")


def log(msg):
    print("bench_milter: " + msg, file=sys.stderr, flush=True)


class MilterMoat(bench.Moat):
    def __init__(self, spec):
        super().__init__()
        self.spec = spec

    def listener_conf(self):
        return "milters = rspamd\n"

    def extra_conf(self):
        return ("\n[milter rspamd]\nsocket = %s\ncommand_timeout = 30\n"
                "eom_timeout = 60\ndefault_action = tempfail\n" % self.spec)


class MilterPostfix(bench.Postfix):
    def __init__(self, spec):
        super().__init__()
        self.spec = spec

    def main_cf_extra(self):
        return """\
smtpd_milters = {spec}
milter_protocol = 6
milter_default_action = tempfail
milter_command_timeout = 30s
milter_content_timeout = 60s
""".format(spec=self.spec)


def probe(server):
    """None when a GTUBE message sent to server gets rspamd's 554."""
    try:
        with smtplib.SMTP("127.0.0.1", server.port, timeout=60) as s:
            s.ehlo("probe.bench.localhost")
            s.mail(bench.SENDER)
            s.rcpt(bench.RECIPIENT)
            code, reply = s.data(("Subject: probe\r\n\r\n%s\r\n"
                                  % GTUBE).encode())
    except (OSError, smtplib.SMTPException) as e:
        return "probe: %s" % e
    log("%s probe: GTUBE got %d %s" % (server.name, code,
                                       reply.decode("utf-8", "replace")))
    if code != 554:
        return "probe: GTUBE got %d, not rspamd's 554" % code
    return None


def main(argv):
    names = argv[1:] or ["accept_c50_rspamd"]
    if names != ["accept_c50_rspamd"]:
        print("bench_milter.py: unknown figure %s" % " ".join(names),
              file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("bench_milter.py: must run as root", file=sys.stderr)
        return 2
    from filters import Rspamd
    keep = os.environ.get("BENCH_KEEP") == "1"
    t_all = time.monotonic()
    rspamd = moat = postfix = None
    bad = False
    try:
        rspamd = Rspamd(count=WORKERS).start(timeout=180)
        log("rspamd on %s, %d proxy workers" % (rspamd.socket_spec, WORKERS))
        moat = MilterMoat(rspamd.socket_spec)
        postfix = MilterPostfix(rspamd.socket_spec)
        bench.log("moat %s, %d messages of %d bytes, 50 sessions, through "
                  "rspamd" % (bench.git_rev(), bench.MESSAGES, bench.LENGTH))
        r = {}
        for srv in (moat, postfix):
            c0 = bench.tree_cpu(bench.tree(rspamd.proc.pid))
            r[srv.name] = bench.measure(srv, SESSIONS, False, False,
                                        prepare=probe)
            c1 = bench.tree_cpu(bench.tree(rspamd.proc.pid))
            # rspamd's share: the same filter, the same messages
            log("%s run: rspamd used %.2f ms of CPU a message (not in the "
                "figure's server CPU)" % (srv.name, 1000.0 * (c1 - c0) /
                                          bench.MESSAGES))
        invalid = []
        for who in ("moat", "postfix"):
            if r[who][2]:
                bench.warn("accept_c50_rspamd %s: %s: figure invalid"
                           % (who, r[who][2]))
                invalid.append(who)
        bad = bool(invalid)
        bench.emit("accept_c50_rspamd", r["moat"][0], r["postfix"][0],
                   "msg/s", True, invalid)
    finally:
        for srv in (moat, postfix, rspamd):
            if srv is None:
                continue
            try:
                if srv is rspamd:
                    srv.stop()
                else:
                    srv.cleanup(keep)
            except Exception as e:
                bench.warn("stopping %s: %s" % (getattr(srv, "name", "rspamd"),
                                                e))
        log("total %.0f s" % (time.monotonic() - t_all))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
