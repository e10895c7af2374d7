"""``dns-suite authoritative`` as a process: UDP/TCP, bad packets, TCP rules, SIGHUP, workers, SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import pytest

from peers import free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "wire"))
import malformed_corpus  # noqa: E402

pytestmark = pytest.mark.integration

ZONE = """$ORIGIN svc.test.
$TTL 300
@ SOA ns hostmaster {serial} 3600 600 86400 60
@ NS ns
ns A 127.0.0.1
www A 192.0.2.{serial}
"""


class Service:
    def __init__(self, tmp: Path, workers: int = 1, idle: float = 10.0, max_conn: int = 256) -> None:
        self.port = free_port()
        self.zone = tmp / "svc.test.zone"
        self.zone.write_text(ZONE.format(serial=1))
        self.conf = tmp / "auth.toml"
        self.conf.write_text(
            f'[authoritative]\nlisten = ["127.0.0.1:{self.port}", "[::1]:{self.port}"]\n'
            f"workers = {workers}\ntcp_idle_timeout = {idle}\ntcp_max_connections = {max_conn}\n"
            f'[[authoritative.zones]]\norigin = "svc.test."\nfile = "svc.test.zone"\n')
        self.log = tmp / "auth.log"
        self.proc = subprocess.Popen(["dns-suite", "authoritative", "--config", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=self.log.open("w"))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if self.ask("svc.test.", "SOA", timeout=0.3).rcode() == 0:
                    return
            except (dns.exception.Timeout, OSError):
                time.sleep(0.1)
        raise RuntimeError("dns-suite authoritative did not start:\n" + self.log.read_text())

    def ask(self, name, qtype="A", *, tcp=False, host="127.0.0.1", timeout=2.0):
        q = dns.message.make_query(name, qtype)
        send = dns.query.tcp if tcp else dns.query.udp
        return send(q, host, port=self.port, timeout=timeout)

    def www(self) -> str:
        return self.ask("www.svc.test.").answer[0][0].address

    def wait_log(self, text: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log.read_text():
                return
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not logged:\n{self.log.read_text()}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return -9
        return self.proc.returncode


@pytest.fixture
def service(tmp_path):
    svc = Service(tmp_path)
    yield svc
    svc.stop()


def test_udp_tcp_ipv4_ipv6(service):
    for tcp in (False, True):
        for host in ("127.0.0.1", "::1"):
            reply = service.ask("www.svc.test.", tcp=tcp, host=host)
            assert reply.answer[0][0].address == "192.0.2.1"


def test_bad_packets_then_valid_query(service):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        for name, data, _ in malformed_corpus.MALFORMED:
            s.sendto(data, ("127.0.0.1", service.port))
            if malformed_corpus.answerable(data):
                reply = s.recv(65535)
                assert reply[:2] == data[:2] and reply[3] & 0xF in (1, 4), name
        s.sendto(b"\x00" * 5, ("127.0.0.1", service.port))
        with pytest.raises(socket.timeout):
            s.recv(65535)
    assert service.www() == "192.0.2.1"
    assert service.proc.poll() is None


def _framed(name: str, ident: int) -> bytes:
    wire = dns.message.make_query(name, "A", id=ident).to_wire()
    return len(wire).to_bytes(2, "big") + wire


def _read_reply(s: socket.socket) -> dns.message.Message:
    head = s.recv(2, socket.MSG_WAITALL)
    return dns.message.from_wire(s.recv(int.from_bytes(head, "big"), socket.MSG_WAITALL))


def test_tcp_pipelined_in_order(service):
    with socket.create_connection(("127.0.0.1", service.port), timeout=5) as s:
        s.sendall(_framed("www.svc.test.", 1) + _framed("nope.svc.test.", 2) + _framed("svc.test.", 3))
        replies = [_read_reply(s) for _ in range(3)]
    assert [r.id for r in replies] == [1, 2, 3]
    assert [r.rcode() for r in replies] == [0, 3, 0]


def test_half_open_client_does_not_stall_others(service):
    with socket.create_connection(("127.0.0.1", service.port), timeout=5) as stuck:
        stuck.sendall(b"\x00\x40\x12")  # a length and one octet, then silence
        assert service.ask("www.svc.test.", tcp=True, timeout=2).rcode() == 0
        assert service.www() == "192.0.2.1"


def test_idle_timeout_and_connection_cap(tmp_path):
    svc = Service(tmp_path, idle=0.5, max_conn=2)
    try:
        a = socket.create_connection(("127.0.0.1", svc.port), timeout=5)
        b = socket.create_connection(("127.0.0.1", svc.port), timeout=5)
        time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", svc.port), timeout=5) as c:
            assert c.recv(1) == b""  # over the cap: closed at once
        assert a.recv(1) == b"" and b.recv(1) == b""  # idle past 0.5 s: closed
        a.close()
        b.close()
        assert svc.ask("www.svc.test.", tcp=True).rcode() == 0
    finally:
        svc.stop()


def test_sighup_broken_zone_keeps_old_then_reload_applies(service):
    service.zone.write_text(ZONE.format(serial=2) + "bad A 192.0.2.999\n")
    service.proc.send_signal(signal.SIGHUP)
    service.wait_log("svc.test.zone:7: error: bad IPv4 address")
    service.wait_log("keeps serving serial=1")
    assert service.www() == "192.0.2.1"
    service.zone.write_text(ZONE.format(serial=3))
    service.proc.send_signal(signal.SIGHUP)
    service.wait_log("reloaded version=3")
    assert service.www() == "192.0.2.3"


def test_workers_serve_and_reload(tmp_path):
    svc = Service(tmp_path, workers=2)
    try:
        assert {svc.www() for _ in range(20)} == {"192.0.2.1"}
        svc.zone.write_text(ZONE.format(serial=4))
        svc.proc.send_signal(signal.SIGHUP)
        svc.wait_log("reloaded version=2")
        deadline = time.monotonic() + 5  # the old worker set drains for 0.5 s
        while time.monotonic() < deadline and svc.www() != "192.0.2.4":
            time.sleep(0.1)
        time.sleep(1.0)
        assert {svc.www() for _ in range(40)} == {"192.0.2.4"}
        assert svc.ask("www.svc.test.", tcp=True).answer[0][0].address == "192.0.2.4"
    finally:
        assert svc.stop() == 0


def test_sigterm_stops_cleanly(service):
    assert service.stop() == 0
    service.wait_log("stopped")


def test_workers_die_with_the_control_process(tmp_path):
    svc = Service(tmp_path, workers=2)
    children = subprocess.run(["pgrep", "-P", str(svc.proc.pid)], capture_output=True, text=True).stdout.split()
    assert len(children) == 2
    svc.proc.kill()
    svc.proc.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in children):
        time.sleep(0.1)
    assert not any(Path(f"/proc/{pid}/status").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()
                   for pid in children)


def test_no_zone_loads_exits_non_zero(tmp_path):
    run = subprocess.run(["dns-suite", "authoritative", "--zone", f"x.test.={tmp_path}/missing.zone",
                          "--listen", f"127.0.0.1:{free_port()}"], capture_output=True, text=True, timeout=30)
    assert run.returncode == 1 and "none of the 1 configured zones loaded" in run.stderr


@pytest.mark.parametrize("how", ["config", "zone"])
def test_shipped_config_and_zone_mode_send_no_notify(tmp_path, how):
    """The example zone's NS addresses are documentation addresses: nothing may be sent there."""
    repo = Path(__file__).resolve().parents[2]
    port = free_port()
    args = (["--config", str(repo / "configs" / "authoritative.toml")] if how == "config"
            else ["--zone", f"example.test.={repo / 'zones' / 'example.test.zone'}"])
    log = tmp_path / "log"
    proc = subprocess.Popen(["dns-suite", "authoritative", *args, "--listen", f"127.0.0.1:{port}",
                             "--log-level", "info"], stdout=subprocess.DEVNULL, stderr=log.open("w"))
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "serving" not in log.read_text():
            time.sleep(0.1)
        time.sleep(1.0)  # a NOTIFY would go out at start and again after 1 s
        assert "serving" in log.read_text() and "NOTIFY sent" not in log.read_text(), log.read_text()
    finally:
        proc.terminate()
        proc.wait(10)
