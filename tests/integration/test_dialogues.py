"""SMTP protocol edge cases, one small dialogue file each, against the real daemon.

Every file tests/integration/dialogues/*.txt is one test. A fresh daemon
is started for it (moat_factory), one client connection is driven over a
raw socket, line by line, and the daemon must still be running at the end.

Dialogue file format
====================

Lines are processed in order. Blank lines are ignored. A line starting
with '#' is a comment; the first comment line is the test's description.

Header directives (anywhere in the file, applied before the daemon starts;
if the binary has an outbound MTA, mail for other domains is routed to a
closed loopback port so it stays queued and no test asks real DNS):

    @config TEXT          one line appended to the daemon's configuration
                          (after [domains]); repeat for several lines, e.g.
                              @config [limits]
                              @config max_message_size = 1k
    @listener NAME ROLE   add a listener (default: one "mx" listener, role mx);
                          the TLS certificate of the session is always set
    @source IP            client source address (default 127.0.0.1), e.g.
                          127.0.0.2 together with
                          "@config relay_networks = 127.0.0.2/32"
    @xfail REASON         a known daemon bug: the dialogue states the correct
                          behaviour and is expected to fail (strict xfail)

Client and server steps:

    CONNECT [NAME]        connect to listener NAME (default: the first one);
                          done implicitly before the first C/S step
    C: TEXT               send TEXT followed by CRLF, in one write
    C-RAW: ESCAPED        send bytes verbatim, in one write; ESCAPED uses
                          Python string escapes (\\r \\n \\t \\x00 \\\\),
                          nothing is added at the end
    S: CODE [X.Y.Z] [TEXT]
                          read one complete (possibly multi-line) reply; its
                          code must be CODE, the enhanced status code of its
                          first line X.Y.Z (if given), and TEXT (if given) must
                          be a prefix of the text of one of its lines (the text
                          after the code and enhanced code)
    NOT-IN-REPLY: TEXT    no line of the last reply has a text starting TEXT
    CLOSE                 the server closes the connection (EOF or reset)
                          and sends nothing more before that
    SILENT SECONDS        nothing at all arrives within SECONDS
    TLS                   TLS handshake on the connection (no verification)
    SLEEP SECONDS         pause
    FREEZE / THAW         SIGSTOP / SIGCONT the network process (moat-smtp),
                          to make "the bytes are already there at accept"
                          deterministic
    QUEUED N              the queue database holds exactly N messages (mail
                          for local mailboxes leaves it once delivered)
    ACCEPTED N            exactly N messages were accepted so far (count of
                          event=accepted lines in the log; 250 is sent only
                          after that line)
    MAILDIR BOX N         the Maildir of mailbox BOX holds exactly N messages
                          (waits up to 5 s for N to arrive, then checks)
    LOG: TEXT             the daemon log contains TEXT (waited for, 5 s)

Macros in C: and C-RAW: text:

    {{TEXT*N}}            TEXT repeated N times (expanded before escapes)

A line may start with "*N " to repeat the step N times, e.g.
    *100 C: RCPT TO:<postmaster@localhost>
"""
import codecs
import glob
import os
import re
import signal
import socket
import ssl
import time

import pytest

from conftest import free_port

HERE = os.path.dirname(os.path.abspath(__file__))
DIALOGUES = sorted(glob.glob(os.path.join(HERE, "dialogues", "*.txt")))
IO_TIMEOUT = 5.0

ENH_RE = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")
MACRO_RE = re.compile(r"\{\{(.*?)\*(\d+)\}\}")
REPLY_RE = re.compile(rb"^(\d{3})([ -])(.*)$")


class DialogueError(AssertionError):
    pass


def expand(text):
    return MACRO_RE.sub(lambda m: m.group(1) * int(m.group(2)), text)


def parse_dialogue(path):
    """-> (description, header dict, list of (lineno, verb, arg))."""
    desc = None
    header = {"config": [], "listeners": [], "source": "127.0.0.1"}
    steps = []
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if not line.strip():
                continue
            if line.startswith("#"):
                if desc is None:
                    desc = line.lstrip("#").strip()
                continue
            if line.startswith("@"):
                key, _, val = line[1:].partition(" ")
                if key == "config":
                    header["config"].append(val)
                elif key == "listener":
                    name, role = val.split()
                    header["listeners"].append((name, role, ""))
                elif key == "source":
                    header["source"] = val.strip()
                elif key == "xfail":
                    header["xfail"] = val.strip()
                else:
                    raise ValueError("%s:%d: unknown directive @%s"
                                     % (path, lineno, key))
                continue
            count = 1
            m = re.match(r"^\*(\d+) (.*)$", line)
            if m:
                count, line = int(m.group(1)), m.group(2)
            m = re.match(r"^([A-Z-]+)(:?)(?: (.*))?$", line)
            if not m:
                raise ValueError("%s:%d: cannot parse %r" % (path, lineno, line))
            verb, arg = m.group(1), m.group(3) or ""
            known = {"C", "C-RAW", "S", "NOT-IN-REPLY", "LOG", "CLOSE",
                     "SILENT", "TLS", "SLEEP", "FREEZE", "THAW", "QUEUED",
                     "CONNECT", "ACCEPTED", "MAILDIR"}
            if verb not in known:
                raise ValueError("%s:%d: unknown step %s" % (path, lineno, verb))
            steps.extend([(lineno, verb, arg)] * count)
    return desc, header, steps


class Client:
    """A raw SMTP client connection that reads whole replies."""

    def __init__(self, port, source):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((source, 0))
        self.sock.settimeout(IO_TIMEOUT)
        self.sock.connect(("127.0.0.1", port))
        self.buf = b""
        self.last = None

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        remaining = deadline - time.time()
        if remaining <= 0:
            raise socket.timeout()
        self.sock.settimeout(remaining)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError()
        self.buf += chunk

    def read_reply(self):
        """-> list of (code, is_last, text) lines of one reply."""
        deadline = time.time() + IO_TIMEOUT
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                try:
                    self._fill(deadline)
                except EOFError:
                    raise DialogueError("connection closed while waiting for "
                                        "a reply; got so far %r" % (lines,))
                except socket.timeout:
                    raise DialogueError("no complete reply within %ss; got %r"
                                        % (IO_TIMEOUT, lines or self.buf))
            line, self.buf = self.buf.split(b"\r\n", 1)
            m = REPLY_RE.match(line)
            if not m:
                raise DialogueError("malformed reply line %r" % line)
            lines.append((m.group(1).decode(), m.group(2) == b" ",
                          m.group(3).decode("utf-8", "replace")))
            if m.group(2) == b" ":
                break
        codes = {c for c, _, _ in lines}
        if len(codes) != 1:
            raise DialogueError("reply with mixed codes: %r" % lines)
        self.last = lines
        return lines

    def expect_close(self):
        deadline = time.time() + IO_TIMEOUT
        if self.buf:
            raise DialogueError("expected close, got %r" % self.buf)
        while True:
            try:
                self._fill(deadline)
            except (EOFError, ConnectionResetError, ssl.SSLEOFError,
                    ssl.SSLZeroReturnError):
                return
            except ssl.SSLError as e:
                # a TLS peer that just closes the TCP stream
                if "EOF" in str(e) or "UNEXPECTED" in str(e):
                    return
                raise
            except socket.timeout:
                raise DialogueError("server did not close within %ss"
                                    % IO_TIMEOUT)
            if self.buf:
                raise DialogueError("expected close, got %r" % self.buf)

    def expect_silence(self, seconds):
        if self.buf:
            raise DialogueError("expected silence, got %r" % self.buf)
        self.sock.settimeout(seconds)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return
        except ssl.SSLWantReadError:
            return
        raise DialogueError("expected silence, got %r"
                            % (chunk if chunk else "EOF"))

    def starttls(self):
        if self.buf:
            raise DialogueError("bytes before the TLS handshake: %r" % self.buf)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock.settimeout(IO_TIMEOUT)
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def match_reply(lines, expect):
    """Check one reply against "CODE [X.Y.Z] [TEXT]"; '' when it matches."""
    parts = expect.split(" ", 1)
    code = parts[0]
    rest = parts[1] if len(parts) > 1 else ""
    enh = None
    first = rest.split(" ", 1)
    if first[0] and ENH_RE.match(first[0]):
        enh = first[0]
        rest = first[1] if len(first) > 1 else ""
    if lines[0][0] != code:
        return "code %s, want %s" % (lines[0][0], code)

    def split_enh(text):
        w = text.split(" ", 1)
        if w[0] and ENH_RE.match(w[0]):
            return w[0], (w[1] if len(w) > 1 else "")
        return None, text

    if enh is not None and split_enh(lines[0][2])[0] != enh:
        return "enhanced code %s, want %s" % (split_enh(lines[0][2])[0], enh)
    if rest and not any(split_enh(t)[1].startswith(rest) for _, _, t in lines):
        return "no line starts with %r" % rest
    return ""


def smtp_pid(moat):
    for pid, comm in moat.children().items():
        if comm == "moat-smtp":
            return pid
    raise DialogueError("no moat-smtp child")


def run_dialogue(moat, header, steps, path):
    listeners = [n for n, _, _ in header["listeners"]] or ["mx"]
    client = None
    frozen = None
    transcript = []
    try:
        for lineno, verb, arg in steps:
            where = "%s:%d" % (os.path.basename(path), lineno)
            if verb in ("C", "C-RAW", "S", "CLOSE", "SILENT", "TLS") and \
                    client is None:
                client = Client(moat.ports[listeners[0]], header["source"])
            try:
                if verb == "CONNECT":
                    name = arg.strip() or listeners[0]
                    if client is not None:
                        client.close()
                    client = Client(moat.ports[name], header["source"])
                elif verb == "C":
                    data = expand(arg).encode("utf-8") + b"\r\n"
                    transcript.append("C: %r" % data)
                    client.send(data)
                elif verb == "C-RAW":
                    data = codecs.escape_decode(
                        expand(arg).encode("utf-8"))[0]
                    transcript.append("C: %r" % data)
                    client.send(data)
                elif verb == "S":
                    lines = client.read_reply()
                    transcript.append("S: %r" % (lines,))
                    why = match_reply(lines, arg)
                    if why:
                        raise DialogueError("want %r, got %r: %s"
                                            % (arg, lines, why))
                elif verb == "NOT-IN-REPLY":
                    for _, _, text in client.last or []:
                        if text.startswith(arg):
                            raise DialogueError("reply has %r: %r"
                                                % (arg, client.last))
                elif verb == "CLOSE":
                    client.expect_close()
                    transcript.append("S: <closed>")
                elif verb == "SILENT":
                    client.expect_silence(float(arg))
                elif verb == "TLS":
                    client.starttls()
                    transcript.append("<TLS>")
                elif verb == "SLEEP":
                    time.sleep(float(arg))
                elif verb == "FREEZE":
                    frozen = smtp_pid(moat)
                    os.kill(frozen, signal.SIGSTOP)
                elif verb == "THAW":
                    os.kill(frozen, signal.SIGCONT)
                    frozen = None
                elif verb == "QUEUED":
                    n = int(moat.sql("select count(*) from message")[0][0])
                    if n != int(arg):
                        raise DialogueError("%d messages queued, want %s"
                                            % (n, arg))
                elif verb == "ACCEPTED":
                    n = moat.log().count("event=accepted ")
                    if n != int(arg):
                        raise DialogueError("%d messages accepted, want %s"
                                            % (n, arg))
                elif verb == "MAILDIR":
                    box, want = arg.split()
                    got = len(moat.wait_maildir(int(want), box, timeout=5))
                    if got != int(want):
                        raise DialogueError("%d messages in %s, want %s"
                                            % (got, box, want))
                elif verb == "LOG":
                    if not moat.wait_log(arg, timeout=5):
                        raise DialogueError("log lacks %r" % arg)
            except (DialogueError, OSError) as e:
                raise DialogueError("%s: %s %s: %s\ntranscript:\n  %s"
                                    % (where, verb, arg, e,
                                       "\n  ".join(transcript[-12:])))
    finally:
        if frozen is not None:
            os.kill(frozen, signal.SIGCONT)
        if client is not None:
            client.close()


def test_dialogue_files_exist():
    assert len(DIALOGUES) >= 40, DIALOGUES


def dialogue_params():
    out = []
    for p in DIALOGUES:
        marks = ()
        reason = parse_dialogue(p)[1].get("xfail")
        if reason:
            marks = (pytest.mark.xfail(reason=reason, strict=True,
                                       raises=DialogueError),)
        out.append(pytest.param(
            p, marks=marks, id=os.path.splitext(os.path.basename(p))[0]))
    return out


@pytest.mark.parametrize("path", dialogue_params())
def test_dialogue(moat_factory, path):
    desc, header, steps = parse_dialogue(path)
    assert desc, "%s: no description comment" % path
    assert steps, "%s: no steps" % path
    # hermetic: outbound mail goes to a closed loopback port (deferred,
    # stays queued) instead of asking real DNS
    extra = ("[delivery]\nsmarthost = [127.0.0.1]:%d\n" % free_port()) + \
        "\n".join(header["config"])
    moat = moat_factory(extra=extra, listeners=header["listeners"] or None)
    run_dialogue(moat, header, steps, path)
    # whatever the peer sent, the daemon is still there and healthy
    time.sleep(0.05)
    assert moat.proc.poll() is None, moat.log()
    log = moat.log()
    assert "event=child_died" not in log and "event=fatal" not in log, log
    with socket.create_connection(("127.0.0.1", moat.port), IO_TIMEOUT) as s:
        s.settimeout(IO_TIMEOUT)
        assert s.recv(512).startswith(b"220 ")


def test_swaks_pipelining(moat_factory):
    """swaks --pipeline sends MAIL, RCPT, RCPT and DATA in one group."""
    import subprocess
    moat = moat_factory()
    r = subprocess.run(
        ["swaks", "--server", "127.0.0.1:%d" % moat.port, "--pipeline",
         "--helo", "client.example", "--from", "x@outside.example",
         "--to", "alice@example.org,bob@localhost"],
        capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "250 2.0.0 Ok: queued as" in r.stdout
    assert "improper" not in r.stdout
    assert len(moat.wait_maildir(1, "alice")) == 1
    assert len(moat.wait_maildir(1, "bob")) == 1
