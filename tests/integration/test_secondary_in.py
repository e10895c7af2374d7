"""dns-suite as a secondary of NSD: AXFR at start, NOTIFY -> refresh, TSIG, UPDATE refused, retransfer."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.tsigkeyring
import dns.update
import pytest

from peers import free_port

pytestmark = pytest.mark.integration
SECRET = base64.b64encode(os.urandom(32)).decode()
ZONE = "$ORIGIN prim.test.\n$TTL 300\n@ SOA ns hostmaster {serial} 3600 600 86400 60\n@ NS ns\nns A 127.0.0.1\nwww A 192.0.2.{serial}\n"


def ask(port: int, name: str, qtype: str = "A") -> dns.message.Message:
    return dns.query.udp(dns.message.make_query(name, qtype), "127.0.0.1", port=port, timeout=2)


def wait_for(check, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not answering yet
            pass
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


@pytest.fixture
def pair(tmp_path: Path):
    assert shutil.which("nsd") and shutil.which("nsd-control-setup"), "scripts/test installs nsd"
    nsd_port, ctl_port, our_port = free_port(), free_port(), free_port()
    zone = tmp_path / "prim.test.zone"
    zone.write_text(ZONE.format(serial=10))
    subprocess.run(["nsd-control-setup", "-d", str(tmp_path)], capture_output=True, check=True)
    (tmp_path / "nsd.conf").write_text(f"""server:
  ip-address: 127.0.0.1@{nsd_port}
  username: ""
  chroot: ""
  zonesdir: "{tmp_path}"
  pidfile: "{tmp_path}/nsd.pid"
  xfrdfile: "{tmp_path}/xfrd.state"
  zonelistfile: "{tmp_path}/zone.list"
  database: ""
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
  verbosity: 1
remote-control:
  control-enable: yes
  control-interface: 127.0.0.1
  control-port: {ctl_port}
  server-key-file: "{tmp_path}/nsd_server.key"
  server-cert-file: "{tmp_path}/nsd_server.pem"
  control-key-file: "{tmp_path}/nsd_control.key"
  control-cert-file: "{tmp_path}/nsd_control.pem"
key:
  name: xfr-key
  algorithm: hmac-sha256
  secret: "{SECRET}"
zone:
  name: prim.test.
  zonefile: "{zone}"
  provide-xfr: 127.0.0.1 xfr-key
  notify: 127.0.0.1@{our_port} xfr-key
""")
    (tmp_path / "sec.toml").write_text(f"""[authoritative]
listen = ["127.0.0.1:{our_port}"]
[[authoritative.keys]]
name = "xfr-key"
secret = "{SECRET}"
[[authoritative.zones]]
origin = "prim.test."
file = "prim.test.copy"
primaries = ["127.0.0.1:{nsd_port} key xfr-key"]
notify_ns = false
""")
    nsd = subprocess.Popen(["nsd", "-d", "-c", str(tmp_path / "nsd.conf")], stdout=subprocess.DEVNULL,
                           stderr=(tmp_path / "nsd.log").open("w"))
    wait_for(lambda: ask(nsd_port, "prim.test.", "SOA").rcode() == 0)
    log = tmp_path / "sec.log"
    ours = subprocess.Popen(["dns-suite", "authoritative", "--config", str(tmp_path / "sec.toml")],
                            stdout=subprocess.DEVNULL, stderr=log.open("w"))
    running = {"tmp": tmp_path, "zone": zone, "nsd": nsd, "ours": ours, "port": our_port, "log": log}
    yield running
    for proc in (running["ours"], running["nsd"]):  # the test may have restarted ours
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def www(port: int) -> str:
    return ask(port, "www.prim.test.").answer[0][0].address


def test_secondary_of_nsd(pair):
    port = pair["port"]
    wait_for(lambda: www(port) == "192.0.2.10")  # initial AXFR, TSIG verified on every message
    reply = ask(port, "www.prim.test.")
    assert reply.flags & dns.flags.AA
    assert (pair["tmp"] / "prim.test.copy").read_text().count("192.0.2.10") == 1  # the copy on disk

    pair["zone"].write_text(ZONE.format(serial=11))
    subprocess.run(["nsd-control", "-c", str(pair["tmp"] / "nsd.conf"), "reload", "prim.test."],
                   capture_output=True, check=True)
    wait_for(lambda: www(port) == "192.0.2.11")  # NSD's NOTIFY -> SOA check -> transfer
    assert "NOTIFY zone=prim.test. from 127.0.0.1" in pair["log"].read_text()

    update = dns.update.UpdateMessage("prim.test.")
    update.add("x", 60, "A", "192.0.2.99")
    update.use_tsig(dns.tsigkeyring.from_text({"xfr-key.": SECRET}), keyname="xfr-key.")
    assert dns.query.udp(update, "127.0.0.1", port=port, timeout=2).rcode() == dns.rcode.NOTAUTH

    pair["nsd"].send_signal(signal.SIGTERM)
    pair["nsd"].wait(10)
    assert www(port) == "192.0.2.11"  # primary down: the copy keeps serving until EXPIRE


def test_restart_serves_the_copy_before_the_primary_answers(pair):
    port = pair["port"]
    wait_for(lambda: www(port) == "192.0.2.10")
    pair["nsd"].send_signal(signal.SIGTERM)
    pair["nsd"].wait(10)
    pair["ours"].send_signal(signal.SIGTERM)
    pair["ours"].wait(10)
    pair["ours"] = subprocess.Popen(["dns-suite", "authoritative", "--config", str(pair["tmp"] / "sec.toml")],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: www(port) == "192.0.2.10")


def test_expire_then_servfail_then_resync(tmp_path: Path):
    """Primary down past EXPIRE -> SERVFAIL (RFC 1034 §4.3.5); primary back -> served again."""
    fast = "$ORIGIN prim.test.\n$TTL 300\n@ SOA ns hostmaster {serial} 2 1 4 60\n@ NS ns\nns A 127.0.0.1\nwww A 192.0.2.{serial}\n"
    nsd_port, our_port = free_port(), free_port()
    zone = tmp_path / "prim.test.zone"
    zone.write_text(fast.format(serial=10))
    subprocess.run(["nsd-control-setup", "-d", str(tmp_path)], capture_output=True, check=True)
    conf = tmp_path / "nsd.conf"
    conf.write_text(f"""server:
  ip-address: 127.0.0.1@{nsd_port}
  username: ""
  chroot: ""
  zonesdir: "{tmp_path}"
  pidfile: "{tmp_path}/nsd.pid"
  xfrdfile: "{tmp_path}/xfrd.state"
  zonelistfile: "{tmp_path}/zone.list"
  database: ""
  rrl-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: prim.test.
  zonefile: "{zone}"
  provide-xfr: 127.0.0.1 NOKEY
""")
    (tmp_path / "sec.toml").write_text(f"""[authoritative]
listen = ["127.0.0.1:{our_port}"]
min_refresh = 1.0
min_retry = 1.0
[[authoritative.zones]]
origin = "prim.test."
file = "prim.test.copy"
primaries = ["127.0.0.1:{nsd_port}"]
notify_ns = false
""")
    procs = []

    def start_nsd():
        proc = subprocess.Popen(["nsd", "-d", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        wait_for(lambda: ask(nsd_port, "prim.test.", "SOA").rcode() == 0)
        return proc

    try:
        nsd = start_nsd()
        procs.append(subprocess.Popen(["dns-suite", "authoritative", "--config", str(tmp_path / "sec.toml")],
                                      stdout=subprocess.DEVNULL, stderr=(tmp_path / "sec.log").open("w")))
        wait_for(lambda: www(our_port) == "192.0.2.10")
        nsd.send_signal(signal.SIGTERM)
        nsd.wait(10)
        wait_for(lambda: ask(our_port, "www.prim.test.").rcode() == dns.rcode.SERVFAIL, timeout=30)
        assert "expired: answering SERVFAIL" in (tmp_path / "sec.log").read_text()
        start_nsd()
        wait_for(lambda: www(our_port) == "192.0.2.10", timeout=30)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
