"""A real OpenLDAP slapd on loopback, for the LDAP recipient tests and the
benchmarks.

    from slapd_fixture import start_slapd, stop_slapd, restart_slapd
    proc, uri = start_slapd(tmpdir, [{"uid": "alice",
                                      "mail": "alice@corp.example",
                                      "proxyAddresses": ["smtp:al@corp.example"]}])
    ...
    stop_slapd(proc)

start_slapd writes a slapd.conf (mdb backend, the Debian schemas core,
cosine and inetorgperson, and a small test schema with an auxiliary
objectClass `moatRecipient` whose attribute `proxyAddresses` is
multi-valued, like Active Directory's), loads the entries with slapadd
and starts `slapd -d 0` (foreground) on 127.0.0.1 and a free port. Each
entry is uid=UID,ou=people,dc=corp,dc=example, an inetOrgPerson with
`mail` (one or several) and optionally `proxyAddresses`. Searches need a
bind as BIND_DN/BIND_PW (anonymous reads get nothing).

tls=(cert, key, ca): slapd also offers StartTLS on the ldap:// port and
listens on an ldaps:// port (proc.ldaps_uri). make_test_ca makes such a
CA and a certificate for localhost / 127.0.0.1 with openssl.

proc.moat_cmd is the command line: restart_slapd(proc) starts the same
server (same port, same data) again after stop_slapd.
"""
import os
import shutil
import signal
import socket
import subprocess
import time

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
SUFFIX = "dc=corp,dc=example"
BIND_DN = "cn=moat,ou=services,dc=corp,dc=example"
BIND_PW = "moat-test-secret"
ROOT_DN = "cn=admin,dc=corp,dc=example"
ROOT_PW = "root-test-secret"

SCHEMA = """\
attributetype ( 1.3.6.1.4.1.99999.77.1.1 NAME 'proxyAddresses'
    DESC 'addresses of a recipient, Exchange style: smtp:alias@domain'
    EQUALITY caseIgnoreIA5Match
    SUBSTR caseIgnoreIA5SubstringsMatch
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.26{1024} )
objectclass ( 1.3.6.1.4.1.99999.77.2.1 NAME 'moatRecipient'
    DESC 'a mail recipient with Exchange-style proxy addresses'
    SUP top AUXILIARY
    MAY ( proxyAddresses ) )
"""


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _ldif(entries):
    out = [
        "dn: %s\nobjectClass: dcObject\nobjectClass: organization\n"
        "dc: corp\no: corp\n" % SUFFIX,
        "dn: ou=people,%s\nobjectClass: organizationalUnit\nou: people\n"
        % SUFFIX,
        "dn: ou=services,%s\nobjectClass: organizationalUnit\n"
        "ou: services\n" % SUFFIX,
        "dn: %s\nobjectClass: organizationalRole\n"
        "objectClass: simpleSecurityObject\ncn: moat\nuserPassword: %s\n"
        % (BIND_DN, BIND_PW),
    ]
    for e in entries:
        if isinstance(e, str):
            out.append(e if e.endswith("\n") else e + "\n")
            continue
        uid = e["uid"]
        mails = e.get("mail", [])
        if isinstance(mails, str):
            mails = [mails]
        lines = ["dn: uid=%s,ou=people,%s" % (uid, SUFFIX),
                 "objectClass: inetOrgPerson",
                 "objectClass: moatRecipient",
                 "uid: %s" % uid, "cn: %s" % uid, "sn: %s" % uid]
        lines += ["mail: %s" % m for m in mails]
        lines += ["proxyAddresses: %s" % p
                  for p in e.get("proxyAddresses", [])]
        out.append("\n".join(lines) + "\n")
    return "\n".join(out)


def make_test_ca(tmpdir, name="ca"):
    """A CA (tmpdir/NAME-ca.pem) and a certificate it signed for localhost
    and 127.0.0.1 (NAME-cert.pem, NAME-key.pem); returns (cert, key, ca)."""
    tmpdir = str(tmpdir)
    p = lambda f: os.path.join(tmpdir, "%s-%s" % (name, f))
    run = lambda *a: subprocess.run(list(a), check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
        "-keyout", p("ca-key.pem"), "-out", p("ca.pem"), "-days", "2",
        "-subj", "/CN=moat test CA %s" % name,
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes",
        "-keyout", p("key.pem"), "-out", p("csr.pem"), "-subj", "/CN=localhost")
    ext = p("ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                "extendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", p("csr.pem"), "-CA", p("ca.pem"),
        "-CAkey", p("ca-key.pem"), "-CAcreateserial", "-out", p("cert.pem"),
        "-days", "2", "-extfile", ext)
    return p("cert.pem"), p("key.pem"), p("ca.pem")


def _wait_port(port, proc, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("slapd exited with %s: %s" % (
                proc.returncode, proc.stderr.read().decode(errors="replace")
                if proc.stderr else ""))
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("slapd did not listen on port %d" % port)


def _launch(cmd, port):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        _wait_port(port, proc)
    except Exception:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        raise
    return proc


def start_slapd(tmpdir, entries, tls=None):
    """Start slapd with entries below tmpdir/slapd; returns (proc, uri).
    tls: (cert, key, ca) for StartTLS and ldaps (proc.ldaps_uri)."""
    d = os.path.join(str(tmpdir), "slapd")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "db"))
    with open(os.path.join(d, "moat-test.schema"), "w") as f:
        f.write(SCHEMA)
    conf = [
        "include /etc/ldap/schema/core.schema",
        "include /etc/ldap/schema/cosine.schema",
        "include /etc/ldap/schema/inetorgperson.schema",
        "include %s/moat-test.schema" % d,
        "pidfile %s/slapd.pid" % d,
        "modulepath /usr/lib/ldap",
        "moduleload back_mdb",
    ]
    if tls:
        cert, key, ca = tls
        conf += ["TLSCertificateFile %s" % cert,
                 "TLSCertificateKeyFile %s" % key,
                 "TLSCACertificateFile %s" % ca]
    conf += [
        "database mdb",
        "maxsize 4294967296",
        'suffix "%s"' % SUFFIX,
        'rootdn "%s"' % ROOT_DN,
        "rootpw %s" % ROOT_PW,
        "directory %s/db" % d,
        "index mail,proxyAddresses eq",
        "access to attrs=userPassword by anonymous auth by * none",
        'access to * by dn.exact="%s" read by * none' % BIND_DN,
    ]
    cf = os.path.join(d, "slapd.conf")
    with open(cf, "w") as f:
        f.write("\n".join(conf) + "\n")
    ldif = os.path.join(d, "entries.ldif")
    with open(ldif, "w") as f:
        f.write(_ldif(entries))
    r = subprocess.run([SLAPADD, "-q", "-f", cf, "-l", ldif],
                       capture_output=True)
    if r.returncode != 0:
        raise RuntimeError("slapadd: " + r.stderr.decode(errors="replace"))
    port = _free_port()
    urls = "ldap://127.0.0.1:%d/" % port
    ldaps_port = None
    if tls:
        ldaps_port = _free_port()
        urls += " ldaps://127.0.0.1:%d/" % ldaps_port
    cmd = [SLAPD, "-d", "0", "-f", cf, "-h", urls]
    proc = _launch(cmd, port)
    if ldaps_port:
        _wait_port(ldaps_port, proc)
    proc.moat_cmd = cmd
    proc.moat_port = port
    proc.moat_ldaps_port = ldaps_port
    proc.ldaps_uri = ("ldaps://127.0.0.1:%d" % ldaps_port) if tls else None
    return proc, "ldap://127.0.0.1:%d" % port


def stop_slapd(proc):
    """Stop slapd (SIGTERM, then SIGKILL); a stopped one is fine."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGCONT)
        except OSError:
            pass
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stderr:
        proc.stderr.close()


def restart_slapd(proc):
    """The same slapd (port, data) again after stop_slapd; a new proc."""
    stop_slapd(proc)
    new = _launch(proc.moat_cmd, proc.moat_port)
    if proc.moat_ldaps_port:
        _wait_port(proc.moat_ldaps_port, new)
    new.moat_cmd = proc.moat_cmd
    new.moat_port = proc.moat_port
    new.moat_ldaps_port = proc.moat_ldaps_port
    new.ldaps_uri = proc.ldaps_uri
    return new
