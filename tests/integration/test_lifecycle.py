"""The SMTP session's lifecycle against the real daemon: a session parked
anywhere (waiting for a DNSBL answer, in the tarpit, after a failed AUTH,
mid-DATA, mid-TLS handshake) still ends when the administrator kills it,
when its address is banned and when the daemon stops; replies a client
does not read are capped; standard tools reach their verdict."""
import base64
import os
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from conftest import MOAT_BIN, free_port


def ctl(m, *args):
    r = subprocess.run([MOAT_BIN] + list(args) + ["-c", m.conf], cwd=m.dir,
                       capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout, r.stderr


def test_nmap_open_relay_reaches_a_verdict(moat_factory):
    """nmap's smtp-open-relay sends 16 refused relay attempts; the default
    error limit must let it finish and print its verdict."""
    if not shutil.which("nmap"):
        pytest.skip("nmap not installed")
    m = moat_factory()
    r = subprocess.run(
        ["nmap", "-Pn", "-p", str(m.port), "--script", "+smtp-open-relay",
         "127.0.0.1"], capture_output=True, text=True, timeout=120)
    assert "smtp-open-relay" in r.stdout, r.stdout + r.stderr
    assert "failed to receive data" not in r.stdout, r.stdout
    assert "Server doesn't seem to be an open relay" in r.stdout, r.stdout
