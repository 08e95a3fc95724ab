"""Real mail filters from Debian for the milter tests and the bench:
rspamd in milter mode (its proxy worker scanning by itself) and opendkim
signing, each with a small configuration written into a directory of its
own, on a loopback port, started and stopped by the caller."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from conftest import free_port

RSPAMD_CONF = """\
options {
  pidfile = "%(dir)s/rspamd.pid";
  disable_hyperscan = true;
  # no DNS for the tests: a closed local port fails at once
  dns {
    nameserver = ["127.0.0.1:9"];
    timeout = 0.2s;
    retransmits = 1;
  }
}
logging {
  type = "file";
  filename = "%(dir)s/rspamd.log";
  level = "notice";
}
actions {
  reject = 15;
  add_header = 6;
}
# rspamd's own rules take a minute to load on a busy machine: the tests
# need the core (GTUBE) and the module that adds the headers only
modules {
  path = "${PLUGINSDIR}/milter_headers.lua";
}
milter_headers {
  use = ["x-spamd-result", "x-rspamd-queue-id"];
  skip_local = false;
  skip_authenticated = false;
}
worker "rspamd_proxy" {
  bind_socket = "127.0.0.1:%(port)d";
  milter = yes;
  timeout = 120s;
  upstream "local" {
    default = yes;
    self_scan = yes;
  }
  count = %(count)d;
  reject_message = "Spam message rejected";
}
"""


def wait_port(port, proc, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %s" % (what, proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("%s did not listen on %d within %ss"
                       % (what, port, timeout))


class Filter:
    """A filter daemon on 127.0.0.1:port in a process group of its own,
    with its directory."""

    @property
    def socket_spec(self):
        return "inet:127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc is not None:
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Rspamd(Filter):
    """rspamd's proxy worker in milter mode on 127.0.0.1:port."""

    def __init__(self, count=1):
        self.port = free_port()
        self.count = count
        self.dir = tempfile.mkdtemp(prefix="moat-rspamd-")
        self.proc = None

    def start(self, timeout=90):
        os.chmod(self.dir, 0o755)
        conf = os.path.join(self.dir, "rspamd.conf")
        with open(conf, "w") as f:
            f.write(RSPAMD_CONF % {"dir": self.dir, "port": self.port,
                                   "count": self.count})
        shutil.chown(self.dir, "_rspamd", "_rspamd")
        self.log = open(os.path.join(self.dir, "out"), "wb")
        self.proc = subprocess.Popen(
            ["rspamd", "-f", "-c", conf, "-u", "_rspamd", "-g", "_rspamd",
             "--var=DBDIR=" + self.dir, "--var=RUNDIR=" + self.dir],
            stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)
        wait_port(self.port, self.proc, timeout, "rspamd")
        return self



class OpenDKIM(Filter):
    """opendkim signing for domain with a key it makes, on 127.0.0.1."""

    def __init__(self, domain, selector="test"):
        self.port = free_port()
        self.domain = domain
        self.selector = selector
        self.dir = tempfile.mkdtemp(prefix="moat-opendkim-")
        self.proc = None

    def start(self, timeout=30):
        os.chmod(self.dir, 0o755)
        subprocess.run(["opendkim-genkey", "-b", "2048", "-d", self.domain,
                        "-s", self.selector, "-D", self.dir], check=True,
                       capture_output=True)
        self.key = os.path.join(self.dir, self.selector + ".private")
        self.txt = os.path.join(self.dir, self.selector + ".txt")
        conf = os.path.join(self.dir, "opendkim.conf")
        with open(conf, "w") as f:
            f.write("Domain %s\nSelector %s\nKeyFile %s\n"
                    "Socket inet:%d@127.0.0.1\nMode sv\n"
                    "Canonicalization relaxed/relaxed\n"
                    "InternalHosts 127.0.0.1\nSyslog no\n"
                    "Background no\nPidFile %s/opendkim.pid\n"
                    "UserID opendkim\nRequireSafeKeys false\n"
                    % (self.domain, self.selector, self.key, self.port,
                       self.dir))
        shutil.chown(self.key, "opendkim", "opendkim")
        os.chmod(self.key, 0o600)
        shutil.chown(self.dir, "opendkim", "opendkim")
        self.log = open(os.path.join(self.dir, "out"), "wb")
        self.proc = subprocess.Popen(
            ["opendkim", "-f", "-x", conf], stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True)
        wait_port(self.port, self.proc, timeout, "opendkim")
        return self

