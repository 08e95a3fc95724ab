"""The defences against the seed's incidents, against the real daemon:
AUTH brute force ends in a ban, accounts under a distributed guess slow
down, directory harvesting, command loops, slow-drip clients, the session
lifetime, sender identity and anti-spoofing. Attackers and well-behaved
clients use different loopback addresses (127.0.0.0/8 all reaches lo)."""
import smtplib
import socket
import time

import pytest

from submission import LISTENERS, PASSWORD, USER, plain, sub_session


def banner(port, src, timeout=5):
    """The first reply line a client at src gets, or '' if closed."""
    with socket.create_connection(("127.0.0.1", port), timeout,
                                  source_address=(src, 0)) as c:
        data = b""
        try:
            while not data.endswith(b"\r\n"):
                chunk = c.recv(512)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        return data.decode(errors="replace")


def test_auth_brute_force_bans_address(moat_factory):
    m = moat_factory(listeners=LISTENERS, users={USER: PASSWORD},
                     extra="[limits]\nauth_fail_delay_ms = 50\n"
                           "[policy]\nauth_fail_limit = 3\nban_time = 3\n")
    codes = []
    for i in range(2):
        s = sub_session(m, "127.0.0.3")
        try:
            for _ in range(2):
                code, _ = s.docmd("AUTH", "PLAIN " + plain(USER, "guess%d" % i))
                codes.append(code)
                if code == 421:
                    break
        finally:
            try:
                s.close()
            except Exception:
                pass
    # three failures from one address: the third is answered 421
    assert codes[:3] == [535, 535, 421], codes
    assert m.wait_log("event=ban client=127.0.0.3")
    # refused before the banner, from the banned address only
    assert banner(m.ports["sub"], "127.0.0.3").startswith("554 5.7.1")
    assert banner(m.ports["mx"], "127.0.0.3").startswith("554 5.7.1")
    assert banner(m.ports["sub"], "127.0.0.9").startswith("220 ")
    # the real user, from a clean address, still logs in
    s = sub_session(m, "127.0.0.9")
    assert s.docmd("AUTH", "PLAIN " + plain(USER, PASSWORD))[0] == 235
    s.quit()
    assert m.sql("select count(*) from events where type='ban' "
                 "and client_ip='127.0.0.3'") == [["1"]]
    # and the ban expires
    time.sleep(3.5)
    assert banner(m.ports["sub"], "127.0.0.3").startswith("220 ")


def test_ban_survives_restart(moat_factory):
    m = moat_factory(listeners=LISTENERS, users={USER: PASSWORD},
                     extra="[limits]\nauth_fail_delay_ms = 10\n"
                           "[policy]\nauth_fail_limit = 2\n")
    s = sub_session(m, "127.0.0.5")
    for _ in range(2):
        code, _ = s.docmd("AUTH", "PLAIN " + plain(USER, "nope"))
    assert code == 421
    assert m.wait_log("event=ban client=127.0.0.5")
    time.sleep(0.3)     # the queue commits the ban
    assert m.stop() == 0
    m.start()
    assert banner(m.ports["mx"], "127.0.0.5").startswith("554 5.7.1")
    assert banner(m.ports["mx"], "127.0.0.6").startswith("220 ")


def test_account_under_distributed_guess_slows_down(moat_factory):
    # every AUTH costs the same password check, whose time varies with
    # the machine's load: the pause is seen as the difference between
    # replies, against a margin wider than that variation
    pause = 2.0
    m = moat_factory(listeners=LISTENERS, users={USER: PASSWORD},
                     extra="[limits]\nauth_fail_delay_ms = 10\n"
                           "[policy]\naccount_fail_limit = 3\n"
                           "account_fail_delay_ms = %d\n" % (pause * 1000))
    times = []
    for i in range(4):
        s = sub_session(m, "127.0.1.%d" % (i + 1))
        t0 = time.time()
        code, _ = s.docmd("AUTH", "PLAIN " + plain(USER, "guess"))
        times.append(time.time() - t0)
        assert code == 535
        s.close()
    assert m.wait_log("event=account_attack user=alice ")
    assert "alert=yes" in m.log()
    # the failures past the limit are slowed down, the first ones not
    assert times[3] >= pause, times
    assert times[3] - times[0] > pause / 2, times
    # no lock-out: the right password from a clean address, no pause
    s = sub_session(m, "127.0.2.1")
    t0 = time.time()
    assert s.docmd("AUTH", "PLAIN " + plain(USER, PASSWORD))[0] == 235
    assert time.time() - t0 < times[3] - pause / 2, times
    s.quit()
    # the event is stored a moment after the reply: waited for
    assert m.wait_sql("select count(*) from events where "
                      "type='account_attack'", [["1"]]) == [["1"]]


def test_harvesting_is_tarpitted_then_cut_off(moat_factory):
    m = moat_factory(extra="[policy]\nmax_unknown_rcpts = 4\n"
                           "tarpit_ms = 400\n")
    good = smtplib.SMTP("127.0.0.1", m.port, timeout=10,
                        source_address=("127.0.0.20", 0))
    good.ehlo("good.example")
    s = smtplib.SMTP("127.0.0.1", m.port, timeout=10,
                     source_address=("127.0.0.21", 0))
    s.ehlo("harvester.example")
    s.mail("x@spam.example")
    delays = []
    for i in range(4):
        t0 = time.time()
        code, _ = s.rcpt("guess%d@localhost" % i)
        delays.append(time.time() - t0)
        assert code == 550
    assert delays[0] < 0.3 and delays[3] >= 0.35, delays
    code, msg = s.rcpt("guess9@localhost")
    assert code == 421, (code, msg)
    assert m.wait_log("event=harvest client=127.0.0.21")
    # meanwhile the well-behaved client's mail goes through
    good.sendmail("friend@outside.example", ["postmaster@localhost"],
                  b"Subject: hi\r\n\r\nhello\r\n")
    good.quit()
    assert len(m.wait_maildir(1)) == 1


def test_command_loop_cut_off(moat_factory):
    m = moat_factory(extra="[policy]\nmax_idle_commands = 5\n")
    s = smtplib.SMTP("127.0.0.1", m.port, timeout=10)
    s.ehlo()                        # 1
    for _ in range(4):
        assert s.noop()[0] == 250   # 2..5
    code, _ = s.noop()
    assert code == 421
    assert m.wait_log("limit=max_idle_commands")


def test_slow_drip_cut_off(moat_factory):
    m = moat_factory(extra="[policy]\nmin_data_rate = 1000\n"
                           "data_rate_grace = 1\n")
    c = socket.create_connection(("127.0.0.1", m.port), 10)
    f = c.makefile("rb")
    assert f.readline().startswith(b"220")
    c.sendall(b"HELO drip.example\r\n")
    assert f.readline().startswith(b"250")
    c.sendall(b"MAIL FROM:<a@b.example>\r\n")
    assert f.readline().startswith(b"250")
    c.sendall(b"RCPT TO:<postmaster@localhost>\r\n")
    assert f.readline().startswith(b"250")
    c.sendall(b"DATA\r\n")
    assert f.readline().startswith(b"354")
    reply = b""
    deadline = time.time() + 8
    c.settimeout(0.3)
    while time.time() < deadline and not reply:
        try:
            c.sendall(b"x")
        except OSError:
            break
        try:
            reply = c.recv(512)
        except socket.timeout:
            pass
    assert reply.startswith(b"421"), reply
    assert m.wait_log("limit=min_data_rate")


def test_session_lifetime_alert(moat_factory):
    m = moat_factory(extra="[policy]\nsession_lifetime = 2\n")
    s = smtplib.SMTP("127.0.0.1", m.port, timeout=10)
    s.ehlo()
    time.sleep(2.5)
    with pytest.raises(smtplib.SMTPServerDisconnected):
        s.noop()
        s.noop()
    assert m.wait_log("event=session_lifetime")
    assert "alert=yes" in m.log()
    time.sleep(0.3)
    assert m.sql("select count(*) from events where type='session_lifetime'") \
        == [["1"]]


def test_sender_identity(moat_factory):
    m = moat_factory(listeners=LISTENERS, users={USER: PASSWORD})
    s = sub_session(m, "127.0.0.1")
    assert s.docmd("AUTH", "PLAIN " + plain(USER, PASSWORD))[0] == 235
    code, msg = s.mail("bob@example.org")
    assert code == 553 and b"5.7.1" in msg
    assert s.mail("alice@example.org")[0] == 250
    s.rset()
    assert s.mail("alice@localhost")[0] == 250
    s.quit()
    assert m.wait_log("event=sender_mismatch")


def test_local_sender_spoofing_refused_on_mx(moat):
    with smtplib.SMTP("127.0.0.1", moat.port, timeout=10) as s:
        s.ehlo()
        code, msg = s.mail("postmaster@example.org")
        assert code == 550 and b"5.7.1" in msg
        assert s.mail("someone@outside.example")[0] == 250
    # an internal server in relay_networks may use local senders
    with smtplib.SMTP("127.0.0.1", moat.port, timeout=10,
                      source_address=("127.0.0.2", 0)) as s:
        s.ehlo()
        assert s.mail("postmaster@example.org")[0] == 250
    assert moat.wait_log("event=spoofed_sender")


def test_static_deny_networks(moat_factory):
    m = moat_factory(extra="[policy]\ndeny_networks = 127.0.3.0/24, ::2/128\n")
    assert banner(m.port, "127.0.3.7").startswith("554 5.7.1")
    assert banner(m.port, "127.0.4.7").startswith("220 ")
    assert m.wait_log("event=refused client=127.0.3.7")


@pytest.fixture
def blocklist_dns():
    """dnsmasq on loopback serving a blocklist zone bl.moat.example that lists
    127.0.0.66 (and an answer outside 127/8 for 127.0.0.67)."""
    import subprocess
    from conftest import free_port, wait_dns
    port = free_port()
    p = subprocess.Popen(
        ["dnsmasq", "--no-daemon", "--port=%d" % port,
         "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv",
         "--no-hosts", "--conf-file=/dev/null", "--local=/bl.moat.example/",
         "--host-record=66.0.0.127.bl.moat.example,127.0.0.2",
         "--host-record=67.0.0.127.bl.moat.example,192.0.2.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_dns(port, p)
    yield port
    p.terminate()
    p.wait()


def test_dnsbl_listed_client_refused(moat_factory, blocklist_dns):
    m = moat_factory(extra="[relay]\nrelay_networks = 127.0.0.2/32\n"
                           "[delivery]\ndns_server = 127.0.0.1@%d\n"
                           "[policy]\ndnsbl_zones = bl.moat.example*2\n"
                           "dnsbl_threshold = 2\n" % blocklist_dns)
    with smtplib.SMTP("127.0.0.1", m.port, timeout=10,
                      source_address=("127.0.0.66", 0)) as s:
        s.ehlo()
        code, msg = s.mail("a@outside.example")
        assert code == 554 and b"5.7.1" in msg and b"bl.moat.example" in msg, msg
    # not listed, and an answer outside 127/8 is no listing
    for src in ("127.0.0.65", "127.0.0.67"):
        with smtplib.SMTP("127.0.0.1", m.port, timeout=10,
                          source_address=(src, 0)) as s:
            s.ehlo()
            assert s.mail("a@outside.example")[0] == 250
    assert m.wait_log("event=dnsbl client=127.0.0.66")
    time.sleep(0.3)
    assert m.sql("select count(*) from events where type='dnsbl'") == [["1"]]


def test_nmap_smtp_brute_ends_in_ban(moat_factory, tmp_path):
    """Real nmap smtp-brute against the submissions listener. nmap speaks
    TLS on port 465 only, so the listener takes that port (skipped when
    something else holds it)."""
    import subprocess
    probe = socket.socket()
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind(("127.0.0.1", 465))
    except OSError:
        pytest.skip("127.0.0.1:465 is in use")
    finally:
        probe.close()
    m = moat_factory(listeners=[("mx", "mx", ""), ("subs", "submissions", "")],
                     users={USER: PASSWORD}, start=False,
                     extra="[limits]\nauth_fail_delay_ms = 10\n")
    with open(m.conf) as f:
        text = f.read()
    text = text.replace("port = %d\nrole = submissions" % m.ports["subs"],
                        "port = 465\nrole = submissions")
    with open(m.conf, "w") as f:
        f.write(text)
    m.ports["subs"] = 465
    m.start()
    (tmp_path / "users.lst").write_text("alice\nbob\n")
    (tmp_path / "pass.lst").write_text("".join("guess%d\n" % i
                                               for i in range(8)))
    r = subprocess.run(
        ["nmap", "-Pn", "-p", "465", "--script", "smtp-brute", "--script-args",
         "userdb=%s,passdb=%s" % (tmp_path / "users.lst",
                                  tmp_path / "pass.lst"), "127.0.0.1"],
        capture_output=True, text=True, timeout=120)
    assert "smtp-brute" in r.stdout, r.stdout + r.stderr
    assert "No valid accounts found" in r.stdout, r.stdout
    assert m.wait_log("event=ban client=127.0.0.1")
    # banned: refused before the banner, on every listener
    assert banner(m.ports["mx"], "127.0.0.1").startswith("554 5.7.1")
    assert banner(m.ports["mx"], "127.0.0.9").startswith("220 ")
