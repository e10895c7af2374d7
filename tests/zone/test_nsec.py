"""The NSEC/NSEC3 index of a zone snapshot (zone/nsec.py): hashes, order, lookups (pure)."""

from __future__ import annotations

import pytest

from dns_suite.wire.name import Name
from dns_suite.zone.model import SigRRset, ZoneBuilder
from dns_suite.zone.nsec import (b32hex, canonical_key, hashed_node, index, label_digest,
                                 nsec3_hash)
from dns_suite.zone.reader import ZoneReader

# RFC 5155 Appendix A: salt aabbccdd, 12 iterations (the hashed owner names of the example zone).
RFC5155_HASHES = [
    ("example.", "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"),
    ("a.example.", "35mthgpgcu1qg68fab165klnsnk3dpvl"),
    ("ai.example.", "gjeqe526plbf1g8mklp59enfd789njgi"),
    ("ns1.example.", "2t7b4g4vsa5smi47k61mv5bv1a22bojr"),
    ("ns2.example.", "q04jkcevqvmu85r014c7dkba38o0ji5r"),
    ("w.example.", "k8udemvp1j2f7eg6jebps17vp3n8i58h"),
    ("*.w.example.", "r53bq7cc2uvmubfu5ocmm6pers9tk9en"),
    ("x.w.example.", "b4um86eghhds6nea196smvmlo4ors995"),
    ("y.w.example.", "ji6neoaepv8b5o6k4ev33abha8ht9fgc"),
    ("x.y.w.example.", "2vptu5timamqttgl4luu9kg21e0aor3s"),
    ("xx.example.", "t644ebqk9bibcna874givr6joj62mlhv"),
    ("2t7b4g4vsa5smi47k61mv5bv1a22bojr.example.", "kohar7mbb8dc2ce8a9qvl8hon4k53uhi"),
    ("EXAMPLE.", "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"),  # hashed in canonical (lowercase) form
]


@pytest.mark.parametrize("name,expected", RFC5155_HASHES)
def test_rfc5155_appendix_a_hashes(name, expected):
    digest = nsec3_hash(Name.from_text(name).key, bytes.fromhex("aabbccdd"), 12)
    assert b32hex(digest) == expected
    assert label_digest(expected.upper().encode()) == digest


def test_label_digest_rejects_non_base32hex():
    assert label_digest(b"www") is None or len(label_digest(b"www")) != 20
    assert label_digest(b"z" * 32) is None  # 'z' is outside base32hex


def test_hash_without_salt_or_iterations():
    import hashlib
    key = Name.from_text("a.example.").key
    assert nsec3_hash(key, b"", 0) == hashlib.sha1(key).digest()


# RFC 4034 §6.1: the canonical order example.
CANONICAL = ["example.", "a.example.", "yljkjljk.a.example.", "Z.a.example.", "zABC.a.EXAMPLE.",
             "z.example.", "\\001.z.example.", "*.z.example.", "\\200.z.example."]


def test_canonical_order_of_rfc4034_section_6_1():
    names = [Name.from_text(t) for t in CANONICAL]
    shuffled = names[::-1][3:] + names[::-1][:3]
    assert [n.key for n in sorted(shuffled, key=lambda n: canonical_key(n.key))] == \
        [n.key for n in names]


def _zone(origin: str, text: str):
    apex = Name.from_text(origin)
    builder = ZoneBuilder(apex)
    for rec in ZoneReader(apex, file=origin).records(text.splitlines()):
        builder.add(*rec)
    zone, problems = builder.build()
    assert zone is not None, [str(p) for p in problems]
    return zone, problems


SIG = "13 2 3600 20300101000000 20200101000000 1 {o} AAAA"
NSEC_ZONE = """$TTL 3600
@ SOA ns hostmaster 1 7200 3600 1209600 300
@ NS ns
@ DNSKEY 257 3 13 AAAA
@ RRSIG DNSKEY {sig}
@ 300 NSEC a NS SOA RRSIG NSEC DNSKEY
@ 300 RRSIG NSEC {sig}
a TXT "a"
a 300 NSEC b.c TXT RRSIG NSEC
b.c A 192.0.2.2
b.c 300 NSEC ns A RRSIG NSEC
ns A 192.0.2.1
ns 300 NSEC @ A RRSIG NSEC
"""


def test_nsec_at_or_before_matches_and_covers():
    text = NSEC_ZONE.format(sig=SIG.format(o="n.test."))
    zone, problems = _zone("n.test.", text)
    idx = index(zone)
    assert idx.secure and idx.nsec3 is None
    key = lambda t: Name.from_text(t).key  # noqa: E731
    assert idx.nsec_at_or_before(key("a.n.test.")) == key("a.n.test.")  # matches
    assert idx.nsec_at_or_before(key("aa.n.test.")) == key("a.n.test.")  # covers
    assert idx.nsec_at_or_before(key("c.n.test.")) == key("a.n.test.")  # an ENT: the one before
    assert idx.nsec_at_or_before(key("x.b.c.n.test.")) == key("b.c.n.test.")
    assert idx.nsec_at_or_before(key("zz.n.test.")) == key("ns.n.test.")  # the last one
    assert index(zone) is idx and zone.dnssec is idx  # made once per snapshot


def test_rrsig_ttls_are_kept_per_rr_and_no_ttl_warning():
    text = NSEC_ZONE.format(sig=SIG.format(o="n.test."))
    zone, problems = _zone("n.test.", text)
    assert not [p for p in problems if "TTL" in p.reason]
    sigs = zone.get(Name.from_text("n.test.").key, 46)
    assert isinstance(sigs, SigRRset) and sigs.ttls == (3600, 300) and sigs.ttl == 300


def _nsec3_zone(optout: bool = False):
    """A zone with a real NSEC3 chain (salt beef, 3 iterations) over apex, a, x.y (y an ENT)."""
    origin, salt, it = "h.test.", bytes.fromhex("beef"), 3
    names = ["h.test.", "a.h.test.", "y.h.test.", "x.y.h.test."]
    hashes = sorted((b32hex(nsec3_hash(Name.from_text(n).key, salt, it)), n) for n in names)
    lines = ["$TTL 3600", "@ SOA ns hostmaster 1 7200 3600 1209600 300", "@ NS ns.other.",
             "@ DNSKEY 257 3 13 AAAA", f"@ RRSIG DNSKEY {SIG.format(o=origin)}",
             "@ NSEC3PARAM 1 0 3 beef", "a TXT a", "x.y A 192.0.2.1"]
    types = {"h.test.": "NS SOA RRSIG DNSKEY NSEC3PARAM", "a.h.test.": "TXT RRSIG",
             "y.h.test.": "", "x.y.h.test.": "A RRSIG"}
    for i, (h, n) in enumerate(hashes):
        nxt = hashes[(i + 1) % len(hashes)][0]
        lines.append(f"{h} 300 NSEC3 1 {int(optout)} 3 beef {nxt} {types[n]}")
    lines.append(f"{hashes[0][0]} 300 NSEC3 1 0 5 - {hashes[0][0]}")  # another chain: ignored
    return _zone(origin, "\n".join(lines) + "\n")[0], hashes


def test_nsec3_params_chain_and_lookup():
    zone, hashes = _nsec3_zone()
    idx = index(zone)
    assert idx.secure and idx.nsec3 is not None
    assert (idx.nsec3.iterations, idx.nsec3.salt) == (3, bytes.fromhex("beef"))
    for h, n in hashes:
        owner, exact = idx.nsec3_find(idx.hash(Name.from_text(n).key))
        assert exact and owner == Name.from_text(f"{h}.h.test.").key
    digests = [label_digest(h.encode()) for h, _ in hashes]
    mid = (int.from_bytes(digests[0], "big") + int.from_bytes(digests[1], "big")) // 2
    between = mid.to_bytes(20, "big")
    owner, exact = idx.nsec3_find(between)
    assert not exact and owner == Name.from_text(f"{hashes[0][0]}.h.test.").key
    owner, exact = idx.nsec3_find(b"\0" * 20)  # below the first: covered by the last
    assert not exact and owner == Name.from_text(f"{hashes[-1][0]}.h.test.").key


def test_hashed_nodes_are_recognised():
    zone, hashes = _nsec3_zone()
    assert hashed_node(zone.nodes[Name.from_text(f"{hashes[0][0]}.h.test.").key])
    assert not hashed_node(zone.nodes[Name.from_text("a.h.test.").key])
    assert not hashed_node(None)


def test_nsec3param_without_its_chain_is_ignored():
    text = ("$TTL 3600\n@ SOA ns hostmaster 1 7200 3600 1209600 300\n@ NS ns.other.\n"
            "@ NSEC3PARAM 1 0 0 -\n")
    zone, _ = _zone("u.test.", text)
    idx = index(zone)
    assert not idx.secure and idx.nsec3 is None
