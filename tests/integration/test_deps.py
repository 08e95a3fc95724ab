"""Every program and Python module the tests and benchmarks use comes from a
Debian package that scripts/deps.sh installs, so `make test` and `make
bench` work on a fresh machine. Packages marked Essential are on every
Debian system and need not be named.

The programs are found in the sources: the first item of an argument list
("[\"swaks\", ..."), an absolute path constant ("/usr/sbin/postconf"),
shutil.which("X") and "python3 -m X"; each is traced to its package with
dpkg -S."""
import functools
import glob
import importlib.util
import os
import re
import shutil
import subprocess

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEPS = os.path.join(ROOT, "scripts", "deps.sh")
SYSTEM_PYTHON = "/usr/bin/python3"
# modules of this source tree, not packages
LOCAL_MODULES = {"conftest", "bench", "bench_e2e", "test_delivery",
                 "slapd_fixture", "milter_script", "filters"}
# programs of this source tree: test_deb.py installs the package and
# runs moat from where it puts it
OWN_PROGRAMS = {"/usr/sbin/moat"}


def deps_lists():
    """deps.sh's lists: name -> set of packages."""
    with open(DEPS) as f:
        text = f.read()
    return {m.group(1): set(m.group(2).split())
            for m in re.finditer(r'^([A-Z]+)="([^"]*)"', text, re.M)}


def sources(kind):
    pattern = {"test": "tests/integration/*.py", "bench": "bench/*.py"}[kind]
    out = {}
    for path in sorted(glob.glob(os.path.join(ROOT, pattern))):
        with open(path) as f:
            out[os.path.relpath(path, ROOT)] = f.read()
    return out


def programs(text):
    """Names or paths of the programs a Python source runs."""
    found = set(re.findall(r'\[\s*"([A-Za-z0-9_./+-]+)"\s*,', text))
    found |= set(re.findall(r'"(/usr/s?bin/[A-Za-z0-9_.+-]+)"', text))
    found |= set(re.findall(r'which\("([A-Za-z0-9_.+-]+)"\)', text))
    # names that are no program on this machine ("queue", "-c") drop out
    found -= OWN_PROGRAMS
    return {p for p in found if shutil.which(p) or os.access(p, os.X_OK)}


def modules(text):
    found = set(re.findall(r"^\s*(?:import|from)\s+([A-Za-z_][A-Za-z0-9_]*)",
                           text, re.M))
    found |= set(re.findall(r'"-m",\s*"([A-Za-z_][A-Za-z0-9_]*)"', text))
    return found - LOCAL_MODULES


@functools.lru_cache(maxsize=None)
def owner(path):
    """The package that installed path (usrmerge: also /bin for /usr/bin)."""
    cands = [path, os.path.realpath(path)]
    for p in list(cands):
        if p.startswith("/usr/"):
            cands.append(p[len("/usr"):])
        else:
            cands.append("/usr" + p)
    for p in cands:
        r = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
        lines = [l for l in r.stdout.splitlines()
                 if not l.startswith("diversion by")]
        if r.returncode == 0 and lines:
            return lines[0].split(":")[0].split(",")[0].strip()
    return None


@functools.lru_cache(maxsize=None)
def essential(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Essential}", pkg],
                       capture_output=True, text=True)
    return r.stdout.strip() == "yes"


def module_file(name):
    """Where the system Python finds a module; None: built in."""
    r = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import importlib.util, sys; "
         "s = importlib.util.find_spec(sys.argv[1]); "
         "print(s.origin if s and s.origin not in (None, 'built-in', "
         "'frozen') else '')", name],
        capture_output=True, text=True)
    assert r.returncode == 0, "%s: module %s not found" % (SYSTEM_PYTHON,
                                                            name)
    return r.stdout.strip() or None


@functools.lru_cache(maxsize=None)
def depends(pkg):
    """The packages pkg depends on directly (installed with it)."""
    r = subprocess.run(["dpkg-query", "-W", "-f=${Depends},${Pre-Depends}",
                        pkg],
                       capture_output=True, text=True)
    return {re.split(r"[ :(]", alt.strip())[0]
            for dep in r.stdout.split(",") for alt in dep.split("|")
            if alt.strip()}


def allowed(kind):
    """What deps.sh installs for kind, and what those depend on."""
    lists = deps_lists()
    want = lists["BUILD"] | lists["TEST"]
    if kind == "bench":
        want |= lists["BENCH"]
    for pkg in list(want):
        want |= depends(pkg)
    return want


@pytest.mark.parametrize("kind", ["test", "bench"])
def test_every_program_comes_from_a_named_package(kind):
    want, missing = allowed(kind), []
    for src, text in sources(kind).items():
        for prog in sorted(programs(text)):
            path = prog if prog.startswith("/") else shutil.which(prog)
            pkg = owner(path)
            assert pkg is not None, "%s runs %s: no package owns %s" % (
                src, prog, path)
            if pkg not in want and not essential(pkg):
                missing.append("%s runs %s from %s" % (src, prog, pkg))
    assert not missing, "deps.sh does not install:\n" + "\n".join(missing)


@pytest.mark.parametrize("kind", ["test", "bench"])
def test_every_python_module_comes_from_a_named_package(kind):
    want, missing = allowed(kind), []
    for src, text in sources(kind).items():
        for mod in sorted(modules(text)):
            path = module_file(mod)
            if path is None or "/dist-packages/" not in path:
                continue        # the standard library: package python3
            pkg = owner(path)
            if pkg not in want and not essential(pkg):
                missing.append("%s imports %s from %s" % (src, mod, pkg))
    assert not missing, "deps.sh does not install:\n" + "\n".join(missing)


def test_swaks_speaks_tls():
    """swaks only recommends the Perl TLS module (apt-get runs without
    recommends): deps.sh names it and it is there."""
    assert "libnet-ssleay-perl" in deps_lists()["TEST"]
    r = subprocess.run(["swaks", "--support"], capture_output=True,
                       text=True)
    assert "=== TLS supported" in r.stdout + r.stderr, r.stdout + r.stderr
