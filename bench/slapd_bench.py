"""slapd_bench.py - a private slapd on loopback, filled in bulk, for
bench_rcpt.py's rcpt_ldap_c50.

A directory shaped like Active Directory's mail attributes: entries of
objectClass inetOrgPerson plus an auxiliary class carrying a
multi-valued, case-insensitive proxyAddresses ("SMTP:primary",
"smtp:alias"), and a service account that moat binds as. Entry n
(1..entries) has the address address(n): in mail for odd n, as an
"smtp:" proxyAddresses alias beside another primary address for even n,
so that the filter (|(mail=%s)(proxyAddresses=smtp:%s)) finds half of
them each way.

The database is built with slapadd -q before slapd starts (100,000
entries in seconds; through ldapadd it would take minutes). slapd runs
as root from a slapd.conf of its own (-f, never /etc/ldap), back_mdb,
listening on ldap://127.0.0.1:<free port>/ only.
"""
import os
import shutil
import signal
import socket
import subprocess
import time

from bench import free_port

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
SCHEMA = "/etc/ldap/schema"
MODULES = "/usr/lib/ldap"
BIND_DN_RDN = "cn=moat,ou=services"
BIND_PASSWORD = "bench-secret"

# proxyAddresses as Active Directory matches it: case-insensitive, so
# that "smtp:" in the filter finds "SMTP:" primaries as well
AD_SCHEMA = """\
attributetype ( 1.3.6.1.4.1.99999.11.1.1 NAME 'proxyAddresses'
    EQUALITY caseIgnoreMatch
    SUBSTR caseIgnoreSubstringsMatch
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{1123} )
objectclass ( 1.3.6.1.4.1.99999.11.2.1 NAME 'mailRecipient'
    SUP top AUXILIARY MAY ( proxyAddresses ) )
"""


class Directory:
    name = "slapd"

    def __init__(self, d, domain, entries, address):
        self.dir = d
        self.domain = domain
        self.entries = entries
        self.address = address
        self.base = ",".join("dc=" + x for x in domain.split("."))
        self.bind_dn = "%s,%s" % (BIND_DN_RDN, self.base)
        self.port = None
        self.uri = None
        self.proc = None
        self.log_path = os.path.join(d, "slapd.log")
        os.mkdir(d)
        os.mkdir(os.path.join(d, "db"), 0o700)

    def write_conf(self):
        with open(os.path.join(self.dir, "ad.schema"), "w") as f:
            f.write(AD_SCHEMA)
        conf = os.path.join(self.dir, "slapd.conf")
        with open(conf, "w") as f:
            f.write("""\
include {schema}/core.schema
include {schema}/cosine.schema
include {schema}/inetorgperson.schema
include {d}/ad.schema
modulepath {mods}
moduleload back_mdb
pidfile {d}/slapd.pid
loglevel none
sizelimit 10
database mdb
maxsize 4294967296
suffix "{base}"
rootdn "cn=admin,{base}"
directory {d}/db
index objectClass eq
index mail eq
index proxyAddresses eq
access to attrs=userPassword by anonymous auth by * none
access to * by dn.exact="{bind}" read by * none
""".format(schema=SCHEMA, d=self.dir, mods=MODULES, base=self.base,
           bind=self.bind_dn))
        return conf

    def write_ldif(self, path):
        dc = self.domain.split(".")[0]
        with open(path, "w") as f:
            f.write("dn: %s\nobjectClass: dcObject\nobjectClass: "
                    "organization\no: %s\ndc: %s\n\n" % (self.base,
                                                        self.domain, dc))
            for ou in ("services", "people"):
                f.write("dn: ou=%s,%s\nobjectClass: organizationalUnit\n"
                        "ou: %s\n\n" % (ou, self.base, ou))
            f.write("dn: %s\nobjectClass: inetOrgPerson\ncn: moat\nsn: moat\n"
                    "userPassword: %s\n\n" % (self.bind_dn, BIND_PASSWORD))
            for n in range(1, self.entries + 1):
                a = self.address(n)
                f.write("dn: uid=u%d,ou=people,%s\nobjectClass: inetOrgPerson"
                        "\nobjectClass: mailRecipient\nuid: u%d\ncn: User %d\n"
                        "sn: %d\n" % (n, self.base, n, n, n))
                if n % 2:
                    f.write("mail: %s\nproxyAddresses: SMTP:%s\n\n" % (a, a))
                else:
                    primary = "user.%d@%s" % (n, self.domain)
                    f.write("mail: %s\nproxyAddresses: SMTP:%s\n"
                            "proxyAddresses: smtp:%s\n\n" % (primary, primary,
                                                            a))

    def write_bind_file(self, path):
        """moat's bind_file: root-owned, mode 0600."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("binddn = %s\npassword = %s\n" % (self.bind_dn,
                                                      BIND_PASSWORD))
        os.chmod(path, 0o600)

    def start(self):
        conf = self.write_conf()
        ldif = os.path.join(self.dir, "entries.ldif")
        self.write_ldif(ldif)
        r = subprocess.run([SLAPADD, "-q", "-f", conf, "-l", ldif],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError("slapadd: status %d: %s" % (
                r.returncode, (r.stderr or r.stdout).strip()[-2000:]))
        os.unlink(ldif)
        self.port = free_port()
        self.uri = "ldap://127.0.0.1:%d/" % self.port
        self.logf = open(self.log_path, "ab")
        # -d 0: in the foreground (a child of ours), no debug output
        self.proc = subprocess.Popen([SLAPD, "-d", "0", "-f", conf, "-h",
                                      self.uri], stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=self.logf,
                                     start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("slapd exited with status %d; see %s"
                                   % (self.proc.returncode, self.log_path))
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("slapd did not listen in 30 s; see " + self.log_path)

    def stop(self):
        if self.proc is None:
            return
        p, self.proc = self.proc, None
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.logf.close()

    def problems(self):
        return []

    def cleanup(self, keep):
        self.stop()
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)
