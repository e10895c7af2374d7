"""``dns-suite check-zone`` on signed zones (zone/verify.py, zone/nsecchain.py; issue 9 item 3).

Zones are keyed and signed here, in a temporary directory, by ldns-signzone and dnssec-signzone
with NSEC, NSEC3 and NSEC3 opt-out. The clean ones verify with no problem, and ldns-verify-zone
and dnssec-verify accept them too. Then each broken variant of :data:`BROKEN` (one edit of an
ldns-signed zone's text, one record a line) must be reported with the right owner, type and
reason and a non-zero exit code, and ldns-verify-zone must reject it as well.
"""

from __future__ import annotations

import base64
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from dns_suite.wire.name import Name
from dns_suite.zone.loader import load_zone
from dns_suite.zone.nsec import b32hex, nsec3_hash
from dns_suite.zone.verify import TimeError, format_time, parse_time, verify_zone

REPO = Path(__file__).resolve().parents[2]
SIGN_AT = ["-i", "20240101000000", "-e", "20350101000000"]  # inception, expiration (UTC)
NOW = "20300101000000"
AFTER = "20350102000000"  # past every expiration
BEFORE = "20231231000000"  # before every inception

BODY = """$TTL 3600
@ SOA ns1 hostmaster 1 7200 3600 1209600 300
@ NS ns1
@ NS ns2.example.net.
@ MX 10 Mail
ns1 A 192.0.2.1
mail A 192.0.2.25
Www A 192.0.2.80
www AAAA 2001:db8::80
cname CNAME WWW
srv SRV 0 0 5060 Www
dn DNAME Tgt.example.net.
*.wild TXT "wildcard"
a.b.ent TXT "below an empty non-terminal"
secure NS ns.secure
secure DS 11111 13 2 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
ns.secure A 192.0.2.53
insecure NS ns.insecure
ns.insecure A 192.0.2.54
d.ent2 NS ns1
"""


@dataclass(frozen=True)
class Signing:
    """One zone: its origin, the signer (ldns or bind), the denial (nsec, nsec3, optout), the
    key algorithm."""

    origin: str
    signer: str
    denial: str
    algorithm: str


SIGNINGS = [
    Signing("nsec.ldns.test.", "ldns", "nsec", "ECDSAP256SHA256"),
    Signing("nsec3.ldns.test.", "ldns", "nsec3", "RSASHA256"),
    Signing("optout.ldns.test.", "ldns", "optout", "ED25519"),
    Signing("nsec.bind.test.", "bind", "nsec", "ECDSAP384SHA384"),
    Signing("nsec3.bind.test.", "bind", "nsec3", "ECDSAP256SHA256"),
    Signing("optout.bind.test.", "bind", "optout", "RSASHA256"),
]


def _run(argv: list[str], cwd: Path) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(argv)}: {done.stdout}{done.stderr}"
    return done.stdout


def _sign(s: Signing, d: Path) -> Path:
    """Key and sign ``s`` in ``d``; returns the signed file (one record a line)."""
    d.mkdir()
    src, out = d / "zone", d / "zone.signed"
    src.write_text(f"$ORIGIN {s.origin}\n{BODY}")
    size = ["-b", "2048"] if s.algorithm.startswith("RSA") else []
    if s.signer == "ldns":
        ksk = _run(["ldns-keygen", "-a", s.algorithm, *size, "-k", s.origin], d).strip()
        zsk = _run(["ldns-keygen", "-a", s.algorithm, *size, s.origin], d).strip()
        nsec3 = [] if s.denial == "nsec" else ["-n", "-t", "1", "-s", "beef"]
        optout = ["-p"] if s.denial == "optout" else []
        _run(["ldns-signzone", *SIGN_AT, *nsec3, *optout, "-o", s.origin, "-f", str(out),
              str(src), zsk, ksk], d)
    else:
        for ksk in (["-f", "KSK"], []):
            _run(["dnssec-keygen", "-q", "-K", str(d), "-a", s.algorithm, *size, *ksk,
                  "-n", "ZONE", s.origin], d)
        nsec3 = [] if s.denial == "nsec" else ["-3", "beef", "-H", "1"]
        optout = ["-A"] if s.denial == "optout" else []
        _run(["dnssec-signzone", "-q", "-S", "-K", str(d), "-s", SIGN_AT[1], "-e", SIGN_AT[3],
              *nsec3, *optout, "-O", "full", "-o", s.origin, "-f", str(out), str(src)], d)
    return out


@pytest.fixture(scope="module")
def signed(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("signed")
    return {s.origin: _sign(s, root / s.origin.rstrip(".")) for s in SIGNINGS}


def check_zone(origin: str, path: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(["dns-suite", "check-zone", origin, str(path), "--time", NOW, *extra],
                          capture_output=True, text=True, timeout=300)


def ldns_verify(path: Path, when: str = NOW) -> subprocess.CompletedProcess:
    return subprocess.run(["ldns-verify-zone", "-t", when, str(path)], capture_output=True,
                          text=True, timeout=300)


# --- clean zones ---------------------------------------------------------------------------

@pytest.mark.parametrize("s", SIGNINGS, ids=[s.origin for s in SIGNINGS])
def test_clean_zone_verifies(signed, s):
    path = signed[s.origin]
    done = check_zone(s.origin, path)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    denial = "NSEC" if s.denial == "nsec" else "NSEC3"
    assert f"DNSSEC verified at {NOW}" in done.stdout and f"{denial} chain" in done.stdout
    assert "(SEP)" in done.stdout, done.stdout  # the DNSKEY RRset is signed by the KSK
    assert ldns_verify(path).returncode == 0
    peer = subprocess.run(["dnssec-verify", "-o", s.origin, str(path)], capture_output=True,
                          text=True, timeout=300)
    assert peer.returncode == 0, peer.stderr


def test_unsigned_zone_unchanged_unless_asked():
    example = REPO / "zones" / "example.test.zone"
    done = subprocess.run(["dns-suite", "check-zone", "example.test.", str(example)],
                          capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == "" and "DNSSEC" not in done.stdout
    asked = subprocess.run(["dns-suite", "check-zone", "example.test.", str(example), "--dnssec"],
                           capture_output=True, text=True)
    assert asked.returncode == 1
    assert "example.test./DNSKEY: no DNSKEY RRset at the apex" in asked.stderr


def test_no_dnssec_skips_verification(signed):
    done = check_zone("nsec.ldns.test.", signed["nsec.ldns.test."], "--time", AFTER,
                      "--no-dnssec")
    assert done.returncode == 0 and done.stderr == ""


def test_bad_time_is_a_usage_error(signed):
    done = check_zone("nsec.ldns.test.", signed["nsec.ldns.test."], "--time", "20301301000000")
    assert done.returncode == 2 and "not a date" in done.stderr


def test_epoch_seconds_and_date_agree(signed):
    epoch = "1893456000"  # 2030-01-01T00:00:00Z
    done = check_zone("nsec.ldns.test.", signed["nsec.ldns.test."], "--time", epoch)
    assert done.returncode == 0 and f"at {NOW}" in done.stdout


# --- broken variants -------------------------------------------------------------------------

Edit = Callable[[list[str], str], list[str]]


def _fields(line: str) -> list[str]:
    return line.split()


def _is(line: str, owner: str, rrtype: str, covered: str | None = None) -> bool:
    f = _fields(line)
    if len(f) < 5 or f[0].lower() != owner.lower() or f[3] != rrtype:
        return False
    return covered is None or f[4] == covered


def _drop(owner: str, rrtype: str, covered: str | None = None) -> Edit:
    def edit(lines: list[str], origin: str) -> list[str]:
        name = owner + origin
        kept = [ln for ln in lines if not _is(ln, name, rrtype, covered)]
        assert len(kept) < len(lines), (name, rrtype, covered)
        return kept
    return edit


def _flip_signature(owner: str, covered: str) -> Edit:
    def edit(lines: list[str], origin: str) -> list[str]:
        out = []
        for ln in lines:
            if _is(ln, owner + origin, "RRSIG", covered):
                head, sig = ln.rsplit(None, 1)
                raw = bytearray(base64.b64decode(sig))
                raw[len(raw) // 2] ^= 0x01
                ln = f"{head} {base64.b64encode(bytes(raw)).decode()}"
            out.append(ln)
        return out
    return edit


def _add(line: str) -> Edit:
    def edit(lines: list[str], origin: str) -> list[str]:
        return lines + [line.format(origin=origin)]
    return edit


def _drop_nsec3_of(owner: str) -> Edit:
    """Drop the NSEC3 (and its RRSIG) of the name ``owner`` (relative)."""
    def edit(lines: list[str], origin: str) -> list[str]:
        hashed = _hashed_owner(owner + origin, origin)
        kept = [ln for ln in lines if _fields(ln)[:1] != [hashed]]
        assert len(kept) < len(lines)
        return kept
    return edit


def _hashed_owner(name: str, origin: str) -> str:
    key = Name.from_text(name).key
    return f"{b32hex(nsec3_hash(key, bytes.fromhex('beef'), 1))}.{origin}"


TIMED = ("ldns-verify-zone",)  # dnssec-verify takes no time: it checks at the real clock


@dataclass(frozen=True)
class Broken:
    """A broken variant: the zone it edits, the edit, the time, what must be reported."""

    name: str
    origin: str
    edit: Edit
    expected: tuple[str, ...]  # substrings of error lines (owner/TYPE: reason), each present
    when: str = NOW
    peers: tuple[str, ...] = ("ldns-verify-zone", "dnssec-verify")  # must reject it too


BROKEN = [
    Broken("flipped signature byte", "nsec.ldns.test.", _flip_signature("www.", "AAAA"),
           ("www.nsec.ldns.test./AAAA: bad signature (RRSIG by key",)),
    Broken("flipped signature byte, nsec3", "nsec3.ldns.test.", _flip_signature("mail.", "A"),
           ("mail.nsec3.ldns.test./A: bad signature",)),
    Broken("expired", "nsec.ldns.test.", lambda lines, origin: lines,
           ("www.nsec.ldns.test./AAAA: expired (RRSIG by key", "expired at 20350101000000",
            "nsec.ldns.test./DNSKEY: expired"), when=AFTER, peers=TIMED),
    Broken("not yet valid", "nsec3.ldns.test.", lambda lines, origin: lines,
           ("mail.nsec3.ldns.test./A: not yet valid (RRSIG by key",
            "valid from 20240101000000"), when=BEFORE, peers=TIMED),
    Broken("rrsig removed", "nsec.ldns.test.", _drop("mail.", "RRSIG", "A"),
           ("mail.nsec.ldns.test./A: no signature",)),
    Broken("rrsig removed, opt-out", "optout.ldns.test.", _drop("cname.", "RRSIG", "CNAME"),
           ("cname.optout.ldns.test./CNAME: no signature",)),
    Broken("nsec removed", "nsec.ldns.test.", _drop("mail.", "NSEC"),
           ("mail.nsec.ldns.test./NSEC: no NSEC record: the NSEC chain is broken",)),
    Broken("nsec3 removed", "nsec3.ldns.test.", _drop_nsec3_of("mail."),
           ("mail.nsec3.ldns.test./NSEC3: no NSEC3 record for hash",
            "/NSEC3: next hashed owner is")),
    Broken("nsec3 of an insecure delegation removed, no opt-out", "nsec3.ldns.test.",
           _drop_nsec3_of("insecure."),
           ("insecure.nsec3.ldns.test./NSEC3: insecure delegation without NSEC3",
            "has no opt-out flag")),
    Broken("record not in the nsec bitmap", "nsec.ldns.test.",
           _add('www.{origin} 3600 IN TXT "added"'),
           ("www.nsec.ldns.test./NSEC: type bitmap omits TXT",
            "www.nsec.ldns.test./TXT: no signature")),
    Broken("record not in the nsec3 bitmap", "optout.ldns.test.",
           _add('mail.{origin} 3600 IN TXT "added"'),
           ("/NSEC3: (for mail.optout.ldns.test.) type bitmap omits TXT",
            "mail.optout.ldns.test./TXT: no signature")),
    Broken("ds without signature", "nsec.ldns.test.", _drop("secure.", "RRSIG", "DS"),
           ("secure.nsec.ldns.test./DS: no signature",)),
    Broken("ds without signature, nsec3", "nsec3.ldns.test.", _drop("secure.", "RRSIG", "DS"),
           ("secure.nsec3.ldns.test./DS: no signature",)),
    Broken("ds removed: the bitmap lists it", "nsec.ldns.test.", _drop("secure.", "DS"),
           ("secure.nsec.ldns.test./NSEC: type bitmap lists DS not present",),
           peers=("dnssec-verify",)),  # ldns-verify-zone 1.8 does not compare bitmaps
]


@pytest.mark.parametrize("case", BROKEN, ids=[c.name for c in BROKEN])
def test_broken_zone_is_reported(signed, tmp_path, case):
    lines = [ln for ln in signed[case.origin].read_text().splitlines()
             if ln.strip() and not ln.startswith(";")]
    path = tmp_path / "zone.broken"
    path.write_text("\n".join(case.edit(lines, case.origin)) + "\n")
    done = check_zone(case.origin, path, "--time", case.when)
    errors = [ln for ln in done.stderr.splitlines() if ": error: " in ln]
    assert done.returncode == 1, done.stdout + done.stderr
    for want in case.expected:
        assert any(want in ln for ln in errors), (want, done.stderr)
    assert all(ln.startswith(f"{path}:") for ln in errors), done.stderr
    for peer in case.peers:
        if peer == "ldns-verify-zone":
            done = ldns_verify(path, case.when)
        else:
            done = subprocess.run([peer, "-o", case.origin, str(path)], capture_output=True,
                                  text=True, timeout=300)
        assert done.returncode != 0, (peer, done.stdout + done.stderr)


# --- in process: unsupported algorithms, times ------------------------------------------------

UNSUPPORTED = """$ORIGIN u.test.
@ 60 SOA ns.other.test. h 1 2 3 4 5
@ 60 NS ns.other.test.
@ 60 DNSKEY 257 3 200 AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3
@ 60 NSEC u.test. SOA NS RRSIG NSEC DNSKEY
""" + "".join(f"@ 60 RRSIG {t} 200 2 60 20350101000000 20240101000000 45918 u.test. AAAA\n"
              for t in ("SOA", "NS", "DNSKEY", "NSEC"))


def test_unsupported_algorithm_is_a_warning(tmp_path):
    path = tmp_path / "u.zone"
    path.write_text(UNSUPPORTED)
    zone = load_zone("u.test.", str(path)).zone
    report = verify_zone(zone, now=parse_time(NOW))
    assert report.errors == 0 and report.denial == "NSEC"
    reasons = sorted(p.reason for p in report.problems if p.severity == "warning")
    assert [r.split(":")[0] for r in reasons] == ["u.test./DNSKEY", "u.test./DNSKEY", "u.test./NS",
                                                  "u.test./NSEC", "u.test./SOA"], reasons
    assert "key 45918 (algorithm 200): unsupported algorithm" in reasons[0]
    assert all("unsupported algorithm (RRSIG by key 45918" in r for r in reasons[1:])


@pytest.mark.parametrize("text,seconds", [
    ("20300101000000", 1893456000), ("1893456000", 1893456000), ("0", 0),
    ("20240229235959", 1709251199), ("19700101000000", 0),
])
def test_parse_time(text, seconds):
    assert parse_time(text) == seconds
    if len(text) == 14:
        assert format_time(seconds) == text


@pytest.mark.parametrize("text", ["2030-01-01", "20230229000000", "20301301000000", "", "-5"])
def test_parse_time_rejects(text):
    with pytest.raises(TimeError):
        parse_time(text)


def test_error_lines_are_the_rrsets_own_and_an_ents_first_descendants(signed, tmp_path):
    """QA item 5: an error is on the line of its RRset's first record (not the owner's first
    record, the SOA at line 1), an empty non-terminal's on the line of the first record below
    it, never line 0; the summary names the DNSKEY signers readably."""
    origin = "nsec3.ldns.test."
    lines = [ln for ln in signed[origin].read_text().splitlines()
             if ln.strip() and not ln.startswith(";")]
    lines = _drop_nsec3_of("b.ent.")(_flip_signature("", "DNSKEY")(lines, origin), origin)
    path = tmp_path / "zone.broken"
    path.write_text("\n".join(lines) + "\n")
    done = check_zone(origin, path)
    assert done.returncode == 1
    dnskey = 1 + next(i for i, ln in enumerate(lines) if _is(ln, origin, "DNSKEY"))
    below = 1 + next(i for i, ln in enumerate(lines)
                     if _fields(ln)[0].lower().endswith(f".b.ent.{origin}"))
    assert dnskey > 1 and below > 1
    errors = [ln for ln in done.stderr.splitlines() if ": error: " in ln]
    assert any(ln.startswith(f"{path}:{dnskey}: error: {origin}/DNSKEY: bad signature")
               for ln in errors), done.stderr
    assert any(ln.startswith(f"{path}:{below}: error: b.ent.{origin}/NSEC3: no NSEC3 record "
                             "(empty non-terminal)") for ln in errors), done.stderr
    assert f"{path}:0:" not in done.stderr
    assert "DNSKEY signed by no valid key" in done.stdout, done.stdout
