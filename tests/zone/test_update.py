"""RFC 2136 UPDATE on a zone snapshot: one table of cases through :func:`apply_update`.

Each case builds an update with dnspython's ``dns.update.UpdateMessage`` (as nsupdate and the
certbot/lego rfc2136 plugins would send it), takes it through ``to_wire()`` and our ``decode``,
optionally bends the decoded message into a shape dnspython will not write (a prerequisite with a
TTL, class ANY with rdata, meta types), and applies it to a small zone read from text. The
expectation is the rcode, and for an accepted change the exact difference: the old SOA first in
``removed``, the new SOA first in ``added`` (RFC 1995 §4 order), the other records as sets; the
new snapshot must equal the old one minus ``removed`` plus ``added``. A failure or a no-op gives
no zone and no difference (RFC 2136 §3.7: all or nothing).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace
from typing import Callable

import dns.name
import dns.rdata
import dns.rdatatype
import dns.update
import pytest

from dns_suite.wire.message import RR, Message, Question, decode
from dns_suite.wire.name import Name
from dns_suite.zone.model import Zone, ZoneBuilder
from dns_suite.zone.reader import ZoneReader
from dns_suite.zone.update import (
    FORMERR, NOERROR, NOTAUTH, NOTZONE, NXDOMAIN, NXRRSET, REFUSED, YXDOMAIN, YXRRSET, apply_update,
)

ORIGIN = "example.test."
APEX = Name.from_text(ORIGIN)
DNS_ORIGIN = dns.name.from_text(ORIGIN)
SOA_TAIL = "7200 3600 1209600 300"


def zone_text(serial: int = 100) -> str:
    """The test zone; ``serial`` is the SOA serial."""
    return f"""$TTL 3600
@ SOA ns1 hostmaster {serial} {SOA_TAIL}
@ NS ns1
@ NS ns2
@ MX 10 mail
@ TXT "apex"
ns1 A 192.0.2.1
ns2 A 192.0.2.2
mail A 192.0.2.25
www A 192.0.2.10
www A 192.0.2.11
www TXT "hello"
alias CNAME www
txt TXT "one"
txt TXT "two"
leaf.ent A 192.0.2.30
*.wild A 192.0.2.99
sub NS ns.sub
ns.sub A 192.0.2.53
"""


ONE_NS = zone_text().replace("@ NS ns2\n", "")


def build_zone(text: str) -> Zone:
    """A zone snapshot from master-file text (RFC 1035 §5)."""
    builder = ZoneBuilder(APEX)
    for record in ZoneReader(APEX, file="test.zone").records(text.splitlines()):
        builder.add(*record)
    zone, problems = builder.build()
    assert zone is not None, [str(p) for p in problems]
    return zone


def rr_text(owner_wire: bytes, rrtype: int, ttl: int, rdata: bytes) -> str:
    """``OWNER TTL TYPE RDATA`` with names relative to the origin (case kept), via dnspython."""
    rd = dns.rdata.from_wire(1, rrtype, rdata, 0, len(rdata))
    return (f"{Name(owner_wire).relativize_text(APEX)} {ttl} {dns.rdatatype.to_text(rrtype)} "
            f"{rd.to_text(origin=DNS_ORIGIN, relativize=True)}")


def zone_records(zone: Zone) -> set[tuple[bytes, int, int, bytes]]:
    """Every RR of a snapshot as ``(owner key, type, ttl, rdata)``."""
    return {(key, r.rrtype, r.ttl, rd) for key, first in zone.nodes.items()
            for r in first.chain() for rd in r.rdatas}


# --------------------------------------------------------------------------- building updates

Op = tuple  # ("present" | "absent" | "add" | "delete" | "replace", *args of UpdateMessage)
Mutate = Callable[[Message], Message]


def present(*args) -> Op:
    return ("present", *args)


def absent(*args) -> Op:
    return ("absent", *args)


def add(*args) -> Op:
    return ("add", *args)


def delete(*args) -> Op:
    return ("delete", *args)


def set_prereq(index: int, **fields) -> Mutate:
    """Change fields of the decoded prerequisite ``index``."""
    def mutate(msg: Message) -> Message:
        answer = list(msg.answer)
        answer[index] = replace(answer[index], **fields)
        return replace(msg, answer=tuple(answer))
    return mutate


def set_update(index: int, **fields) -> Mutate:
    """Change fields of the decoded update RR ``index``."""
    def mutate(msg: Message) -> Message:
        authority = list(msg.authority)
        authority[index] = replace(authority[index], **fields)
        return replace(msg, authority=tuple(authority))
    return mutate


def raw_update(owner: str, rrtype: int, rrclass: int, ttl: int = 0, rdata: bytes = b"") -> Mutate:
    """Append an update RR dnspython would not write."""
    rr = RR(owner=Name.from_text(owner, APEX), rrtype=rrtype, rrclass=rrclass, ttl=ttl, rdata=rdata)
    return lambda msg: replace(msg, authority=msg.authority + (rr,))


def zone_section(*questions: tuple[str, int, int]) -> Mutate:
    """Replace the zone section."""
    qs = tuple(Question(qname=Name.from_text(n), qtype=t, qclass=c) for n, t, c in questions)
    return lambda msg: replace(msg, question=qs)


def make_update(ops: tuple[Op, ...], mutate: Mutate | None = None) -> Message:
    """Build with dnspython, encode, decode with our codec, then bend."""
    update = dns.update.UpdateMessage(ORIGIN)
    for name, *args in ops:
        getattr(update, name)(*args)
    msg = decode(update.to_wire())
    return mutate(msg) if mutate else msg


def allow(_rr: RR) -> bool:
    return True


# --------------------------------------------------------------------------- the table

MARK = add("marker", 300, "TXT", '"m"')
MARKED = ('marker 300 TXT "m"',)
UNCHANGED = -1  # the serial of a case that changes nothing


@dataclass(frozen=True)
class Case:
    """One UPDATE and what it must give.

    ``removed``/``added`` are the non-SOA difference, as ``rr_text`` prints it; ``serial`` is the
    new SOA serial (default: 101 when something changed, else no new zone); ``soa`` the new SOA
    rdata text when the case sets it.
    """

    id: str
    ops: tuple[Op, ...]
    rcode: int = NOERROR
    removed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    serial: int | None = None
    soa: str | None = None
    mutate: Mutate | None = None
    zone: str = field(default_factory=zone_text)
    permitted: Callable[[RR], bool] = allow
    serial_policy: str = "increment"
    now: int = 0

    def expected_serial(self) -> int:
        if self.serial is not None:
            return self.serial
        return 101 if self.removed or self.added else UNCHANGED


PREREQUISITES = [
    # RFC 2136 §2.4.4 / §3.2.5: name is in use (class ANY, type ANY)
    Case("in-use ok", (present("www"), MARK), added=MARKED),
    Case("in-use ok at apex", (present("@"), MARK), added=MARKED),
    Case("in-use fails: absent name -> NXDOMAIN", (present("nope"), MARK), NXDOMAIN),
    Case("in-use fails: empty non-terminal owns no RR -> NXDOMAIN", (present("ent"), MARK), NXDOMAIN),
    Case("in-use: wildcards do not match (§1.1.3)", (present("foo.wild"), MARK), NXDOMAIN),
    Case("in-use: the wildcard name itself", (present("*.wild"), MARK), added=MARKED),
    Case("in-use: owner case ignored", (present("WWW"), MARK), added=MARKED),
    # §2.4.5: name is not in use (class NONE, type ANY)
    Case("not-in-use ok", (absent("nope"), MARK), added=MARKED),
    Case("not-in-use ok for an empty non-terminal", (absent("ent"), MARK), added=MARKED),
    Case("not-in-use fails -> YXDOMAIN", (absent("www"), MARK), YXDOMAIN),
    Case("not-in-use fails for a CNAME owner -> YXDOMAIN", (absent("alias"), MARK), YXDOMAIN),
    # §2.4.1: RRset exists, value independent (class ANY, type T)
    Case("rrset-exists ok", (present("www", "A"), MARK), added=MARKED),
    Case("rrset-exists fails: other type -> NXRRSET", (present("www", "MX"), MARK), NXRRSET),
    Case("rrset-exists fails: absent name -> NXRRSET", (present("nope", "A"), MARK), NXRRSET),
    Case("rrset-exists: CNAME not followed (§1.1.4)", (present("alias", "A"), MARK), NXRRSET),
    Case("rrset-exists: the CNAME itself", (present("alias", "CNAME"), MARK), added=MARKED),
    # §2.4.3: RRset does not exist (class NONE, type T)
    Case("rrset-absent ok", (absent("www", "MX"), MARK), added=MARKED),
    Case("rrset-absent ok for an absent name", (absent("nope", "A"), MARK), added=MARKED),
    Case("rrset-absent fails -> YXRRSET", (absent("www", "A"), MARK), YXRRSET),
    # §2.4.2: RRset exists, value dependent (zone class, TTL 0, whole RRset)
    Case("value ok: whole RRset", (present("www", "A", "192.0.2.10"), present("www", "A", "192.0.2.11"),
                                   MARK), added=MARKED),
    Case("value ok: other order", (present("www", "A", "192.0.2.11"), present("www", "A", "192.0.2.10"),
                                   MARK), added=MARKED),
    Case("value ok: names in rdata match in any case", (present("@", "MX", "10 MAIL.EXAMPLE.TEST."),
                                                        MARK), added=MARKED),
    Case("value ok: CNAME", (present("alias", "CNAME", "www"), MARK), added=MARKED),
    Case("value fails: part of the RRset -> NXRRSET", (present("www", "A", "192.0.2.10"), MARK), NXRRSET),
    Case("value fails: superset -> NXRRSET", (present("www", "A", "192.0.2.10"), present("www", "A", "192.0.2.11"),
                                              present("www", "A", "192.0.2.12"), MARK), NXRRSET),
    Case("value fails: other value -> NXRRSET", (present("txt", "TXT", '"one"'), present("txt", "TXT", '"three"'),
                                                 MARK), NXRRSET),
    Case("value fails: TXT is case-sensitive -> NXRRSET",
         (present("txt", "TXT", '"ONE"'), present("txt", "TXT", '"two"'), MARK), NXRRSET),
    Case("value fails: absent RRset -> NXRRSET", (present("nope", "A", "192.0.2.1"), MARK), NXRRSET),
    # §3.2.1-3.2.5: malformed prerequisites and NOTZONE
    Case("FORMERR: value prerequisite with TTL", (present("www", "A", "192.0.2.10"),
                                                  present("www", "A", "192.0.2.11"), MARK), FORMERR,
         mutate=set_prereq(0, ttl=300)),
    Case("FORMERR: in-use prerequisite with TTL", (present("www"), MARK), FORMERR, mutate=set_prereq(0, ttl=1)),
    Case("FORMERR: rrset-absent prerequisite with TTL", (absent("www", "MX"), MARK), FORMERR,
         mutate=set_prereq(0, ttl=60)),
    Case("FORMERR: class ANY prerequisite with rdata", (present("www", "A"), MARK), FORMERR,
         mutate=set_prereq(0, rdata=bytes([192, 0, 2, 10]))),
    Case("FORMERR: class NONE prerequisite with rdata", (absent("www", "MX"), MARK), FORMERR,
         mutate=set_prereq(0, rrtype=1, rdata=bytes([192, 0, 2, 10]))),
    Case("FORMERR: prerequisite of class CH", (present("www", "A", "192.0.2.10"), MARK), FORMERR,
         mutate=set_prereq(0, rrclass=3)),
    Case("NOTZONE: prerequisite outside the zone", (present("www.other.test."), MARK), NOTZONE),
    Case("NOTZONE: prerequisite at the parent", (absent("test."), MARK), NOTZONE),
    Case("first failing prerequisite decides", (absent("www"), present("nope"), MARK), YXDOMAIN),
    Case("first failing prerequisite decides (2)", (present("nope"), absent("www"), MARK), NXDOMAIN),
]

ZONE_AND_PRESCAN = [
    # §3.1.1 zone section
    Case("FORMERR: two zone questions", (MARK,), FORMERR,
         mutate=zone_section((ORIGIN, 6, 1), (ORIGIN, 6, 1))),
    Case("FORMERR: no zone question", (MARK,), FORMERR, mutate=zone_section()),
    Case("FORMERR: zone type not SOA", (MARK,), FORMERR, mutate=zone_section((ORIGIN, 2, 1))),
    Case("NOTAUTH: zone section of another class (§3.1.1: ZNAME and ZCLASS name no zone of ours)",
         (MARK,), NOTAUTH, mutate=zone_section((ORIGIN, 6, 3)),),
    # §3.4.1.3 prescan
    Case("NOTZONE: add outside the zone", (add("www.other.test.", 300, "A", "192.0.2.1"),), NOTZONE),
    Case("NOTZONE: delete at the parent", (delete("test."),), NOTZONE),
    Case("NOTZONE after a valid add: nothing applied", (MARK, add("x.example.", 300, "TXT", '"x"')), NOTZONE),
    Case("FORMERR: class ANY with TTL", (delete("www", "A"),), FORMERR, mutate=set_update(0, ttl=300)),
    Case("FORMERR: class ANY with rdata", (delete("www", "A"),), FORMERR,
         mutate=set_update(0, rdata=bytes([192, 0, 2, 10]))),
    Case("FORMERR: class ANY type ANY with TTL", (delete("www"),), FORMERR, mutate=set_update(0, ttl=1)),
    Case("FORMERR: class NONE with TTL", (delete("www", "A", "192.0.2.10"),), FORMERR,
         mutate=set_update(0, ttl=300)),
    Case("FORMERR: class NONE type ANY", (), FORMERR, mutate=raw_update("www", 255, 254)),
    Case("FORMERR: class IN type ANY", (), FORMERR, mutate=raw_update("www", 255, 1, 300)),
    Case("FORMERR: class IN type AXFR", (), FORMERR, mutate=raw_update("www", 252, 1, 300)),
    Case("FORMERR: class IN type MAILA", (), FORMERR, mutate=raw_update("www", 254, 1, 300)),
    Case("FORMERR: class IN type MAILB", (), FORMERR, mutate=raw_update("www", 253, 1, 300)),
    Case("FORMERR: class ANY type AXFR", (), FORMERR, mutate=raw_update("www", 252, 255)),
    Case("FORMERR: class NONE type MAILA", (), FORMERR, mutate=raw_update("www", 254, 254)),
    Case("FORMERR: update of class CH", (add("www", 300, "A", "192.0.2.12"),), FORMERR,
         mutate=set_update(0, rrclass=3)),
    Case("FORMERR after a valid add: nothing applied", (MARK, delete("www", "A")), FORMERR,
         mutate=set_update(1, ttl=5)),
    Case("prerequisites come before the prescan (§3.2 then §3.4)", (present("nope"), delete("www", "A")),
         NXDOMAIN, mutate=set_update(0, ttl=5)),
]

ADDS = [
    Case("two TXT values at a new name leave both",
         (add("_acme-challenge", 60, "TXT", '"token-1"'), add("_acme-challenge", 60, "TXT", '"token-2"')),
         added=('_acme-challenge 60 TXT "token-1"', '_acme-challenge 60 TXT "token-2"')),
    Case("a third TXT value joins the RRset", (add("txt", 3600, "TXT", '"three"'),),
         added=('txt 3600 TXT "three"',)),
    Case("a new value with another TTL sets the RRset's TTL (RFC 2181 §5.2)", (add("txt", 300, "TXT", '"three"'),),
         removed=('txt 3600 TXT "one"', 'txt 3600 TXT "two"'),
         added=('txt 300 TXT "one"', 'txt 300 TXT "two"', 'txt 300 TXT "three"')),
    Case("duplicate replaces and updates the TTL (§1.1.1: TTL not compared)", (add("txt", 60, "TXT", '"one"'),),
         removed=('txt 3600 TXT "one"', 'txt 3600 TXT "two"'), added=('txt 60 TXT "one"', 'txt 60 TXT "two"')),
    Case("duplicate with the same TTL: no change", (add("txt", 3600, "TXT", '"one"'),)),
    Case("duplicate with names in other case replaces the RR (§3.4.2.2: zrr = rr)",
         (add("@", 3600, "NS", "NS1.EXAMPLE.TEST."),), removed=("@ 3600 NS ns1",), added=("@ 3600 NS NS1",)),
    Case("add at an existing name in other case keeps the zone's owner case", (add("WWW", 3600, "A", "192.0.2.12"),),
         added=("www 3600 A 192.0.2.12",)),
    Case("add keeps the new owner's case", (add("NewName", 300, "TXT", '"x"'),), added=('NewName 300 TXT "x"',)),
    Case("owner case kept when a prerequisite named it first (RFC 4343 §4.1)",
         (absent("NewName"), add("NewName", 300, "TXT", '"x"')), added=('NewName 300 TXT "x"',),),
    Case("add below an empty non-terminal", (add("new.leaf.ent", 300, "A", "192.0.2.31"),),
         added=("new.leaf.ent 300 A 192.0.2.31",)),
    Case("CNAME beside data is ignored (§3.4.2.2)", (add("www", 300, "CNAME", "mail"),)),
    Case("data beside a CNAME is ignored (§3.4.2.2)", (add("alias", 300, "A", "192.0.2.1"),)),
    Case("CNAME at the apex is ignored", (add("@", 300, "CNAME", "www"),)),
    Case("a CNAME replaces the CNAME (§1.1.5)", (add("alias", 600, "CNAME", "mail"),),
         removed=("alias 3600 CNAME www",), added=("alias 600 CNAME mail",)),
    Case("CNAME then A at a new name: the A is ignored",
         (add("c", 300, "CNAME", "www"), add("c", 300, "A", "192.0.2.1")), added=("c 300 CNAME www",)),
    Case("A then CNAME at a new name: the CNAME is ignored",
         (add("c", 300, "A", "192.0.2.1"), add("c", 300, "CNAME", "www")), added=("c 300 A 192.0.2.1",)),
    Case("ignored CNAME beside an applied add", (add("www", 300, "CNAME", "mail"), MARK), added=MARKED),
    Case("apex NS added with its address in one update",
         (add("@", 3600, "NS", "ns3"), add("ns3", 3600, "A", "192.0.2.3")),
         added=("@ 3600 NS ns3", "ns3 3600 A 192.0.2.3")),
    Case("the wildcard owner is a name like any other", (add("*.wild", 3600, "A", "192.0.2.98"),),
         added=("*.wild 3600 A 192.0.2.98",)),
    Case("SOA at another name is ignored", (add("www", 300, "SOA", f"ns1 hostmaster 500 {SOA_TAIL}"),)),
]

DELETES = [
    Case("delete an RRset", (delete("www", "A"),), removed=("www 3600 A 192.0.2.10", "www 3600 A 192.0.2.11")),
    Case("delete all RRsets at a name", (delete("www"),),
         removed=("www 3600 A 192.0.2.10", "www 3600 A 192.0.2.11", 'www 3600 TXT "hello"')),
    Case("delete one RR of several leaves the others", (delete("txt", "TXT", '"one"'),),
         removed=('txt 3600 TXT "one"',)),
    Case("delete one RR of an A RRset", (delete("www", "A", "192.0.2.11"),), removed=("www 3600 A 192.0.2.11",)),
    Case("delete the last RR of an RRset", (delete("txt", "TXT", '"one"'), delete("txt", "TXT", '"two"')),
         removed=('txt 3600 TXT "one"', 'txt 3600 TXT "two"')),
    Case("delete an RRset by owner in other case", (delete("WWW", "TXT"),), removed=('www 3600 TXT "hello"',)),
    Case("delete a TXT value: rdata compared exactly (case kept)", (delete("txt", "TXT", '"ONE"'),)),
    Case("delete a name in rdata in any case: NS NS1.EXAMPLE.TEST. removes ns1",
         (delete("@", "NS", "NS1.EXAMPLE.TEST."),), removed=("@ 3600 NS ns1",)),
    Case("delete MX 10 MAIL.EXAMPLE.TEST. removes mx 10 mail", (delete("@", "MX", "10 MAIL.Example.Test."),),
         removed=("@ 3600 MX 10 mail",)),
    Case("delete an absent RR: no change", (delete("txt", "TXT", '"nine"'),)),
    Case("delete an absent RRset: no change", (delete("www", "MX"),)),
    Case("delete an absent name: no change", (delete("nope"),)),
    Case("delete the CNAME", (delete("alias", "CNAME"),), removed=("alias 3600 CNAME www",)),
    Case("delete a delegation", (delete("sub", "NS"),), removed=("sub 3600 NS ns.sub",)),
    Case("delete all at the apex keeps SOA and NS (§3.4.2.3)", (delete("@"),),
         removed=("@ 3600 MX 10 mail", '@ 3600 TXT "apex"')),
    Case("delete the apex SOA RRset is ignored", (delete("@", "SOA"),)),
    Case("delete the apex NS RRset is ignored", (delete("@", "NS"),)),
    Case("delete the apex SOA RR (class NONE) is ignored",
         (delete("@", "SOA", f"ns1 hostmaster 100 {SOA_TAIL}"),)),
    Case("delete one apex NS of two", (delete("@", "NS", "ns2"),), removed=("@ 3600 NS ns2",)),
    Case("delete both apex NS: the last one stays (§3.4.2.4)",
         (delete("@", "NS", "ns1"), delete("@", "NS", "ns2")), removed=("@ 3600 NS ns1",)),
    Case("delete the only apex NS is ignored", (delete("@", "NS", "ns1"),), zone=ONE_NS),
    Case("delete an RRset, then add: a replacement",
         (delete("txt", "TXT"), add("txt", 300, "TXT", '"new"')),
         removed=('txt 3600 TXT "one"', 'txt 3600 TXT "two"'), added=('txt 300 TXT "new"',)),
    Case("add, then delete the name: no change", (add("x", 300, "TXT", '"a"'), delete("x"))),
    Case("delete the CNAME, then add data there", (delete("alias"), add("alias", 300, "A", "192.0.2.1")),
         removed=("alias 3600 CNAME www",), added=("alias 300 A 192.0.2.1",)),
]

SERIALS = [
    Case("serial increments by one", (MARK,), added=MARKED, serial=101),
    Case("serial wraps 4294967295 -> 0 (RFC 1982)", (MARK,), added=MARKED, serial=0,
         zone=zone_text(4294967295)),
    Case("unixtime: serial becomes now", (MARK,), added=MARKED, serial=1700000000,
         serial_policy="unixtime", now=1700000000),
    Case("unixtime: now not above the serial -> +1", (MARK,), added=MARKED, serial=2024010101,
         serial_policy="unixtime", now=1700000000, zone=zone_text(2024010100)),
    Case("explicit higher SOA serial is kept", (add("@", 3600, "SOA", f"ns1 hostmaster 500 {SOA_TAIL}"), MARK),
         added=MARKED, serial=500),
    Case("explicit higher SOA alone changes the zone", (add("@", 3600, "SOA", f"ns1 hostmaster 500 {SOA_TAIL}"),),
         serial=500),
    Case("explicit higher SOA with new fields is taken whole",
         (add("@", 600, "SOA", "ns2 admin 200 1 2 3 4"),), serial=200, soa="600 ns2 admin 200 1 2 3 4"),
    Case("explicit higher SOA is kept under unixtime", (add("@", 3600, "SOA", f"ns1 hostmaster 500 {SOA_TAIL}"),
                                                        MARK), added=MARKED, serial=500,
         serial_policy="unixtime", now=1700000000),
    Case("explicit SOA serial higher across the wrap (RFC 1982)",
         (add("@", 3600, "SOA", f"ns1 hostmaster 5 {SOA_TAIL}"),), serial=5, zone=zone_text(4294967295)),
    Case("lower SOA serial is ignored (§3.6)", (add("@", 3600, "SOA", f"ns1 hostmaster 50 {SOA_TAIL}"),)),
    Case("lower SOA serial ignored, other change still bumps", (add("@", 3600, "SOA", f"ns1 hostmaster 50 1 1 1 1"),
                                                               MARK), added=MARKED, serial=101),
    Case("equal SOA serial with new fields replaces the SOA, then the serial rises (§3.4.2.2, §3.6)",
         (add("@", 3600, "SOA", "ns1 hostmaster 100 7200 3600 1209600 60"),),
         serial=101, soa="3600 ns1 hostmaster 101 7200 3600 1209600 60",),
]

ATOMICITY = [
    Case("failing prerequisite changes nothing", (present("nope"), MARK, delete("www")), NXDOMAIN),
    Case("policy refuses one RR of three -> REFUSED, nothing changed",
         (MARK, add("www", 300, "A", "192.0.2.12"), delete("txt")), REFUSED,
         permitted=lambda rr: rr.owner.key != b"\x03www" + APEX.key),
    Case("policy refuses all -> REFUSED", (MARK,), REFUSED, permitted=lambda rr: False),
    Case("no update section: NOERROR, nothing changed", ()),
    Case("prerequisites only: NOERROR, nothing changed", (present("www"), absent("nope"))),
    Case("an update that would break the zone (glue removed) is REFUSED whole (module rule)",
         (MARK, delete("ns.sub", "A")), REFUSED),
]

CASES = PREREQUISITES + ZONE_AND_PRESCAN + ADDS + DELETES + SERIALS + ATOMICITY


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in CASES])
def test_update(case: Case) -> None:
    zone = build_zone(case.zone)
    before = zone_records(zone)
    result = apply_update(zone, make_update(case.ops, case.mutate), permitted=case.permitted,
                          serial_policy=case.serial_policy, now=case.now)
    assert result.rcode == case.rcode, result.reason
    assert zone_records(zone) == before, "the old snapshot was changed"
    serial = case.expected_serial()
    if case.rcode != NOERROR or serial == UNCHANGED:
        assert (result.zone, result.removed, result.added) == (None, (), ()), result
        return
    assert result.zone is not None
    old_soa, new_soa = result.removed[0], result.added[0]
    assert old_soa == (zone.soa.wire, 6, zone.soa.ttl, zone.soa.rdatas[0])
    assert new_soa[1] == 6 and result.zone.serial == serial
    assert int.from_bytes(new_soa[3][-20:-16], "big") == serial
    if case.soa is not None:
        assert f"{new_soa[2]} {rr_text(*new_soa).split(' ', 3)[3]}" == case.soa
    assert [c[1] for c in result.removed[1:] + result.added[1:]].count(6) == 0
    assert sorted(rr_text(*c) for c in result.removed[1:]) == sorted(case.removed)
    assert sorted(rr_text(*c) for c in result.added[1:]) == sorted(case.added)
    assert len(set(result.removed)) == len(result.removed) and len(set(result.added)) == len(result.added)
    key = lambda c: (Name(c[0]).key, c[1], c[2], c[3])  # noqa: E731
    assert zone_records(result.zone) == (before - {key(c) for c in result.removed}) | {key(c) for c in result.added}


@pytest.mark.parametrize(("owner", "rrtype"), [("", 2), ("\x05alias", 5), ("", 15)])
def test_class_none_delete_with_empty_rdata_from_the_wire(owner: str, rrtype: int) -> None:
    """RFC 2136 §2.5.4/§3.4.2.4: class NONE deletes the RR that matches; an empty rdata matches none.

    The message is written by hand: dnspython will not write an empty class NONE rdata. Expected:
    NOERROR without change (or FORMERR), never an exception (update.py once raised WireError here).
    """
    head = struct.pack("!6H", 1, 5 << 11, 1, 0, 1, 0)
    zname = APEX.wire + struct.pack("!HH", 6, 1)
    rr = owner.encode("latin-1") + APEX.wire + struct.pack("!HHIH", rrtype, 254, 0, 0)
    msg = decode(head + zname + rr)
    assert msg.authority[0].rdata == b""
    result = apply_update(build_zone(zone_text()), msg, permitted=allow)
    assert result.rcode in (NOERROR, FORMERR) and result.zone is None


def test_permitted_sees_exactly_the_update_rrs() -> None:
    """§3.3: the policy is asked about each update RR, not about prerequisites."""
    seen: list[RR] = []
    msg = make_update((present("www"), add("a", 60, "TXT", '"1"'), delete("txt", "TXT", '"one"')))
    apply_update(build_zone(zone_text()), msg, permitted=lambda rr: seen.append(rr) or True)
    assert seen == list(msg.authority)


@pytest.mark.parametrize(("ops", "cuts", "ents"), [
    ((delete("sub", "NS"), delete("ns.sub", "A")), set(), {b"\x03ent"}),
    ((add("deeper.new", 60, "A", "192.0.2.9"),), {b"\x03sub"}, {b"\x03ent", b"\x03new"}),
    ((delete("leaf.ent"),), {b"\x03sub"}, set()),
    ((add("kid", 60, "NS", "ns1"),), {b"\x03sub", b"\x03kid"}, {b"\x03ent"}),
])
def test_new_snapshot_structure(ops: tuple[Op, ...], cuts: set[bytes], ents: set[bytes]) -> None:
    """The new snapshot recomputes zone cuts and empty non-terminals."""
    result = apply_update(build_zone(zone_text()), make_update(ops), permitted=allow)
    assert result.rcode == NOERROR and result.zone is not None, result.reason
    assert set(result.zone.cuts) == {c + APEX.key for c in cuts}
    assert set(result.zone.ents) == {e + APEX.key for e in ents | {b"\x04wild"}}


def test_successive_updates_chain() -> None:
    """An update applies to the snapshot the previous one returned; serials rise each time."""
    zone = build_zone(zone_text())
    for n in range(3):
        result = apply_update(zone, make_update((add("_acme-challenge", 60, "TXT", f'"t{n}"'),)), permitted=allow)
        assert result.zone is not None
        zone = result.zone
    assert zone.serial == 103
    assert {rd for r in zone.node(b"\x0f_acme-challenge" + APEX.key) for rd in r.rdatas} == {
        b"\x02t0", b"\x02t1", b"\x02t2"}
