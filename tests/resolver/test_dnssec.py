"""DNSSEC validation in the resolver core: a signed lab (signedlab.py) and signature checks.

The replay scenarios (test_scenarios.py, dnssec/) are the main acceptance; these tables pin
what they do not show: the EDE codes, CD, negative trust anchors, unsupported algorithms and
digests, AD on the hot path (rendered replies keyed by the query's octets), TTL capping.
"""

from __future__ import annotations

import dns.dnssec
import dns.edns
import dns.flags
import dns.name
import dns.rcode
import dns.rdata
import dns.rrset
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from dns_suite.resolver.security import BOGUS, INSECURE, SECURE
from dns_suite.resolver.validate import check_rrset, zone_keys
from dns_suite.wire.message import RR
from dns_suite.wire.name import Name
from signedlab import NOW, Lab

AD, CD = dns.flags.AD, dns.flags.CD


def _ede(msg) -> int | None:
    codes = [o.code for o in msg.options if isinstance(o, dns.edns.EDEOption)]
    return codes[0] if codes else None


def _has(section, rdtype: str) -> bool:
    return any(rrset.rdtype == dns.rdatatype.from_text(rdtype) for rrset in section)


# (qname, qtype, client flags, rcode, AD expected, EDE code, RRSIG in the answer)
CASES = [
    ("www.example.", "A", dict(do=True), "NOERROR", True, None, True),
    ("www.example.", "A", dict(ad=True), "NOERROR", True, None, False),
    ("www.example.", "A", dict(), "NOERROR", False, None, False),
    ("www.example.", "A", dict(do=True, cd=True), "NOERROR", True, None, True),  # validated anyway (as Unbound)
    ("alias.example.", "A", dict(do=True), "NOERROR", True, None, True),
    ("nx.example.", "A", dict(do=True), "NXDOMAIN", True, None, False),
    ("www.example.", "TXT", dict(ad=True), "NOERROR", True, None, False),
    ("a.wild.example.", "TXT", dict(do=True), "NOERROR", True, None, True),
    ("host.unsigned.example.", "A", dict(do=True), "NOERROR", False, None, False),
    ("host.expired.example.", "A", dict(do=True), "SERVFAIL", False, 7, False),
    ("host.expired.example.", "A", dict(do=True, cd=True), "NOERROR", False, None, True),
    ("example.", "DS", dict(do=True), "NOERROR", True, None, True),
    ("unsigned.example.", "DS", dict(do=True), "NOERROR", True, None, False),
]


@pytest.mark.parametrize(("qname", "qtype", "flags", "rcode", "ad", "ede", "sigs"), CASES,
                         ids=[f"{c[0]}{c[1]}-{'+'.join(c[2]) or 'plain'}" for c in CASES])
def test_signed_lab(qname, qtype, flags, rcode, ad, ede, sigs) -> None:
    msg = Lab().ask(qname, qtype, **flags)
    assert dns.rcode.to_text(msg.rcode()) == rcode
    assert bool(msg.flags & AD) == ad
    assert _ede(msg) == ede
    assert _has(msg.answer, "RRSIG") == sigs


def test_denial_and_wildcard_proofs_go_to_do_clients_only() -> None:
    lab = Lab()
    nx = lab.ask("nx.example.", do=True)
    assert _has(nx.authority, "NSEC") and _has(nx.authority, "RRSIG") and _has(nx.authority, "SOA")
    assert not _has(lab.ask("nx.example.", ad=True).authority, "NSEC")
    wild = lab.ask("b.wild.example.", "TXT", do=True)
    assert _has(wild.authority, "NSEC") and wild.flags & AD


@pytest.mark.parametrize(("settings", "rcode", "ad", "ede"), [
    (dict(negative_trust_anchors=("expired.example.",)), "NOERROR", False, None),
    (dict(dnssec=False), "NOERROR", False, None),
    (dict(trust_anchors=(". IN DS 12345 253 2 " + "AB" * 32,)), "NOERROR", False, None),  # private algorithm
    (dict(trust_anchors=(". IN DS 12345 15 200 " + "AB" * 32,)), "NOERROR", False, None),  # unknown digest
    (dict(trust_anchors=(". IN DS 12345 15 2 " + "AB" * 32,)), "SERVFAIL", False, 9),  # no key matches
], ids=["nta", "off", "unsupported-algorithm", "unsupported-digest", "wrong-anchor"])
def test_anchors(settings, rcode, ad, ede) -> None:
    msg = Lab(**settings).ask("host.expired.example.", do=True)
    assert (dns.rcode.to_text(msg.rcode()), bool(msg.flags & AD), _ede(msg)) == (rcode, ad, ede)


@pytest.mark.parametrize("flags", [dict(do=True), dict(ad=True), dict()], ids=["do", "ad", "plain"])
def test_hot_path_keeps_ad_right(flags) -> None:
    """Rendered replies are keyed by the query's octets (flags and DO included): AD stays right."""
    lab = Lab()
    first = lab.ask("www.example.", **flags)
    lab.ask("www.example.", **flags)
    before = lab.upstream
    again = lab.ask("www.example.", now=1001.0, **flags)
    assert lab.upstream == before
    assert lab.resolver.answers.hits >= 1
    assert bool(again.flags & AD) == bool(first.flags & AD) == bool(flags)
    other = lab.ask("www.example.", now=1001.0)  # a plain query after AD/DO ones: no AD
    assert not other.flags & AD


def test_bogus_data_cached_as_bogus_and_cd_still_gets_it() -> None:
    lab = Lab()
    assert lab.ask("host.expired.example.").rcode() == dns.rcode.SERVFAIL
    asked = lab.upstream
    unchecked = lab.ask("host.expired.example.", cd=True, now=1002.0)
    assert unchecked.rcode() == dns.rcode.NOERROR and not unchecked.flags & AD
    assert lab.upstream == asked  # the bogus RRset came from the cache


# --- check_rrset on records signed here ----------------------------------------------------------

def _signed(*, wildcard: bool = False, inception: int = NOW - 10, expiration: int = NOW + 100,
            tamper: bool = False, key_seed: int = 5):
    private = ed25519.Ed25519PrivateKey.from_private_bytes(bytes([key_seed]) * 32)
    dnskey = dns.dnssec.make_dnskey(private.public_key(), dns.dnssec.Algorithm.ED25519)
    owner = dns.name.from_text("a.b.example.")
    signed = dns.name.from_text("*.b.example.") if wildcard else owner  # expanded from the wildcard
    rrset = dns.rrset.from_text(signed, 3600, "IN", "A", "192.0.2.1")
    sig = dns.dnssec.sign(rrset, private, dns.name.from_text("example."), dnskey, inception=inception,
                          expiration=expiration)
    wire_owner = Name(owner.to_wire())
    data = b"\xc0\x00\x02\x02" if tamper else rrset[0].to_digestable()
    rrs = (RR(owner=wire_owner, rrtype=1, rrclass=1, ttl=3600, rdata=data),)
    sigs = (RR(owner=wire_owner, rrtype=46, rrclass=1, ttl=3600, rdata=sig.to_digestable()),)
    keys = zone_keys((RR(owner=Name(b"\x07example\x00"), rrtype=48, rrclass=1, ttl=3600,
                         rdata=dnskey.to_digestable()),))
    return rrs, sigs, keys


@pytest.mark.parametrize(("kwargs", "status", "code"), [
    (dict(), SECURE, None),
    (dict(expiration=NOW - 1, inception=NOW - 100), BOGUS, 7),
    (dict(inception=NOW + 50), BOGUS, 8),
    (dict(tamper=True), BOGUS, 6),
], ids=["valid", "expired", "not-yet-valid", "tampered"])
def test_check_rrset(kwargs, status, code) -> None:
    rrs, sigs, keys = _signed(**kwargs)
    verdict = check_rrset(rrs, sigs, keys, Name(b"\x07example\x00"), NOW)
    assert verdict.status == status
    assert (verdict.why[0] if verdict.why else None) == code


def test_check_rrset_caps_ttl_and_spots_wildcards() -> None:
    rrs, sigs, keys = _signed()
    verdict = check_rrset(rrs, sigs, keys, Name(b"\x07example\x00"), NOW)
    assert verdict.ttl == 100  # expires in 100 s: below the original TTL of 3600
    assert verdict.wildcard is None
    assert check_rrset(rrs, (), keys, Name(b"\x07example\x00"), NOW).why[0] == 10
    other_keys = _signed(key_seed=6)[2]
    assert check_rrset(rrs, sigs, other_keys, Name(b"\x07example\x00"), NOW).why[0] == 9
    assert check_rrset(rrs, sigs, [], Name(b"\x07example\x00"), NOW).status == BOGUS
    rrs, sigs, keys = _signed(wildcard=True)
    verdict = check_rrset(rrs, sigs, keys, Name(b"\x07example\x00"), NOW)
    assert verdict.status == SECURE and verdict.wildcard == Name.from_text("*.b.example.")
    unsupported = [k.replace(algorithm=253) for k in keys]
    assert check_rrset(rrs, sigs, unsupported, Name(b"\x07example\x00"), NOW).status == INSECURE


# --- anchors and their configuration ---------------------------------------------------------

SHIPPED = ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D"


def test_trust_anchors_replace_shipped_per_name_and_ntas_cover_below() -> None:
    from dns_suite.resolver.trust import TrustAnchorError, TrustAnchors

    own = ". IN DS 12345 15 2 " + "AB" * 32
    anchors = TrustAnchors((SHIPPED,), (own, "example. 3600 IN DNSKEY 257 3 15 " + "A" * 43 + "="),
                           ("corp.example.",))
    root = anchors.closest(Name.from_text("www.test."))
    assert [d.key_tag for d in root.ds] == [12345]
    assert anchors.closest(Name.from_text("a.example.")).dnskey
    assert anchors.negative(Name.from_text("a.corp.example.")) and not anchors.negative(Name.from_text("example."))
    assert not anchors.covered(Name.from_text("x.corp.example.")) and anchors.covered(Name.from_text("x.example."))
    assert [d.key_tag for d in TrustAnchors((SHIPPED,)).closest(Name.from_text("a.")).ds] == [20326]
    assert TrustAnchors().closest(Name.from_text("a.")) is None
    with pytest.raises(TrustAnchorError):
        TrustAnchors((), ("example. IN A 192.0.2.1",))


def test_shipped_root_ds_and_config(tmp_path) -> None:
    from importlib import resources

    from dns_suite.config import ConfigError, load_resolver_config
    from dns_suite.resolver.service import load_hints, settings_from_config
    from dns_suite.resolver.trust import TrustAnchors

    shipped = (resources.files("dns_suite.resolver") / "root.ds").read_text(encoding="utf-8")
    tags = sorted(d.key_tag for d in TrustAnchors((shipped,)).closest(Name.from_text(".")).ds)
    assert tags == [20326, 38696]
    (tmp_path / "lab.ds").write_text(". IN DS 12345 15 2 " + "AB" * 32 + "\n")
    conf = tmp_path / "resolver.toml"
    conf.write_text('[resolver]\ntrust_anchor_files = ["lab.ds"]\nnegative_trust_anchors = ["corp.example"]\n')
    cfg = load_resolver_config(str(conf))
    assert cfg.trust_anchor_files == (str(tmp_path / "lab.ds"),)
    settings = settings_from_config(cfg)
    assert settings.dnssec and "12345" in settings.trust_anchors[0]
    assert load_hints(cfg).anchors == (shipped,)
    conf.write_text('[resolver]\ntrust_anchors = ["example. IN A 192.0.2.1"]\n')
    with pytest.raises(ConfigError):
        load_resolver_config(str(conf))
    conf.write_text('[resolver]\ndnssec = false\n')
    assert load_hints(load_resolver_config(str(conf))).anchors == ()
