"""The administration CLI's own text: each command's --help, usage
errors that say what is wrong in one line and show only that command's
usage, and the event type registry (`moat events --types`) checked
against every type the sources record."""
import json
import pathlib
import re
import subprocess

import pytest

from conftest import MOAT_BIN

SRC = pathlib.Path(__file__).resolve().parents[2] / "src"


def run(*args):
    return subprocess.run([MOAT_BIN] + list(args), capture_output=True,
                          text=True, timeout=30)


COMMANDS = ["serve", "check-config", "passwd", "config", "config-doc",
            "ldap-query", "relaytest", "doctor", "sessions", "queue", "ban",
            "user", "events", "log", "stats", "status", "verify", "blacklist",
            "version", "incident", "console"]


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help_is_the_commands_own(cmd):
    r = run(cmd, "--help")
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[0]
    assert first.startswith("usage: moat " + cmd), r.stdout
    # not the whole list of commands
    others = [c for c in COMMANDS if c != cmd and
              not (cmd == "config" and c == "config-doc") and
              not (cmd == "config-doc" and c == "config")]
    for c in others:
        assert "moat %s " % c not in r.stdout and \
            not r.stdout.rstrip().endswith("moat " + c), (cmd, c, r.stdout)


def test_helps_differ():
    texts = {run(c, "--help").stdout for c in COMMANDS}
    assert len(texts) == len(COMMANDS)


@pytest.mark.parametrize("argv,why", [
    (["ban", "add"], "ban: unexpected or missing arguments"),
    (["ban", "add", "nonsense"], "ban: CIDR: 'nonsense'"),
    (["queue", "list", "--bogus"], "queue: queue list: unknown argument "
     "'--bogus'"),
    (["queue", "show"], "queue: show: which message?"),
    (["events", "--since", "soon"], "events: --since: not a duration"),
    (["log", "smtp", "loud"], "log: unknown level"),
    (["user", "frobnicate", "bob"], "user: unexpected or missing"),
    (["sessions", "kill", "xyz"], "sessions: kill: not a session id"),
    (["incident", "show", "bob"], "incident: not user:NAME or client:ADDR"),
    (["incident", "export", "--client", "x"], "incident: client: 'x'"),
    (["serve", "extra"], "serve: unexpected argument"),
    (["check-config", "-c"], "check-config: -c needs a file"),
    (["passwd"], "passwd: which user?"),
    (["config", "-x"], "config: unknown option '-x'"),
    (["doctor", "--bogus"], "doctor: unexpected argument '--bogus'"),
    (["doctor", "--address", "nowhere"], "doctor: --address needs a "
     "numeric address"),
])
def test_usage_error_is_one_line_and_the_commands_usage(argv, why):
    r = run(*argv)
    assert r.returncode == 2, (argv, r.returncode, r.stderr)
    lines = r.stderr.splitlines()
    assert lines[0].startswith("moat: ") and why in lines[0], r.stderr
    assert lines[1].startswith("usage: moat " + argv[0]), r.stderr
    assert len(lines) <= 14, r.stderr
    for other in ("moat sessions", "moat ban", "moat events", "moat serve"):
        if not other.endswith(argv[0]):
            assert other not in r.stderr, (argv, r.stderr)


def test_unknown_command_names_it():
    r = run("frobnicate")
    assert r.returncode == 2
    assert r.stderr.splitlines()[0] == "moat: unknown command 'frobnicate'"


def registry():
    r = run("events", "--types", "--json")
    assert r.returncode == 0, r.stderr
    return [t["type"] for t in json.loads(r.stdout)["types"]]


def recorded_types():
    """Every event type a call in src/ records, by the functions that
    record them (a type in a variable is followed to its literals)."""
    found = set()
    # the type argument: a literal, or a choice of literals (a ? "x" : "y")
    calls = re.compile(r'(?:smtp_server_event|uc_event|qc_event|'
                       r'control_event|proto_event_send)\(\s*[^,]+,\s*'
                       r'(?:uid,\s*)?([^,;]*)')
    assigned = re.compile(r'ev\.type = (?:[^;]*\?\s*)?"([a-z_]+)"')
    # watch_decide(w, user, "hold", counts, "login_after_guessing", ip)
    decided = re.compile(r'watch_decide\(\w+, \w+, "[a-z_]+", \w+, "([a-z_]+)"')
    for path in SRC.rglob("*.c"):
        text = path.read_text()
        for arg in calls.findall(text):
            found.update(re.findall(r'"([a-z_]+)"', arg))
        found.update(assigned.findall(text))
        found.update(decided.findall(text))
        # q->state == ... ? "unsuspend" : ... ? "hold" : "suspend"
        for m in re.finditer(r'qc_event\(qc, uid, ([^;]*?)", key', text,
                             re.S):
            found.update(re.findall(r'"([a-z_]+)"', m.group(1) + '"'))
        # d->event_fn(d->event_arg, "ldap_unavailable", ...)
        found.update(re.findall(r'event_fn\([^,]+, "([a-z_]+)"', text))
    # watch actions become types: hold, suspend (watch_action values)
    found.update({"hold", "suspend"})
    return found


def test_every_recorded_event_type_is_registered():
    reg = registry()
    assert reg == sorted(reg), "the registry is in name order"
    rec = recorded_types()
    assert len(rec) >= 25, rec
    missing = rec - set(reg)
    assert not missing, "recorded but not in src/lib/event_types.c: %s" % \
        sorted(missing)
    unused = set(reg) - rec
    assert not unused, "registered but never recorded: %s" % sorted(unused)


def test_events_types_table_and_bogus_type():
    r = run("events", "--types")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["type", "description"]
    assert any(l.startswith("auth_fail ") for l in lines)
    r = run("events", "--type", "bogus")
    assert r.returncode == 2
    assert "unknown event type 'bogus'" in r.stderr
    assert "auth_fail" in r.stderr and "relay_denied" in r.stderr


def test_man_page_lists_every_event_type():
    man = (SRC.parent / "man" / "moat.8").read_text()
    section = man[man.index("\n.SH EVENTS"):]
    section = section[:section.index("\n.SH ", 1)]
    listed = re.findall(r"^\.TP\n\.B (\S+)$", section, re.M)
    assert listed == registry(), "moat(8) EVENTS and the registry differ"


def man_text():
    man = (SRC.parent / "man" / "moat.8").read_text()
    return re.sub(r"\\f[BIRP]", "", man).replace("\\-", "-")


@pytest.mark.parametrize("cmd", COMMANDS)
def test_man_page_documents_every_command_of_every_usage(cmd):
    """Each form a command's --help shows is in moat(8), and every
    administration command has an example there."""
    man = man_text()
    usage = run(cmd, "--help").stdout
    for line in usage.splitlines():
        m = re.match(r"(?:usage:)?\s+moat (\S+)(?: ([a-z][a-z|-]*))?", line)
        if not m or m.group(1) != cmd:
            continue
        sub = (m.group(2) or "").split("|")[0]
        form = (cmd + " " + sub).strip()
        heads = [l for l in man.splitlines() if l.startswith(".B ")]
        assert any(re.search(r"(^\.B |\| ?)%s\b" % re.escape(form), l)
                   for l in heads), (cmd, form)
    if cmd in ("sessions", "queue", "ban", "user", "events", "log",
               "config", "incident"):
        assert "$ moat %s" % cmd in man, cmd


def man_example_lines():
    """The lines of moat(8)'s example blocks (.nf/.fi, .EX/.EE), escapes
    undone; None ends each block."""
    lines, inside = [], False
    for l in man_text().splitlines():
        if l in (".nf", ".EX"):
            inside = True
        elif l in (".fi", ".EE"):
            inside = False
            lines.append(None)
        elif inside:
            lines.append(l.replace("\\e", "\\").replace("\\&", ""))
    return lines


@pytest.mark.parametrize("cmd", COMMANDS + ["reload", "stop", "dkim",
                                            "sendmail", "mailq"])
def test_man_page_has_an_example_of_every_form(cmd):
    """Each form the command's --help names (each subcommand, each
    alternative of a|b) is run in an example of moat(8), at a prompt or
    after a pipe, and one of them shows what moat prints (sendmail prints
    nothing when it queued the message)."""
    examples = man_example_lines()
    usage = run(cmd, "--help").stdout
    forms = []
    for line in re.split(r"\n| \| ", usage):
        m = re.match(r"(?:usage:)?\s*(?:moat )?(\S+)(?: ([a-z][a-z|-]*))?",
                     line)
        if m and m.group(1) == cmd:
            forms += [(cmd + " " + sub).strip()
                      for sub in (m.group(2) or "").split("|")]
    assert forms, usage
    for form in forms:
        at = [i for i, l in enumerate(examples) if l is not None and
              re.search(r"(^[$#] |\| )(moat )?%s\b" % re.escape(form), l)]
        assert at, "moat(8) has no example of moat %s" % form
        if cmd == "sendmail":
            continue
        printed = [i for i in at if examples[i + 1] is not None and
                   not re.match(r"[$#] ", examples[i + 1])]
        assert printed, "no example of moat %s shows its output" % form
