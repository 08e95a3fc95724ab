"""Bad configurations: `moat check-config` and `moat serve` refuse each one
with "file:line: what is wrong" on stderr and exit status 1, and serve
listens on nothing. A good configuration prints as the effective
configuration, which parses again to the same text."""
import os
import re
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import MOAT_BIN, free_port

BASE = [
    "[server]",                         # 1
    "hostname = mx.test.example",       # 2
    "spool_dir = var/spool",            # 3
    "mail_dir = var/mail",              # 4
    "empty_dir = var/empty",            # 5
    "users_file = users",               # 6
    "[domains]",                        # 7
    "local_domains = example.org",      # 8
    "mailboxes = postmaster, alice",    # 9
    "[listener mx]",                    # 10
    "address = 127.0.0.1",              # 11
    "port = {port}",                    # 12
]
N = len(BASE)


def run(*args, cwd=None, timeout=15):
    try:
        return subprocess.run([MOAT_BIN] + list(args), capture_output=True,
                              text=True, timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired as e:
        pytest.fail("moat %s did not exit: %s" % (" ".join(args), e))


def port_listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        return True
    except OSError:
        return False


# name -> (lines after BASE, line of the error, message after "file:line: ")
CASES = {
    "unknown_key": (
        ["[limits]", "max_bananas = 3"], N + 2,
        "unknown key 'max_bananas' in [limits]"),
    "unknown_key_in_listener": (
        ["tls = yes"], N + 1,
        "unknown key 'tls' in [listener mx]"),
    "unknown_section": (
        ["[bogus]", "a = b"], N + 1,
        "unknown section [bogus]"),
    "key_before_section": (
        None, 1, "key 'foo' before the first [section]"),
    "bad_value_number": (
        ["[limits]", "max_errors = ten"], N + 2,
        "max_errors: 'ten' is not a number"),
    "bad_value_size": (
        ["[limits]", "max_message_size = 10X"], N + 2,
        "max_message_size: '10X' is not a size"),
    "bad_value_bool": (
        ["auth_relay = perhaps"], N + 1,
        "listener mx: auth_relay: 'perhaps' is not a boolean"),
    "bad_value_role": (
        ["role = relay"], N + 1,
        "listener mx: role: 'relay' is not a role (mx, submission, "
        "submissions)"),
    "bad_value_log_level": (
        ["[log]", "smtp = loud"], N + 2,
        "smtp: 'loud' is not a log level"),
    "bad_value_cidr": (
        ["[relay]", "relay_networks = 10.0.0.0/33"], N + 2,
        "relay_networks: '10.0.0.0/33' is not a network"),
    "bad_value_mailbox": (
        {9: "mailboxes = postmaster, ../etc"}, 9,
        "mailboxes: '../etc' is not a valid mailbox name"),
    "mailbox_of_a_foreign_domain": (
        {9: "mailboxes = postmaster, carol@elsewhere.example"}, 9,
        "mailboxes: 'carol@elsewhere.example': elsewhere.example is not one "
        "of local_domains"),
    "recipient_table_of_a_foreign_domain": (
        ["[domains]", "recipient_tables = elsewhere.example=/t/x"], N + 2,
        "recipient_tables: elsewhere.example is not one of local_domains "
        "nor a routed domain"),
    "recipient_verify_of_a_local_domain": (
        ["[domains]", "recipient_verify = example.org"], N + 2,
        "recipient_verify: example.org is not a routed domain"),
    "lookup_timeout_zero": (
        ["[domains]", "lookup_timeout = 0"], N + 2,
        "lookup_timeout: 0 is below the minimum 1"),
    "bad_value_domain": (
        {8: "local_domains = example.org, -bad-.example"}, 8,
        "local_domains: '-bad-.example' is not a valid host name"),
    "bad_value_hostname": (
        {2: "hostname = 192.0.2.1"}, 2,
        "hostname: '192.0.2.1' is not a valid host name"),
    "indented_line_after_scalar": (
        {2: "hostname = mx.test.example\n  more.example"}, 3,
        "hostname: unexpected indented line 'more.example'"),
    "bad_value_address": (
        ["[listener b]", "address = localhost", "port = 2"], N + 2,
        "listener b: address: 'localhost' is not a numeric IPv4 or IPv6 "
        "address"),
    "out_of_range_below": (
        ["[limits]", "max_recipients = 99"], N + 2,
        "max_recipients: 99 is below the minimum 100"),
    "out_of_range_above": (
        ["[limits]", "max_message_size = 2G"], N + 2,
        "max_message_size: 2G is above the maximum 1G"),
    "out_of_range_size_below": (
        ["[limits]", "max_message_size = 1023"], N + 2,
        "max_message_size: 1023 is below the minimum 1k"),
    "out_of_range_port": (
        ["[listener b]", "address = 127.0.0.1", "port = 65536"], N + 3,
        "listener b: port: 65536 is above the maximum 65535"),
    "duplicate_key": (
        ["[limits]", "max_errors = 5", "max_errors = 6"], N + 3,
        "duplicate key 'max_errors' in [limits] (first on line %d)" % (N + 2)),
    "duplicate_listener": (
        ["[listener mx]", "address = 127.0.0.1", "port = {port2}"], N + 1,
        "duplicate listener 'mx' (first on line 10)"),
    "listener_same_port": (
        ["[listener other]", "address = 127.0.0.1", "port = {port}"], N + 1,
        "listener other: 127.0.0.1 port {port} is already used by listener "
        "mx (line 10)"),
    "listener_without_address": (
        ["[listener b]", "port = {port2}"], N + 1,
        "listener b: address is required"),
    "submission_without_cert": (
        ["[listener sub]", "address = 127.0.0.1", "port = {port2}",
         "role = submission"], N + 1,
        "listener sub: role submission needs tls_cert and tls_key"),
    "submissions_without_cert": (
        ["[listener subs]", "role = submissions", "address = 127.0.0.1",
         "port = {port2}"], N + 1,
        "listener subs: role submissions needs tls_cert and tls_key"),
    "auth_on_mx_without_cert": (
        ["auth = yes"], 10,
        "listener mx: auth needs tls_cert and tls_key"),
    "tls_protocols_old": (
        ["[server]", "tls_protocols = TLSv1.1 TLSv1.2"], N + 2,
        "tls_protocols: 'TLSv1.1' is not TLSv1.2 or TLSv1.3"),
    "tls_ciphers_none": (
        ["[server]", "tls_ciphers = NOSUCHCIPHER"], N + 2,
        "tls_ciphers: 'NOSUCHCIPHER' selects no TLS 1.2 cipher"),
    "tls_ciphers_only_rsa_kx": (
        ["[server]", "tls_ciphers = AES128-GCM-SHA256"], N + 2,
        "tls_ciphers: 'AES128-GCM-SHA256' selects no TLS 1.2 cipher"),
    "tls_ciphersuites_bad": (
        ["[server]", "tls_ciphersuites = TLS_NOPE"], N + 2,
        "tls_ciphersuites: 'TLS_NOPE' is not a list of TLS 1.3 suites"),
    "tls_certificates_no_colon": (
        ["[server]", "tls_certificates = /etc/moat/a.pem"], N + 2,
        "tls_certificates: '/etc/moat/a.pem' must be CERT:KEY"),
    "tls_certificates_without_tls_cert": (
        ["[server]", "tls_certificates = /etc/moat/a.pem:/etc/moat/a.key"],
        N + 2, "tls_certificates needs tls_cert and tls_key"),
    "tls_cert_without_key": (
        ["[server]", "tls_cert = /nonexistent/cert.pem"], N + 2,
        "tls_cert and tls_key must be set together"),
    "relay_catch_all_v4": (
        ["[server]", "relaytest_on_start = yes", "[relay]",
         "relay_networks = 10.0.0.0/8, 0.0.0.0/0"], N + 4,
        "relay_networks: '0.0.0.0/0' covers every IPv4 address (an open "
        "relay)"),
    "relay_catch_all_v6": (
        ["[relay]", "relay_networks = ::/0"], N + 2,
        "relay_networks: '::/0' covers every IPv4 address (an open relay)"),
    "relay_catch_all_mapped": (
        ["[relay]", "relay_networks = ::ffff:0:0/96"], N + 2,
        "relay_networks: '0.0.0.0/0' covers every IPv4 address"),
    "relay_catch_all_halves": (
        ["[server]", "relaytest_on_start = yes", "[relay]",
         "relay_networks = 0.0.0.0/1", "  128.0.0.0/1"], N + 4,
        "relay_networks: together cover every IPv4 address (an open "
        "relay)"),
    "milter_unknown_name": (
        ["milters = rspamd"], N + 1,
        "listener mx: milters: no section [milter rspamd]"),
    "milter_named_twice": (
        ["milters = f, f", "[milter f]", "socket = inet:127.0.0.1:11332"],
        N + 1, "listener mx: milters: f named twice"),
    "milter_bad_names": (
        ["milters = a;b"], N + 1,
        "listener mx: milters: 'a;b' must be [milter] section names "
        "separated by commas"),
    "milter_no_socket": (
        ["[milter f]", "command_timeout = 5"], N + 1,
        "milter f: socket is required"),
    "milter_socket_name": (
        ["[milter f]", "socket = inet:localhost:11332"], N + 2,
        "milter f: socket: 'inet:localhost:11332' inet: needs a numeric "
        "IPv4 address (the smtp process cannot resolve names)"),
    "milter_socket_kind": (
        ["[milter f]", "socket = tcp:127.0.0.1:1"], N + 2,
        "milter f: socket: 'tcp:127.0.0.1:1' must be inet:ADDRESS:PORT, "
        "inet6:[ADDRESS]:PORT or unix:PATH"),
    "milter_bad_action": (
        ["[milter f]", "socket = inet:127.0.0.1:1",
         "default_action = reject"], N + 3,
        "milter f: default_action: 'reject' must be tempfail or accept"),
    "milter_unknown_key": (
        ["[milter f]", "socket = inet:127.0.0.1:1", "timeout = 3"], N + 3,
        "unknown key 'timeout' in [milter f]"),
    "ldap_unknown_key": (
        ["[ldap corp]", "servers = ldap://127.0.0.1", "tls = none",
         "sizelimit = 5"], N + 4,
        "unknown key 'sizelimit' in [ldap corp]"),
    "ldap_bad_uri": (
        ["[ldap corp]", "servers = ldaps://dc1.corp.example/dc=corp"], N + 2,
        "ldap corp: servers: 'ldaps://dc1.corp.example/dc=corp' has "
        "something after the host and port"),
    "ldap_bad_scheme": (
        ["[ldap corp]", "servers = ldaps://dc1.corp.example",
         "  ldapi:///run/slapd.sock"], N + 3,
        "ldap corp: servers: 'ldapi:///run/slapd.sock' must be "
        "ldap://HOST[:PORT] or ldaps://HOST[:PORT]"),
    "ldap_tls_none_remote": (
        ["[ldap corp]", "servers = ldap://127.0.0.1:389, ldap://dc2.corp",
         "tls = none", "base = dc=corp", "filter = (mail=%s)"], N + 3,
        "ldap corp: tls = none would send the bind password and the "
        "recipients in clear to 'ldap://dc2.corp'"),
    "ldap_starttls_ldaps_uri": (
        ["[ldap corp]", "servers = ldaps://dc1.corp", "base = dc=corp",
         "filter = (mail=%s)"], N + 2,
        "ldap corp: tls = starttls needs ldap:// servers"),
    "ldap_missing_base": (
        ["[ldap corp]", "servers = ldap://dc1.corp",
         "filter = (mail=%s)"], N + 1,
        "ldap corp: base is required"),
    "ldap_missing_filter": (
        ["[ldap corp]", "servers = ldap://dc1.corp", "base = dc=corp"],
        N + 1, "ldap corp: filter is required"),
    "ldap_missing_servers": (
        ["[ldap corp]", "base = dc=corp", "filter = (mail=%s)"], N + 1,
        "ldap corp: servers is required"),
    "ldap_filter_same_for_all": (
        ["[ldap corp]", "servers = ldap://dc1.corp", "base = dc=corp",
         "filter = (objectClass=user)"], N + 4,
        "ldap corp: filter: '(objectClass=user)' names neither %s"),
    "ldap_filter_unbalanced": (
        ["[ldap corp]", "filter = (|(mail=%s)(proxyAddresses=smtp:%s)"],
        N + 2, "ldap corp: filter: '(|(mail=%s)(proxyAddresses=smtp:%s)' "
        "has a '(' without its ')'"),
    "ldap_bad_scope": (
        ["[ldap corp]", "scope = base"], N + 2,
        "ldap corp: scope: 'base' must be sub or one"),
    "ldap_duplicate_section": (
        ["[ldap corp]", "servers = ldap://dc1.corp", "base = dc=corp",
         "filter = (mail=%s)", "[ldap corp]"], N + 5,
        "duplicate section [ldap corp] (first on line %d)" % (N + 1)),
    "ldap_undefined_section": (
        ["[delivery]", "routes = corp.example=[10.0.0.1]:25", "[domains]",
         "recipient_ldap = corp.example=ad"], N + 4,
        "recipient_ldap: corp.example: there is no section [ldap ad]"),
    "ldap_no_name": (
        ["[ldap]"], N + 1, "an ldap section needs a name: [ldap NAME]"),
    "ldap_bind_file_open": (
        ["[ldap corp]", "servers = ldaps://dc1.corp", "tls = ldaps",
         "base = dc=corp", "filter = (mail=%s)",
         "bind_file = /etc/passwd"], N + 6,
        "ldap corp: bind_file /etc/passwd: mode 644: a bind password file "
        "must not be readable by group or others (chmod 600); refused"),
    "route_twice": (
        ["[delivery]", "routes = a.example=[10.0.0.1]:25, [10.0.0.4]:25",
         "  b.example=[10.0.0.2]:25", "  A.Example=[10.0.0.3]:25"], N + 4,
        "routes: 'A.Example=[10.0.0.3]:25' routes a domain that has a "
        "route already"),
    "route_twice_one_line": (
        ["[delivery]",
         "routes = a.example=[10.0.0.1]:25 a.example.=[10.0.0.2]:25"], N + 2,
        "routes: 'a.example.=[10.0.0.2]:25' routes a domain that has a "
        "route already"),
    "route_host_without_domain": (
        ["[delivery]", "routes = [10.0.0.1]:25"], N + 2,
        "routes: '[10.0.0.1]:25' is a destination without DOMAIN= before "
        "it"),
    "route_bad_second_host": (
        ["[delivery]", "routes = a.example=[10.0.0.1]:25, 10.0.0.2:25"],
        N + 2, "routes: '10.0.0.2:25' has an address without brackets"),
    "route_same_host_twice": (
        ["[delivery]", "routes = a.example=[10.0.0.1]:25, [10.0.0.1]:25"],
        N + 2, "routes: '[10.0.0.1]:25' names a destination twice"),
    "smarthost_bad_list": (
        ["[delivery]", "smarthost = [10.0.0.1]:25, [10.0.0.2]:0"], N + 2,
        "smarthost: '[10.0.0.1]:25, [10.0.0.2]:0' is not a destination"),
    "source_address_v4_of_v6": (
        ["[delivery]", "source_address_v4 = ::1"], N + 2,
        "source_address_v4: '::1' is not a numeric IPv4 address"),
    "source_address_v6_of_v4": (
        ["[delivery]", "source_address_v6 = 127.0.0.1"], N + 2,
        "source_address_v6: '127.0.0.1' is not a numeric IPv6 address"),
    "source_address_name": (
        ["[delivery]", "source_address_v4 = mail.example.org"], N + 2,
        "source_address_v4: 'mail.example.org' is not a numeric IPv4 "
        "address"),
    "blacklist_address": (
        ["[delivery]", "blacklist_addresses = 192.0.2.10, mail.example.org"],
        N + 2, "blacklist_addresses: 'mail.example.org' is not a numeric "
        "IPv4 or IPv6 address"),
    "blacklist_zone": (
        ["[delivery]", "blacklist_zones = bl.example, bl_x.example"], N + 2,
        "blacklist_zones: 'bl_x.example' is not a DNS zone name"),
    "blacklist_interval": (
        ["[delivery]", "blacklist_interval = 0"], N + 2,
        "blacklist_interval"),
    "blacklist_interval_unit": (
        ["[delivery]", "blacklist_interval = 1y"], N + 2,
        "blacklist_interval"),
    "blacklist_watch": (
        ["[delivery]", "blacklist_watch = sometimes"], N + 2,
        "blacklist_watch"),
    "address_preference": (
        ["[delivery]", "address_preference = ipv5"], N + 2,
        "address_preference: 'ipv5' must be any, ipv4 or ipv6"),
    "tls_client_cert_without_key": (
        ["[delivery]", "tls_client_cert = /nonexistent/cert.pem"], N + 2,
        "tls_client_cert and tls_client_key must be set together"),
    "proxy_protocol_without_proxy_from": (
        ["auth = no", "proxy_protocol = v1"], N + 2,
        "listener mx: proxy_protocol needs proxy_from"),
    "proxy_protocol_bad_value": (
        ["proxy_protocol = v3"], N + 1,
        "listener mx: proxy_protocol: 'v3' is not no, v1, v2 or any"),
    "proxy_from_bad_network": (
        ["proxy_protocol = v2", "proxy_from = 10.0.0.0/8, 10.1.0.0/33"],
        N + 2,
        "listener mx: proxy_from: '10.1.0.0/33' is not a network: prefix "
        "length out of range"),
    "proxy_from_everyone": (
        ["proxy_protocol = any", "proxy_from = 10.0.0.0/8,", "  ::/0"],
        N + 2,
        "listener mx: proxy_from: '::/0' covers every IPv4 address"),
    "proxy_from_too_many": (
        ["proxy_protocol = any"] + [
            ("proxy_from = " if i == 0 else "  ") + ", ".join(
                "10.0.%d.0/24" % j for j in range(i, i + 11))
            for i in (0, 11, 22)], N + 4,
        "listener mx: proxy_from: more than 32 networks"),
    "section_without_bracket": (
        ["[limits", "max_errors = 5"], N + 1,
        "syntax error"),
    "no_equals": (
        ["[limits]", "max_errors"], N + 2,
        "syntax error"),
    "submit_users_bad_group": (
        ["[submit]", "submit_socket = run/submit.sock",
         "submit_users = root, %"], N + 3,
        "submit_users: '%' is not a valid %GROUP"),
    "submit_max_sessions_zero": (
        ["[submit]", "submit_max_sessions = 0"], N + 2,
        "submit_max_sessions: 0 is below the minimum 1"),
}


def write_case(tmp_path, name):
    extra, line, msg = CASES[name]
    port, port2 = free_port(), free_port()
    if extra is None:
        lines = ["foo = bar"] + BASE
    elif isinstance(extra, dict):
        lines = [extra.get(i + 1, l) for i, l in enumerate(BASE)]
    else:
        lines = BASE + extra
    text = "\n".join(lines).format(port=port, port2=port2) + "\n"
    path = tmp_path / "moat.conf"
    path.write_text(text)
    return str(path), line, msg.format(port=port, port2=port2), port, port2


@pytest.mark.parametrize("name", sorted(CASES))
def test_check_config_refuses(tmp_path, name):
    path, line, msg, _, _ = write_case(tmp_path, name)
    r = run("check-config", "-c", path)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == ""
    err = r.stderr.strip().splitlines()
    assert len(err) == 1, r.stderr
    want = "moat: %s:%d: %s" % (path, line, msg)
    assert err[0].startswith(want), "got  %r\nwant %r" % (err[0], want)


@pytest.mark.parametrize("name", sorted(CASES))
def test_serve_refuses(tmp_path, name):
    path, line, msg, port, port2 = write_case(tmp_path, name)
    r = run("serve", "-c", path, cwd=str(tmp_path))
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    want = "moat: %s:%d: %s" % (path, line, msg)
    assert want in r.stderr, "got  %r\nwant %r" % (r.stderr, want)
    assert not port_listening(port) and not port_listening(port2)
    # nothing was started: no spool, no database
    assert not (tmp_path / "var" / "spool" / "queue.db").exists()


def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.conf")
    for cmd in ("check-config", "serve"):
        r = run(cmd, "-c", path, cwd=str(tmp_path))
        assert r.returncode == 1, (cmd, r)
        assert r.stderr.strip() == \
            "moat: %s: cannot open: No such file or directory" % path, r.stderr


def test_directory_as_file(tmp_path):
    r = run("check-config", "-c", str(tmp_path))
    assert r.returncode == 1
    assert r.stderr.startswith("moat: %s: cannot read" % tmp_path), r.stderr


def test_usage_errors():
    r = run("check-config", "-c")
    assert r.returncode == 2 and "usage:" in r.stderr
    r = run("frobnicate")
    assert r.returncode == 2 and "unknown command 'frobnicate'" in r.stderr


def good_config(tmp_path, tls_files):
    port, port2, port3 = free_port(), free_port(), free_port()
    text = "\n".join([
        "# a comment",
        "[server]",
        "hostname = MX.Test.Example.",
        "spool_dir = var/spool",
        "mail_dir = var/mail",
        "empty_dir = var/empty",
        "users_file = users",
        "tls_cert = %s" % tls_files[0],
        "tls_key = %s" % tls_files[1],
        "[domains]",
        "local_domains = example.org, Example.NET",
        "   localhost",
        "mailboxes = postmaster, Alice, bob",
        "[relay]",
        "relay_networks = 10.0.0.0/24, 2001:db8:1::/64, 127.0.0.2",
        "[limits]",
        "max_message_size = 2048k",
        "max_recipients = 150",
        "auth_fail_delay_ms = 250",
        "[delivery]",
        "blacklist_watch = no",
        "[log]",
        "smtp = debug",
        "[listener mx]",
        "address = 127.0.0.1",
        "port = %d" % port,
        "[listener sub]",
        "address = 127.0.0.1",
        "port = %d" % port2,
        "role = submission",
        "[listener subs]",
        "address = ::1",
        "port = %d" % port3,
        "role = submissions",
        "proxy_protocol = v2",
        "proxy_from = 10.9.0.0/16, 192.0.2.7",
        "   2001:db8:9::/48",
        "[ldap corp]",
        "servers = ldaps://dc1.corp.example, ldaps://[2001:db8::5]:3269",
        "tls = ldaps",
        "ca_file = %s" % tls_files[0],
        "base = DC=corp,DC=example",
        "filter = (|(mail=%s)(proxyAddresses=smtp:%s))",
        "cache_negative = 60",
    ]) + "\n"
    path = tmp_path / "good.conf"
    path.write_text(text)
    return str(path), (port, port2, port3)


def sections(text):
    """effective config text -> {section: {key: value}}"""
    out, cur = {}, None
    for line in text.splitlines():
        if line.startswith("["):
            cur = out.setdefault(line.strip("[]"), {})
        elif line.startswith((" ", "\t")):
            cur[last] += " " + line.strip()
        elif "=" in line:
            last, _, val = line.partition("=")
            last = last.strip()
            cur[last] = val.strip()
    return out


def test_check_config_prints_effective_config(tmp_path, tls_files):
    path, (port, port2, port3) = good_config(tmp_path, tls_files)
    r = run("check-config", "-c", path)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    conf = sections(r.stdout)
    assert conf["server"]["hostname"] == "mx.test.example"
    assert conf["server"]["user"] == "_moat"            # a default
    assert conf["limits"]["max_message_size"] == "2M"
    assert conf["limits"]["max_recipients"] == "150"
    assert conf["limits"]["max_errors"] == "20"         # a default
    assert conf["limits"]["auth_fail_delay_ms"] == "250ms"
    assert conf["log"]["smtp"] == "debug"
    assert conf["domains"]["local_domains"].replace(",", " ").split() == \
        ["example.org", "example.net", "localhost"]
    assert conf["domains"]["mailboxes"].replace(",", " ").split() == \
        ["postmaster", "alice", "bob"]
    nets = conf["relay"]["relay_networks"].replace(",", " ").split()
    assert nets[:2] == ["10.0.0.0/24", "2001:db8:1::/64"] and len(nets) == 3
    mx, sub, subs = (conf["listener mx"], conf["listener sub"],
                     conf["listener subs"])
    assert (mx["role"], mx["port"], mx["auth"], mx["starttls"]) == \
        ("mx", str(port), "no", "yes")
    assert (sub["role"], sub["auth"], sub["auth_required"],
            sub["auth_relay"], sub["starttls"], sub["tls_required"]) == \
        ("submission", "yes", "yes", "yes", "yes", "yes")
    assert (subs["role"], subs["address"], subs["starttls"], subs["auth"]) == \
        ("submissions", "::1", "no", "yes")
    ldap = conf["ldap corp"]
    assert ldap["servers"].replace(",", " ").split() == \
        ["ldaps://dc1.corp.example", "ldaps://[2001:db8::5]:3269"]
    assert (ldap["tls"], ldap["base"], ldap["scope"], ldap["filter"],
            ldap["cache_positive"], ldap["cache_negative"],
            ldap["bind_file"]) == \
        ("ldaps", "DC=corp,DC=example", "sub",
         "(|(mail=%s)(proxyAddresses=smtp:%s))", "1h", "1m", "")
    assert mx["proxy_protocol"] == "no" and mx["proxy_from"] == ""
    assert subs["proxy_protocol"] == "v2"
    assert subs["proxy_from"].replace(",", " ").split() == \
        ["10.9.0.0/16", "192.0.2.7/32", "2001:db8:9::/48"]


def test_effective_config_reparses_to_itself(tmp_path, tls_files):
    path, _ = good_config(tmp_path, tls_files)
    first = run("check-config", "-c", path)
    assert first.returncode == 0, first.stderr
    again = tmp_path / "again.conf"
    again.write_text(first.stdout)
    second = run("check-config", "-c", str(again))
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout


def test_builtin_config_prints_and_reparses(tmp_path):
    first = run("check-config", "--builtin")
    assert first.returncode == 0, first.stderr
    conf = sections(first.stdout)
    assert conf["listener smtp"]["address"] == "127.0.0.1"
    assert conf["listener smtp"]["port"] == "2525"
    again = tmp_path / "builtin.conf"
    again.write_text(first.stdout)
    second = run("check-config", "-c", str(again))
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout


def test_effective_config_serves(tls_files):
    """The printed configuration is a working one: moat serves with it."""
    # the unprivileged children must be able to reach the spool: not
    # pytest's tmp_path, whose parents are mode 0700
    tmp_path = pathlib.Path(tempfile.mkdtemp(prefix="moat-cfg-"))
    os.chmod(str(tmp_path), 0o755)
    path, (port, port2, port3) = good_config(tmp_path, tls_files)
    printed = run("check-config", "-c", path).stdout
    again = tmp_path / "again.conf"
    again.write_text(printed)
    p = subprocess.Popen([MOAT_BIN, "serve", "-c", str(again)],
                         cwd=str(tmp_path), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 10
        while time.time() < deadline and not port_listening(port2):
            assert p.poll() is None, p.stdout.read().decode()
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port2), 5) as c:
            c.settimeout(5)
            assert c.recv(100).startswith(b"220 mx.test.example ESMTP")
    finally:
        p.terminate()
        p.wait(20)
        shutil.rmtree(str(tmp_path), ignore_errors=True)
    assert p.returncode == 0


def test_config_doc_lists_every_printed_knob(tmp_path, tls_files):
    path, _ = good_config(tmp_path, tls_files)
    doc = run("config-doc")
    assert doc.returncode == 0
    printed = sections(run("check-config", "-c", path).stdout)
    for sec, knobs in printed.items():
        for key in knobs:
            assert "  %s (" % key in doc.stdout, (sec, key)


def serve_tmp():
    d = pathlib.Path(tempfile.mkdtemp(prefix="moat-cfg-"))
    os.chmod(str(d), 0o755)
    return d


def test_serve_refuses_unloadable_certificate():
    d = serve_tmp()
    try:
        port = free_port()
        text = "\n".join(BASE).format(port=port).replace(
            "[domains]", "tls_cert = %s/none.pem\ntls_key = %s/none.key\n"
            "[domains]" % (d, d)) + "\n"
        (d / "moat.conf").write_text(text)
        for cmd in ("check-config", "serve"):
            r = run(cmd, "-c", str(d / "moat.conf"), cwd=str(d))
            assert r.returncode == 1, r
            assert r.stdout == ""
            assert r.stderr.startswith("moat: %s/moat.conf:7: %s/none.pem: "
                                       "cannot load certificate" % (d, d)), \
                r.stderr
        assert not port_listening(port)
    finally:
        shutil.rmtree(str(d), ignore_errors=True)


def files_config(d, port, extra):
    """BASE with extra lines in [server] from line 7 on."""
    text = "\n".join(BASE).format(port=port).replace(
        "[domains]", "\n".join(extra) + "\n[domains]") + "\n"
    (d / "moat.conf").write_text(text)
    return str(d / "moat.conf")


def test_check_config_refuses_key_of_another_certificate(tls_files):
    d = serve_tmp()
    try:
        other = str(d / "other.key")
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-out",
                        other], check=True, capture_output=True)
        conf = files_config(d, free_port(), [
            "tls_cert = %s" % tls_files[0], "", "tls_key = %s" % other])
        r = run("check-config", "-c", conf)
        assert r.returncode == 1, r
        assert r.stderr.startswith("moat: %s:9: %s: cannot load key"
                                   % (conf, other)), r.stderr
        # the right key passes
        files_config(d, free_port(), ["tls_cert = %s" % tls_files[0],
                                      "tls_key = %s" % tls_files[1]])
        r = run("check-config", "-c", conf)
        assert r.returncode == 0, r.stderr
    finally:
        shutil.rmtree(str(d), ignore_errors=True)


def test_check_config_checks_smarthost_credentials_file():
    d = serve_tmp()
    try:
        auth = d / "smarthost.auth"
        auth.write_text("relayuser:s3cret\n")
        os.chmod(str(auth), 0o644)
        text = "\n".join(BASE).format(port=free_port()) + \
            "\n[delivery]\nsmarthost = [127.0.0.1]:2587\n" \
            "smarthost_auth_file = %s\n" % auth
        conf = d / "moat.conf"
        conf.write_text(text)
        r = run("check-config", "-c", str(conf))
        assert r.returncode == 1, r
        assert r.stderr.startswith(
            "moat: %s:%d: smarthost_auth_file %s: mode 644: must not be "
            "readable by group or others" % (conf, N + 3, auth)), r.stderr
        os.chmod(str(auth), 0o600)
        r = run("check-config", "-c", str(conf))
        assert r.returncode == 0, r.stderr
        assert "s3cret" not in r.stdout + r.stderr
    finally:
        shutil.rmtree(str(d), ignore_errors=True)


def test_serve_refuses_port_in_use():
    d = serve_tmp()
    busy = socket.socket()
    try:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        (d / "moat.conf").write_text("\n".join(BASE).format(port=port) + "\n")
        r = run("serve", "-c", str(d / "moat.conf"), cwd=str(d))
        assert r.returncode == 1, r
        assert ("moat: listener mx: cannot listen on 127.0.0.1 port %d: "
                "Address already in use" % port) in r.stderr, r.stderr
    finally:
        busy.close()
        shutil.rmtree(str(d), ignore_errors=True)


def readme_config_blocks():
    """The README's indented blocks that are moat.conf text: their first
    line that is not a comment is a [section] header."""
    path = pathlib.Path(__file__).resolve().parents[2] / "README.md"
    blocks, cur, prev_blank = [], None, True
    for line in path.read_text().splitlines():
        if line.startswith("    ") and (cur is not None or prev_blank):
            cur = [] if cur is None else cur
            cur.append(line[4:])
        elif not line.strip() and cur is not None:
            cur.append("")
        else:
            if cur is not None:
                blocks.append(cur)
            cur = None
        prev_blank = not line.strip()
    if cur is not None:
        blocks.append(cur)
    section = re.compile(r"\[(server|domains|relay|limits|policy|watch|"
                         r"delivery|control|log|listener \S+|ldap \S+)\]$")
    out = []
    for b in blocks:
        first = [l.strip() for l in b if l.strip() and
                 not l.strip().startswith("#")]
        if first and section.match(first[0]):
            out.append("\n".join(b) + "\n")
    return out


def readme_files(text, d, tls_files):
    """The /etc/moat files a README block names, made in d: certificates
    from the test's own, the rest empty (an LDAP bind file 0600)."""
    cert, key = tls_files
    for name in sorted(set(re.findall(r"/etc/moat/[\w.-]+", text))):
        local = d / os.path.basename(name)
        if name.endswith(".key") or name.endswith("key.pem"):
            shutil.copy(key, local)
        elif name.endswith(".pem"):
            shutil.copy(cert, local)
        elif "bind" in name:
            local.write_text("binddn = cn=moat\npassword = secret\n")
        else:
            local.write_text("")
        os.chmod(str(local), 0o600)
        text = text.replace(name, str(local))
    return text


def test_readme_configurations_pass_check_config(tmp_path, tls_files):
    """Every whole configuration the README shows (from [server] on) is
    accepted by check-config as printed there, comments after values
    included; a fragment of one (a single section) may need what the
    rest of a file gives, but never has a syntax or value error."""
    blocks = readme_config_blocks()
    whole = [b for b in blocks if "[server]" in b]
    assert len(whole) >= 2, "the README's minimal and corporate examples"
    assert any(re.search(r"=\s*\S+\s+#", b) for b in whole), \
        "the minimal example shows a comment after a value"
    for i, text in enumerate(blocks):
        conf = tmp_path / ("readme%d.conf" % i)
        conf.write_text(readme_files(text, tmp_path, tls_files))
        r = run("check-config", "-c", str(conf))
        if text in whole:
            assert r.returncode == 0, (text, r.stderr)
        else:
            for bad in ("syntax error", "unknown key", "unknown section",
                        "is not a", "duplicate", "indented line"):
                if "not a routed domain" in r.stderr or \
                        "not one of local_domains" in r.stderr:
                    continue
                assert bad not in r.stderr, (text, r.stderr)


def test_durations_take_units_in_a_file(tmp_path):
    conf = tmp_path / "d.conf"
    conf.write_text("[limits]\ntimeout_command = 10m   # ten minutes\n"
                    "auth_fail_delay_ms = 500ms\n[policy]\nban_time = 2h\n"
                    "ban_time_max = 7d\nauth_fail_window = 900\n"
                    "[delivery]\nretry_min = 30s\n")
    r = run("check-config", "-c", str(conf))
    assert r.returncode == 0, r.stderr
    conf_ = sections(r.stdout)
    assert conf_["limits"]["timeout_command"] == "10m"
    assert conf_["limits"]["auth_fail_delay_ms"] == "500ms"
    assert conf_["policy"]["ban_time"] == "2h"
    assert conf_["policy"]["ban_time_max"] == "7d"
    assert conf_["policy"]["auth_fail_window"] == "15m"    # plain: seconds
    assert conf_["delivery"]["retry_min"] == "30s"
    conf.write_text("[limits]\n\ntimeout_command = 500ms\n")
    r = run("check-config", "-c", str(conf))
    assert r.returncode == 1
    assert "%s:3: timeout_command: '500ms' is not a whole number of " \
        "seconds" % conf in r.stderr, r.stderr
    conf.write_text("[policy]\nban_time = 2 hours\n")
    r = run("check-config", "-c", str(conf))
    assert r.returncode == 1 and "%s:2: ban_time: '2 hours' is not a " \
        "duration" % conf in r.stderr, r.stderr


def test_moat_config_prints_changed_knobs_and_values(tmp_path):
    conf = tmp_path / "c.conf"
    conf.write_text("[server]\nhostname = mx.example.org\n"
                    "[limits]\ntimeout_command = 300   # the default\n"
                    "max_errors = 7\n[policy]\nban_time = 2h\n"
                    "[domains]\nlocal_domains = example.org, example.net\n"
                    "[listener mx]\naddress = 127.0.0.1\nport = 2526\n")
    r = run("config", "-c", str(conf))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "[server]", "hostname = mx.example.org", "",
        "[domains]", "local_domains = example.org, example.net", "",
        "[limits]", "max_errors = 7", "",
        "[policy]", "ban_time = 2h", "",
        "[listener mx]", "address = 127.0.0.1", "port = 2526"], r.stdout
    # what it prints is a configuration of its own, with the same effect
    again = tmp_path / "again.conf"
    again.write_text(r.stdout)
    assert run("check-config", "-c", str(again)).stdout.replace(
        str(again), "X") == run("check-config", "-c", str(conf)).stdout.replace(
        str(conf), "X")
    r = run("config", "-c", str(conf), "ban_time")
    assert (r.returncode, r.stdout) == (0, "2h\n"), r
    r = run("config", "-c", str(conf), "timeout_command", "limits.max_errors",
            "listener.mx.port", "local_domains")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "timeout_command = 5m", "limits.max_errors = 7",
        "listener.mx.port = 2526",
        "local_domains = example.org, example.net"]
    r = run("config", "-c", str(conf), "-d", "ban_time")
    assert (r.returncode, r.stdout) == (0, "1h\n"), r
    r = run("config", "-c", str(conf), "bogus_knob")
    assert r.returncode == 1 and "unknown knob 'bogus_knob'" in r.stderr
    r = run("config", "-c", str(conf), "policy.max_errors")
    assert r.returncode == 1, "max_errors is in [limits], not [policy]"
    r = run("config", "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: moat config")


def test_every_duration_knob_takes_units(tmp_path):
    """A knob whose text speaks of seconds or milliseconds is a duration
    (config-doc says so), and takes its default written with a unit."""
    doc = run("config-doc").stdout
    section, knobs = None, []
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("["):
            section = line.strip("[]")
            continue
        m = re.match(r"^  ([a-z0-9_]+) \(([^,)]+)(?:, ([a-z]+))?, default: "
                     r"([^,)]*)", line)
        if not m:
            continue
        text = lines[i + 1].strip() if i + 1 < len(lines) else ""
        knobs.append((section, m.group(1), m.group(2), m.group(3),
                      m.group(4), text))
    timed = [k for k in knobs if k[2] == "duration" or
             re.match(r"(Milli)?[Ss]econds\b", k[5]) or re.search(r"_(timeout|time|window|lifetime|expire|interval|"
                          r"ttl)$", k[1])]
    assert len(timed) > 30, timed
    wrong = [(s, n, t) for s, n, t, _, _, _ in timed if t != "duration"]
    assert not wrong, wrong
    # each, in a plain section, set to its default with a unit
    text = ""
    for s, n, t, unit, default, _ in timed:
        if " " in s or not default.isdigit():
            continue
        v = int(default)
        if unit == "milliseconds":
            v, u = (v // 1000, "s") if v % 1000 == 0 and v else (v, "ms")
        else:
            u = "s"
        for size, name in ((86400, "d"), (3600, "h"), (60, "m")):
            if u == "s" and v and v % size == 0:
                v, u = v // size, name
                break
        text += "[%s]\n%s = %d%s\n" % (s, n, v, u)
    conf = tmp_path / "units.conf"
    conf.write_text(text)
    r = run("check-config", "-c", str(conf))
    assert r.returncode == 0, text + r.stderr


def test_config_defaults_resolve_paths_as_the_file_would(tmp_path):
    """`moat config -d -c FILE` shows the defaults as they apply to FILE:
    relative paths below its directory, as check-config resolves them."""
    sub = tmp_path / "etc"
    sub.mkdir()
    conf = sub / "m.conf"
    conf.write_text("[server]\nhostname = mx.example.org\n")
    r = run("config", "-d", "-c", str(conf), "spool_dir", cwd=str(tmp_path))
    assert r.returncode == 0 and r.stdout.strip() == \
        str(sub / "var" / "spool"), r
    checked = sections(run("check-config", "-c", str(conf)).stdout)
    assert checked["server"]["spool_dir"] == str(sub / "var" / "spool")
    r = run("config", "--builtin", "spool_dir", cwd=str(tmp_path))
    assert r.returncode == 0 and r.stdout.strip() == \
        str(tmp_path / "var" / "spool"), r
