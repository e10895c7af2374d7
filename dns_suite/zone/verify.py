"""Verify a signed zone: signatures valid at a time, keys, and a complete denial chain (pure).

RFC 4035 §5.3 (checking an RRSIG: signer is the apex, key tag and algorithm match a zone key,
inception <= time <= expiration, the signature verifies over the canonical RRset, RFC 4034
§3.1.8.1 and §6), RFC 4034 §2 (DNSKEY flags: ZONE, SEP, REVOKE), RFC 4035 §2.2 (which RRsets
are signed: every authoritative RRset, not the NS RRset at a delegation, not glue), RFC 5155 §8
(the NSEC3 chain, in :mod:`dns_suite.zone.nsecchain`), RFC 4035 §5.2 and RFC 6840 §5.2 (an
unsupported algorithm makes data insecure, not bogus: a warning here).

How it works: :func:`verify_zone` reads the apex DNSKEY RRset into :class:`ZoneKey` objects
(dnspython's ``dns.dnssecalgs`` public keys, made once per key), sorts the zone's names into
authoritative names, delegations, NSEC3 owners and what lies below a cut (a
:class:`~dns_suite.zone.nsecchain.Namespace`), then checks each RRset that must be signed
against the RRSIGs at its owner covering its type. The signed data is built here from the
zone's wire rdata and verified with the key objects; a signature that fails that way is checked
once more by ``dns.dnssec.validate_rrsig`` before it is reported, so a verdict of "bad signature"
is always dnspython's. The NSEC or NSEC3 chain is checked last.

Each problem is a :class:`~dns_suite.zone.model.Problem` whose reason starts ``OWNER/TYPE:``,
with line 0 and ``owner`` set (the loader finds the line). Time is seconds since the epoch,
passed in.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import datetime, timezone

import dns.dnssec
import dns.dnssecalgs
import dns.exception
import dns.name
import dns.rdata
import dns.rdataset
import dns.rrset

from dns_suite.wire.errors import WireError
from dns_suite.wire.name import Name, decode_name
from dns_suite.wire.rdata import rdata_names
from dns_suite.zone.model import Problem, RRset, Zone
from dns_suite.zone.nsec import hashed_node
from dns_suite.zone.nsecchain import (DS, NSEC, NSEC3, RRSIG, Namespace, check_nsec, check_nsec3,
                                      nsec3_params, type_name)

DNSKEY = 48
ZONE_FLAG, REVOKE_FLAG, SEP_FLAG = 0x0100, 0x0080, 0x0001
LOWERCASED = frozenset({2, 3, 4, 5, 6, 7, 8, 9, 12, 14, 15, 17, 18, 21, 24, 26, 30, 33, 35, 36,
                        38, 39})
"""Types whose rdata names are lowercased in canonical form (RFC 4034 §6.2 as amended by RFC
6840 §5.1: not NSEC's, and RRSIG sets are never signed)."""
_POLICY = dns.dnssec.SimpleDeny(set(), set(), set(), set())  # check every algorithm dnspython can


class TimeError(ValueError):
    """A ``--time`` value that is neither YYYYMMDDHHMMSS nor seconds since the epoch."""


def parse_time(text: str) -> int:
    """A time as RFC 4034 §3.2 writes it (YYYYMMDDHHMMSS, UTC) or as seconds since the epoch.

    Args:
        text: 14 digits, or fewer digits (epoch seconds).

    Returns:
        Seconds since the epoch.

    Raises:
        TimeError: anything else, or a 14-digit value that is no date.
    """
    text = text.strip()
    if not text.isdigit():
        raise TimeError(f"bad time {text!r}: want YYYYMMDDHHMMSS or seconds since the epoch")
    if len(text) != 14:
        return int(text)
    try:
        when = datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
    except ValueError:
        raise TimeError(f"bad time {text!r}: not a date") from None
    return int(when.timestamp())


def format_time(seconds: int) -> str:
    """Seconds since the epoch as YYYYMMDDHHMMSS (UTC, RFC 4034 §3.2)."""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y%m%d%H%M%S")


@dataclass(frozen=True, slots=True, kw_only=True)
class ZoneKey:
    """One DNSKEY of the apex.

    Attributes:
        tag: key tag (RFC 4034 Appendix B).
        algorithm: DNSKEY algorithm number.
        flags: the flags field (ZONE 0x0100, REVOKE 0x0080, SEP 0x0001).
        public: dnspython's public key (``verify(signature, data)``), None when unusable.
        unusable: why it cannot verify (not a zone key, revoked, unsupported, malformed), or "".
        rdata: dnspython's DNSKEY rdata.
    """

    tag: int
    algorithm: int
    flags: int
    public: object | None
    unusable: str
    rdata: object

    @property
    def sep(self) -> bool:
        """The Secure Entry Point flag (RFC 4034 §2.1.1)."""
        return bool(self.flags & SEP_FLAG)


def zone_keys(rdatas: tuple[bytes, ...]) -> list[ZoneKey]:
    """The apex DNSKEY rdatas as :class:`ZoneKey` objects (RFC 4034 §2.1, §2.2)."""
    keys = []
    for rd in rdatas:
        try:
            key = dns.rdata.from_wire(1, DNSKEY, rd, 0, len(rd))
        except dns.exception.DNSException:
            continue
        public, unusable = None, ""
        if not key.flags & ZONE_FLAG or key.protocol != 3:
            unusable = "not a zone key"
        elif key.flags & REVOKE_FLAG:
            unusable = "revoked"
        else:
            try:
                public = dns.dnssecalgs.get_algorithm_cls_from_dnskey(key).public_cls.from_dnskey(key)
            except dns.dnssec.UnsupportedAlgorithm:
                unusable = "unsupported algorithm"
            except (dns.exception.DNSException, ValueError, TypeError):
                unusable = "malformed public key"
        keys.append(ZoneKey(tag=dns.dnssec.key_id(key), algorithm=key.algorithm, flags=key.flags,
                            public=public, unusable=unusable, rdata=key))
    return keys


@dataclass(slots=True, kw_only=True)
class Report:
    """What :func:`verify_zone` found.

    Attributes:
        problems: errors and warnings, in zone order, then the chain's.
        denial: ``"NSEC"``, ``"NSEC3"`` or ``""`` (no chain found).
        rrsets: RRsets whose signatures were checked.
        signatures: signatures verified.
        dnskey_signers: key tags whose signature over the DNSKEY RRset verifies, with "(SEP)"
            after the SEP ones.
        signed: the apex has a DNSKEY RRset.
    """

    problems: list[Problem] = field(default_factory=list)
    denial: str = ""
    rrsets: int = 0
    signatures: int = 0
    dnskey_signers: list[str] = field(default_factory=list)
    signed: bool = False

    @property
    def errors(self) -> int:
        """How many problems are errors."""
        return sum(p.severity == "error" for p in self.problems)


def _problem(key: bytes, rrtype: int, reason: str, severity: str = "error") -> Problem:
    owner = Name(key, key)
    return Problem(severity=severity, file="", line=0, owner=owner, rrtype=rrtype,
                   reason=f"{owner}/{type_name(rrtype)}: {reason}")


def namespace(zone: Zone) -> Namespace:
    """Sort the zone's names for DNSSEC (RFC 4035 §2.2, RFC 5155 §7.1): see :class:`Namespace`."""
    okey, cuts = zone.origin.key, zone.cuts
    olen = len(okey)

    def below_cut(key: bytes) -> bool:
        k = key[key[0] + 1:]
        while len(k) > olen:
            if k in cuts:
                return True
            k = k[k[0] + 1:]
        return False

    names = tuple(k for k, first in zone.nodes.items()
                  if not hashed_node(first) and not (cuts and below_cut(k)))
    secure = frozenset(c for c in cuts if zone.get(c, DS) is not None)
    ents = frozenset(e for e in zone.ents if not (cuts and below_cut(e)))
    needed: set[bytes] = set()
    for key in names:
        if key in cuts and key not in secure:
            continue
        k = key[key[0] + 1:]
        while k in ents and k not in needed:
            needed.add(k)
            k = k[k[0] + 1:]
    return Namespace(names=names, cuts=frozenset(cuts), secure_cuts=secure, ents=ents,
                     needed_ents=frozenset(needed))


def verify_zone(zone: Zone, *, now: int, require: bool = False) -> Report:
    """Verify ``zone``'s DNSSEC data at the time ``now``.

    Args:
        zone: the loaded zone.
        now: seconds since the epoch at which signatures must be valid.
        require: report an error when the apex has no DNSKEY RRset (otherwise an unsigned zone
            gives an empty report with ``signed`` False).

    Returns:
        A :class:`Report`. Nothing is raised for bad data: it is all in ``problems``.
    """
    report = Report()
    okey = zone.origin.key
    dnskeys = zone.get(okey, DNSKEY)
    if dnskeys is None:
        if require:
            report.problems.append(_problem(okey, DNSKEY, "no DNSKEY RRset at the apex: the "
                                            "zone is not signed"))
        return report
    report.signed = True
    checker = _Checker(zone, zone_keys(dnskeys.rdatas), now, report)
    space = namespace(zone)
    checker.check_keys()
    for key in space.names:
        checker.check_node(key, "cut" if key in space.cuts else "name")
    for key, first in zone.nodes.items():
        if hashed_node(first):
            checker.check_node(key, "hashed")
    _check_chain(zone, space, report)
    return report


def _check_chain(zone: Zone, space: Namespace, report: Report) -> None:
    """The NSEC3 chain when the apex has an NSEC3PARAM, else the NSEC chain."""
    okey = zone.origin.key
    params = nsec3_params(zone)
    if params is not None:
        report.denial = "NSEC3"
        if params.algorithm != 1:
            report.problems.append(_problem(okey, 51, f"NSEC3 hash algorithm {params.algorithm}"
                                            " unsupported: chain not checked", "warning"))
        else:
            report.problems.extend(check_nsec3(zone, space, params))
    elif zone.get(okey, NSEC) is not None:
        report.denial = "NSEC"
        report.problems.extend(check_nsec(zone, space))
    else:
        report.problems.append(_problem(okey, NSEC, "neither an NSEC record nor an NSEC3PARAM "
                                        "at the apex: no denial of existence chain"))


class _Checker:
    """Checks the signatures of a zone's RRsets with its keys (RFC 4035 §5.3)."""

    def __init__(self, zone: Zone, keys: list[ZoneKey], now: int, report: Report) -> None:
        self.zone, self.keys, self.now, self.report = zone, keys, now, report
        self.by_tag: dict[tuple[int, int], list[ZoneKey]] = {}
        for k in keys:
            self.by_tag.setdefault((k.tag, k.algorithm), []).append(k)
        self.okey, self.rrclass = zone.origin.key, zone.rrclass
        self.apex = dns.name.from_wire(self.okey, 0)[0]
        self.keyset = dns.rdataset.from_rdata_list(0, [k.rdata for k in keys])

    def check_keys(self) -> None:
        """Warn about each zone key that cannot verify (revoked, unsupported, malformed)."""
        for k in self.keys:
            if k.unusable and k.unusable != "not a zone key":
                self.report.problems.append(_problem(
                    self.okey, DNSKEY, f"key {k.tag} (algorithm {k.algorithm}): {k.unusable}",
                    "warning"))

    def check_node(self, key: bytes, kind: str) -> None:
        """Check every RRset at ``key`` that must be signed: all but RRSIG at a name, DS and
        NSEC at a delegation (RFC 4035 §2.2), NSEC3 at an NSEC3 owner."""
        sigs: dict[int, list[bytes]] = {}
        first = self.zone.nodes[key]
        r = first
        while r is not None:
            if r.rrtype == RRSIG:
                for rd in r.rdatas:
                    sigs.setdefault(int.from_bytes(rd[:2], "big"), []).append(rd)
            r = r.next
        for r in first.chain():
            t = r.rrtype
            if t == RRSIG or (kind == "cut" and t not in (DS, NSEC)):
                continue
            self._check_rrset(key, r, sigs.pop(t, []))
        for t in sigs:
            there = self.zone.get(key, t) is not None
            why = ("signs the NS RRset of a delegation (the child signs it)" if there else
                   f"covers {type_name(t)}, which {Name(key, key)} does not own")
            self.report.problems.append(_problem(key, RRSIG, why, "warning"))

    def _check_rrset(self, key: bytes, rrset: RRset, sigs: list[bytes]) -> None:
        self.report.rrsets += 1
        if not sigs:
            self.report.problems.append(_problem(key, rrset.rrtype, "no signature (no RRSIG "
                                                 "covers it)"))
            return
        dnskey = rrset.rrtype == DNSKEY and key == self.okey
        failures: list[tuple[str, str]] = []
        valid: list[ZoneKey] = []
        for sig in sigs:
            verdict = self._check_sig(key, rrset, sig)
            if isinstance(verdict, ZoneKey):
                self.report.signatures += 1
                valid.append(verdict)
                if not dnskey:
                    return
            else:
                failures.append(verdict)
        if valid:
            self._dnskey_signers(valid)
            return
        severity = "warning" if all(f[0] == "unsupported algorithm" for f in failures) else "error"
        reason = "; ".join(f"{kind} ({detail})" for kind, detail in failures)
        self.report.problems.append(_problem(key, rrset.rrtype, reason, severity))

    def _dnskey_signers(self, valid: list[ZoneKey]) -> None:
        self.report.dnskey_signers = [f"{k.tag}{' (SEP)' if k.sep else ''}" for k in valid]
        if not any(k.sep for k in valid):
            tags = ", ".join(str(k.tag) for k in valid)
            self.report.problems.append(_problem(self.okey, DNSKEY, "signed by no key with the "
                                                 f"SEP flag, only by key {tags}", "warning"))

    def _check_sig(self, key: bytes, rrset: RRset, sig: bytes) -> ZoneKey | tuple[str, str]:
        """The key whose signature ``sig`` verifies, or (reason kind, detail)."""
        if len(sig) < 19:
            return "bad signature", "malformed RRSIG"
        _t, alg, labels, ttl, expire, incept, tag = struct.unpack("!HBBIIIH", sig[:18])
        try:
            signer, end = decode_name(sig, 18, len(sig), decompress=False)
        except WireError:
            return "bad signature", "malformed RRSIG signer"
        by = f"RRSIG by key {tag}, algorithm {alg}"
        if signer.key != self.okey:
            return "no matching key", f"{by}: signer {signer} is not the apex"
        keys = self.by_tag.get((tag, alg))
        if not keys:
            return "no matching key", f"{by}: no such DNSKEY at the apex"
        usable = [k for k in keys if k.public is not None]
        if not usable:
            why = keys[0].unusable
            kind = "unsupported algorithm" if why == "unsupported algorithm" else "no matching key"
            return kind, f"{by}: the key is {why}"
        if expire < self.now:
            return "expired", f"{by} expired at {format_time(expire)}"
        if incept > self.now:
            return "not yet valid", f"{by} valid from {format_time(incept)}"
        owner = _signed_owner(key, labels)
        if owner is None:
            return "bad signature", f"{by}: labels field {labels} exceeds the owner's"
        data = _signed_data(sig[:18] + sig[18:end].lower(), owner, rrset, ttl, self.rrclass)
        for k in usable:
            try:
                k.public.verify(sig[end:], data)
                return k
            except (dns.dnssec.InvalidSignature, ValueError, TypeError):
                continue
        found = self._confirm(key, rrset, sig, usable)
        return found if found is not None else ("bad signature", f"{by} does not verify")

    def _confirm(self, key: bytes, rrset: RRset, sig: bytes, usable: list[ZoneKey]) -> ZoneKey | None:
        """dnspython's verdict on a signature that failed above (``dns.dnssec.validate_rrsig``)."""
        name = dns.name.from_wire(key, 0)[0]
        rdatas = [dns.rdata.from_wire(self.rrclass, rrset.rrtype, rd, 0, len(rd)) for rd in rrset.rdatas]
        rrsig = dns.rdata.from_wire(self.rrclass, RRSIG, sig, 0, len(sig))
        for k in usable:
            keyset = dns.rdataset.from_rdata_list(0, [k.rdata])
            try:
                dns.dnssec.validate_rrsig((name, dns.rdataset.from_rdata_list(rrset.ttl, rdatas)),
                                          rrsig, {self.apex: keyset}, now=self.now, policy=_POLICY)
                return k
            except (dns.dnssec.ValidationFailure, dns.exception.DNSException):
                continue
        return None


def _signed_owner(key: bytes, labels: int) -> bytes | None:
    """The owner as signed (RFC 4035 §5.3.2): the lowercased name, or ``*.`` and its last
    ``labels`` labels when the RRSIG was made over a wildcard; None when ``labels`` is too big."""
    offsets = []
    pos = 0
    while key[pos]:
        offsets.append(pos)
        pos += key[pos] + 1
    count = len(offsets) - (key[:2] == b"\x01*")
    if labels > count:
        return None
    if labels == count:
        return key
    return b"\x01*" + key[offsets[len(offsets) - labels]:] if labels else b"\x01*\x00"


def _signed_data(head: bytes, owner: bytes, rrset: RRset, ttl: int, rrclass: int) -> bytes:
    """RFC 4034 §3.1.8.1: the RRSIG rdata before the signature, then each RR of the RRset in
    canonical form (§6.2) and canonical order (§6.3), with the RRSIG's original TTL."""
    rrtype = rrset.rrtype
    rrhead = owner + struct.pack("!HHI", rrtype, rrclass, ttl)
    rdatas = rrset.rdatas
    if rrtype in LOWERCASED:
        rdatas = tuple(_lowercase_names(rrtype, rd) for rd in rdatas)
    parts = [head]
    for rd in sorted(set(rdatas)):
        parts.append(rrhead + len(rd).to_bytes(2, "big") + rd)
    return b"".join(parts)


def _lowercase_names(rrtype: int, rdata: bytes) -> bytes:
    """The rdata with the names inside it lowercased (RFC 4034 §6.2, item 3)."""
    try:
        names = rdata_names(rrtype, rdata)
    except WireError:
        return rdata
    for at, name in names:
        end = at + len(name.wire)
        rdata = rdata[:at] + rdata[at:end].lower() + rdata[end:]
    return rdata
