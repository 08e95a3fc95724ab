"""A milter written for the tests: it speaks the filter's side of the
milter protocol (version 6) itself over TCP on loopback, checks every
packet moat sends (length, command, NUL-ended strings, field counts,
order) and records what it saw, and answers as the test scripts it.

    m = ScriptMilter(replies={"M": [("r", b"")]}).start()
    ...
    m.stop(); assert m.errors == []

replies maps a command letter to the packets sent back for it (a list of
(reply letter, data) pairs, or a function (milter, conn, data) -> such a
list); commands not in it get "continue" (and EOM too). A reply of
("sleep", seconds) pauses before the next one; ("close", None) ends the
connection there, as a filter that dies.
"""
import socket
import struct
import threading
import time

from conftest import free_port

SMFIF_ALL = 0x1ff

# the command letters moat may send, and what they carry
CMDS = set("ABCDEHLMNOQRT")


def pkt(cmd, data=b""):
    return struct.pack(">I", len(data) + 1) + cmd.encode() + data


def strs(*parts):
    return b"".join(p.encode() if isinstance(p, str) else p for p in
                    (x + ("\0" if isinstance(x, str) else b"\0")
                     for x in parts))


class ScriptMilter:
    def __init__(self, actions=SMFIF_ALL, protocol=0, replies=None,
                 version=6, optneg_extra=b"", accept_connections=True):
        self.actions = actions
        self.protocol = protocol
        self.replies = replies or {}
        self.version = version
        self.optneg_extra = optneg_extra
        self.accept_connections = accept_connections
        self.port = free_port()
        self.events = []        # (connection number, letter, parsed data)
        self.errors = []
        self.macros = {}        # last value of each macro seen
        self.lock = threading.Lock()
        self.conns = 0
        self.stopping = False
        self.sock = None

    @property
    def socket_spec(self):
        return "inet:127.0.0.1:%d" % self.port

    def start(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.stopping = True
        if self.sock:
            self.sock.close()
        self.thread.join(3)

    def error(self, what):
        with self.lock:
            self.errors.append(what)

    def seen(self, letter):
        return [e for e in self.events if e[1] == letter]

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            if not self.accept_connections:
                c.close()
                continue
            with self.lock:
                self.conns += 1
                n = self.conns
            threading.Thread(target=self._serve, args=(c, n),
                             daemon=True).start()

    def _read(self, c, n):
        buf = b""
        while len(buf) < n:
            got = c.recv(n - len(buf))
            if not got:
                return None
            buf += got
        return buf

    def _parse(self, letter, data):
        """The command's fields, or an error for a malformed one."""
        def nul_strings(d):
            if d and not d.endswith(b"\0"):
                raise ValueError("string without its NUL")
            return [x.decode("latin-1") for x in d.split(b"\0")[:-1]] \
                if d else []
        if letter == "O":
            if len(data) != 12:
                raise ValueError("OPTNEG of %d bytes" % len(data))
            return struct.unpack(">III", data)
        if letter == "D":
            if not data:
                raise ValueError("MACRO without its command")
            s = nul_strings(data[1:])
            if len(s) % 2:
                raise ValueError("MACRO with an odd number of strings")
            return (chr(data[0]), dict(zip(s[::2], s[1::2])))
        if letter == "C":
            i = data.index(b"\0")
            host = data[:i].decode()
            fam = chr(data[i + 1])
            if fam == "U":
                if len(data) != i + 2:
                    raise ValueError("CONNECT: bytes after family U")
                return (host, fam, None, None)
            port = struct.unpack(">H", data[i + 2:i + 4])[0]
            addr = nul_strings(data[i + 4:])
            if len(addr) != 1:
                raise ValueError("CONNECT: address")
            return (host, fam, port, addr[0])
        if letter in "HMR":
            s = nul_strings(data)
            if not s:
                raise ValueError("%s without arguments" % letter)
            if letter in "MR" and not (s[0].startswith("<") and
                                       s[0].endswith(">")):
                raise ValueError("%s address not in <>" % letter)
            if letter == "H" and len(s) != 1:
                raise ValueError("HELO with %d strings" % len(s))
            return s
        if letter == "L":
            s = nul_strings(data)
            if len(s) != 2:
                raise ValueError("HEADER with %d strings" % len(s))
            return s
        if letter == "B":
            if len(data) > 65535:
                raise ValueError("BODY chunk of %d bytes" % len(data))
            return data
        if data:
            raise ValueError("%s with %d bytes of data" % (letter, len(data)))
        return None

    def _answer(self, letter, parsed, n):
        nr = {"C": 0x1000, "H": 0x2000, "M": 0x4000, "R": 0x8000,
              "T": 0x10000, "L": 0x80, "N": 0x40000, "B": 0x80000}
        if letter in "DAQ" or (letter in nr and self.protocol & nr[letter]):
            return []
        r = self.replies.get(letter)
        if callable(r):
            r = r(self, n, parsed)
        if r is None:
            r = [("c", b"")]
        return r

    def _serve(self, c, n):
        order = {"C": "O", "H": "CHEAM", "M": "CHEA", "R": "MR", "T": "R",
                 "L": "TL", "N": "TL", "B": "NB", "E": "NBLT"}
        last = None
        c.settimeout(30)
        try:
            while True:
                head = self._read(c, 4)
                if head is None:
                    return
                (length,) = struct.unpack(">I", head)
                if length == 0 or length > 1 << 20:
                    self.error("bad length %d" % length)
                    return
                body = self._read(c, length)
                if body is None:
                    self.error("connection closed inside a packet")
                    return
                letter, data = chr(body[0]), body[1:]
                if letter not in CMDS:
                    self.error("unknown command %r" % letter)
                    return
                try:
                    parsed = self._parse(letter, data)
                except (ValueError, IndexError, struct.error) as e:
                    self.error("%s: %s" % (letter, e))
                    return
                if letter == "D":
                    with self.lock:
                        self.macros.update(parsed[1])
                elif letter not in "AQ":
                    want = order.get(letter)
                    # after a refusal moat starts over with MAIL, or aborts
                    if want and last not in want and not (
                            letter == "M" and last is not None):
                        self.error("%s after %s" % (letter, last))
                    last = letter
                elif letter == "A":
                    last = "A"
                with self.lock:
                    self.events.append((n, letter, parsed))
                if letter == "O":
                    mta_version, mta_actions, mta_proto = parsed
                    if mta_version != 6:
                        self.error("MTA version %d" % mta_version)
                    c.sendall(pkt("O", struct.pack(
                        ">III", self.version, self.actions,
                        self.protocol) + self.optneg_extra))
                    continue
                if letter == "Q":
                    return
                for r in self._answer(letter, parsed, n):
                    if r[0] == "sleep":
                        time.sleep(r[1])
                    elif r[0] == "close":
                        return      # the filter dies: unread bytes and all
                    elif r[0] == "raw":
                        c.sendall(r[1])
                    else:
                        c.sendall(pkt(r[0], r[1]))
        except OSError:
            return
        finally:
            c.close()
