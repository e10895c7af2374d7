"""Zones a resolver answers itself (RFC 6761 §6.3-6.4, RFC 6303 §4, RFC 7793, RFC 8375 aside).

Queries for these names never leave the host: ``localhost.`` (and every name below it)
is the loopback address, ``invalid.`` does not exist, and the reverse zones of private,
loopback, link-local and documentation address space are empty zones (NXDOMAIN below
their apex) except the loopback PTRs. They are built once as ordinary zones and
answered by the authoritative engine.
"""

from __future__ import annotations

from dns_suite.authoritative.engine import Result, resolve
from dns_suite.authoritative.zoneset import ZoneSet
from dns_suite.wire.name import Name
from dns_suite.zone.model import Zone, ZoneBuilder
from dns_suite.zone.reader import ZoneReader

_V4_PRIVATE = ["10", "127", "0", "254.169", "168.192", "2.0.192", "100.51.198", "113.0.203",
               "255.255.255.255"] + [f"{n}.172" for n in range(16, 32)] + [f"{n}.100" for n in range(64, 128)]
_V6 = ["0." * 31 + "0", "0." * 31 + "1", "d.f", "8.e.f", "9.e.f", "a.e.f", "b.e.f", "8.b.d.0.1.0.0.2"]

_SOA = "@ 10800 SOA localhost. nobody.invalid. 1 3600 1200 604800 10800\n@ 10800 NS localhost.\n"
_EXTRA = {
    "localhost.": "@ 10800 A 127.0.0.1\n@ 10800 AAAA ::1\n* 10800 A 127.0.0.1\n* 10800 AAAA ::1\n",
    "127.in-addr.arpa.": "1.0.0 10800 PTR localhost.\n",
    ("0." * 31 + "1.ip6.arpa."): "@ 10800 PTR localhost.\n",
}


def _zone(origin: str) -> Zone:
    apex = Name.from_text(origin)
    text = _SOA + _EXTRA.get(origin, "")
    builder = ZoneBuilder(apex)
    for record in ZoneReader(apex, file=f"<local zone {origin}>").records(text.splitlines()):
        builder.add(*record)
    zone, problems = builder.build()
    if zone is None:  # our own text: a bug
        raise AssertionError([str(p) for p in problems])
    return zone


def local_zones() -> ZoneSet:
    """The built-in local zones (a fresh ZoneSet; build once and keep it)."""
    origins = (["localhost.", "invalid."] + [f"{z}.in-addr.arpa." for z in _V4_PRIVATE]
               + [f"{z}.ip6.arpa." for z in _V6])
    return ZoneSet([_zone(o) for o in origins])


def answer_locally(zones: ZoneSet, qname: Name, qtype: int) -> Result | None:
    """The engine's answer when ``qname`` is in a local zone, else None."""
    if zones.find(qname.key) is None:
        return None
    return resolve(zones, qname, qtype)
