"""The zone journal: entry codec, append/reopen, torn and damaged tails, since, compaction,
applying diffs to zones, replay, and the atomic zone-file writer."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dns_suite.wire.name import Name
from dns_suite.zone.journal import (
    MAGIC, Change, Diff, Journal, JournalError, apply_diff, decode_diff, encode_diff,
    encode_entry, journal_path, replay, replay_diffs, scan_journal, serial_gt, since_serial,
    write_zone_file,
)
from dns_suite.zone.loader import load_zone, zone_to_text
from dns_suite.zone.reader import ZoneReader

REPO = Path(__file__).resolve().parents[2]
ORIGIN = Name.from_text("x.test.")
ZONE = """$ORIGIN x.test.
$TTL 60
@ SOA ns h {serial} 2 3 4 5
@ NS ns
ns A 192.0.2.1
www A 192.0.2.2
www TXT "hello"
"""


def rr(text: str) -> Change:
    """One RR in master-file syntax (relative to x.test., TTL 60) as a Change."""
    records = list(ZoneReader(ORIGIN, file="t").records(["$TTL 60\n", text + "\n"]))
    (owner, ttl, rrtype, rdata, _f, _l), = records
    return Change(owner.wire, rrtype, ttl, rdata)


def soa(serial: int) -> Change:
    return rr(f"@ SOA ns h {serial} 2 3 4 5")


def diff(a: int, b: int, removed: tuple[str, ...] = (), added: tuple[str, ...] = ()) -> Diff:
    """A diff a -> b with the SOA change and the given RRs."""
    return Diff(serial_from=a, serial_to=b, removed=(soa(a), *map(rr, removed)),
                added=(soa(b), *map(rr, added)))


def nxt(serial: int) -> int:
    """The next serial as an UPDATE would make it (RFC 1982 increment, skipping 0)."""
    return serial % 0xFFFFFFFF + 1


def load(tmp_path: Path, serial: int = 1, body: str = ""):
    path = tmp_path / "x.test.zone"
    path.write_text(ZONE.format(serial=serial) + body)
    result = load_zone("x.test.", str(path))
    assert result.zone is not None, result.problems
    return result.zone


def rrset_text(zone) -> list[str]:
    return sorted(zone_to_text(zone))


# --- serial arithmetic (RFC 1982 §3.2) ---------------------------------------
SERIAL_CASES = [
    # (a, b, a > b)
    (2, 1, True), (1, 2, False), (1, 1, False), (1, 4294967295, True), (4294967295, 1, False),
    (0, 4294967295, True), (2**31 - 1, 0, True), (2**31, 0, False), (0, 2**31, False),
    (2**31 + 1, 0, False), (0, 2**31 + 1, True), (100, 4294967200, True),
]


@pytest.mark.parametrize(("a", "b", "expected"), SERIAL_CASES)
def test_serial_gt(a: int, b: int, expected: bool) -> None:
    assert serial_gt(a, b) is expected


# --- entry codec -------------------------------------------------------------
labels = st.binary(min_size=1, max_size=20)
owners = st.lists(labels, max_size=4).map(lambda ls: Name.from_labels(ls).wire)
changes = st.builds(Change, owners, st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF),
                    st.binary(max_size=300))
diffs = st.builds(lambda a, b, r, d: Diff(serial_from=a, serial_to=b, removed=tuple(r),
                                          added=tuple(d)),
                  st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFFFFFF),
                  st.lists(changes, max_size=5), st.lists(changes, max_size=5))


@settings(max_examples=300, deadline=None)
@given(diffs)
def test_codec_round_trip(d: Diff) -> None:
    assert decode_diff(encode_diff(d)) == d
    entry = encode_entry(d)
    assert scan_journal(MAGIC + entry).diffs == (d,)


def test_entry_layout() -> None:
    d = Diff(serial_from=1, serial_to=2, removed=(Change(b"\x01a\x00", 16, 60, b"\x01x"),),
             added=())
    body = encode_diff(d)
    assert body == (b"\0\0\0\x01" b"\0\0\0\x02" b"\0\0\0\x01" b"\0\0\0\0"
                    b"\x01a\x00" b"\x00\x10" b"\0\0\0\x3c" b"\x00\x02" b"\x01x")
    assert encode_entry(d) == len(body).to_bytes(4, "big") + zlib.crc32(body).to_bytes(4, "big") + body


def adding(*added: Change) -> Diff:
    return Diff(serial_from=1, serial_to=2, removed=(), added=added)


BAD_DIFFS = [
    ("serial over 32 bits", Diff(serial_from=2**32, serial_to=1, removed=(), added=())),
    ("type over 16 bits", adding(Change(b"\0", 70000, 1, b""))),
    ("negative ttl", adding(Change(b"\0", 1, -1, b""))),
    ("rdata over 65535", adding(Change(b"\0", 1, 1, bytes(65536)))),
    ("compressed owner", adding(Change(b"\xc0\x00", 1, 1, b""))),
    ("owner without root", adding(Change(b"\x01a", 1, 1, b""))),
    ("octets after owner", adding(Change(b"\0\0", 1, 1, b""))),
]


@pytest.mark.parametrize(("case", "d"), BAD_DIFFS, ids=[c[0] for c in BAD_DIFFS])
def test_encode_rejects(case: str, d: Diff) -> None:
    with pytest.raises(JournalError):
        encode_diff(d)


BAD_BODIES = [
    ("empty", b""),
    ("short header", bytes(15)),
    ("count beyond data", b"\0\0\0\1\0\0\0\2\0\0\0\1\0\0\0\0"),
    ("truncated rdata", b"\0\0\0\1\0\0\0\2\0\0\0\1\0\0\0\0" b"\0\0\1\0\0\0\1\0\5ab"),
    ("trailing octets", b"\0\0\0\1\0\0\0\2\0\0\0\0\0\0\0\0" b"x"),
    ("pointer owner", b"\0\0\0\1\0\0\0\2\0\0\0\1\0\0\0\0" b"\xc0\0\0\1\0\0\0\1\0\0"),
]


@pytest.mark.parametrize(("case", "body"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_decode_rejects(case: str, body: bytes) -> None:
    with pytest.raises(JournalError):
        decode_diff(body)


MAGIC_CASES = [
    # (file octets, entries, end, raises)
    (b"", 0, 0, False), (MAGIC[:5], 0, 0, False), (MAGIC, 0, len(MAGIC), False),
    (b"DNSSUITE-JNL 2\n", 0, 0, True), (b"$ORIGIN x.test.\n", 0, 0, True), (b"X", 0, 0, True),
]


@pytest.mark.parametrize(("data", "count", "end", "raises"), MAGIC_CASES)
def test_scan_magic(data: bytes, count: int, end: int, raises: bool) -> None:
    if raises:
        with pytest.raises(JournalError, match="magic"):
            scan_journal(data)
        return
    scan = scan_journal(data)
    assert (len(scan.diffs), scan.end) == (count, end)


# --- the file ----------------------------------------------------------------
def test_append_reopen_entries(tmp_path: Path) -> None:
    path = tmp_path / "z.jnl"
    chain = [diff(1, 2, added=("a TXT one",)), diff(2, 3, removed=("a TXT one",)), diff(3, 4)]
    j = Journal(path)
    assert j.entries() == [] and j.size() == 0
    for d in chain:
        j.append(d)
    assert j.entries() == chain
    j.close()
    assert Journal(path).entries() == chain
    assert path.read_bytes().startswith(MAGIC)
    assert Journal(path).size() == len(MAGIC) + sum(len(encode_entry(d)) for d in chain)
    j2 = Journal(path)
    j2.append(diff(4, 5))
    assert j2.entries() == [*chain, diff(4, 5)]
    assert journal_path("/a/b.zone") == "/a/b.zone.jnl"


APPEND_REFUSED = [
    # (diff, fragment of the error); the journal holds diff(1, 2)
    (diff(1, 3), "goes back"),
    (Diff(serial_from=4294967295, serial_to=1, removed=(), added=()), "goes back"),
    (diff(2, 2), "does not follow"),
    (diff(2, 1), "does not follow"),
    (Diff(serial_from=2, serial_to=2 + 2**31, removed=(), added=()), "does not follow"),
]


@pytest.mark.parametrize(("d", "fragment"), APPEND_REFUSED)
def test_append_refuses_non_chaining(tmp_path: Path, d: Diff, fragment: str) -> None:
    j = Journal(tmp_path / "z.jnl")
    j.append(diff(1, 2))
    with pytest.raises(JournalError, match=fragment):
        j.append(d)
    assert j.entries() == [diff(1, 2)]
    j.append(diff(2, 3))
    assert j.entries() == [diff(1, 2), diff(2, 3)]


def test_append_accepts_forward_gap(tmp_path: Path) -> None:
    zone = load(tmp_path, 10, "a A 192.0.2.1\n")
    j = Journal(tmp_path / "z.jnl")
    for d in (diff(1, 2), diff(2, 3), diff(10, 11, removed=("a A 192.0.2.1",))):
        j.append(d)
    assert (j.since(2), j.since(10)) == (None, [diff(10, 11, removed=("a A 192.0.2.1",))])
    new, applied, warnings = replay(zone, j)
    assert (new.serial, applied, warnings) == (11, 1, [])
    assert new.get(Name.from_text("a", ORIGIN).key, 1) is None


def test_bad_magic_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "z.jnl"
    path.write_bytes(b"some other file\n")
    with pytest.raises(JournalError, match="magic"):
        Journal(path).append(diff(1, 2))
    with pytest.raises(JournalError, match="magic"):
        Journal(path).entries()
    assert path.read_bytes() == b"some other file\n"


def _two_entry_journal(tmp_path: Path) -> tuple[Path, int, bytes]:
    """A journal of diff(1, 2) and diff(2, 3, ...): path, end of entry 1, all octets."""
    path = tmp_path / "z.jnl"
    with Journal(path) as j:
        j.append(diff(1, 2))
        first_end = j.size()
        j.append(diff(2, 3, added=("t TXT a b c",)))
    return path, first_end, path.read_bytes()


def test_torn_tail_at_every_offset(tmp_path: Path) -> None:
    path, first_end, data = _two_entry_journal(tmp_path)
    for cut in range(first_end, len(data)):
        path.write_bytes(data[:cut])
        assert Journal(path).entries() == [diff(1, 2)], cut
        j = Journal(path)
        j.append(diff(2, 4))
        assert j.entries() == [diff(1, 2), diff(2, 4)], cut
        assert j.discarded == cut - first_end
        assert path.stat().st_size == first_end + len(encode_entry(diff(2, 4)))
        j.close()
        assert Journal(path).entries() == [diff(1, 2), diff(2, 4)], cut


def test_torn_header_at_every_offset(tmp_path: Path) -> None:
    path = tmp_path / "z.jnl"
    for cut in range(len(MAGIC)):
        path.write_bytes(MAGIC[:cut])
        assert Journal(path).entries() == []
        with Journal(path) as j:
            j.append(diff(1, 2))
        assert Journal(path).entries() == [diff(1, 2)]


def test_flipped_bit_stops_reading(tmp_path: Path) -> None:
    path, first_end, data = _two_entry_journal(tmp_path)
    third = encode_entry(diff(3, 4))
    for bit in range((len(data) - first_end) * 8):
        damaged = bytearray(data + third)
        damaged[first_end + bit // 8] ^= 1 << (bit % 8)
        path.write_bytes(bytes(damaged))
        assert Journal(path).entries() == [diff(1, 2)], bit


@pytest.mark.parametrize("how", ["append", "compact"])
def test_damaged_middle_is_kept_aside(tmp_path: Path, how: str) -> None:
    path, first_end, data = _two_entry_journal(tmp_path)
    damaged = bytearray(data + encode_entry(diff(3, 4)))
    damaged[first_end + 20] ^= 0x10
    path.write_bytes(bytes(damaged))
    with Journal(path) as j:
        if how == "append":
            j.append(diff(2, 5))
        else:
            assert j.compact(1) == 0
        assert j.discarded == len(damaged) - first_end
    assert Path(str(path) + ".discarded").read_bytes() == bytes(damaged[first_end:])
    assert Journal(path).entries() == [diff(1, 2), diff(2, 5)][:2 if how == "append" else 1]
    assert path.stat().st_size == first_end + (len(encode_entry(diff(2, 5))) if how == "append" else 0)


CHAIN = [diff(4294967293, 4294967294), diff(4294967294, 4294967295), diff(4294967295, 1),
         diff(1, 2), diff(2, 3)]
SINCE_CASES = [
    # (diffs, serial, expected slice of the diffs or None)
    (CHAIN, 4294967293, slice(0, 5)),
    (CHAIN, 4294967295, slice(2, 5)),
    (CHAIN, 1, slice(3, 5)),
    (CHAIN, 3, slice(5, 5)),
    (CHAIN, 4294967292, None),
    (CHAIN, 7, None),
    ([], 1, None),
    ([CHAIN[0], CHAIN[1], CHAIN[3], CHAIN[4]], 4294967293, None),  # gap 4294967295 -> 1
    ([CHAIN[0], CHAIN[1], CHAIN[3], CHAIN[4]], 1, slice(2, 4)),
]


@pytest.mark.parametrize(("chain", "serial", "expected"), SINCE_CASES)
def test_since(tmp_path: Path, chain: list[Diff], serial: int, expected: slice | None) -> None:
    want = None if expected is None else chain[expected]
    assert since_serial(chain, serial) == want
    j = Journal(tmp_path / "z.jnl")
    if chain == CHAIN:
        for d in chain:
            j.append(d)
        assert j.since(serial) == want


COMPACT_CASES = [
    # (keep_from_serial, number of CHAIN entries dropped)
    (4294967293, 0), (4294967290, 0), (4294967295, 2), (1, 3), (2, 4), (3, 5), (9, 5),
]


@pytest.mark.parametrize(("keep", "dropped"), COMPACT_CASES)
def test_compact(tmp_path: Path, keep: int, dropped: int) -> None:
    path = tmp_path / "z.jnl"
    j = Journal(path)
    for d in CHAIN:
        j.append(d)
    os.chmod(path, 0o640)
    assert j.compact(keep) == dropped
    assert j.entries() == CHAIN[dropped:]
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    j.append(diff(3, 4))
    assert Journal(path).entries() == [*CHAIN[dropped:], diff(3, 4)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["z.jnl"]


def test_compact_missing_file(tmp_path: Path) -> None:
    assert Journal(tmp_path / "z.jnl").compact(5) == 0
    assert not (tmp_path / "z.jnl").exists()


CRASH_BEFORE_RENAME = """
import os, sys
from dns_suite.zone.journal import Journal
os.replace = lambda *args: os._exit(9)
Journal(sys.argv[1]).compact(int(sys.argv[2]))
"""


def test_compact_crash_before_rename(tmp_path: Path) -> None:
    path = tmp_path / "z.jnl"
    with Journal(path) as j:
        for d in CHAIN:
            j.append(d)
    before = path.read_bytes()
    proc = subprocess.run([sys.executable, "-c", CRASH_BEFORE_RENAME, str(path), "1"],
                          env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=tmp_path)
    assert proc.returncode == 9
    stray = [p for p in tmp_path.iterdir() if p.name != "z.jnl"]
    assert len(stray) == 1 and stray[0].name.startswith(".z.jnl.tmp-")
    assert stray[0].read_bytes() == MAGIC + b"".join(encode_entry(d) for d in CHAIN[3:])
    assert path.read_bytes() == before
    j = Journal(path)
    assert j.entries() == CHAIN
    j.append(diff(3, 4))
    assert j.compact(2) == 4
    assert j.entries() == [CHAIN[4], diff(3, 4)]
    assert [p.name for p in tmp_path.iterdir()] == ["z.jnl"]


# --- applying diffs ----------------------------------------------------------
APPLY_CASES = [
    # (case, zone body, diff from serial 1, every RR after it at the names and types it touches,
    #  error fragment)
    ("add TXT", "", diff(1, 2, added=("www TXT other",)), ["www TXT other", "www TXT hello"], None),
    ("delete one value", "www TXT two\n", diff(1, 2, removed=("www TXT two",)), ["www TXT hello"],
     None),
    ("delete rrset", "", diff(1, 2, removed=("www TXT hello",)), [], None),
    ("new name", "", diff(1, 2, added=("_acme-challenge TXT tok",)), ["_acme-challenge TXT tok"],
     None),
    ("ttl change", "", diff(1, 2, removed=("www TXT hello",), added=("www 300 TXT hello",)),
     ["www 300 TXT hello"], None),
    ("added ttl applies to rrset", "", diff(1, 2, added=("www 30 TXT two",)),
     ["www 30 TXT two", "www 30 TXT hello"], None),
    ("owner case-insensitive", "", diff(1, 2, removed=("WWW TXT hello",)), [], None),
    ("wrong serial_from", "", diff(7, 8), [], "does not apply to serial 1"),
    ("absent RR", "", diff(1, 2, removed=("www TXT nope",)), [], "not in the zone"),
    ("absent name", "", diff(1, 2, removed=("nope A 192.0.2.9",)), [], "not in the zone"),
    ("present already", "", diff(1, 2, added=("www TXT hello",)), [], "in the zone already"),
    ("outside zone", "", diff(1, 2, added=("y.test. A 192.0.2.9",)), [], "outside the zone"),
    ("SOA not changed", "", Diff(serial_from=1, serial_to=2, removed=(), added=(rr("a A 192.0.2.3"),)),
     [], "leaves SOA serial 1"),
    ("SOA added, old kept", "", Diff(serial_from=1, serial_to=2, removed=(), added=(soa(2),)), [],
     "leaves 2 SOA records"),
    ("SOA removed only", "", Diff(serial_from=1, serial_to=2, removed=(soa(1),), added=()), [],
     "leaves 0 SOA records"),
    ("SOA serial mismatch", "", Diff(serial_from=1, serial_to=3, removed=(soa(1),), added=(soa(2),)),
     [], "leaves SOA serial 2"),
    ("CNAME beside data", "", diff(1, 2, added=("www CNAME ns",)), [], "CNAME and other data"),
]


@pytest.mark.parametrize(("case", "body", "d", "expected", "error"), APPLY_CASES,
                         ids=[c[0] for c in APPLY_CASES])
def test_apply_diff(tmp_path: Path, case: str, body: str, d: Diff, expected: list[str],
                    error: str | None) -> None:
    zone = load(tmp_path, 1, body)
    before = rrset_text(zone)
    if error:
        with pytest.raises(JournalError, match=error):
            apply_diff(zone, d)
        assert rrset_text(zone) == before
        return
    new = apply_diff(zone, d)
    assert new.serial == d.serial_to and zone.serial == 1
    assert rrset_text(zone) == before
    want = [rr(text) for text in expected]
    for owner, rrtype in {(c.owner_wire.lower(), c.rrtype) for c in d.removed[1:] + d.added[1:]}:
        rrs = [c for c in want if (c.owner_wire.lower(), c.rrtype) == (owner, rrtype)]
        got = new.get(owner, rrtype)
        if not rrs:
            assert got is None
            continue
        assert got is not None and sorted(got.rdatas) == sorted(c.rdata for c in rrs)
        assert {got.ttl} == {c.ttl for c in rrs}


def test_apply_serial_wraps(tmp_path: Path) -> None:
    zone = load(tmp_path, 4294967294)
    zone = apply_diff(zone, diff(4294967294, 4294967295, added=("a A 192.0.2.10",)))
    zone = apply_diff(zone, diff(4294967295, 1, added=("b A 192.0.2.11",)))
    assert zone.serial == 1
    assert zone.get(rr("b A 192.0.2.11").owner_wire, 1) is not None
    assert zone.soa.rdatas[0] == soa(1).rdata


REPLAY_CASES = [
    # (case, zone serial, journal serial pairs, applied count, final serial, warning fragment)
    ("all", 1, [(1, 2), (2, 3), (3, 4)], 3, 4, None),
    ("older skipped", 3, [(1, 2), (2, 3), (3, 4)], 1, 4, None),
    ("up to date", 4, [(1, 2), (2, 3), (3, 4)], 0, 4, None),
    ("wrap", 4294967294, [(4294967294, 4294967295), (4294967295, 1), (1, 2)], 3, 2, None),
    ("older across wrap", 1, [(4294967294, 4294967295), (4294967295, 1), (1, 2)], 1, 2, None),
    ("gap", 1, [(1, 2), (5, 6)], 1, 2, "zone at serial 2, next entry is 5->6"),
    ("journal ahead", 1, [(3, 4), (4, 5)], 0, 1, "zone at serial 1, next entry is 3->4"),
    ("straddles zone serial", 3, [(1, 2), (2, 5)], 0, 3, "next entry is 2->5"),
    ("empty", 1, [], 0, 1, None),
    ("zone newer than journal", 9, [(1, 2), (2, 3)], 0, 9, None),
]


@pytest.mark.parametrize(("case", "start", "pairs", "count", "final", "warning"), REPLAY_CASES,
                         ids=[c[0] for c in REPLAY_CASES])
def test_replay(tmp_path: Path, case: str, start: int, pairs: list[tuple[int, int]], count: int,
                final: int, warning: str | None) -> None:
    zone = load(tmp_path, start)
    path = tmp_path / "z.jnl"  # written directly: append refuses gaps
    path.write_bytes(MAGIC + b"".join(encode_entry(diff(a, b, added=(f"s{b} A 192.0.2.{b % 250}",)))
                                      for a, b in pairs))
    j = Journal(path)
    new, applied, warnings = replay(zone, j)
    assert (applied, new.serial) == (count, final)
    assert [warning in w for w in warnings] == ([True] if warning else [])
    added = [b for a, b in pairs if new.get(Name.from_text(f"s{b}", ORIGIN).key, 1)]
    assert len(added) == count


def test_replay_diffs_bad_entry_raises(tmp_path: Path) -> None:
    zone = load(tmp_path, 1)
    with pytest.raises(JournalError, match="not in the zone"):
        replay_diffs(zone, [diff(1, 2), diff(2, 3, removed=("nope TXT x",))])


# --- the zone file -----------------------------------------------------------
def test_write_zone_file_round_trip(tmp_path: Path) -> None:
    src = REPO / "zones" / "example.test.zone"
    zone = load_zone("example.test.", str(src)).zone
    assert zone is not None
    zone = apply_diff(zone, Diff(
        serial_from=zone.serial, serial_to=nxt(zone.serial),
        removed=(Change(zone.soa.wire, 6, zone.soa.ttl, zone.soa.rdatas[0]),),
        added=(Change(zone.soa.wire, 6, zone.soa.ttl, zone.soa.rdatas[0][:-20]
                      + nxt(zone.serial).to_bytes(4, "big") + zone.soa.rdatas[0][-16:]),
               Change(b"\x0f_acme-challenge" + zone.origin.wire, 16, 60, b"\x05token"))))
    path = tmp_path / "example.test.zone"
    path.write_text("old\n")
    os.chmod(path, 0o640)
    write_zone_file(zone, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    back = load_zone("example.test.", str(path))
    assert back.zone is not None and not back.errors
    assert list(zone_to_text(back.zone)) == list(zone_to_text(zone))
    assert [p.name for p in tmp_path.iterdir()] == ["example.test.zone"]
    if shutil.which("nsd-checkzone"):
        proc = subprocess.run(["nsd-checkzone", "example.test", str(path)], capture_output=True,
                              text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_write_zone_file_new_and_symlink(tmp_path: Path) -> None:
    zone = load(tmp_path, 5)
    fresh = tmp_path / "new.zone"
    write_zone_file(zone, fresh)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
    link = tmp_path / "link.zone"
    link.symlink_to(fresh)
    write_zone_file(apply_diff(zone, diff(5, 6)), link)
    assert link.is_symlink()
    assert load_zone("x.test.", str(fresh)).zone.serial == 6
    (tmp_path / ".new.zone.tmp-stale").write_text("left by a crash")
    write_zone_file(zone, fresh)
    assert not (tmp_path / ".new.zone.tmp-stale").exists()
