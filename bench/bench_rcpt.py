#!/usr/bin/python3
"""bench_rcpt.py - recipient validation at RCPT, under accept_c50's load.

    bench_rcpt.py               rcpt_table_c50 and rcpt_ldap_c50
    bench_rcpt.py NAME          one of them

Both figures are accept_c50 of bench.py (smtp-source, 50 sessions, a new
connection per message, BENCH_MESSAGES messages of BENCH_LENGTH bytes,
each durably queued and held) with one difference: every message has its
own recipient, "1user@corp.example", "2user@corp.example", ...
(smtp-source -N), in corp.example, a routed domain whose recipients the
server must look up at RCPT time and refuse when unknown.

rcpt_table_c50  moat with recipient_tables = corp.example=FILE against
                Postfix with relay_domains = corp.example,
                relay_recipient_maps = hash:FILE (postmap) and a
                transport to a closed loopback port (both hold every
                message, nothing is delivered). FILE holds 1,000,000
                addresses (BENCH_RCPT_TABLE), in shuffled order; the
                messages use BENCH_MESSAGES of them, each once.
                ratio = moat/postfix, target >= 5.
rcpt_ldap_c50   moat with recipient_ldap = corp.example=corp against a
                real slapd on loopback, the directory holding
                BENCH_LDAP_ENTRIES entries (default 100,000: fewer than
                the table's million, since slapadd would take minutes;
                with a warm cache the directory's size does not enter
                the figure), the filter (|(mail=%s)(proxyAddresses=smtp:%s))
                (half the addresses are found by mail, half by
                proxyAddresses). Before the clock every recipient of the
                run is looked up once (RCPT, then RSET: nothing queued),
                so the run measures the warm cache. Compared with moat's
                run with the recipient table (that of rcpt_table_c50),
                right before it: ratio = LDAP/table, target >= 0.9.
                BENCH_LDAP_ROUNDS=N: N runs of each, alternating, the
                best of each (default 1: about 25 s more each). With
                BENCH_RCPT_POSTFIX_LDAP=1 also Postfix with
                relay_recipient_maps = ldap:FILE (postfix-ldap, the same
                filter; no cache), appended as postfix=<msg/s>.

Order: moat with the table, moat with the directory, Postfix. Writing
the table, postmap and filling the directory happen before and outside
every timed run. Before each timed run a probe from
127.0.0.2 checks that the server accepts a known recipient (250) and
refuses an unknown one (550) at RCPT; a server that does not gets
"invalid=" on its line.

Output, the format of bench.py, one line per figure:

    bench rcpt_table_c50 moat=<msg/s> postfix=<msg/s> ratio=<r> unit=msg/s (...)
    bench rcpt_ldap_c50 moat=<msg/s> table=<msg/s> ratio=<r> unit=msg/s (...)

Must run as root. BENCH_KEEP=1 keeps the temporary directories.
"""
import os
import random
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time

import bench

# the tests' slapd starter, imported by rcpt_ldap_c50 only
sys.path.insert(0, os.path.join(bench.ROOT, "tests", "integration"))

DOMAIN = "corp.example"
RCPT = "user@" + DOMAIN          # smtp-source -N: 1user@, 2user@, ...
UNKNOWN = "0user@" + DOMAIN      # never in the table nor the directory
SESSIONS = 50
TABLE = int(os.environ.get("BENCH_RCPT_TABLE", "1000000"))
LDAP_ENTRIES = int(os.environ.get("BENCH_LDAP_ENTRIES", "100000"))
LDAP_ROUNDS = int(os.environ.get("BENCH_LDAP_ROUNDS", "1"))
# Postfix with ldap: relay_recipient_maps too (another 60-100 s)
POSTFIX_LDAP = os.environ.get("BENCH_RCPT_POSTFIX_LDAP") == "1"
POSTMAP = "/usr/sbin/postmap"
FIGURES = ["rcpt_table_c50", "rcpt_ldap_c50"]


def log(msg):
    print("bench_rcpt: " + msg, file=sys.stderr, flush=True)


def address(n):
    return "%d%s" % (n, RCPT)


def write_tables(d, postfix):
    """The moat table (an address a line) and, for postfix, its source
    file ("address OK" a line, the same addresses in the same shuffled
    order) and postmap. Returns (moat file, Postfix map name or None)."""
    t0 = time.monotonic()
    order = list(range(1, TABLE + 1))
    random.Random(11).shuffle(order)
    moat_file = os.path.join(d, "recipients")
    pf_file = os.path.join(d, "relay_recipients")
    with open(moat_file, "w") as m:
        m.write("# %d addresses of %s, shuffled\n" % (TABLE, DOMAIN))
        m.writelines(address(n) + "\n" for n in order)
    os.chmod(moat_file, 0o644)
    if not postfix:
        log("table of %d addresses written in %.1f s (not in any figure)"
            % (TABLE, time.monotonic() - t0))
        return moat_file, None
    with open(pf_file, "w") as p:
        p.writelines(address(n) + " OK\n" for n in order)
    t1 = time.monotonic()
    # postmap reads main.cf for its defaults: an empty one
    etc = os.path.join(d, "postmap")
    os.mkdir(etc)
    open(os.path.join(etc, "main.cf"), "w").close()
    subprocess.run([POSTMAP, "-c", etc, "hash:" + pf_file], check=True,
                   timeout=600)
    for f in (pf_file, pf_file + ".db"):
        os.chmod(f, 0o644)
    log("table of %d addresses written in %.1f s, postmap hash: %.1f s "
        "(not in any figure)" % (TABLE, t1 - t0, time.monotonic() - t1))
    return moat_file, "hash:" + pf_file


def probe(port):
    """None if the server on port accepts a known recipient and refuses
    an unknown one at RCPT, else what is wrong. Sent from 127.0.0.2 so
    that the unknown recipient counts against no address of the load.
    A 4xx (a lookup not ready yet) is retried for 30 s."""
    deadline = time.monotonic() + 30
    known = address(1)
    while True:
        try:
            s = smtplib.SMTP("127.0.0.1", port, timeout=30,
                             source_address=("127.0.0.2", 0))
            try:
                s.ehlo("probe.bench.localhost")
                s.mail(bench.SENDER)
                kc, km = s.rcpt(known)
                uc, um = s.rcpt(UNKNOWN)
                s.rset()
                s.quit()
            finally:
                s.close()
        except (OSError, smtplib.SMTPException) as e:
            return "probe: %s" % e
        if (kc // 100 == 4 or uc // 100 == 4) and \
                time.monotonic() < deadline:
            time.sleep(0.2)
            continue
        break
    um = um.decode("utf-8", "replace")
    km = km.decode("utf-8", "replace")
    log("probe: <%s> %d %s; <%s> %d %s" % (known, kc, km, UNKNOWN, uc, um))
    bad = []
    if kc != 250:
        bad.append("known recipient <%s> got %d %s" % (known, kc, km))
    if uc != 550:
        bad.append("unknown recipient <%s> got %d %s (not refused)"
                   % (UNKNOWN, uc, um))
    return "; ".join(bad) or None


def warm(port, n, conns=10, batch=100):
    """Look up recipients 1..n once each: conns pipelining sessions from
    127.0.0.2, each MAIL, up to batch RCPTs, RSET per write (nothing is
    queued). Returns (seconds, problem or None)."""
    problems = []
    t0 = time.monotonic()

    def replies(f, count):
        out = []
        while len(out) < count:
            line = f.readline()
            if not line:
                raise OSError("connection closed")
            if line[3:4] != b"-":
                out.append(line.decode("ascii", "replace").rstrip())
        return out

    def worker(numbers):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=120,
                                          source_address=("127.0.0.2", 0)) \
                    as s, s.makefile("rb") as f:
                replies(f, 1)
                s.sendall(b"EHLO warm.bench.localhost\r\n")
                replies(f, 1)
                for i in range(0, len(numbers), batch):
                    part = numbers[i:i + batch]
                    cmd = ["MAIL FROM:<%s>" % bench.SENDER] + \
                        ["RCPT TO:<%s>" % address(k) for k in part] + ["RSET"]
                    s.sendall(("\r\n".join(cmd) + "\r\n").encode())
                    for k, r in zip([None] + part + [None],
                                    replies(f, len(cmd))):
                        if not r.startswith("250"):
                            problems.append("warm-up: %s: %s" % (
                                "<%s>" % address(k) if k else "MAIL/RSET", r))
                            return
                s.sendall(b"QUIT\r\n")
        except OSError as e:
            problems.append("warm-up: %s" % e)

    nums = list(range(1, n + 1))
    threads = [threading.Thread(target=worker, args=(nums[i::conns],))
               for i in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - t0, (problems[0] if problems else None)


class Directory:
    """The tests' slapd (slapd_fixture: back_mdb, loaded with slapadd,
    bind as its service account; a multi-valued, Active Directory-like
    proxyAddresses) holding entries 1..n: address(k) is the mail of
    entry k for odd k, and an "smtp:" alias among the proxyAddresses of
    an entry whose mail is another address for even k, so that the
    filter (|(mail=%s)(proxyAddresses=smtp:%s)) finds half of them each
    way."""
    name = "slapd"

    def __init__(self, d, entries):
        import slapd_fixture
        self.fixture = slapd_fixture
        self.dir = d
        self.entries = entries
        self.base = slapd_fixture.SUFFIX
        self.bind_dn = slapd_fixture.BIND_DN
        self.password = slapd_fixture.BIND_PW
        self.proc = self.uri = None

    def each(self):
        for k in range(1, self.entries + 1):
            if k % 2:
                yield {"uid": "u%d" % k, "mail": address(k),
                       "proxyAddresses": ["SMTP:" + address(k)]}
            else:
                primary = "user.%d@%s" % (k, DOMAIN)
                yield {"uid": "u%d" % k, "mail": primary,
                       "proxyAddresses": ["SMTP:" + primary,
                                          "smtp:" + address(k)]}

    def start(self):
        self.proc, self.uri = self.fixture.start_slapd(self.dir, self.each())

    def write_bind_file(self, path):
        """moat's bind_file: root's, mode 0600."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("binddn = %s\npassword = %s\n" % (self.bind_dn,
                                                      self.password))

    def problems(self):
        return []

    def cleanup(self, keep):
        if self.proc is not None:
            self.fixture.stop_slapd(self.proc)
            self.proc = None


class TableMoat(bench.Moat):
    def __init__(self, table):
        super().__init__()
        self.table = table

    def routed_domains(self):
        return [DOMAIN]

    def domains_conf(self):
        return "recipient_tables = %s=%s\n" % (DOMAIN, self.table)


class LdapMoat(bench.Moat):
    name = "moat-ldap"

    def __init__(self, directory):
        super().__init__()
        self.directory = directory
        self.bind_file = os.path.join(self.dir, "ldap-corp.secret")
        directory.write_bind_file(self.bind_file)

    def routed_domains(self):
        return [DOMAIN]

    def domains_conf(self):
        return "recipient_ldap = %s=corp\n" % DOMAIN

    def extra_conf(self):
        # caches long enough for the whole run; the default sizes
        return """
[ldap corp]
servers = {uri}
tls = none
base = {base}
scope = sub
filter = (|(mail=%s)(proxyAddresses=smtp:%s))
bind_file = {bind}
timeout = 10
cache_positive = 3600
cache_negative = 600
""".format(uri=self.directory.uri, base=self.directory.base,
           bind=self.bind_file)

    def warm_prepare(self, server):
        bad = probe(server.port)
        secs, wbad = warm(server.port, bench.MESSAGES)
        log("moat-ldap: warm-up looked up %d recipients in %.1f s (%.0f/s, "
            "cold cache; not in the figure)"
            % (bench.MESSAGES, secs, bench.MESSAGES / secs if secs else 0))
        return "; ".join(x for x in (bad, wbad) if x) or None


class TablePostfix(bench.Postfix):
    def __init__(self, maps):
        super().__init__()
        self.maps = maps
        self.closed = bench.free_port()     # nobody listens there

    def main_cf_extra(self):
        return """\
# recipient validation: the routed domain's addresses, unknown ones
# refused at RCPT (smtpd_reject_unlisted_recipient = yes, the default)
relay_domains = {dom}
relay_recipient_maps = {maps}
transport_maps = inline:{{ {dom}=smtp:[127.0.0.1]:{port} }}
""".format(dom=DOMAIN, maps=self.maps, port=self.closed)


class LdapPostfix(TablePostfix):
    """Postfix with relay_recipient_maps = ldap:FILE (postfix-ldap): a
    query per recipient, from each smtpd process; Postfix has no cache
    of its own for it."""
    name = "postfix-ldap"

    def __init__(self, directory):
        cf = os.path.join(directory.dir, "postfix-ldap.cf")
        super().__init__("ldap:" + cf)
        with open(cf, "w") as f:
            f.write("""\
server_host = {uri}
version = 3
search_base = {base}
scope = sub
query_filter = (|(mail=%s)(proxyAddresses=smtp:%s))
result_attribute = mail
bind = yes
bind_dn = {dn}
bind_pw = {pw}
""".format(uri=directory.uri, base=directory.base, dn=directory.bind_dn,
           pw=directory.password))
        os.chmod(cf, 0o644)


def probe_prepare(server):
    return probe(server.port)


def c50(server, prepare):
    return bench.measure(server, SESSIONS, False, False, rcpt=RCPT,
                         numbered=True, prepare=prepare)


def main(argv):
    names = argv[1:] or FIGURES
    for n in names:
        if n not in FIGURES:
            print("bench_rcpt.py: unknown figure %s (%s)"
                  % (n, " ".join(FIGURES)), file=sys.stderr)
            return 2
    if os.geteuid() != 0:
        print("bench_rcpt.py: must run as root", file=sys.stderr)
        return 2
    if bench.MESSAGES > TABLE:
        print("bench_rcpt.py: BENCH_MESSAGES %d > BENCH_RCPT_TABLE %d"
              % (bench.MESSAGES, TABLE), file=sys.stderr)
        return 2
    keep = os.environ.get("BENCH_KEEP") == "1"
    bench.log("moat %s, %d messages of %d bytes, 50 sessions, recipients "
              "%s..%s" % (bench.git_rev(), bench.MESSAGES, bench.LENGTH,
                          address(1), address(bench.MESSAGES)))
    tmp = tempfile.mkdtemp(prefix="rcpt-bench-")
    os.chmod(tmp, 0o755)
    servers, lines = [], {}
    bad = False
    t_all = time.monotonic()
    try:
        moat_file, pf_maps = write_tables(tmp, "rcpt_table_c50" in names)
        table_moat = TableMoat(moat_file)
        servers.append(table_moat)
        # moat's runs first, the table's and the directory's back to
        # back (their ratio is the figure of rcpt_ldap_c50), then Postfix
        table = c50(table_moat, probe_prepare)
        if "rcpt_ldap_c50" in names:
            lines["rcpt_ldap_c50"], invalid = ldap_figure(
                table_moat, table, servers, tmp)
            bad = bad or invalid
        if "rcpt_table_c50" in names:
            lines["rcpt_table_c50"], invalid = table_figure(table, pf_maps,
                                                            servers)
            bad = bad or invalid
        for srv in servers:
            probs = srv.problems()
            if probs:
                bench.warn("%s logged %d error/warning lines, first ones:"
                           % (srv.name, len(probs)))
                for line in probs[:10]:
                    print("    " + line, file=sys.stderr)
    except BaseException as e:
        bench.warn("aborted: %s: %s" % (type(e).__name__, e))
        keep = True
        raise
    finally:
        for srv in servers:
            try:
                srv.cleanup(keep)
            except Exception as e:
                bench.warn("stopping %s: %s" % (srv.name, e))
        if keep:
            log("tables kept in " + tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        log("total %.0f s" % (time.monotonic() - t_all))
    for name in FIGURES:
        if name in lines:
            print(lines[name], flush=True)
    return 1 if bad else 0


def table_figure(m, pf_maps, servers):
    """rcpt_table_c50 from moat's run m and one of Postfix: (line,
    invalid)."""
    postfix = TablePostfix(pf_maps)
    servers.append(postfix)
    p = c50(postfix, probe_prepare)
    invalid = [who for who, r in (("moat", m), ("postfix", p)) if r[2]]
    for who, r in (("moat", m), ("postfix", p)):
        if r[2]:
            bench.warn("rcpt_table_c50 %s: %s: figure invalid" % (who, r[2]))
    line = "bench rcpt_table_c50 moat=%.1f postfix=%.1f ratio=%.2f " \
        "unit=msg/s" % (m[0], p[0], m[0] / p[0] if p[0] else 0)
    if invalid:
        line += " invalid=" + ",".join(invalid)
    line += " (%d-address table, %d distinct recipients, an unknown one " \
        "refused with 550 by both; target >= 5)" % (TABLE, bench.MESSAGES)
    return line, bool(invalid)


def ldap_figure(table_moat, table, servers, tmp):
    """rcpt_ldap_c50, given moat's table run just before: (line,
    invalid). LDAP_ROUNDS runs with the directory, each after one with
    the table (the first is the given one)."""
    t0 = time.monotonic()
    directory = Directory(tmp, LDAP_ENTRIES)
    servers.append(directory)
    directory.start()
    log("slapd with %d entries ready in %.1f s (not in any figure)"
        % (LDAP_ENTRIES, time.monotonic() - t0))
    ldap_moat = LdapMoat(directory)
    servers.append(ldap_moat)
    table_rates, ldap_rates, problems = [table[0]], [], []
    if table[2]:
        problems.append("table: " + table[2])
    for i in range(LDAP_ROUNDS):
        if i > 0:
            r = c50(table_moat, probe_prepare)
            table_rates.append(r[0])
            if r[2]:
                problems.append("table: " + r[2])
        r = c50(ldap_moat, ldap_moat.warm_prepare)
        ldap_rates.append(r[0])
        if r[2]:
            problems.append("ldap: " + r[2])
    pf = None
    if POSTFIX_LDAP:
        postfix = LdapPostfix(directory)
        servers.append(postfix)
        pf, _, bad = c50(postfix, probe_prepare)
        if bad:
            problems.append("postfix: " + bad)
    for p in problems:
        bench.warn("rcpt_ldap_c50 %s: figure invalid" % p)
    m, t = max(ldap_rates), max(table_rates)
    log("rcpt_ldap_c50: LDAP runs %s, table runs %s msg/s" % (
        ", ".join("%.1f" % x for x in ldap_rates),
        ", ".join("%.1f" % x for x in table_rates)))
    line = "bench rcpt_ldap_c50 moat=%.1f table=%.1f ratio=%.2f unit=msg/s" \
        % (m, t, m / t if t else 0)
    if pf is not None:
        line += " postfix=%.1f moat/postfix=%.1f" % (pf, m / pf if pf else 0)
    if problems:
        line += " invalid=" + ",".join(sorted(set(
            "postfix" if p.startswith("postfix") else "moat"
            for p in problems)))
    line += " (slapd with %d entries, %d recipients looked up once before " \
        "the run; %s; ratio = LDAP/table, target >= 0.9)" % (
            LDAP_ENTRIES, bench.MESSAGES,
            "one run each, back to back" if LDAP_ROUNDS == 1 else
            "best of %d runs each, alternating" % LDAP_ROUNDS)
    return line, bool(problems)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
