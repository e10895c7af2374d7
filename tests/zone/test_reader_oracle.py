"""The zone-file reader against dnspython as an oracle (RFC 1035 §5, RFC 2308 §4, RFC 3597 §5).

How it works: each zone file is read twice, by :class:`ZoneReader` and by
``dns.zone.from_file(..., relativize=False, check_origin=False)``, and both
results are reduced to the same shape: a map from ``(owner lowercased wire,
type, covered type)`` to ``(TTL, set of rdata wire octets)``.

Normalisation, the same on both sides:

* An RRset's TTL is the lowest TTL of its records. dnspython merges a record
  into its rdataset by lowering the rdataset's TTL (``Rdataset.update_ttl``);
  RFC 2181 §5.2 says to treat an RRset with differing TTLs as if all had the
  lowest. Our reader yields records, so the minimum is taken here.
* RRSIGs form one RRset per covered type (RFC 4034 §3, dnspython's
  ``covers``); for ours the covered type is the rdata's first two octets.
* Identical records count once (RFC 2181 §5: an RRset is a set).
* Owners compare lowercased (RFC 4343); rdata octets compare exactly, so the
  case of names inside rdata must be kept by both.

dnspython opens ``$INCLUDE`` files relative to the working directory, our
reader relative to the including file; for the oracle every file is copied
to ``tmp_path`` with its ``$INCLUDE`` paths made absolute by our rule.

The corpus: every ``corpus/*.zone`` (one feature per file; included
fragments live in ``corpus/inc/``), ``zones/example.test.zone`` when it
exists, and seeded random zones of about 2,000 records. Where dnspython and
the RFCs disagree, :data:`DISAGREEMENTS` is the closed list of cases, each
with its RFC reason; every entry is checked to still disagree.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import io
import ipaddress
import itertools
import random
import re
from pathlib import Path
from typing import Iterable

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zone
import pytest

from dns_suite.wire.name import Name
from dns_suite.wire.types import RRType
from dns_suite.zone.errors import RdataError, ZoneError
from dns_suite.zone.rdatatext import Glued
from dns_suite.zone.reader import ZoneReader
from dns_suite.zone.svcbtext import svc_params

HERE = Path(__file__).resolve().parent
CORPUS_DIR = HERE / "corpus"
EXAMPLE_ZONE = HERE.parent.parent / "zones" / "example.test.zone"
CORPUS_ORIGIN = "corpus.test."

#: ``(owner lowercased wire, type, covered type) -> (TTL, rdata wire set)``
RRsets = dict[tuple[bytes, int, int], tuple[int, frozenset[bytes]]]


# --- reading, both ways ---------------------------------------------------------

def open_relative(path: str, including_file: str) -> tuple[str, Iterable[str]]:
    """The ``open_include`` of the reader: ``path`` relative to the including file."""
    target = Path(including_file).parent / path
    return str(target), io.StringIO(target.read_bytes().decode())


def read_ours(path: Path, origin: str, **options) -> RRsets:
    """``path`` through :class:`ZoneReader`, as RRsets."""
    options = {"open_include": open_relative, **options}
    reader = ZoneReader(Name.from_text(origin), file=str(path), **options)
    return ours_as_rrsets(reader.records(io.StringIO(path.read_bytes().decode())))


def ours_as_rrsets(records) -> RRsets:
    """Group the reader's records into RRsets, TTL the lowest (RFC 2181 §5.2)."""
    groups: dict[tuple[bytes, int, int], tuple[int, set[bytes]]] = {}
    for owner, ttl, rrtype, rdata, _file, _line in records:
        covers = int.from_bytes(rdata[:2], "big") if rrtype == 46 else 0
        key = (owner.key, rrtype, covers)
        old = groups.get(key)
        if old is None:
            groups[key] = (ttl, {rdata})
        else:
            old[1].add(rdata)
            groups[key] = (min(old[0], ttl), old[1])
    return {key: (ttl, frozenset(rdatas)) for key, (ttl, rdatas) in groups.items()}


_INCLUDE_LINE = re.compile(r'^\$INCLUDE([ \t]+)("[^"]*"|[^\s;]+)', re.IGNORECASE | re.MULTILINE)


def mirror_includes(path: Path, into: Path, counter=None) -> Path:
    """Copy ``path`` (and what it includes) into ``into`` with absolute $INCLUDE paths."""
    counter = counter if counter is not None else itertools.count()
    text = path.read_bytes().decode()

    def absolute(m: re.Match) -> str:
        target = path.parent / m.group(2).strip('"')
        return f'$INCLUDE{m.group(1)}"{mirror_includes(target, into, counter)}"'

    out = into / f"{next(counter)}-{path.name}"
    out.write_bytes(_INCLUDE_LINE.sub(absolute, text).encode())
    return out


def read_theirs(path: Path, origin: str, tmp_path: Path) -> RRsets:
    """``path`` through dnspython, as RRsets."""
    copy = mirror_includes(path, tmp_path)
    zone = dns.zone.from_file(str(copy), origin, relativize=False, check_origin=False,
                              allow_include=True)
    return zone_as_rrsets(zone)


def zone_as_rrsets(zone: dns.zone.Zone) -> RRsets:
    """A dnspython zone's rdatasets as RRsets."""
    out: RRsets = {}
    for name, node in zone.nodes.items():
        owner = name.canonicalize().to_wire()
        for rds in node.rdatasets:
            out[(owner, rds.rdtype, rds.covers)] = (rds.ttl, frozenset(rd.to_wire() for rd in rds))
    return out


def describe(key: tuple[bytes, int, int]) -> str:
    owner, rrtype, covers = key
    text = f"{Name(owner).to_text()} {RRType(rrtype).to_text()}"
    return text + (f" (covers {RRType(covers).to_text()})" if covers else "")


def differences(ours: RRsets, theirs: RRsets) -> list[str]:
    """Human-readable differences, empty when the two agree."""
    out = []
    for key in sorted(ours.keys() | theirs.keys()):
        a, b = ours.get(key), theirs.get(key)
        if a == b:
            continue
        if a is None or b is None:
            out.append(f"{describe(key)}: only {'dnspython' if a is None else 'ours'} has it")
        elif a[0] != b[0]:
            out.append(f"{describe(key)}: TTL ours {a[0]}, dnspython {b[0]}")
        else:
            out.append(f"{describe(key)}: rdata ours-only {sorted(x.hex() for x in a[1] - b[1])}, "
                       f"dnspython-only {sorted(x.hex() for x in b[1] - a[1])}")
    return out


def assert_agree(ours: RRsets, theirs: RRsets) -> None:
    diff = differences(ours, theirs)
    assert not diff, f"{len(diff)} RRsets differ:\n" + "\n".join(diff[:25])


# --- the corpus -----------------------------------------------------------------

def _corpus() -> list[tuple[Path, str]]:
    """``(file, origin)`` of every corpus file present at collection time."""
    files = [(p, CORPUS_ORIGIN) for p in sorted(CORPUS_DIR.glob("*.zone"))]
    if EXAMPLE_ZONE.exists():
        files.append((EXAMPLE_ZONE, EXAMPLE_ZONE.name.removesuffix(".zone") + "."))
    return files


CORPUS = _corpus()


def test_example_zone_is_in_the_corpus():
    assert EXAMPLE_ZONE in [path for path, _ in CORPUS], f"{EXAMPLE_ZONE} missing"


@pytest.mark.parametrize("path,origin", CORPUS, ids=[p.name for p, _ in CORPUS])
def test_corpus_file_agrees_with_dnspython(path: Path, origin: str, tmp_path: Path):
    ours = read_ours(path, origin)
    assert ours, f"{path.name}: no records read"
    assert_agree(ours, read_theirs(path, origin, tmp_path))


@pytest.mark.parametrize("name", ["syntax.zone", "include.zone", "types.zone", "svcb.zone"])
def test_crlf_line_ends_read_the_same(name: str, tmp_path: Path):
    source = CORPUS_DIR / name
    crlf_dir = tmp_path / "crlf"
    for src in [source, *CORPUS_DIR.glob("inc/*.inc")]:
        dst = crlf_dir / src.relative_to(CORPUS_DIR)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(src.read_bytes().replace(b"\n", b"\r\n"))
    assert read_ours(crlf_dir / name, CORPUS_ORIGIN) == read_ours(source, CORPUS_ORIGIN)


def test_include_path_is_relative_to_the_including_file(tmp_path: Path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "top.zone").write_text("$TTL 60\n$INCLUDE sub/a.inc\n")
    (tmp_path / "sub" / "a.inc").write_text("$INCLUDE b.inc\n")
    (tmp_path / "sub" / "b.inc").write_text("right A 192.0.2.1\n")
    (tmp_path / "b.inc").write_text("wrong A 192.0.2.2\n")
    got = read_ours(tmp_path / "top.zone", CORPUS_ORIGIN)
    assert [describe(k) for k in got] == ["right.corpus.test. A"]


def test_records_carry_their_own_file_and_line(tmp_path: Path):
    (tmp_path / "top.zone").write_text("$TTL 60\na A 192.0.2.1\n$INCLUDE i.inc\nb A 192.0.2.3\n")
    (tmp_path / "i.inc").write_text("; one\n\nc A 192.0.2.2\n")
    reader = ZoneReader(Name.from_text(CORPUS_ORIGIN), file=str(tmp_path / "top.zone"),
                        open_include=open_relative)
    got = [(Path(f).name, line) for *_, f, line in
           reader.records(io.StringIO((tmp_path / "top.zone").read_text()))]
    assert got == [("top.zone", 2), ("i.inc", 3), ("top.zone", 4)]


# --- random zones ----------------------------------------------------------------

_LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789-"
_NAME_ESCAPES = ["\\.", "\\032", "\\\\", "\\(", "\\;", '\\"', "\\255", "\\000", "\\$", "\\@", "\\065"]
_COVERED = ["A", "AAAA", "NS", "SOA", "MX", "TXT", "DNSKEY", "NSEC", "TYPE65280"]
_BITMAP_TYPES = ["A", "NS", "SOA", "MX", "TXT", "AAAA", "RRSIG", "NSEC", "DNSKEY", "CAA",
                 "TYPE1234", "TYPE65280", "NSEC3PARAM", "HTTPS"]


class RandomZone:
    """Presentation text of a random zone; seeded, so reproducible."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.lines: list[str] = []
        self.cnames = self.singles = 0

    def label(self) -> str:
        rng = self.rng
        text = "".join(rng.choice(_LETTERS) for _ in range(rng.randint(1, 12)))
        if rng.random() < 0.1:
            text = text.upper()
        if rng.random() < 0.1:
            at = rng.randint(0, len(text))
            text = text[:at] + rng.choice(_NAME_ESCAPES) + text[at:]
        return "x" + text if text in ("cnames", "singles") else text

    def name(self, in_zone: bool = True) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.03:
            return "@"
        labels = [self.label() for _ in range(rng.randint(1, 4))]
        if roll < 0.05:
            labels[0] = "*"
        if not in_zone and roll > 0.8:
            return ".".join(labels) + ".example.net."
        return ".".join(labels) + ("." + CORPUS_ORIGIN if roll > 0.9 else "")

    def ttl(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.4:
            return ""
        if roll < 0.8:
            return str(rng.choice([0, 1, 60, 300, 3600, 86400, rng.randint(0, 2**31 - 1)]))
        units = rng.sample(["w", "d", "h", "m", "s"], rng.randint(1, 3))
        return "".join(f"{rng.randint(0, 99)}{u if rng.random() < 0.7 else u.upper()}"
                       for u in "wdhms" if u in units)

    def char_string(self, quoted: bool) -> str:
        rng = self.rng
        size = rng.choice([0, 1, 3, 10, 40, rng.randint(0, 255)])
        out = []
        for _ in range(size):
            b = rng.randrange(256) if rng.random() < 0.2 else rng.randrange(0x20, 0x7F)
            c = chr(b)
            if c in '"\\' or (not quoted and c in " ;()@$\t"):
                out.append("\\" + c)
            elif b < 0x20 or b > 0x7E:
                out.append(f"\\{b:03d}")
            elif c.isalpha() and rng.random() < 0.05:
                out.append("\\" + c)
            else:
                out.append(c)
        text = "".join(out)
        return f'"{text}"' if quoted or not text else text

    def hex(self, size: int) -> str:
        data = self.rng.randbytes(size).hex()
        if self.rng.random() < 0.3:
            data = data.upper()
        if self.rng.random() < 0.3 and len(data) > 8:
            data = data[:8] + " " + data[8:]
        return data

    def b64(self, size: int) -> str:
        data = base64.b64encode(self.rng.randbytes(size)).decode()
        if self.rng.random() < 0.3 and len(data) > 12:
            data = data[:12] + " " + data[12:]
        return data

    def bitmap(self) -> str:
        return " ".join(self.rng.sample(_BITMAP_TYPES, self.rng.randint(0, 6)))

    def ipv6(self) -> str:
        addr = ipaddress.IPv6Address(self.rng.randbytes(16) if self.rng.random() < 0.5 else
                                     b"\x20\x01\x0d\xb8" + bytes(10) + self.rng.randbytes(2))
        return addr.exploded if self.rng.random() < 0.2 else addr.compressed

    def svcb(self) -> str:
        rng = self.rng
        priority = rng.choice([0, 1, 2, 10, 65535])
        target = rng.choice([".", self.name(in_zone=False)])
        if priority == 0:
            return f"{priority} {target}"
        params: dict[str, str | None] = {}
        if rng.random() < 0.6:
            ids = ["".join(rng.choice("abcdefgh23") for _ in range(rng.randint(1, 6)))
                   + rng.choice(["", "", "\\\\,x", "\\\\\\\\"]) for _ in range(rng.randint(1, 3))]
            params["alpn"] = ",".join(ids)
            if rng.random() < 0.3:
                params["no-default-alpn"] = None
        if rng.random() < 0.4:
            params["port"] = str(rng.randrange(65536))
        if rng.random() < 0.4:
            params["ipv4hint"] = ",".join(str(ipaddress.IPv4Address(rng.randbytes(4)))
                                          for _ in range(rng.randint(1, 3)))
        if rng.random() < 0.3:
            params["ipv6hint"] = ",".join(self.ipv6() for _ in range(rng.randint(1, 2)))
        if rng.random() < 0.2:
            body = rng.randbytes(rng.randint(4, 30))
            params["ech"] = base64.b64encode(len(body).to_bytes(2, "big") + body).decode()
        if rng.random() < 0.2:
            quoted = rng.random() < 0.5
            params[f"key{rng.randint(11, 65534)}"] = (self.char_string(quoted) or '""'
                                                      if rng.random() < 0.7 else None)
        present = [k for k in params if k != "no-default-alpn"]
        if present and rng.random() < 0.3:
            params["mandatory"] = ",".join(rng.sample(present, rng.randint(1, len(present))))
        items = list(params.items())
        rng.shuffle(items)
        out = []
        for key, value in items:
            if value is None:
                out.append(key)
            elif key.startswith("key"):  # already a char-string, quoted or not
                out.append(f"{key}={value}")
            elif rng.random() < 0.5 or value == "" or " " in value:
                out.append(f'{key}="{value}"')
            else:
                out.append(f"{key}={value}")
        return " ".join([str(priority), target, *out])

    def rdata(self, rrtype: str) -> str:
        rng, name = self.rng, self.name
        if rrtype == "A":
            return str(ipaddress.IPv4Address(rng.randbytes(4)))
        if rrtype == "AAAA":
            return self.ipv6()
        if rrtype in ("NS", "PTR", "DNAME"):
            return name(in_zone=False)
        if rrtype == "MX":
            return f"{rng.randrange(65536)} {name(in_zone=False)}"
        if rrtype in ("TXT", "SPF"):
            return " ".join(self.char_string(quoted=rng.random() < 0.7)
                            for _ in range(rng.randint(1, 4)))
        if rrtype == "SRV":
            return " ".join(str(rng.randrange(65536)) for _ in range(3)) + " " + name(in_zone=False)
        if rrtype == "CAA":
            tag = rng.choice(["issue", "issuewild", "iodef", "tbs", "Unknown9"])
            return f"{rng.choice([0, 128])} {tag} {self.char_string(quoted=True)}"
        if rrtype == "NAPTR":
            strings = " ".join(self.char_string(quoted=True) for _ in range(3))
            return f"{rng.randrange(65536)} {rng.randrange(65536)} {strings} {name(in_zone=False)}"
        if rrtype in ("DS", "CDS"):
            kind, size = rng.choice([(1, 20), (2, 32), (4, 48), (rng.randint(5, 255), rng.randint(1, 64))])
            return f"{rng.randrange(65536)} {rng.randrange(256)} {kind} {self.hex(size)}"
        if rrtype in ("DNSKEY", "CDNSKEY"):
            return f"{rng.choice([256, 257, 0])} 3 {rng.randrange(256)} {self.b64(rng.randint(1, 80))}"
        if rrtype == "RRSIG":
            def when() -> str:
                t = rng.randrange(86400 * 365, 2**32 - 86400 * 365)
                if rng.random() < 0.5:
                    return str(t)
                return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y%m%d%H%M%S")
            return (f"{rng.choice(_COVERED)} {rng.randrange(256)} {rng.randrange(8)} "
                    f"{rng.randrange(2**31)} {when()} {when()} {rng.randrange(65536)} "
                    f"{name(in_zone=False)} {self.b64(rng.randint(1, 100))}")
        if rrtype == "NSEC":
            return f"{name(in_zone=False)} {self.bitmap()}".rstrip()
        if rrtype == "NSEC3":
            nxt = base64.b32hexencode(rng.randbytes(20)).decode()
            salt = "-" if rng.random() < 0.3 else self.hex(rng.randint(1, 8)).replace(" ", "")
            return (f"1 {rng.randrange(2)} {rng.randrange(200)} {salt} "
                    f"{nxt if rng.random() < 0.5 else nxt.lower()} {self.bitmap()}").rstrip()
        if rrtype == "NSEC3PARAM":
            salt = "-" if rng.random() < 0.3 else self.hex(rng.randint(1, 8)).replace(" ", "")
            return f"1 0 {rng.randrange(200)} {salt}"
        if rrtype in ("TLSA", "SMIMEA"):
            kind, size = rng.choice([(0, rng.randint(1, 100)), (1, 32), (2, 64), (rng.randint(3, 255), 7)])
            return f"{rng.randrange(4)} {rng.randrange(2)} {kind} {self.hex(size)}"
        if rrtype == "SSHFP":
            kind, size = rng.choice([(1, 20), (2, 32), (rng.randint(3, 255), rng.randint(1, 40))])
            return f"{rng.randint(1, 4)} {kind} {self.hex(size)}"
        if rrtype in ("SVCB", "HTTPS"):
            return self.svcb()
        size = rng.randint(0, 20)
        return f"\\# {size} {self.hex(size)}" if size else "\\# 0"

    def record(self, rrtype: str, owner: str | None) -> None:
        rng = self.rng
        ttl, klass = self.ttl(), rng.choice(["", "", "IN", "in", "CLASS1"])
        fields = [ttl, klass] if rng.random() < 0.5 else [klass, ttl]
        head = " ".join(f for f in fields if f)
        mnemonic = rrtype if rng.random() < 0.9 else rrtype.lower()
        rdata = self.rdata(rrtype)
        if rdata.startswith("\\#"):
            mnemonic = f"TYPE{rng.randint(65280, 65534)}"
        if rng.random() < 0.1 and " " in rdata:
            if '"' in rdata:  # a line break may not land inside a quoted string
                rdata = f"( {rdata}\n )"
            else:
                first, rest = rdata.split(" ", 1)
                rest = rest.replace(" ", " ; between\n  ", 1)
                rdata = f"{first} ( ; opened\n\t\t{rest}\n )"
        tail = " ; trailing comment" if rng.random() < 0.1 else ""
        lead = "\t" if owner is None else owner
        self.lines.append(f"{lead} {head} {mnemonic} {rdata}{tail}".replace("  ", " "))

    def build(self, count: int) -> str:
        rng = self.rng
        self.lines = ["$TTL 3600", f"@ SOA ns1 hostmaster {rng.randrange(2**32)} 1h 15m 1w 5m"]
        types = ["A", "AAAA", "NS", "MX", "TXT", "SPF", "PTR", "SRV", "CAA", "NAPTR", "DS", "CDS",
                 "DNSKEY", "CDNSKEY", "RRSIG", "NSEC", "NSEC3", "NSEC3PARAM", "TLSA", "SMIMEA",
                 "SSHFP", "SVCB", "HTTPS", "DNAME", "GENERIC"]
        weights = [10, 6, 3, 3, 10, 1, 2, 2, 2, 2, 2, 1, 2, 1, 3, 2, 2, 1, 2, 1, 2, 3, 3, 1, 2]
        written = 0
        at_cname = False
        while written < count:
            roll = rng.random()
            if roll < 0.05:
                self.cnames += 1
                self.lines.append(f"cn{self.cnames}.cnames {self.ttl()} CNAME {self.name(False)}")
                written += 1
                at_cname = True
                continue
            if roll < 0.06:
                self.lines.append(rng.choice([f"$ORIGIN sub{rng.randrange(5)}.{CORPUS_ORIGIN}",
                                              f"$ORIGIN {CORPUS_ORIGIN}", f"$TTL {self.ttl() or 60}"]))
                continue
            if roll < 0.08:
                self.lines.append(rng.choice(["", "; a comment line", "   ", "\t; indented comment"]))
                continue
            rrtype = rng.choices(types, weights)[0]
            if rrtype in ("NSEC", "DNAME"):  # one per owner: dnspython keeps only the last
                self.singles += 1
                owner = f"s{self.singles}.singles"
            elif roll < 0.2 and written and not at_cname:  # no other data at a CNAME
                owner = None
            else:
                owner = self.name()
            at_cname = False
            self.record(rrtype, owner)
            written += 1
        return "\n".join(self.lines) + "\n"


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_random_zone_agrees_with_dnspython(seed: int, tmp_path: Path):
    path = tmp_path / f"random-{seed}.zone"
    path.write_text(RandomZone(seed).build(2000))
    (tmp_path / "theirs").mkdir()
    ours = read_ours(path, CORPUS_ORIGIN)
    assert sum(len(rdatas) for _, rdatas in ours.values()) > 1500
    assert_agree(ours, read_theirs(path, CORPUS_ORIGIN, tmp_path / "theirs"))


# --- where dnspython is wrong by the RFCs: a closed list --------------------------

@dataclasses.dataclass(frozen=True, kw_only=True)
class Disagreement:
    """One case where our reader and dnspython differ, and why ours is right.

    Attributes:
        name: short id.
        files: file name -> text; ``top.zone`` is read (origin ``corpus.test.``).
        ours: what our reader gives for the RRsets that differ:
            ``{(owner, type): (ttl, [rdata text])}``; None: we refuse the file.
        dnspython_refuses: dnspython raises on the file (we accept it).
        dnspython_has: RRsets ``(owner, type)`` only dnspython reads.
        reason: the RFC text that decides.
    """

    name: str
    files: dict[str, str]
    ours: dict[tuple[str, str], tuple[int, list[str]]] | None
    dnspython_refuses: bool = False
    dnspython_has: tuple[tuple[str, str], ...] = ()
    reason: str


DISAGREEMENTS = [
    Disagreement(
        name="ttl-directive-in-include-persists",
        files={"top.zone": "$TTL 100\n$INCLUDE i.inc\nafter A 192.0.2.2\n",
               "i.inc": "$TTL 200\nin A 192.0.2.1\n"},
        ours={("after", "A"): (200, ["192.0.2.2"])},
        reason="RFC 2308 §4: a $TTL applies to all records after it that carry no TTL; "
               "RFC 1035 §5.1 restores only the origin after $INCLUDE (BIND agrees). "
               "dnspython restores the $TTL of the including file.",
    ),
    Disagreement(
        name="last-ttl-in-include-persists",
        files={"top.zone": "a 100 A 192.0.2.1\n$INCLUDE i.inc\nafter A 192.0.2.3\n",
               "i.inc": "in 200 A 192.0.2.2\n"},
        ours={("after", "A"): (200, ["192.0.2.3"])},
        reason="RFC 1035 §5.1: an omitted TTL is the last explicitly stated one, and the "
               "last one stated was in the included file; dnspython restores the previous.",
    ),
    Disagreement(
        name="owner-less-first-record",
        files={"top.zone": "$TTL 60\n  A 192.0.2.1\n"},
        ours=None,
        reason="RFC 1035 §5.1: a blank owner is the previous record's owner, and the first "
               "record has none; dnspython takes the origin (BIND refuses).",
    ),
    Disagreement(
        name="ttl-over-2-31",
        files={"top.zone": "a 2147483648 A 192.0.2.1\n"},
        ours=None,
        reason="RFC 2181 §8: a TTL is an unsigned number 0..2**31-1; dnspython takes up "
               "to 2**32-1.",
    ),
    Disagreement(
        name="dnssec-algorithm-mnemonic-with-dashes",
        files={"top.zone": "$TTL 60\n@ DNSKEY 256 3 RSASHA1-NSEC3-SHA1 AQAB\n"},
        ours={("@", "DNSKEY"): (60, ["256 3 7 AQAB"])},
        dnspython_refuses=True,
        reason="RFC 4034 §2.2: the algorithm may be a mnemonic; the IANA registry's "
               "mnemonics include dashes (RSASHA1-NSEC3-SHA1, RFC 5155 §2); dnspython knows "
               "them only without.",
    ),
    Disagreement(
        name="non-ascii-owner-kept-as-octets",
        files={"top.zone": "$TTL 60\nb\u00fccher A 192.0.2.1\n"},
        ours={("b\\195\\188cher", "A"): (60, ["192.0.2.1"])},
        dnspython_has=(("xn--bcher-kva", "A"),),
        reason="RFC 2181 §11: any octets may form a label, and RFC 1035 §5.1 has no IDNA "
               "step; our reader keeps the UTF-8 octets, as BIND does, where dnspython "
               "applies IDNA and reads xn--bcher-kva.",
    ),
    Disagreement(
        name="rrsig-time-after-2106-wraps",
        files={"top.zone": "$TTL 60\n@ RRSIG A 8 1 60 21100101000000 20240101000000 1 @ AQAB\n"},
        ours={("@", "RRSIG"): (60, ["A 8 1 60 123010304 1704067200 1 @ AQAB"])},
        dnspython_refuses=True,
        reason="RFC 4034 §3.1.5: the times are 32-bit values compared by serial number "
               "arithmetic (RFC 1982), so a date past 2106-02-07 wraps modulo 2**32, as in "
               "BIND; dnspython refuses it.",
    ),
    Disagreement(
        name="svcb-port-value-too-long",
        files={"top.zone": "$TTL 60\ns SVCB 1 . key3=\\000\\053\\000\n"},
        ours=None,
        reason="RFC 9460 §7.2: the port value is a 2-octet field; dnspython drops the third "
               "octet.",
    ),
    Disagreement(
        name="svcb-port-escaped-digits",
        files={"top.zone": "$TTL 60\ns SVCB 1 . port=\\053\\0513\n"},
        ours={("s", "SVCB"): (60, ['1 . port="533"'])},
        dnspython_refuses=True,
        reason="RFC 9460 Appendix A: a SvcParamValue is a char-string, decoded (\\DDD) "
               "before the key's own syntax applies; dnspython reads the raw text.",
    ),
    Disagreement(
        name="svcb-hint-char-string-escaped-comma",
        files={"top.zone": "$TTL 60\ns SVCB 1 . ipv4hint=192.0.2.1\\,192.0.2.2\n"},
        ours={("s", "SVCB"): (60, ['1 . ipv4hint="192.0.2.1,192.0.2.2"'])},
        dnspython_refuses=True,
        reason="RFC 9460 Appendix A.1: list decoding comes after char-string decoding, so "
               "'\\,' is a plain separating comma; dnspython splits the raw text.",
    ),
]


def _expected(case: Disagreement) -> RRsets:
    """The RRsets ``case.ours`` lists, as :func:`ours_as_rrsets` would give them."""
    origin = dns.name.from_text(CORPUS_ORIGIN)
    records = []
    for (owner, rrtype), (ttl, texts) in (case.ours or {}).items():
        name = Name.from_text(owner, Name.from_text(CORPUS_ORIGIN))
        for text in texts:
            rd = dns.rdata.from_text(dns.rdataclass.IN, rrtype, text, origin, relativize=False)
            records.append((name, ttl, int(rd.rdtype), rd.to_wire(), "", 0))
    return ours_as_rrsets(records)


@pytest.mark.parametrize("case", DISAGREEMENTS, ids=[c.name for c in DISAGREEMENTS])
def test_disagreement_with_dnspython_is_ours_by_the_rfc(case: Disagreement, tmp_path: Path):
    for name, text in case.files.items():
        (tmp_path / name).write_text(text)
    top = tmp_path / "top.zone"
    (tmp_path / "theirs").mkdir()
    try:
        theirs = read_theirs(top, CORPUS_ORIGIN, tmp_path / "theirs")
    except dns.exception.DNSException:
        theirs = None
    assert (theirs is None) == case.dnspython_refuses, "dnspython changed: re-check this entry"
    if case.ours is None:
        with pytest.raises(ZoneError):
            read_ours(top, CORPUS_ORIGIN)
        return
    ours = read_ours(top, CORPUS_ORIGIN)
    expected = _expected(case)
    assert {key: ours.get(key) for key in expected} == expected
    if theirs is not None:
        origin = Name.from_text(CORPUS_ORIGIN)
        listed = expected.keys() | {(Name.from_text(owner, origin).key, int(RRType.from_text(t)), 0)
                                    for owner, t in case.dnspython_has}
        assert {k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k)} == listed


# --- errors: file, line and reason ---------------------------------------------------

@dataclasses.dataclass(frozen=True, kw_only=True)
class Bad:
    """A zone file the reader refuses.

    Attributes:
        name: short id.
        text: the top file (``err.zone``).
        line: the line the error names.
        reason: a substring of the reason.
        extra: other files next to it.
        file: the file the error names.
        options: keyword arguments of :class:`ZoneReader`.
    """

    name: str
    text: str
    line: int
    reason: str
    extra: dict[str, str] = dataclasses.field(default_factory=dict)
    file: str = "err.zone"
    options: dict = dataclasses.field(default_factory=dict)


SOA = "@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
BAD = [
    Bad(name="unbalanced-open-paren", text="$TTL 60\n" + SOA + "a TXT ( \"x\"\n\nb A 192.0.2.1\n",
        line=3, reason="unbalanced '('"),
    Bad(name="unbalanced-close-paren", text="$TTL 60\na A 192.0.2.1 )\n", line=2,
        reason="unbalanced ')'"),
    Bad(name="close-paren-on-later-line", text="$TTL 60\na TXT ( \"x\"\n )\n )\n", line=4,
        reason="unbalanced ')'"),
    Bad(name="unterminated-quote", text="$TTL 60\n\na TXT \"abc\n", line=3,
        reason="unterminated quoted string"),
    Bad(name="bad-ipv4-octet", text="$TTL 60\na A 192.0.2.256\n", line=2, reason="bad IPv4"),
    Bad(name="bad-ipv4-short", text="$TTL 60\na A 192.0.2\n", line=2, reason="bad IPv4"),
    Bad(name="bad-ipv4-unicode-digit", text="$TTL 60\na A 192.0.2.\u0661\n", line=2,
        reason="bad IPv4"),
    Bad(name="bad-ipv4-leading-zero", text="$TTL 60\na A 192.0.2.01\n", line=2,
        reason="leading zero"),
    Bad(name="bad-ipv6", text="$TTL 60\na AAAA 2001:db8::1::2\n", line=2, reason="bad IPv6"),
    Bad(name="bad-ipv6-zone-index", text="$TTL 60\na AAAA fe80::1%eth0\n", line=2,
        reason="zone index"),
    Bad(name="ds-digest-length", text="$TTL 60\na DS 1 8 2 abcdef\n", line=2,
        reason="takes 32 octets"),
    Bad(name="ds-digest-type-0", text="$TTL 60\na DS 1 8 0 00\n", line=2, reason="reserved"),
    Bad(name="tlsa-digest-length", text="$TTL 60\na TLSA 3 1 1 abcdef\n", line=2,
        reason="takes 32 octets"),
    Bad(name="sshfp-digest-length", text="$TTL 60\na SSHFP 1 1 abcdef\n", line=2,
        reason="takes 20 octets"),
    Bad(name="nsec3-next-not-canonical", text="$TTL 60\na NSEC3 1 0 0 - 2T7B4G4VSA5SMI47K61MV5BV1A22BOJ\n",
        line=2, reason="canonical"),
    Bad(name="nsec3-next-too-long", text="$TTL 60\na NSEC3 1 0 0 - " + "00" * 240 + "\n", line=2,
        reason="1-255 octets"),
    Bad(name="type-0-in-bitmap", text="$TTL 60\na NSEC b TYPE0\n", line=2, reason="type 0"),
    Bad(name="generic-rdata-wrong-for-type", text="$TTL 60\na A \\# 3 c00002\n", line=2,
        reason="no A"),
    Bad(name="generic-rdata-empty-txt", text="$TTL 60\na TXT \\# 0\n", line=2, reason="no TXT"),
    Bad(name="generic-rdata-compressed-name", text="$TTL 60\na MX \\# 4 0001c000\n", line=2,
        reason="compressed"),
    Bad(name="unknown-type", text="$TTL 60\na FROB 1 2 3\n", line=2, reason="unknown type"),
    Bad(name="meta-type", text="$TTL 60\na ANY 1\n", line=2, reason="ANY"),
    Bad(name="ttl-junk", text="a 1x A 192.0.2.1\n", line=1, reason="bad TTL"),
    Bad(name="ttl-trailing-digits", text="a 1h30 A 192.0.2.1\n", line=1, reason="bad TTL"),
    Bad(name="ttl-unicode-digits", text="a \u0661\u0662 A 192.0.2.1\n", line=1, reason="TTL"),
    Bad(name="ttl-directive-junk", text="$TTL forever\n", line=1, reason="bad TTL"),
    Bad(name="ttl-over-2-31", text="a 2147483648 A 192.0.2.1\n", line=1, reason="2**31-1"),
    Bad(name="label-over-63", text=f"$TTL 60\n{'a' * 64} A 192.0.2.1\n", line=2, reason="63"),
    Bad(name="label-over-63-in-rdata", text=f"$TTL 60\na CNAME {'b' * 64}.example.\n", line=2,
        reason="63"),
    Bad(name="name-over-255", text="$TTL 60\n" + ".".join(["a" * 60] * 4) + " A 192.0.2.1\n",
        line=2, reason="255"),
    Bad(name="name-over-255-escaped", text="$TTL 60\n" + ".".join(["\\097" * 60] * 4) + " A 192.0.2.1\n",
        line=2, reason="octets"),
    Bad(name="empty-label", text="$TTL 60\na..b A 192.0.2.1\n", line=2, reason="empty label"),
    Bad(name="character-string-over-255", text=f"$TTL 60\na TXT \"{'x' * 256}\"\n", line=2,
        reason="max 255"),
    Bad(name="character-string-over-255-escaped", text="$TTL 60\na TXT " + "\\255" * 256 + "\n",
        line=2, reason="max 255"),
    Bad(name="bad-ddd-escape", text="$TTL 60\na TXT \"\\256\"\n", line=2, reason="escape"),
    Bad(name="missing-type", text="$TTL 60\na 300 IN\n", line=2, reason="missing type"),
    Bad(name="class-mismatch", text="$TTL 60\na CH TXT \"x\"\n", line=2, reason="class CH"),
    Bad(name="two-classes", text="$TTL 60\na IN CH TXT \"x\"\n", line=2, reason="CH"),
    Bad(name="include-missing", text="$TTL 60\n\n$INCLUDE nothere.inc\n", line=3,
        reason="nothere.inc"),
    Bad(name="error-inside-include", text="$TTL 60\n$INCLUDE i.inc\n",
        extra={"i.inc": "ok A 192.0.2.1\n\nbad A 1.2.3\n"}, file="i.inc", line=3,
        reason="bad IPv4"),
    Bad(name="include-loop", text="$INCLUDE err.zone\n", line=1, reason="deeper"),
    Bad(name="include-refused", text="$INCLUDE x.inc\n", line=1, reason="not allowed",
        options={"open_include": None}),
    Bad(name="generate-disabled", text="$TTL 60\n$GENERATE 1-3 h$ A 192.0.2.$\n", line=2,
        reason="disabled", options={"allow_generate": False}),
    Bad(name="generate-range-backwards", text="$TTL 60\n$GENERATE 5-1 h$ A 192.0.2.$\n", line=2,
        reason="range"),
    Bad(name="generate-range-junk", text="$TTL 60\n$GENERATE 1-x h$ A 192.0.2.$\n", line=2,
        reason="range"),
    Bad(name="generate-bad-modifier", text="$TTL 60\n$GENERATE 1-2 h${1,2,q} A 192.0.2.$\n",
        line=2, reason="modifier"),
    Bad(name="generate-bad-rdata", text="$TTL 60\n\n$GENERATE 250-256 h$ A 192.0.2.$\n", line=3,
        reason="bad IPv4"),
    Bad(name="generic-length-mismatch", text="$TTL 60\na TYPE65280 \\# 3 abcd\n", line=2,
        reason="says 3 octets"),
    Bad(name="generic-bad-hex", text="$TTL 60\na TYPE65280 \\# 2 abzz\n", line=2,
        reason="bad hex"),
    Bad(name="no-owner-at-start", text="\t$TTL 60\n", line=1, reason="no owner"),
    Bad(name="no-owner-first-record", text="$TTL 60\n  A 192.0.2.1\n", line=2, reason="no owner"),
    Bad(name="no-ttl-anywhere", text="a A 192.0.2.1\n", line=1, reason="no TTL"),
    Bad(name="unknown-directive", text="$FROB x\n", line=1, reason="unknown directive"),
    Bad(name="svcb-key-twice", text="$TTL 60\ns SVCB 1 . port=1 port=2\n", line=2,
        reason="twice"),
    Bad(name="svcb-whitespace-after-equals", text="$TTL 60\ns SVCB 1 . alpn= \"h2\"\n", line=2,
        reason="after '='"),
    Bad(name="svcb-mandatory-absent", text="$TTL 60\ns SVCB 1 . mandatory=port\n", line=2,
        reason="absent"),
    Bad(name="svcb-alias-mode-params", text="$TTL 60\ns SVCB 0 . alpn=h2\n", line=2,
        reason="AliasMode"),
    Bad(name="multi-line-record-names-its-first-line",
        text="$TTL 60\n@ SOA ns1 hostmaster (\n 1 2 3\n 4 x )\n", line=2, reason="TTL"),
    Bad(name="line-count-after-multi-line-record",
        text="$TTL 60\na TXT ( \"x\"\n \"y\" )\nb A 192.0.2.999\n", line=4, reason="bad IPv4"),
    Bad(name="rare-type-bad-rdata", text="$TTL 60\na LOC nonsense\n", line=2, reason="LOC"),
]


@pytest.mark.parametrize("case", BAD, ids=[c.name for c in BAD])
def test_reader_error_names_file_line_and_reason(case: Bad, tmp_path: Path):
    top = tmp_path / "err.zone"
    top.write_bytes(case.text.encode())
    for name, text in case.extra.items():
        (tmp_path / name).write_bytes(text.encode())
    with pytest.raises(ZoneError) as info:
        read_ours(top, CORPUS_ORIGIN, **case.options)
    err = info.value
    where = str(tmp_path / case.file)
    assert (err.file, err.line) == (where, case.line), str(err)
    assert f"{where}:{case.line}:" in str(err)
    assert case.reason.lower() in err.reason.lower(), err.reason


# --- SVCB/HTTPS SvcParams (RFC 9460) ----------------------------------------------------

SVCB_REFUSED = [
    "1 . alpn", "1 . alpn=", '1 . alpn= "h2"', "1 . alpn=h2,,h3", '1 . alpn=""', "1 . alpn=h2\\",
    "1 . port=65536", "1 . port=x", "1 . port=1 port=2", "1 . port", "1 . mandatory=alpn",
    "1 . mandatory=mandatory alpn=h2", "1 . mandatory=alpn,alpn alpn=h2", "1 . mandatory=",
    "1 . mandatory=key01 key1=\\002h2", "1 . mandatory=frob", "1 . key0", "1 . no-default-alpn",
    "1 . no-default-alpn=x alpn=h2", "1 . key2=x alpn=h2", "1 . ipv4hint=192.0.2", "1 . ipv4hint=",
    "1 . ipv6hint=192.0.2.1", "1 . ipv6hint=::1%eth0", "1 . ech=AAQAAQACAAM=", "1 . ech=***",
    "1 . ech", "1 . key65536", "1 . foo=bar", "1 . KEY1=h2", "1 . Alpn=h2", '1 . "alpn=h2"',
    '1 . alpn="h2" "x"', '1 . alpn=h2"x"', "1 . =h2", "1 . key1=h2", "1 . key3=\\000",
    "1 . key0=\\000\\003\\000\\001 port=1 alpn=h2", "1 . key4=\\001\\002\\003", "1 . ohttp=x",
    "0 . alpn=h2", "65536 .", "1", "1 . key1=\\002h2 alpn=h3",
]


@pytest.mark.parametrize("rdata", SVCB_REFUSED)
def test_svcb_both_refuse(rdata: str, tmp_path: Path):
    path = tmp_path / "top.zone"
    path.write_text(f"$TTL 60\ns SVCB {rdata}\n")
    with pytest.raises(dns.exception.DNSException):
        read_theirs(path, CORPUS_ORIGIN, tmp_path)
    with pytest.raises(ZoneError) as info:
        read_ours(path, CORPUS_ORIGIN)
    assert info.value.line == 2


@pytest.mark.parametrize("tokens,wire", [
    (['alpn="h2,h3"'], "0001000602683202683" "3"),
    (["alpn=h2,h3"], "00010006026832026833"),
    (["alpn=", Glued('"h2,h3"')], "00010006026832026833"),
    (["port=53", "alpn=h2"], "00010003026832" "000300020035"),
    ([], ""),
])
def test_svc_params_token_forms(tokens: list[str], wire: str):
    assert svc_params(tokens).hex() == wire


def test_svc_params_refuses_whitespace_after_equals():
    with pytest.raises(RdataError, match="after '='"):
        svc_params(["alpn=", '"h2"'])  # a plain str: whitespace came between
