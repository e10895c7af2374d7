"""Per-zone UPDATE policy (RFC 2136 §3.3): a table of (grant, key, update RR) -> permitted."""

from __future__ import annotations

import dns.update
import pytest

from dns_suite.authoritative.policy import Policy, PolicyError
from dns_suite.config import GrantConfig
from dns_suite.wire.message import RR, decode
from dns_suite.wire.name import Name
from dns_suite.zone.model import ZoneBuilder
from dns_suite.zone.reader import ZoneReader
from dns_suite.zone.update import NOERROR, REFUSED, apply_update

APEX = Name.from_text("example.test.")
IN, CH, NONE, ANY = 1, 3, 254, 255
A, NS, SOA, CNAME, TXT, TYPE_ANY = 1, 2, 6, 5, 16, 255
RDATA = {A: bytes([192, 0, 2, 1]), TXT: b"\x05token", NS: b"\x03ns1" + APEX.wire, CNAME: b"\x03www" + APEX.wire}

ZONE = GrantConfig(key="admin.", grant="zone")
ACME = GrantConfig(key="acme-key", grant="acme")  # no final dot: absolute all the same
SUB = GrantConfig(key="dhcp.example.", grant="subdomain", name="dyn.example.test")
POLICY = Policy((ZONE, ACME, SUB), APEX)


def rr(owner: str, rrtype: int = TXT, rrclass: int = IN) -> RR:
    """An update RR: an add (IN, with rdata), a delete of one RR (NONE, with rdata, TTL 0) or of an
    RRset / a name (ANY, empty, TTL 0), RFC 2136 §2.5."""
    rdata = b"" if rrclass == ANY else RDATA.get(rrtype, b"")
    return RR(owner=Name.from_text(owner, APEX), rrtype=rrtype, rrclass=rrclass,
              ttl=300 if rrclass == IN else 0, rdata=rdata)


def key(text: str | None) -> Name | None:
    return None if text is None else Name.from_text(text)


# (case, key, update RR, permitted)
CASES = [
    # zone: anything in the zone
    ("zone: A", "admin.", rr("www", A), True),
    ("zone: apex SOA", "admin.", rr("@", SOA), True),
    ("zone: apex NS delete", "admin.", rr("@", NS, NONE), True),
    ("zone: delete all at the apex", "admin.", rr("@", TYPE_ANY, ANY), True),
    ("zone: deep name", "admin.", rr("a.b.c.d", A), True),
    ("zone: key name in capitals", "ADMIN.", rr("www", A), True),
    ("zone: outside the zone", "admin.", rr("www.other.test.", A), False),
    ("zone: the parent", "admin.", rr("test.", A), False),
    # acme: TXT at _acme-challenge names only
    ("acme: add TXT at _acme-challenge.<apex>", "acme-key.", rr("_acme-challenge"), True),
    ("acme: add TXT below: _acme-challenge.www", "acme-key.", rr("_acme-challenge.www"), True),
    ("acme: add TXT deep: _acme-challenge.a.b", "acme-key.", rr("_acme-challenge.a.b"), True),
    ("acme: label in other case", "acme-key.", rr("_ACME-Challenge.www"), True),
    ("acme: key in other case", "ACME-KEY.", rr("_acme-challenge"), True),
    ("acme: delete one TXT (NONE)", "acme-key.", rr("_acme-challenge", TXT, NONE), True),
    ("acme: delete the TXT RRset (ANY)", "acme-key.", rr("_acme-challenge.www", TXT, ANY), True),
    ("acme: not delete all at the name (ANY ANY)", "acme-key.", rr("_acme-challenge", TYPE_ANY, ANY), False),
    ("acme: not A at _acme-challenge", "acme-key.", rr("_acme-challenge", A), False),
    ("acme: not CNAME at _acme-challenge", "acme-key.", rr("_acme-challenge", CNAME), False),
    ("acme: not delete the A RRset at _acme-challenge", "acme-key.", rr("_acme-challenge", A, ANY), False),
    ("acme: not TXT at www", "acme-key.", rr("www"), False),
    ("acme: not TXT at the apex", "acme-key.", rr("@"), False),
    ("acme: not TXT below _acme-challenge", "acme-key.", rr("x._acme-challenge"), False),
    ("acme: not a longer label", "acme-key.", rr("_acme-challenges.www"), False),
    ("acme: not a shorter label", "acme-key.", rr("_acme-challeng"), False),
    ("acme: not outside the zone", "acme-key.", rr("_acme-challenge.other.test."), False),
    ("acme: not class CH", "acme-key.", rr("_acme-challenge", TXT, CH), False),
    # subdomain: at or below the name
    ("subdomain: at the name", "dhcp.example.", rr("dyn", A), True),
    ("subdomain: below", "dhcp.example.", rr("host.dyn", A), True),
    ("subdomain: deeper, any type", "dhcp.example.", rr("a.b.dyn", CNAME), True),
    ("subdomain: delete all at a name", "dhcp.example.", rr("host.dyn", TYPE_ANY, ANY), True),
    ("subdomain: owner in capitals", "dhcp.example.", rr("HOST.DYN", A), True),
    ("subdomain: not a sibling sharing a suffix", "dhcp.example.", rr("xdyn", A), False),
    ("subdomain: not the parent", "dhcp.example.", rr("@", A), False),
    ("subdomain: not elsewhere", "dhcp.example.", rr("www", A), False),
    ("subdomain: not the acme names", "dhcp.example.", rr("_acme-challenge"), False),
    # nobody else
    ("unsigned: never", None, rr("www", A), False),
    ("unsigned: not even acme TXT", None, rr("_acme-challenge"), False),
    ("a key without a grant", "nobody.", rr("www", A), False),
    ("a key that is a grant's name, not its key", "dyn.example.test.", rr("dyn", A), False),
    ("the acme key does not hold the zone grant", "acme-key.", rr("www", A), False),
    ("subdomain: any type at an _acme-challenge name below it", "dhcp.example.", rr("_acme-challenge.dyn", A),
     True),
]


@pytest.mark.parametrize(("key_name", "update_rr", "allowed"),
                         [pytest.param(k, r, a, id=c) for c, k, r, a in CASES])
def test_permits(key_name: str | None, update_rr: RR, allowed: bool) -> None:
    assert POLICY.permits(key(key_name), update_rr) is allowed


def test_one_key_several_grants() -> None:
    policy = Policy((ACME, GrantConfig(key="acme-key.", grant="subdomain", name="lab.example.test.")), APEX)
    assert policy.permits(key("acme-key."), rr("host.lab", A))
    assert policy.permits(key("acme-key."), rr("_acme-challenge.www"))
    assert not policy.permits(key("acme-key."), rr("www", A))


def test_acme_grant_on_a_delegated_challenge_zone() -> None:
    """A zone named ``_acme-challenge.<domain>`` (DNS-01 delegation): TXT at its apex."""
    apex = Name.from_text("_acme-challenge.example.test.")
    policy = Policy((ACME,), apex)
    assert policy.permits(key("acme-key."), RR(owner=apex, rrtype=TXT, rrclass=IN, ttl=60, rdata=b"\x01x"))
    assert not policy.permits(key("acme-key."), RR(owner=apex, rrtype=A, rrclass=IN, ttl=60, rdata=RDATA[A]))


def test_truth() -> None:
    """A zone without grants refuses UPDATE: its policy is false."""
    assert not Policy((), APEX)
    assert Policy((ACME,), APEX)
    assert not Policy((), APEX).permits(key("admin."), rr("www", A))


@pytest.mark.parametrize(("grant", "fragment"), [
    (GrantConfig(key="k.", grant="subdomain"), "needs a name"),
    (GrantConfig(key="k.", grant="subdomain", name="other.test."), "not inside the zone example.test."),
    (GrantConfig(key="k.", grant="subdomain", name="a..b"), "bad name 'a..b'"),
    (GrantConfig(key="k.", grant="zone", name="www.example.test."), "name is only for grant"),
    (GrantConfig(key="a..b", grant="zone"), "bad key name 'a..b'"),
    (GrantConfig(key="k.", grant="all"), "unknown grant 'all'"),
])
def test_errors(grant: GrantConfig, fragment: str) -> None:
    with pytest.raises(PolicyError) as info:
        Policy((ZONE, grant), APEX)
    assert info.value.index == 1 and fragment in str(info.value)
    assert str(info.value).startswith("update_policy[1]: ")


# --------------------------------------------------------------------------- through apply_update

ZONE_TEXT = """$TTL 3600
@ SOA ns1 hostmaster 1 7200 3600 1209600 300
@ NS ns1
ns1 A 192.0.2.1
www A 192.0.2.10
_acme-challenge.www TXT "old"
"""


def _zone():
    builder = ZoneBuilder(APEX)
    for record in ZoneReader(APEX, file="p.zone").records(ZONE_TEXT.splitlines()):
        builder.add(*record)
    return builder.build()[0]


@pytest.mark.parametrize(("ops", "rcode", "added", "removed"), [
    ([("add", "_acme-challenge", 60, "TXT", '"tok"')], NOERROR, 2, 1),
    ([("delete", "_acme-challenge.www", "TXT", '"old"')], NOERROR, 1, 2),
    ([("delete", "_acme-challenge.www", "TXT")], NOERROR, 1, 2),
    ([("add", "_acme-challenge", 60, "A", "192.0.2.1")], REFUSED, 0, 0),
    ([("add", "www", 60, "TXT", '"tok"')], REFUSED, 0, 0),
    ([("delete", "_acme-challenge.www")], REFUSED, 0, 0),
    ([("add", "_acme-challenge", 60, "TXT", '"tok"'), ("add", "www", 60, "A", "192.0.2.11")], REFUSED, 0, 0),
])
def test_acme_key_through_apply_update(ops: list[tuple], rcode: int, added: int, removed: int) -> None:
    """The issue's acceptance: the acme key changes TXT at _acme-challenge and nothing else."""
    update = dns.update.UpdateMessage("example.test.")
    for name, *args in ops:
        getattr(update, name)(*args)
    msg = decode(update.to_wire())
    result = apply_update(_zone(), msg, permitted=lambda r: POLICY.permits(key("acme-key."), r))
    assert result.rcode == rcode
    assert (len(result.added), len(result.removed)) == (added, removed)  # SOA included
    assert (result.zone is None) is (rcode != NOERROR)
