"""A small signed Internet for the validator's tests (no sockets).

Zones are written as text, signed by dnspython (the test oracle: ``dns.dnssec.sign_zone``,
Ed25519, NSEC) and answered by :func:`respond`, a minimal authoritative server that adds the
DNSSEC records when the query has DO: RRSIGs of answers, the DS (or the NSEC proving there is
none) of a referral, SOA and NSEC records of NXDOMAIN and NODATA answers, the NSEC of a
wildcard expansion. :class:`Lab` drives a real :class:`Resolver` through client queries.

The lab: ``.`` (a.root. 198.41.0.4) delegates ``example.`` (ns.example. 192.0.2.1, signed);
``example.`` delegates ``unsigned.example.`` (192.0.2.2, no DS, unsigned) and ``expired.example.``
(192.0.2.3, DS, signatures expired at :data:`NOW`).
"""

from __future__ import annotations

import random

import dns.dnssec
import dns.flags
import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone
from cryptography.hazmat.primitives.asymmetric import ed25519

from dns_suite.resolver.actions import Answer
from dns_suite.resolver.iterator import Resolver
from dns_suite.resolver.settings import Hints, Settings
from dns_suite.wire.name import Name

NOW = 1_700_000_000
"""The lab's wall clock (seconds since the epoch)."""
DAY = 86400
NSEC, RRSIG, DS, NS, SOA, CNAME = 47, 46, 43, 2, 6, 5

ROOT = """
@ 3600 IN SOA a.root. admin.root. 1 3600 600 86400 300
@ 3600 IN NS a.root.
a.root. 3600 IN A 198.41.0.4
example. 3600 IN NS ns.example.
ns.example. 3600 IN A 192.0.2.1
"""
EXAMPLE = """
@ 3600 IN SOA ns admin 1 3600 600 86400 300
@ 3600 IN NS ns
ns 3600 IN A 192.0.2.1
www 3600 IN A 192.0.2.80
alias 3600 IN CNAME www
*.wild 3600 IN TXT "wild"
unsigned 3600 IN NS ns.unsigned
ns.unsigned 3600 IN A 192.0.2.2
expired 3600 IN NS ns.expired
ns.expired 3600 IN A 192.0.2.3
"""
UNSIGNED = """
@ 3600 IN SOA ns admin 1 3600 600 86400 300
@ 3600 IN NS ns
ns 3600 IN A 192.0.2.2
host 3600 IN A 192.0.2.22
"""
EXPIRED = """
@ 3600 IN SOA ns admin 1 3600 600 86400 300
@ 3600 IN NS ns
ns 3600 IN A 192.0.2.3
host 3600 IN A 192.0.2.33
"""


def _key(seed: int):
    private = ed25519.Ed25519PrivateKey.from_private_bytes(random.Random(seed).randbytes(32))
    return private, dns.dnssec.make_dnskey(private.public_key(), dns.dnssec.Algorithm.ED25519, flags=257)


def _zone(origin: str, text: str, key=None, *, inception: int = NOW - DAY, expiration: int = NOW + 30 * DAY,
          ds: list[tuple[str, object]] = ()) -> dns.zone.Zone:
    zone = dns.zone.from_text(text, origin=origin, relativize=False)
    with zone.writer() as txn:
        for child, dnskey in ds:
            name = dns.name.from_text(child)
            txn.add(name, 3600, dns.dnssec.make_ds(name, dnskey, "SHA256"))
    if key is not None:
        dns.dnssec.sign_zone(zone, keys=[key], inception=inception, expiration=expiration)
    return zone


def _rrset(zone: dns.zone.Zone, name: dns.name.Name, rdtype: int) -> dns.rrset.RRset | None:
    node = zone.get_node(name)
    rdataset = node.get_rdataset(dns.rdataclass.IN, rdtype) if node is not None else None
    if rdataset is None:
        return None
    rrset = dns.rrset.RRset(name, dns.rdataclass.IN, rdtype)
    rrset.update(rdataset)
    return rrset


def _sigs(zone: dns.zone.Zone, name: dns.name.Name, rdtype: int, owner: dns.name.Name | None = None) -> list:
    node = zone.get_node(name)
    sigs = node.get_rdataset(dns.rdataclass.IN, RRSIG, rdtype) if node is not None else None
    if sigs is None:
        return []
    rrset = dns.rrset.RRset(owner or name, dns.rdataclass.IN, RRSIG, rdtype)
    rrset.update(sigs)
    return [rrset]


def _with_sigs(zone, name, rdtype, do: bool, owner=None) -> list:
    rrset = _rrset(zone, name, rdtype)
    if rrset is None:
        return []
    if owner is not None:
        rrset = dns.rrset.from_rdata_list(owner, rrset.ttl, list(rrset))
    return [rrset] + (_sigs(zone, name, rdtype, owner) if do else [])


def _covering(zone: dns.zone.Zone, name: dns.name.Name) -> dns.name.Name | None:
    for owner, node in zone.items():
        nsec = node.get_rdataset(dns.rdataclass.IN, NSEC)
        if nsec is None:
            continue
        nxt = nsec[0].next
        if owner < name < nxt or (nxt <= owner and (owner < name or name < nxt)):
            return owner
    return None


def respond(zone: dns.zone.Zone, wire: bytes) -> bytes:
    """The zone's answer to a query, with DNSSEC records when it has DO (RFC 4035 §3.1)."""
    query = dns.message.from_wire(wire)
    reply = dns.message.make_response(query)
    reply.flags |= dns.flags.AA
    do = bool(query.ednsflags & dns.flags.DO)
    name, rdtype = query.question[0].name, query.question[0].rdtype
    origin = zone.origin
    for depth in range(len(origin) + 1, len(name) + 1):  # a delegation above (or at) the name
        cut = name.split(depth)[1]
        if _rrset(zone, cut, NS) is None or (cut == name and rdtype == DS):
            continue
        reply.flags &= ~dns.flags.AA
        reply.authority += [_rrset(zone, cut, NS)]
        if do:
            reply.authority += _with_sigs(zone, cut, DS, True) or _with_sigs(zone, cut, NSEC, True)
        for ns in _rrset(zone, cut, NS):
            reply.additional += _with_sigs(zone, ns.target, 1, False)
        return reply.to_wire()
    if zone.get_node(name) is not None:
        data = _with_sigs(zone, name, rdtype, do) or _with_sigs(zone, name, CNAME, do)
        if data:
            reply.answer += data
        else:
            reply.authority += _with_sigs(zone, origin, SOA, do) + (_with_sigs(zone, name, NSEC, do) if do else [])
        return reply.to_wire()
    wildcard = dns.name.Name(("*",) + name.parent().labels)
    if zone.get_node(wildcard) is not None and _rrset(zone, wildcard, rdtype) is not None:
        reply.answer += _with_sigs(zone, wildcard, rdtype, do, owner=name)
        if do:
            reply.authority += _with_sigs(zone, _covering(zone, name), NSEC, True)
        return reply.to_wire()
    reply.set_rcode(dns.rcode.NXDOMAIN)
    reply.authority += _with_sigs(zone, origin, SOA, do)
    if do:
        for target in (name, dns.name.Name(("*",) + origin.labels)):
            owner = _covering(zone, target)
            if owner is not None and not any(r.name == owner and r.rdtype == NSEC for r in reply.authority):
                reply.authority += _with_sigs(zone, owner, NSEC, True)
    return reply.to_wire()


class Lab:
    """The signed lab and a resolver anchored at its root.

    Args:
        settings: more Settings for the resolver (``trust_anchors`` is the lab root's DS).
    """

    def __init__(self, **settings) -> None:
        root_key, example_key, expired_key = _key(1), _key(2), _key(3)
        self.zones = {
            "198.41.0.4": _zone(".", ROOT, root_key, ds=[("example.", example_key[1])]),
            "192.0.2.1": _zone("example.", EXAMPLE, example_key, ds=[("expired.example.", expired_key[1])]),
            "192.0.2.2": _zone("unsigned.example.", UNSIGNED),
            "192.0.2.3": _zone("expired.example.", EXPIRED, expired_key, inception=NOW - 30 * DAY,
                               expiration=NOW - DAY),
        }
        self.root_ds = dns.dnssec.make_ds(dns.name.root, root_key[1], "SHA256").to_text()
        settings.setdefault("trust_anchors", (f". IN DS {self.root_ds}",))
        hints = Hints(servers=((Name.from_text("a.root."), ("198.41.0.4",)),))
        self.resolver = Resolver(Settings(query_private=True, **settings), hints,
                                 randbits=random.Random(7).getrandbits, wall=lambda: NOW)
        self.upstream = 0
        self.ids = random.Random(9)

    def ask(self, qname: str, qtype: str = "A", *, do: bool = False, ad: bool = False, cd: bool = False,
            edns: bool = True, now: float = 1000.0) -> dns.message.Message:
        """One client query through the resolver; upstream queries answered by the lab."""
        query = dns.message.make_query(qname, qtype, use_edns=0 if edns or do else False,
                                       want_dnssec=do, id=self.ids.getrandbits(16))
        query.flags |= (dns.flags.AD if ad else 0) | (dns.flags.CD if cd else 0)
        actions = self.resolver.submit(query.to_wire(), "client", now)
        answers = []
        while actions:
            action = actions.pop(0)
            if isinstance(action, Answer):
                answers.append(action)
                continue
            self.upstream += 1
            zone = self.zones.get(action.address)
            if zone is None:
                actions.extend(self.resolver.on_timeout(action.token, now))
            else:
                actions.extend(self.resolver.on_response(action.token, respond(zone, action.wire), now,
                                                         source=(action.address, action.port)))
        assert len(answers) == 1
        return dns.message.from_wire(answers[0].wire)
