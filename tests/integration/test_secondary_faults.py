"""dns-suite as a secondary: of Knot (TSIG, AXFR, NOTIFY -> IXFR from Knot's journal, same answers),
and of a fake primary that misbehaves (a cut transfer, a bad MAC, an oversize transfer, a stall):
the old copy is kept and the error logged, and ``dns-suite ctl retransfer`` recovers (issue 5)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from dns_suite.authoritative.xfr import axfr_items, pack
from dns_suite.wire.message import RR, Message, decode, encode
from dns_suite.wire.tsig import TsigKey, parse_rdata, sign
from dns_suite.wire.types import Flag
from dns_suite.zone.loader import load_zone
from peers import DNS_SUITE, HOST, KNOTD, Server, free_port
from xfrpeers import KNOTC, Key, axfr, run_tool, soa_serial, spawn, wait_for, wait_serial

pytestmark = pytest.mark.integration
START = 20.0  # seconds for a server to answer / a transfer to happen


def ask(port: int, name: str, qtype: str = "A") -> dns.message.Message:
    return dns.query.udp(dns.message.make_query(name, qtype), HOST, port=port, timeout=2)


def our_config(workdir: Path, port: int, key: Key, origin: str, primary_port: int, extra: str = "",
               allow_transfer: bool = False) -> Path:
    conf = workdir / "sec.toml"
    conf.write_text(f"""[authoritative]
listen = ["{HOST}:{port}"]
control_socket = "ctl.sock"
{extra}
{key.toml()}
[[authoritative.zones]]
origin = "{origin}"
file = "{origin}copy"
primaries = ["{HOST}:{primary_port} key {key.name}"]
notify_ns = false
{'allow_transfer = ["127.0.0.1"]' if allow_transfer else ''}
""")
    return conf


def start_ours(workdir: Path, conf: Path, port: int) -> Server:
    return spawn("dns-suite", [DNS_SUITE, "authoritative", "--config", str(conf)], workdir, port)


# --------------------------------------------------------------------------- Knot primary

KNOT_ZONE = """$ORIGIN knot.test.
$TTL 300
@ SOA ns hostmaster 1 3600 600 86400 60
@ NS ns
@ MX 10 mail
@ TXT "v=spf1 -all"
ns A 127.0.0.1
mail A 192.0.2.25
mail AAAA 2001:db8::25
www A 192.0.2.1
www A 192.0.2.2
alias CNAME www
old A 192.0.2.5
txt 600 TXT "hello world" "two strings"
sub NS ns.sub
ns.sub A 192.0.2.53
*.wild A 192.0.2.77
"""


@pytest.fixture
def knot_pair(tmp_path: Path):
    key = Key.new("xfr-key.")
    kport, our_port = free_port(), free_port()
    kdir, odir = tmp_path / "knot", tmp_path / "ours"
    kdir.mkdir()
    odir.mkdir()
    (kdir / "db").mkdir()
    (kdir / "knot.test.zone").write_text(KNOT_ZONE)
    conf = kdir / "knot.conf"
    conf.write_text(f"""server:
    rundir: "{kdir}"
    listen: {HOST}@{kport}
    pidfile: "{kdir}/knot.pid"
    udp-workers: 1
    tcp-workers: 2
    background-workers: 1
log:
  - target: "{kdir}/knot.log"
    any: info
database:
    storage: "{kdir}/db"
control:
    listen: "{kdir}/knot.sock"
key:
  - id: {key.name}
    algorithm: {key.algorithm}
    secret: {key.secret}
remote:
  - id: ours
    address: {HOST}@{our_port}
    key: {key.name}
acl:
  - id: xfr
    address: {HOST}
    key: {key.name}
    action: transfer
template:
  - id: default
    storage: "{kdir}"
    zonefile-sync: -1
    zonefile-load: difference-no-serial
    journal-content: all
    semantic-checks: off
zone:
  - domain: knot.test.
    file: "knot.test.zone"
    notify: ours
    acl: xfr
""")
    servers: list[Server] = []
    try:
        knot = spawn("knot", [KNOTD, "-c", str(conf)], kdir, kport)
        servers.append(knot)
        wait_for("knot to serve knot.test.", lambda: soa_serial(knot.addr, "knot.test.") is not None, START, [knot])
        sec = our_config(odir, our_port, key, "knot.test.", kport, allow_transfer=True)
        ours = start_ours(odir, sec, our_port)
        servers.append(ours)
        yield {"knot": knot, "ours": ours, "key": key, "conf": conf}
    finally:
        for s in reversed(servers):
            s.stop()


def _rrsets(msg: dns.message.Message, section: str) -> set[str]:
    return {rrset.to_text().lower() for rrset in getattr(msg, section)}


def _same_answers(knot: Server, ours: Server, key: Key) -> None:
    """AXFR both (ours with allow_transfer, Knot with the key) and ask both every name and type."""
    theirs = axfr(knot.addr, "knot.test.", key)
    mine = axfr(ours.addr, "knot.test.", None)
    assert mine == theirs
    asked = {(owner, rtype) for owner, rtype, _, _ in theirs} | {("nothing.knot.test.", "A"),
                                                                ("www.knot.test.", "AAAA"),
                                                                ("x.wild.knot.test.", "A")}
    for owner, rtype in sorted(asked):
        a, b = ask(knot.port, owner, rtype), ask(ours.port, owner, rtype)
        where = f"{owner} {rtype}"
        assert a.rcode() == b.rcode(), where
        assert bool(a.flags & dns.flags.AA) == bool(b.flags & dns.flags.AA), where
        assert _rrsets(a, "answer") == _rrsets(b, "answer"), where
        assert _rrsets(a, "authority") == _rrsets(b, "authority"), where


def test_secondary_of_knot_axfr_then_ixfr(knot_pair):
    knot, ours, key = knot_pair["knot"], knot_pair["ours"], knot_pair["key"]
    wait_serial(ours, "knot.test.", 1, START, [knot])  # initial AXFR, TSIG on every message
    assert "AXFR from 127.0.0.1" in ours.log.read_text()
    _same_answers(knot, ours, key)

    def knotc(*args: str) -> None:
        done = run_tool([KNOTC, "-c", str(knot_pair["conf"]), "-t", "10", *args], timeout=20)
        assert done.returncode == 0, done.stdout + done.stderr

    knotc("zone-begin", "knot.test.")
    knotc("zone-set", "knot.test.", "www", "300", "A", "192.0.2.3")
    knotc("zone-unset", "knot.test.", "old", "A", "192.0.2.5")
    knotc("zone-set", "knot.test.", "new", "120", "TXT", "added")
    knotc("zone-commit", "knot.test.")  # Knot bumps the serial, journals the change, NOTIFYs us
    wait_serial(knot, "knot.test.", 2, START, [knot])
    wait_serial(ours, "knot.test.", 2, START, [knot, ours])
    log = ours.log.read_text()
    assert "NOTIFY zone=knot.test. from 127.0.0.1" in log
    assert f"IXFR from 127.0.0.1:{knot.port} serial=2" in log
    assert "IXFR of serial 2" in log, log  # incremental, not the AXFR form
    assert ask(ours.port, "old.knot.test.").rcode() == dns.rcode.NXDOMAIN
    assert {r.address for r in ask(ours.port, "www.knot.test.").answer[0]} == {
        "192.0.2.1", "192.0.2.2", "192.0.2.3"}
    _same_answers(knot, ours, key)
    assert "192.0.2.3" in (ours.workdir / "knot.test.copy").read_text()  # the copy on disk


# --------------------------------------------------------------------------- fake primary

ORIGIN = "fake.test."
FAKE_ZONE = "$ORIGIN fake.test.\n$TTL 300\n@ SOA ns hostmaster {serial} 3600 3600 86400 60\n@ NS ns\n" \
            "ns A 127.0.0.1\nwww A 192.0.2.{serial}\n"


def fake_zone_text(serial: int, extra: int) -> str:
    return FAKE_ZONE.format(serial=serial) + "".join(f"h{i} A 10.0.{i >> 8}.{i & 255}\n" for i in range(extra))


class FakePrimary:
    """A primary on loopback: UDP SOA answers and TCP transfers (AXFR form, for AXFR and IXFR
    queries) of ``zone``, TSIG-signed per message; ``mode`` picks the fault: ``cut`` (close after
    the first message), ``badmac`` (second message signed with a wrong prior MAC), ``stall``
    (first message, then silence), ``ok``."""

    def __init__(self, workdir: Path, key: Key, zone_text: str, mode: str) -> None:
        self.key = TsigKey.from_text(key.name, key.algorithm, key.secret)
        self.workdir, self.mode, self.kinds = workdir, mode, []
        self.set_zone(zone_text)
        self.port = free_port()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((HOST, self.port))
        self.udp.settimeout(0.2)
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((HOST, self.port))
        self.tcp.listen(8)
        self.tcp.settimeout(0.2)
        self.stop_event = threading.Event()
        self.threads = [threading.Thread(target=self._udp_loop, daemon=True),
                        threading.Thread(target=self._tcp_loop, daemon=True)]
        for t in self.threads:
            t.start()

    def set_zone(self, text: str) -> None:
        path = self.workdir / "fake.zone"
        path.write_text(text)
        result = load_zone(ORIGIN, str(path))
        assert result.zone is not None, result.errors
        self.zone = result.zone

    def close(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(5)
        self.udp.close()
        self.tcp.close()

    def _request_mac(self, msg: Message) -> bytes:
        assert msg.tsig is not None, "our secondary signs with the primary's key"
        return parse_rdata(msg.tsig.owner, msg.tsig.rdata).mac

    def _udp_loop(self) -> None:
        while not self.stop_event.is_set():
            try:
                data, peer = self.udp.recvfrom(65535)
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            query = decode(data)
            soa = self.zone.soa
            reply = encode(Message(id=query.id, flags=Flag.QR | Flag.AA, question=query.question,
                                   answer=(RR(owner=self.zone.origin, rrtype=6, rrclass=1, ttl=soa.ttl,
                                              rdata=soa.rdatas[0]),)))
            signed, _ = sign(reply, self.key, now=int(time.time()), request_mac=self._request_mac(query))
            self.udp.sendto(signed, peer)

    def _tcp_loop(self) -> None:
        while not self.stop_event.is_set():
            try:
                conn, _ = self.tcp.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                length = int.from_bytes(_recv(conn, 2), "big")
                query = decode(_recv(conn, length))
            except OSError:
                return
            self.kinds.append(query.question[0].qtype)
            mode = self.mode
            prior = self._request_mac(query)
            messages = list(pack(axfr_items(self.zone), query, limit=256))
            assert len(messages) >= 2, "the faults need a transfer of several messages"
            for n, message in enumerate(messages):
                if n == 0:
                    signed, prior = sign(message, self.key, now=int(time.time()), request_mac=prior)
                elif n == 1 and mode == "badmac":
                    signed, prior = sign(message, self.key, now=int(time.time()), prior_mac=b"\0" * 32)
                else:
                    signed, prior = sign(message, self.key, now=int(time.time()), prior_mac=prior)
                try:
                    conn.sendall(len(signed).to_bytes(2, "big") + signed)
                except OSError:
                    return
                if n == 0 and mode == "cut":
                    return
                if mode == "trickle":  # each message inside transfer_stall, the whole too slow
                    time.sleep(0.6)
                if n == 0 and mode == "stall":  # silence until the secondary gives up (bounded)
                    deadline = time.monotonic() + 10
                    conn.settimeout(0.2)
                    while time.monotonic() < deadline and not self.stop_event.is_set():
                        try:
                            if not conn.recv(1):
                                return
                        except (TimeoutError, socket.timeout):
                            continue
                        except OSError:
                            return
                    return


def _recv(conn: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


FAULTS = {  # mode -> (zone records beyond the base, [authoritative] extras, what the log says)
    "cut": (10, "transfer_stall = 2.0", "0 bytes read on a total of 2 expected bytes"),
    "badmac": (10, "transfer_stall = 2.0", "message 2: TSIG check failed: bad MAC"),
    "oversize": (300, "transfer_stall = 2.0\nmax_transfer_octets = 2048", "transfer exceeds 2048 octets"),
    "stall": (10, "transfer_stall = 1.0", "failed, old copy kept: stalled: nothing received for 1 s"),
    "trickle": (40, "transfer_stall = 1.0\ntransfer_timeout = 2.0",
                "failed, old copy kept: not done within transfer_timeout (2 s)"),
}


@pytest.fixture(params=sorted(FAULTS))
def faulty(request, tmp_path: Path):
    mode = request.param
    extra, settings, _ = FAULTS[mode]
    key = Key.new("xfr-key.")
    fake = FakePrimary(tmp_path, key, fake_zone_text(2, extra), "ok" if mode == "oversize" else mode)
    port = free_port()
    (tmp_path / f"{ORIGIN}copy").write_text(fake_zone_text(1, 10))  # our copy on disk: serial 1
    conf = our_config(tmp_path, port, key, ORIGIN, fake.port, extra=settings)
    ours = None
    try:
        ours = start_ours(tmp_path, conf, port)
        yield {"mode": mode, "fake": fake, "ours": ours, "conf": conf}
    finally:
        if ours is not None:
            ours.stop()
        fake.close()


def test_fault_keeps_the_old_copy_then_retransfer(faulty):
    mode, fake, ours = faulty["mode"], faulty["fake"], faulty["ours"]
    failed = f"zone={ORIGIN} AXFR from 127.0.0.1:{fake.port} failed, old copy kept"
    # at start: serial 1 from disk, SOA query -> 2, IXFR fails, AXFR fails, retry in RETRY (3600 s)
    wait_for(failed, lambda: failed in ours.log.read_text(), START, [ours])
    log = ours.log.read_text()
    assert f"zone={ORIGIN} IXFR from 127.0.0.1:{fake.port} failed, old copy kept" in log
    assert FAULTS[mode][2] in log
    assert soa_serial(ours.addr, ORIGIN) == 1
    reply = ask(ours.port, f"www.{ORIGIN}")
    assert reply.flags & dns.flags.AA and reply.answer[0][0].address == "192.0.2.1"
    assert "192.0.2.1\n" in (ours.workdir / f"{ORIGIN}copy").read_text()
    assert fake.kinds[:2] == [251, 252]  # IXFR, then AXFR

    fake.mode = "ok"
    if mode == "oversize":
        fake.set_zone(fake_zone_text(2, 10))  # a serial-2 zone that fits the limit
    done = run_tool([DNS_SUITE, "ctl", "--config", str(faulty["conf"]), "retransfer", ORIGIN], timeout=20)
    assert done.returncode == 0, done.stdout + done.stderr
    wait_serial(ours, ORIGIN, 2, START, [ours])
    assert ask(ours.port, f"www.{ORIGIN}").answer[0][0].address == "192.0.2.2"
    assert ask(ours.port, f"h9.{ORIGIN}").answer[0][0].address == "10.0.0.9"
    assert "192.0.2.2\n" in (ours.workdir / f"{ORIGIN}copy").read_text()
