"""Aggressive use of the DNSSEC-validated cache (RFC 8198) on the signed lab (signedlab.py).

The lab's example. zone (NSEC, TTL 300, SOA MINIMUM 300) has this NSEC chain:
example. -> alias -> expired (NS DS) -> ns -> unsigned (NS, no DS) -> *.wild (TXT) -> www -> example.
"""

from __future__ import annotations

import dns.flags
import dns.rcode
import dns.rdatatype
import pytest

from dns_suite.resolver.aggressive import AggressiveNsec
from dns_suite.resolver.cache import Cache
from dns_suite.resolver.settings import Settings
from dns_suite.wire.message import RR
from dns_suite.wire.name import Name
from signedlab import NOW, Lab

AD = dns.flags.AD


def _types(section) -> set[str]:
    return {dns.rdatatype.to_text(rrset.rdtype) for rrset in section}


def _asked(lab: Lab, qname: str, qtype: str = "A", **kwargs):
    """(reply, upstream queries it took)."""
    before = lab.upstream
    reply = lab.ask(qname, qtype, **kwargs)
    return reply, lab.upstream - before


def _learned() -> Lab:
    """A lab whose resolver has validated the NXDOMAIN for nx.example. (NSEC ns -> unsigned)."""
    lab = Lab()
    first = lab.ask("nx.example.", do=True)
    assert first.rcode() == dns.rcode.NXDOMAIN and first.flags & AD
    return lab


def test_second_name_in_the_same_gap_is_nxdomain_without_upstream() -> None:
    lab = _learned()
    reply, upstream = _asked(lab, "nz.example.", do=True, now=1010.0)
    assert upstream == 0
    assert reply.rcode() == dns.rcode.NXDOMAIN and reply.flags & AD
    assert {"SOA", "NSEC", "RRSIG"} <= _types(reply.authority)
    nsec_owners = {r.name.to_text() for r in reply.authority if r.rdtype == dns.rdatatype.NSEC}
    assert nsec_owners == {"ns.example.", "example."}  # the gap, and *.example. covered by the apex's
    assert all(r.ttl <= 290 for r in reply.authority)  # min(MINIMUM 300, NSEC 300) - 10 s
    assert lab.resolver.validator.aggressive.synthesised == 1


def test_ad_without_do_gets_ad_and_no_proof() -> None:
    reply, upstream = _asked(_learned(), "oo.example.", ad=True, now=1001.0)
    assert upstream == 0
    assert reply.rcode() == dns.rcode.NXDOMAIN and reply.flags & AD
    assert _types(reply.authority) == {"SOA"}


@pytest.mark.parametrize(("qname", "qtype", "flags", "why"), [
    ("zzz.example.", "A", dict(do=True), "outside the cached gap (www -> apex)"),
    ("ny.example.", "A", dict(do=True, cd=True), "CD: no synthesis"),
    ("nz.example.", "A", dict(do=True, now=1000.0 + 301), "the NSEC has expired"),
    ("host.unsigned.example.", "A", dict(do=True), "below an insecure delegation"),
    ("ns.example.", "A", dict(do=True), "the type exists at the name"),
])
def test_goes_upstream(qname, qtype, flags, why) -> None:
    lab = _learned()
    _, upstream = _asked(lab, qname, qtype, **flags)
    assert upstream > 0, why
    assert lab.resolver.validator.aggressive.synthesised == 0, why


def test_cd_is_not_synthesised_but_validated_upstream() -> None:
    lab = _learned()
    reply, upstream = _asked(lab, "ny.example.", do=True, cd=True)
    assert upstream > 0 and lab.resolver.validator.aggressive.synthesised == 0
    assert reply.rcode() == dns.rcode.NXDOMAIN and reply.flags & AD  # validated though CD (as Unbound)


def test_nodata_from_the_nsec_at_the_name() -> None:
    lab = _learned()  # the NXDOMAIN's NSEC is owned by ns.example. (A RRSIG NSEC)
    reply, upstream = _asked(lab, "ns.example.", "TXT", do=True)
    assert upstream == 0
    assert reply.rcode() == dns.rcode.NOERROR and not reply.answer and reply.flags & AD
    assert {"SOA", "NSEC", "RRSIG"} <= _types(reply.authority)


def test_ds_nodata_at_an_insecure_delegation_from_the_parent_nsec() -> None:
    lab = _learned()
    lab.ask("unsigned.example.", "DS", do=True)  # NODATA: the NSEC at the cut (NS, no DS)
    reply, upstream = _asked(lab, "unsigned.example.", "DS", do=True, now=1001.0)
    assert upstream == 0 and reply.flags & AD  # (the cache's own NODATA entry)
    _, upstream = _asked(lab, "unsigned.example.", "TXT", do=True, now=1001.0)
    assert upstream > 0  # the parent side of a cut says nothing of the child's types


def test_wildcard_at_the_closest_encloser_blocks_nxdomain() -> None:
    lab = _learned()
    wild = lab.ask("b.wild.example.", "TXT", do=True)  # proof: the NSEC at *.wild.example.
    assert wild.answer and wild.flags & AD
    reply, upstream = _asked(lab, "c.wild.example.", "TXT", do=True)
    assert upstream > 0  # the wildcard would match: no NXDOMAIN (wildcard answers are not synthesised)
    assert reply.rcode() == dns.rcode.NOERROR and reply.answer
    nodata, upstream = _asked(lab, "d.wild.example.", "A", do=True)
    assert upstream == 0  # *.wild.example. has no A: wildcard NODATA (RFC 4035 §3.1.3.4)
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer and nodata.flags & AD


def test_insecure_zone_is_never_used() -> None:
    lab = Lab()
    assert lab.ask("nx.unsigned.example.", do=True).rcode() == dns.rcode.NXDOMAIN
    _, upstream = _asked(lab, "ny.unsigned.example.", do=True)
    assert upstream > 0
    assert not lab.resolver.validator.aggressive.zones


@pytest.mark.parametrize("settings", [dict(aggressive_nsec=False), dict(dnssec=False)], ids=["off", "no-dnssec"])
def test_setting_off(settings) -> None:
    lab = Lab(**settings)
    lab.ask("nx.example.", do=True)
    _, upstream = _asked(lab, "nz.example.", do=True)
    assert upstream > 0
    assert lab.resolver.validator.aggressive.synthesised == 0


def test_negative_trust_anchor_after_reconfigure() -> None:
    lab = _learned()
    resolver = lab.resolver
    settings = Settings(query_private=True, trust_anchors=resolver.settings.trust_anchors,
                        negative_trust_anchors=("example.",))
    resolver.reconfigure(settings, resolver.iteration.hints)
    reply, upstream = _asked(lab, "nz.example.", do=True)
    assert upstream > 0 and not reply.flags & AD


# --- the index on its own ------------------------------------------------------------------------

def _rr(owner: str, rrtype: int, rdata: bytes, ttl: int = 300) -> RR:
    return RR(owner=Name.from_text(owner), rrtype=rrtype, rrclass=1, ttl=ttl, rdata=rdata)


def _sig(owner: str, zone: str, *, expiration: int = NOW + 1000, original: int = 300, covered: int = 47) -> RR:
    """An RRSIG over ``covered`` (the signature bytes are not checked here: learn trusts its caller)."""
    rdata = (covered.to_bytes(2, "big") + bytes([15, Name.from_text(owner).label_count()])
             + original.to_bytes(4, "big") + expiration.to_bytes(4, "big") + (NOW - 10).to_bytes(4, "big")
             + (1234).to_bytes(2, "big") + Name.from_text(zone).wire + b"sig")
    return _rr(owner, 46, rdata)


def _nsec(owner: str, nxt: str) -> RR:
    return _rr(owner, 47, Name.from_text(nxt).wire + b"\x00\x01\x40")  # bitmap: A


def test_index_ttl_capped_by_signature_and_counted_in_the_cache() -> None:
    cache = Cache()
    index = AggressiveNsec(cache)
    proof = (_nsec("b.test.", "d.test."), _sig("b.test.", "test.", expiration=NOW + 50),
             _nsec("x.other.", "y.other."), _sig("x.other.", "other."))  # another zone than the SOA's
    kept = index.learn(proof, 0.0, NOW, (_rr("test.", 6, Name.from_text("ns.test.").wire * 2 + bytes(20)),),
                       (_sig("test.", "test."),))
    assert kept == 1 and index.names == 1
    assert cache.bytes > 0
    entry = next(e for k, e in cache.entries.items() if k[1] == -300047)
    assert entry.expires == 50.0  # the signature expires in 50 s: below the TTL of 300
    assert index.learn((_nsec("e.test.", "f.test."), _sig("e.test.", "test.", expiration=NOW - 1)), 0.0, NOW) == 0


def test_index_sweeps_gone_records() -> None:
    cache = Cache()
    index = AggressiveNsec(cache, max_names=2)
    for i, owner in enumerate(("a.t.", "b.t.", "c.t.")):
        index.learn((_nsec(owner, "z.t."), _sig(owner, "t.")), float(i * 400), NOW)
    assert index.names == 1  # the first two had expired when the third came


# --- NSEC3 (RFC 8198 §5.2), on a hand-made chain: n3. (SOA NS), a.n3. (A), opt-out or not ---------

def _bitmap(types: list[int]) -> bytes:
    bits = bytearray(32)
    for t in types:
        bits[t // 8] |= 0x80 >> (t % 8)
    length = max(t // 8 for t in types) + 1
    return bytes([0, length]) + bytes(bits[:length])


def _nsec3_chain(names: dict[str, list[int]], *, optout: bool = False) -> tuple[RR, ...]:
    import base64

    from dns_suite.resolver.denial import nsec3_hash

    salt, iterations = b"\xab", 2
    hashed = sorted((nsec3_hash(Name.from_text(n), salt, iterations), types) for n, types in names.items())
    out: list[RR] = []
    for i, (digest, types) in enumerate(hashed):
        nxt = hashed[(i + 1) % len(hashed)][0]
        owner = base64.b32hexencode(digest).decode().lower() + ".n3."
        rdata = (bytes([1, 1 if optout else 0]) + iterations.to_bytes(2, "big") + bytes([len(salt)]) + salt
                 + bytes([len(nxt)]) + nxt + _bitmap(types + [46]))
        out += [_rr(owner, 50, rdata), _sig(owner, "n3.", covered=50)]
    return tuple(out)


def _n3_index(optout: bool = False) -> AggressiveNsec:
    index = AggressiveNsec(Cache())
    soa = (_rr("n3.", 6, Name.from_text("ns.n3.").wire * 2 + bytes(16) + (60).to_bytes(4, "big")),)
    soa_sig = _sig("n3.", "n3.", covered=6)
    chain = _nsec3_chain({"n3.": [2, 6], "a.n3.": [1], "b.n3.": [16]}, optout=optout)
    assert index.learn(chain, 0.0, NOW, soa, (soa_sig,)) == 3
    return index


@pytest.mark.parametrize(("qname", "qtype", "kind"), [
    ("x.n3.", 1, "nxdomain"),
    ("y.z.n3.", 16, "nxdomain"),
    ("a.n3.", 16, "nodata"),
    ("n3.", 1, "nodata"),
    ("a.n3.", 1, None),          # the type exists
    ("a.n3.", 255, None),        # ANY is never denied from a bitmap
])
def test_nsec3_synthesis(qname, qtype, kind) -> None:
    hit = _n3_index().synthesise(Name.from_text(qname), qtype, 10.0)
    assert (hit.kind if hit else None) == kind
    if hit:
        assert hit.sec.status == "secure" and hit.left == 60  # SOA MINIMUM 60 (the NSEC3 has 290 s left)
        assert any(r.rrtype == 50 for r in hit.sec.proof) and hit.soa


def test_nsec3_opt_out_span_proves_no_nxdomain() -> None:
    index = _n3_index(optout=True)
    assert index.synthesise(Name.from_text("x.n3."), 1, 10.0) is None  # an insecure delegation may be there
    hit = index.synthesise(Name.from_text("a.n3."), 16, 10.0)  # a matching NSEC3 still proves NODATA
    assert hit is not None and hit.kind == "nodata"
