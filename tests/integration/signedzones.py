"""Zones signed at test time for the DNSSEC differential test (test_dnssec_differential.py).

Each :class:`Signing` names an origin, a signer (``ldns``: ldns-keygen + ldns-signzone from
ldnsutils; ``bind``: dnssec-keygen + dnssec-signzone from bind9-utils), a denial method (NSEC,
NSEC3, NSEC3 with opt-out) and a key algorithm. :func:`sign_all` writes each zone's text (the
template :data:`BODY`: wildcards, empty non-terminals, an empty non-terminal wildcard, secure
and insecure delegations, delegations below empty non-terminals, sibling glue, DNAME within and
across zones, CNAME chains within and across zones and into an unsigned zone, a CNAME loop,
large RRsets), makes a KSK and a ZSK in a fresh directory, signs children before parents (a
served child's real DS goes into its parent), and returns the signed files with each zone's KSK
as a trust anchor for ``delv``.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from peers import ZoneSpec

LDNS_KEYGEN, LDNS_SIGNZONE = "ldns-keygen", "ldns-signzone"
BIND_KEYGEN, BIND_SIGNZONE, BIND_DSFROMKEY = "dnssec-keygen", "dnssec-signzone", "dnssec-dsfromkey"
PROGRAMS = (LDNS_KEYGEN, LDNS_SIGNZONE, BIND_KEYGEN, BIND_SIGNZONE, BIND_DSFROMKEY)
FAKE_DS = "{tag} 13 2 " + "{digit}" * 64

# The zone template; {other} is another signed zone (cross-zone CNAME and DNAME targets).
BODY = """$TTL 3600
@ SOA ns1 hostmaster 2024010101 7200 3600 1209600 300
@ NS ns1
@ NS ns2.example.net.
@ MX 10 mail
@ TXT "apex of {origin}"
ns1 A 192.0.2.1
ns1 AAAA 2001:db8::1
mail A 192.0.2.25
mail AAAA 2001:db8::25
www A 192.0.2.80
www AAAA 2001:db8::80
www TXT "hello"
www5m 300 A 192.0.2.81
_443._tcp.www TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
caa CAA 0 issue "ca.example"
mx MX 10 mail
mx MX 20 www
srv SRV 0 0 5060 www
cname CNAME www
c1 CNAME c2
c2 CNAME c3
c3 CNAME www
cnx CNAME nothere
cext CNAME www.{other}
cextnx CNAME nothere.{other}
cuns CNAME www.example.test.
loop1 CNAME loop2
loop2 CNAME loop1
*.wild A 192.0.2.99
*.wild TXT "wildcard"
host.wild A 192.0.2.98
*.wc CNAME www
*.wnx CNAME nothere
a.b.ent TXT "below an empty non-terminal"
x.y.z.deep A 192.0.2.7
f.*.went A 192.0.2.8
dn DNAME tgt
www.tgt A 192.0.2.70
dnx DNAME {other}
secure NS ns.secure
ns.secure A 192.0.2.53
ns.secure AAAA 2001:db8::53
secure DS {fake_ds1}
insecure NS ns.insecure
insecure NS ns1
ns.insecure A 192.0.2.54
sibling NS ns.secure
d.ent2 NS ns1
sub.ent3 NS ns1
sub.ent3 DS {fake_ds2}
big TXT "{long}" "{long}"
big TXT "{long}" "1"
big TXT "{long}" "2"
big TXT "{long}" "3"
"""
CHILD_BODY = """$TTL 1800
@ SOA ns hostmaster 7 7200 3600 1209600 600
@ NS ns
ns A 192.0.2.60
www A 192.0.2.61
*.w A 192.0.2.62
a.e TXT "child ent"
"""
APEX_WILD_BODY = """$TTL 3600
@ SOA ns1 hostmaster 3 7200 3600 1209600 300
@ NS ns1
ns1 A 192.0.2.1
* TXT "apex wildcard"
* A 192.0.2.9
www A 192.0.2.80
sub NS ns1
"""


@dataclass(frozen=True)
class Signing:
    """How one zone is made and signed."""

    origin: str
    signer: str  # "ldns" or "bind"
    denial: str  # "nsec", "nsec3" or "optout"
    algorithm: str  # as the keygen programs spell it
    body: str = BODY
    other: str = ""  # the origin {other} stands for
    children: tuple[str, ...] = ()  # served child zones: their real DS go in at "<label> DS"
    salt: str = ""  # hex, "" for none
    iterations: int = 0


@dataclass
class Signed:
    """A signed zone: its file, its KSK's DNSKEY (the trust anchor) and DS RRs."""

    signing: Signing
    spec: ZoneSpec
    ksk_dnskey: str
    ds: list[str] = field(default_factory=list)


SIGNINGS = [
    Signing("nsec.ldns.test.", "ldns", "nsec", "RSASHA256", other="nsec3.ldns.test.",
            children=("child.nsec.ldns.test.",)),
    Signing("nsec3.ldns.test.", "ldns", "nsec3", "ECDSAP256SHA256", other="nsec.bind.test.",
            salt="aabbccdd", iterations=1),
    Signing("optout.ldns.test.", "ldns", "optout", "ED25519", other="nsec.ldns.test."),
    Signing("nsec.bind.test.", "bind", "nsec", "ECDSAP256SHA256", other="optout.bind.test."),
    Signing("nsec3.bind.test.", "bind", "nsec3", "RSASHA256", other="optout.ldns.test.",
            salt="0123", iterations=0),
    Signing("optout.bind.test.", "bind", "optout", "ECDSAP384SHA384", other="nsec3.bind.test.",
            children=("child.optout.bind.test.",)),
    Signing("child.nsec.ldns.test.", "ldns", "nsec3", "ECDSAP256SHA256", body=CHILD_BODY,
            salt="", iterations=0),
    Signing("child.optout.bind.test.", "bind", "nsec", "ED25519", body=CHILD_BODY),
    Signing("wild.bind.test.", "bind", "nsec3", "ECDSAP256SHA256", body=APEX_WILD_BODY,
            salt="beef", iterations=2),
]


def _run(argv: list[str], cwd: Path) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stdout}{done.stderr}")
    return done.stdout


def _text(s: Signing, ds_lines: list[str]) -> str:
    body = s.body.format(origin=s.origin, other=s.other, long="x" * 200,
                         fake_ds1=FAKE_DS.format(tag=11111, digit="a"),
                         fake_ds2=FAKE_DS.format(tag=22222, digit="b"))
    cuts = "".join(f"{c} NS ns.{c}\nns.{c} A 192.0.2.60\n" for c in s.children)
    return f"$ORIGIN {s.origin}\n{body}{cuts}" + "".join(line + "\n" for line in ds_lines)


def _keygen_ldns(s: Signing, d: Path) -> tuple[str, str]:
    size = ["-b", "2048"] if s.algorithm.startswith("RSA") else []
    ksk = _run([LDNS_KEYGEN, "-a", s.algorithm, *size, "-k", s.origin], d).strip()
    zsk = _run([LDNS_KEYGEN, "-a", s.algorithm, *size, s.origin], d).strip()
    return ksk, zsk


def _keygen_bind(s: Signing, d: Path) -> tuple[str, str]:
    size = ["-b", "2048"] if s.algorithm.startswith("RSA") else []
    ksk = _run([BIND_KEYGEN, "-q", "-K", str(d), "-a", s.algorithm, *size, "-f", "KSK",
                "-n", "ZONE", s.origin], d).strip()
    zsk = _run([BIND_KEYGEN, "-q", "-K", str(d), "-a", s.algorithm, *size, "-n", "ZONE",
                s.origin], d).strip()
    return ksk, zsk


def _sign_ldns(s: Signing, d: Path, src: Path, out: Path, ksk: str, zsk: str) -> None:
    argv = [LDNS_SIGNZONE, "-o", s.origin, "-f", str(out)]
    if s.denial != "nsec":
        argv += ["-n", "-t", str(s.iterations)]
        if s.salt:
            argv += ["-s", s.salt]
        if s.denial == "optout":
            argv.append("-p")
    _run(argv + [str(src), zsk, ksk], d)


def _sign_bind(s: Signing, d: Path, src: Path, out: Path) -> None:
    argv = [BIND_SIGNZONE, "-q", "-S", "-K", str(d), "-o", s.origin, "-f", str(out)]
    if s.denial != "nsec":
        argv += ["-3", s.salt or "-", "-H", str(s.iterations)]
        if s.denial == "optout":
            argv.append("-A")
    _run(argv + [str(src)], d)


def _ds_of(s: Signing, d: Path, ksk: str) -> list[str]:
    """DS RRs (SHA-256) of the KSK, as zone-file lines relative to nothing."""
    text = _run([BIND_DSFROMKEY, "-2", f"{ksk}.key"], d)
    return [line.strip() for line in text.splitlines() if " DS " in line]


def _dnskey_of(d: Path, ksk: str) -> str:
    for line in (d / f"{ksk}.key").read_text().splitlines():
        line = line.split(";", 1)[0].strip()
        if "DNSKEY" in line:
            return line
    raise RuntimeError(f"no DNSKEY in {ksk}.key")


def sign_all(root: Path, signings: list[Signing] = SIGNINGS) -> dict[str, Signed]:
    """Make, key and sign every zone of ``signings`` under ``root``; children first."""
    done: dict[str, Signed] = {}
    pending = list(signings)
    while pending:
        ready = [s for s in pending if all(c in done for c in s.children)]
        if not ready:
            raise RuntimeError(f"children never signed: {[s.origin for s in pending]}")
        for s in ready:
            pending.remove(s)
            d = root / s.origin.rstrip(".")
            d.mkdir(parents=True)
            ksk, zsk = (_keygen_ldns if s.signer == "ldns" else _keygen_bind)(s, d)
            ds_lines = [line for c in s.children for line in done[c].ds]
            src = d / "zone"
            src.write_text(_text(s, ds_lines))
            out = d / "zone.signed"
            if s.signer == "ldns":
                _sign_ldns(s, d, src, out, ksk, zsk)
            else:
                _sign_bind(s, d, src, out)
            done[s.origin] = Signed(s, ZoneSpec(s.origin, out), _dnskey_of(d, ksk),
                                    _ds_of(s, d, ksk))
    return done
