"""Which configuration knobs the moat binary under test knows.

The daemon grows defences (per-address AUTH bans, sender watch limits, an
outbound MTA) while these tests are written. A test that needs one of
them neutralised (e.g. a load test must not trip a per-sender limit, a
message to a foreign domain must stay queued) asks for the knob through
optional_config(): knobs the binary does not have are left out, so the
same test runs against older and newer daemons.
"""
import functools
import subprocess

from conftest import MOAT_BIN


@functools.lru_cache(maxsize=None)
def knobs():
    """{(section, key)} from `moat config-doc`."""
    r = subprocess.run([MOAT_BIN, "config-doc"], capture_output=True,
                       text=True, timeout=10)
    out, sec = set(), None
    for line in r.stdout.splitlines():
        if line.startswith("["):
            sec = line.strip().strip("[]")
        elif line.startswith("  ") and not line.startswith("   ") and \
                "(" in line:
            out.add((sec, line.split()[0]))
    return frozenset(out)


def has_knob(section, key):
    return (section, key) in knobs()


def optional_config(*settings):
    """settings: (section, key, value); -> config text of the known ones."""
    text, cur = "", None
    for section, key, value in settings:
        if not has_knob(section, key):
            continue
        if section != cur:
            text += "[%s]\n" % section
            cur = section
        text += "%s = %s\n" % (key, value)
    return text
