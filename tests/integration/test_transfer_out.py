"""Zone transfers out of ``dns-suite authoritative``, against dig, kdig, NSD and Knot on loopback.

What each test proves:

- ``test_tool_axfr_with_tsig``: ``dig axfr``/``kdig axfr`` signed with hmac-sha256 or
  hmac-sha512 get the whole zone (SOA first and last, every record of the file, in more than one
  TCP message) and both tools verify the TSIG of every message (RFC 8945 §5.3.1).
- ``test_tool_ixfr_with_tsig``: after UPDATEs (nsupdate -k and dnspython), ``dig ixfr=N`` and
  ``kdig ixfr=N`` get RFC 1995 §4's incremental shape from the journal, with the removed and added
  records of each UPDATE between the right SOAs; a current client gets the single SOA, IXFR over
  UDP gets the single current SOA, a serial the journal does not hold gets the AXFR shape.
- ``test_transfer_refused``: without a key, with a key the zone's ACL does not name, from an
  address the ACL does not name, with an unknown key or a wrong secret, for a zone with no
  ``allow_transfer``, AXFR over UDP: no zone data, and the right rcode / TSIG error.
- ``test_secondary_replication``: dns-suite primary -> NSD and -> Knot secondaries, TSIG
  hmac-sha256 and hmac-sha512: the initial AXFR, then UPDATEs on dns-suite, each followed by
  NOTIFY (also_notify) and an IXFR (our log, the secondaries' logs, and the IXFR history each
  secondary then serves itself, which must equal ours); afterwards each secondary serves the new
  serial and exactly the records dns-suite serves (compared by AXFR from each).
- ``test_static_reload_reaches_secondary``: a static zone's file reloaded (SIGHUP) with a higher
  serial is NOTIFYed and transferred by IXFR (the reload's difference is journaled) and the
  secondaries end up equal to the file.
- ``test_static_reload_gives_incremental_ixfr``: that IXFR has the incremental shape.
- ``test_ixfr_history_survives_restart``: the journal, and so IXFR, outlives a SIGTERM + start.
- ``test_large_zone_to_nsd`` (slow): a generated 100,000-record zone transferred to NSD, with
  the times printed (and an IXFR of one change afterwards).
"""

from __future__ import annotations

import dataclasses
import signal
import socket
import subprocess
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from dns_suite.config import ZoneConfig
from peers import free_port
from xfrpeers import (DNSPY_ALG, SECONDARIES, Key, Primary, PrimaryZone, axfr, kdig_axfr, need, nsupdate,
                      records, rr_stream, run_tool, secondary_ixfr_evidence, signature_problems, soa_serial,
                      update, wait_for, wait_serial, xfr_messages)

pytestmark = pytest.mark.integration

# NOTIFY out landed with ZoneConfig.also_notify; without it, secondaries are refreshed by their
# own control tools (nsd-control force_transfer, knotc zone-refresh).
HAS_NOTIFY = "also_notify" in {f.name for f in dataclasses.fields(ZoneConfig)}

DYN, STATIC, CLOSED = "dyn.test.", "static.test.", "closed.test."
BULK = 4000  # records that push an AXFR past one 64 KiB TCP message
SYNC_TIMEOUT = 20.0  # seconds for a secondary to catch up after a change


def zone_text(origin: str, serial: int = 1, bulk: int = BULK, extra: str = "") -> str:
    return (f"$ORIGIN {origin}\n$TTL 300\n"
            f"@ SOA ns hostmaster {serial} 3600 600 86400 60\n"
            "@ NS ns\n@ MX 10 mail\nns A 127.0.0.1\nwww A 192.0.2.1\nwww TXT \"www text\"\n"
            "mail A 192.0.2.25\nmail AAAA 2001:db8::25\ngone A 192.0.2.66\ngone TXT \"to be deleted\"\n"
            "sub NS ns.sub\nns.sub A 192.0.2.53\n_sip._tcp SRV 0 5 5060 www\nalias CNAME www\n"
            "*.wild A 192.0.2.99\n"
            + "".join(f"b{i} 600 A 10.0.{i >> 8}.{i & 255}\n" for i in range(bulk)) + extra)


@pytest.fixture
def keys() -> dict[str, Key]:
    return {"upd": Key.new("upd-key."), "hmac-sha256": Key.new("xfr-key."),
            "hmac-sha512": Key.new("xfr-512.", "hmac-sha512"), "other": Key.new("other-key.")}


@pytest.fixture
def primary(tmp_path, keys):
    """dyn.test. (dynamic; transfers: 127.0.0.1 with xfr-key., or xfr-512. from anywhere),
    static.test. (static; xfr-key. from 127.0.0.2 only), closed.test. (no allow_transfer)."""
    x256, x512 = keys["hmac-sha256"], keys["hmac-sha512"]
    zones = [PrimaryZone(DYN, zone_text(DYN), (f"127.0.0.1 key {x256.name}", f"key {x512.name}"),
                         update_key=keys["upd"]),
             PrimaryZone(STATIC, zone_text(STATIC, bulk=10), (f"127.0.0.2 key {x256.name}",)),
             PrimaryZone(CLOSED, zone_text(CLOSED, bulk=10))]
    p = Primary(tmp_path / "primary", zones, list(keys.values()))
    p.start()
    yield p
    p.stop()


# --------------------------------------------------------------------------- dig and kdig


def tool_rrs(output: str) -> list[tuple[str, str, int, str]]:
    """The records a dig/kdig transfer printed, in order, TSIG lines left out:
    ``(owner lowercased, type, ttl, rdata text as dnspython writes it)``."""
    out = []
    for line in output.splitlines():
        if not line.strip() or line.startswith(";"):
            continue
        owner, ttl, rdclass, rdtype, rdata = line.split(None, 4)
        if rdtype == "TSIG":
            continue
        rd = dns.rdata.from_text(rdclass, rdtype, rdata)
        out.append((owner.lower(), rdtype, int(ttl), rd.to_text()))
    return out


def tool(program: str, p: Primary, origin: str, qtype: str, key: Key | None = None, *extra: str,
         source: str | None = None) -> subprocess.CompletedProcess:
    argv = [program, "-p", str(p.port), "@127.0.0.1", *extra]
    if key is not None:
        argv += ["-y", key.dig_arg()]
    if source is not None:
        argv += ["-b", source]
    return run_tool(argv + [origin, qtype])


def soa_serials(rrs) -> list[int]:
    return [int(rd.split()[2]) for _, t, _, rd in rrs if t == "SOA"]


@pytest.mark.parametrize("program", ["dig", "kdig"])
@pytest.mark.parametrize("alg", ["hmac-sha256", "hmac-sha512"])
def test_tool_axfr_with_tsig(primary, keys, program, alg):
    need(program)
    out = tool(program, primary, DYN, "AXFR", keys[alg])
    assert out.returncode == 0 and not signature_problems(program, out), out.stdout[-2000:] + out.stderr
    rrs = tool_rrs(out.stdout)
    assert rrs[0][1] == "SOA" and rrs[-1] == rrs[0] and soa_serials(rrs) == [1, 1]
    got = {(o, t, ttl, rd) for o, t, ttl, rd in rrs}
    assert len(rrs) == len(got) + 1  # every record once, the SOA twice
    assert got == records(zone_text(DYN), DYN)
    messages = (out.stdout.split("messages ")[1].split(",")[0] if program == "dig"
                else out.stdout.split("B (")[1].split(" messages")[0])
    assert int(messages) >= 2, out.stdout[-500:]
    assert primary.log_lines(f"AXFR zone={DYN} serial=1 key={keys[alg].name} client=127.0.0.1")


UPDATES_NSUPDATE = ["update add new1.dyn.test. 300 A 192.0.2.101",
                    'update add new1.dyn.test. 300 TXT "hello world"',
                    "update delete www.dyn.test. TXT"]
UPDATES_2 = [("replace", "mail", 600, "A", "192.0.2.26"), ("delete", "gone"),
             ("add", "@", 300, "MX", "20 mail2"), ("add", "mail2", 300, "AAAA", "2001:db8::2")]
UPDATES_3 = [("delete", "new1", "A"), ("delete", "b7", "A"), ("add", "b8", 900, "A", "10.0.0.8")] + \
            [("add", f"many{i}", 60, "TXT", f'"t{i}"') for i in range(40)]


def after_three_updates() -> set:
    """The records of dyn.test. after the three updates, written out by hand (the oracle)."""
    gone = {("www.dyn.test.", "TXT", 300, '"www text"'), ("mail.dyn.test.", "A", 300, "192.0.2.25"),
            ("gone.dyn.test.", "A", 300, "192.0.2.66"), ("gone.dyn.test.", "TXT", 300, '"to be deleted"'),
            ("b7.dyn.test.", "A", 600, "10.0.0.7"), ("b8.dyn.test.", "A", 600, "10.0.0.8"),
            ("dyn.test.", "SOA", 300, "ns.dyn.test. hostmaster.dyn.test. 1 3600 600 86400 60")}
    new = {("new1.dyn.test.", "TXT", 300, '"hello world"'), ("mail.dyn.test.", "A", 600, "192.0.2.26"),
           ("dyn.test.", "MX", 300, "20 mail2.dyn.test."), ("b8.dyn.test.", "A", 900, "10.0.0.8"),
           ("mail2.dyn.test.", "AAAA", 300, "2001:db8::2"),
           ("dyn.test.", "SOA", 300, "ns.dyn.test. hostmaster.dyn.test. 4 3600 600 86400 60")}
    new |= {(f"many{i}.dyn.test.", "TXT", 60, f'"t{i}"') for i in range(40)}
    initial = records(zone_text(DYN), DYN)
    assert gone <= initial and not (new & initial)
    return (initial - gone) | new


def apply_three_updates(p: Primary, keys: dict[str, Key], tmp_path: Path) -> None:
    """Serials 1 -> 2 (nsupdate -k), 2 -> 3 and 3 -> 4 (dnspython, signed)."""
    key_file = tmp_path / "upd.key"
    key_file.write_text(keys["upd"].bind_file())
    done = nsupdate(p.addr, key_file, DYN, UPDATES_NSUPDATE)
    assert done.returncode == 0 and "NOERROR" in done.stdout, done.stdout + done.stderr
    assert soa_serial(p.addr, DYN) == 2
    assert update(p.addr, DYN, keys["upd"], UPDATES_2) == dns.rcode.NOERROR
    assert update(p.addr, DYN, keys["upd"], UPDATES_3) == dns.rcode.NOERROR
    assert soa_serial(p.addr, DYN) == 4


def split_ixfr(rrs) -> list[tuple[int, int, set, set]]:
    """An incremental IXFR's records -> [(from, to, removed, added)] (RFC 1995 §4)."""
    body = rrs[1:-1]
    diffs, i = [], 0
    while i < len(body):
        old = int(body[i][3].split()[2])
        j = next(k for k in range(i + 1, len(body)) if body[k][1] == "SOA")
        new = int(body[j][3].split()[2])
        k = next((k for k in range(j + 1, len(body)) if body[k][1] == "SOA"), len(body))
        diffs.append((old, new, set(body[i + 1:j]), set(body[j + 1:k])))
        i = k
    return diffs


@pytest.mark.parametrize("program", ["dig", "kdig"])
def test_tool_ixfr_with_tsig(primary, keys, program, tmp_path):
    need(program, "nsupdate")
    apply_three_updates(primary, keys, tmp_path)
    key = keys["hmac-sha256"]
    out = tool(program, primary, DYN, "IXFR=1", key)
    assert not signature_problems(program, out), out.stdout[-2000:] + out.stderr
    rrs = tool_rrs(out.stdout)
    assert soa_serials(rrs) == [4, 1, 2, 2, 3, 3, 4, 4], rrs
    diffs = split_ixfr(rrs)
    assert [(a, b) for a, b, _, _ in diffs] == [(1, 2), (2, 3), (3, 4)]
    assert {(o, t, rd) for o, t, _, rd in diffs[0][2]} == {("www.dyn.test.", "TXT", '"www text"')}
    assert {(o, t, rd) for o, t, _, rd in diffs[0][3]} == {
        ("new1.dyn.test.", "A", "192.0.2.101"), ("new1.dyn.test.", "TXT", '"hello world"')}
    assert {(o, t) for o, t, _, _ in diffs[1][2]} == {("mail.dyn.test.", "A"), ("gone.dyn.test.", "A"),
                                                      ("gone.dyn.test.", "TXT")}
    assert ("mail.dyn.test.", "A", 600, "192.0.2.26") in diffs[1][3]
    assert len(diffs[2][3]) == 41 and len(diffs[2][2]) == 3  # b8's TTL change: removed and added
    # the final zone by AXFR equals the file's records with each difference applied in turn
    expect = {r for r in records(zone_text(DYN), DYN) if r[1] != "SOA"}
    for _, _, removed, added in diffs:
        assert removed <= expect and not (added & expect)
        expect = (expect - removed) | added
    final = axfr(primary.addr, DYN, key)
    assert {r for r in final if r[1] != "SOA"} == expect
    assert final == after_three_updates()
    # a partial chain, a current client, UDP, and a serial the journal does not hold
    assert soa_serials(tool_rrs(tool(program, primary, DYN, "IXFR=3", key).stdout)) == [4, 3, 4, 4]
    assert soa_serials(tool_rrs(tool(program, primary, DYN, "IXFR=4", key).stdout)) == [4]
    udp = tool(program, primary, DYN, "IXFR=1", key, "+notcp")
    assert "(UDP)" in udp.stdout and not signature_problems(program, udp), udp.stdout
    assert soa_serials(tool_rrs(udp.stdout)) == [4]
    axfr_shape = tool_rrs(tool(program, primary, DYN, "IXFR=0", key).stdout)
    assert soa_serials(axfr_shape) == [4, 4] and {r for r in axfr_shape} == final
    assert len(primary.log_lines(f"IXFR zone={DYN} serial=4 key={key.name} client=127.0.0.1")) >= 5


def dp_xfr(p: Primary, origin: str, rdtype: str = "AXFR", key: Key | None = None, *, udp: bool = False,
           source: str | None = None, secret: str | None = None, serial: int = 0) -> dns.message.Message:
    """One AXFR/IXFR request with dnspython; the first reply message (TSIG left unchecked)."""
    q = dns.message.make_query(origin, rdtype)
    if rdtype == "IXFR":
        q.authority.append(dns.rrset.from_rdata(origin, 0, dns.rdata.from_text(
            "IN", "SOA", f". . {serial} 0 0 0 0")))
    if key is not None:
        k = dns.tsig.Key(key.name, secret or key.secret, DNSPY_ALG[key.algorithm])
        q.use_tsig({k.name: k}, keyname=key.name, algorithm=DNSPY_ALG[key.algorithm])
    wire = q.to_wire()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM) as s:
        s.settimeout(10)
        if source:
            s.bind((source, 0))
        s.connect(p.addr)
        if udp:
            s.send(wire)
            data = s.recv(65535)
        else:
            s.sendall(len(wire).to_bytes(2, "big") + wire)
            length = int.from_bytes(s.recv(2), "big")
            data = b""
            while len(data) < length:
                chunk = s.recv(length - len(data))
                assert chunk, "connection closed"
                data += chunk
    return dns.message.from_wire(data, keyring=False)


REFUSED_CASES = [
    # id, origin, rdtype, key, udp, source, wrong secret, rcode, tsig error
    ("no-key", DYN, "AXFR", None, False, None, False, dns.rcode.REFUSED, None),
    ("no-key-ixfr", DYN, "IXFR", None, False, None, False, dns.rcode.REFUSED, None),
    ("no-key-ixfr-udp", DYN, "IXFR", None, True, None, False, dns.rcode.REFUSED, None),
    ("key-not-in-acl", DYN, "AXFR", "other", False, None, False, dns.rcode.REFUSED, 0),
    ("address-not-in-acl", STATIC, "AXFR", "hmac-sha256", False, "127.0.0.1", False, dns.rcode.REFUSED, 0),
    ("key-needs-its-address", DYN, "AXFR", "hmac-sha256", False, "127.0.0.3", False, dns.rcode.REFUSED, 0),
    ("no-allow-transfer", CLOSED, "AXFR", "hmac-sha256", False, None, False, dns.rcode.REFUSED, 0),
    ("axfr-over-udp", DYN, "AXFR", "hmac-sha256", True, None, False, dns.rcode.REFUSED, 0),
    ("wrong-secret", DYN, "AXFR", "hmac-sha256", False, None, True, dns.rcode.NOTAUTH, dns.rcode.BADSIG),
    ("unknown-key", DYN, "AXFR", "unknown", False, None, False, dns.rcode.NOTAUTH, dns.rcode.BADKEY),
]


@pytest.mark.parametrize("case", REFUSED_CASES, ids=[c[0] for c in REFUSED_CASES])
def test_transfer_refused(primary, keys, case):
    _, origin, rdtype, keyid, udp, source, wrong, rcode, tsig_error = case
    key = Key.new("unknown-key.") if keyid == "unknown" else keys.get(keyid) if keyid else None
    secret = Key.new("x.").secret if wrong else None
    r = dp_xfr(primary, origin, rdtype, key, udp=udp, source=source, secret=secret, serial=1)
    assert r.rcode() == rcode and not r.answer, r
    if tsig_error is None:
        assert not r.had_tsig
    else:
        assert r.had_tsig and r.tsig_error == tsig_error


def test_transfer_allowed_from_the_named_address(primary, keys):
    """The other side of ``address-not-in-acl``: static.test. from 127.0.0.2 with the key works."""
    r = dp_xfr(primary, STATIC, "AXFR", keys["hmac-sha256"], source="127.0.0.2")
    assert r.rcode() == dns.rcode.NOERROR and r.answer and r.answer[0].rdtype == dns.rdatatype.SOA


@pytest.mark.parametrize("program", ["dig", "kdig"])
def test_tool_refused_without_the_key(primary, keys, program):
    need(program)
    for key in (None, keys["other"]):
        out = tool(program, primary, DYN, "AXFR", key)
        assert not tool_rrs(out.stdout), out.stdout
        text = out.stdout + out.stderr
        assert ("Transfer failed" in text) if program == "dig" else ("REFUSED" in text), text
    assert len(primary.log_lines(f"AXFR zone={DYN} refused")) == 2


# --------------------------------------------------------------------------- secondaries


def start_pair(tmp_path: Path, kind: str, key: Key, upd: Key, zones: list[tuple[str, str, bool]]):
    """A dns-suite primary NOTIFYing (also_notify, signed) a secondary of ``kind`` that transfers
    ``zones`` ((origin, text, dynamic)) with ``key``; both started, the secondary not yet synced."""
    cls, programs = SECONDARIES[kind]
    need(*programs)
    sec_port = free_port()
    notify = (f"127.0.0.1:{sec_port} key {key.name}",) if HAS_NOTIFY else ()
    pzones = [PrimaryZone(o, t, (f"127.0.0.1 key {key.name}",), notify, upd if dyn else None)
              for o, t, dyn in zones]
    p = Primary(tmp_path / "primary", pzones, [upd, key])
    sec = cls(tmp_path / kind, [o for o, _, _ in zones], p.port, key, port=sec_port)
    return p, sec


def refresh(sec, origin: str) -> None:
    """Only without NOTIFY out: make the secondary check now (its own control tool)."""
    if not HAS_NOTIFY:
        sec.refresh(origin)


@pytest.mark.parametrize("kind", ["nsd", "knot"])
@pytest.mark.parametrize("alg", ["hmac-sha256", "hmac-sha512"])
def test_secondary_replication(tmp_path, keys, kind, alg):
    key, upd = keys[alg], keys["upd"]
    p, sec = start_pair(tmp_path, kind, key, upd, [(DYN, zone_text(DYN), True)])
    try:
        p.start()
        t0 = time.monotonic()
        sec.start()
        wait_serial(sec.server, DYN, 1, timeout=SYNC_TIMEOUT, others=[p.server])
        print(f"\n{kind} {alg}: initial AXFR ({BULK + 16} records) served after {time.monotonic() - t0:.2f} s")
        assert p.log_lines(f"AXFR zone={DYN} serial=1 key={key.name} client=127.0.0.1")
        assert axfr(sec.addr, DYN, key) == axfr(p.addr, DYN, key) == records(zone_text(DYN), DYN)

        key_file = tmp_path / "upd.key"
        key_file.write_text(upd.bind_file())
        steps = [lambda: nsupdate(p.addr, key_file, DYN, UPDATES_NSUPDATE).returncode == 0,
                 lambda: update(p.addr, DYN, upd, UPDATES_2) == dns.rcode.NOERROR,
                 lambda: update(p.addr, DYN, upd, UPDATES_3) == dns.rcode.NOERROR]
        for serial, step in enumerate(steps, start=2):
            assert step(), p.log_text()
            assert soa_serial(p.addr, DYN) == serial
            t1 = time.monotonic()
            refresh(sec, DYN)
            wait_serial(sec.server, DYN, serial, timeout=SYNC_TIMEOUT, others=[p.server])
            print(f"{kind} {alg}: serial {serial} served {time.monotonic() - t1:.2f} s after the UPDATE")
        assert len(p.log_lines(f"AXFR zone={DYN}")) == 2  # the initial one and ours above
        secondary_ixfr_evidence(kind, sec, p, DYN, [2, 3, 4], key, notified=HAS_NOTIFY)
        ours, theirs = axfr(p.addr, DYN, key), axfr(sec.addr, DYN, key)
        assert theirs == ours
        assert ours == after_three_updates()
    finally:
        sec.stop()
        p.stop()


@pytest.mark.parametrize("kind", ["nsd", "knot"])
def test_static_reload_reaches_secondary(tmp_path, keys, kind):
    key, upd = keys["hmac-sha256"], keys["upd"]
    p, sec = start_pair(tmp_path, kind, key, upd, [(STATIC, zone_text(STATIC, bulk=50), False)])
    try:
        p.start()
        sec.start()
        wait_serial(sec.server, STATIC, 1, timeout=SYNC_TIMEOUT, others=[p.server])
        new_text = zone_text(STATIC, serial=2, bulk=45, extra="added A 192.0.2.77\n")
        (p.workdir / f"{STATIC}zone").write_text(new_text)
        p.server.proc.send_signal(signal.SIGHUP)
        wait_for("the primary to reload", lambda: soa_serial(p.addr, STATIC) == 2, 10, [p.server])
        refresh(sec, STATIC)
        wait_serial(sec.server, STATIC, 2, timeout=SYNC_TIMEOUT, others=[p.server])
        assert p.log_lines(f"IXFR zone={STATIC} serial=2 key={key.name}")  # incremental: the reload is journaled
        if kind == "knot":
            assert "receiving AXFR-style IXFR" not in sec.log_text(), sec.log_text()
        assert axfr(sec.addr, STATIC, key) == axfr(p.addr, STATIC, key) == records(new_text, STATIC)
    finally:
        sec.stop()
        p.stop()


def test_static_reload_gives_incremental_ixfr(primary, keys):
    text = zone_text(STATIC, serial=2, bulk=10, extra="added A 192.0.2.77\n")
    (primary.workdir / f"{STATIC}zone").write_text(text)
    primary.server.proc.send_signal(signal.SIGHUP)
    wait_for("the reload", lambda: soa_serial(primary.addr, STATIC) == 2, 10, [primary.server])
    msgs = xfr_messages(primary.addr, STATIC, "IXFR", keys["hmac-sha256"], serial=1, source="127.0.0.2")
    assert [t for t, _ in rr_stream(msgs)] == ["SOA", "SOA", "SOA", "A", "SOA"]


def test_ixfr_history_survives_restart(primary, keys, tmp_path):
    """The journal outlives the process: after SIGTERM (flush) and a new start, IXFR from the
    first serial is still incremental."""
    need("nsupdate")
    apply_three_updates(primary, keys, tmp_path)
    key = keys["hmac-sha256"]
    before = rr_stream(xfr_messages(primary.addr, DYN, "IXFR", key, serial=1))
    primary.stop()
    primary.start()
    assert soa_serial(primary.addr, DYN) == 4
    after = rr_stream(xfr_messages(primary.addr, DYN, "IXFR", key, serial=1))
    assert after == before and [t for t, _ in after].count("SOA") == 8


# --------------------------------------------------------------------------- a large zone


def big_zone_text(origin: str, n: int) -> str:
    """Exactly ``n`` records (the SOA included): A, AAAA, TXT, MX, CNAME in a rotation."""
    lines = [f"$ORIGIN {origin}", "$TTL 3600", "@ SOA ns hostmaster 1 3600 600 86400 60",
             "@ NS ns", "ns A 127.0.0.1"]
    i = 0
    while len(lines) - 2 < n:  # the two $ lines are not records
        host = f"host{i}"
        lines += [f"{host} A 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
                  f"{host} AAAA 2001:db8::{i:x}",
                  f'{host} TXT "v=spf1 ip4:10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255} -all"',
                  f"{host} MX 10 mail{i % 97}"] if i % 5 else [f"alias{i} CNAME host{i + 1}"]
        i += 1
    return "\n".join(lines[:n + 2]) + "\n"


@pytest.mark.slow
def test_large_zone_to_nsd(tmp_path, keys):
    need("kdig")
    n, origin = 100_000, "big.test."
    key, upd = keys["hmac-sha256"], keys["upd"]
    text = big_zone_text(origin, n)
    p, sec = start_pair(tmp_path, "nsd", key, upd, [(origin, text, True)])
    try:
        t0 = time.monotonic()
        p.start(timeout=120)
        t_load = time.monotonic() - t0
        t1 = time.monotonic()
        sec.start()
        wait_serial(sec.server, origin, 1, timeout=180, others=[p.server])
        t_nsd = time.monotonic() - t1
        assert p.log_lines(f"AXFR zone={origin} serial=1 key={key.name} client=127.0.0.1")
        ours, t_ours = kdig_axfr(p.addr, origin, key)
        theirs, t_theirs = kdig_axfr(sec.addr, origin, key)
        assert len(ours) == n + 1 and ours[0] == ours[-1] and " SOA " in ours[0]
        assert set(ours) == set(theirs) and len(theirs) == n + 1
        assert update(p.addr, origin, upd, [("add", "late", 300, "A", "192.0.2.1")]) == dns.rcode.NOERROR
        t2 = time.monotonic()
        refresh(sec, origin)
        wait_serial(sec.server, origin, 2, timeout=60, others=[p.server])
        t_ixfr = time.monotonic() - t2
        assert p.log_lines(f"IXFR zone={origin} serial=2 key={key.name}")
        assert len(p.log_lines(f"AXFR zone={origin}")) == 2  # NSD's initial one and kdig's
        nsd_line = next(line for line in sec.log_text().splitlines() if "received update to serial 1 " in line)
        print(f"\n{n} records: dns-suite load+start {t_load:.2f} s; NSD start + initial AXFR + serving "
              f"{t_nsd:.2f} s; kdig AXFR from dns-suite {t_ours:.2f} s, from NSD {t_theirs:.2f} s "
              f"(ratio {t_theirs / t_ours:.2f}); one UPDATE -> NOTIFY -> IXFR -> NSD serves it {t_ixfr:.2f} s"
              f"\nNSD: {nsd_line.split(': info: ')[-1]}")
    finally:
        sec.stop()
        p.stop()
