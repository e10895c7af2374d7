"""Root hints (RFC 8109 §3): the root's NS names and their addresses, from a zone-file text (pure).

The file is the IANA ``named.root`` format (the one shipped as ``root.hints`` in this package,
and /usr/share/dns/root.hints on Debian): NS records at ``.`` and A/AAAA records for their
targets, read with the project's zone reader (RFC 1035 §5: comments, ``$TTL``, ``$ORIGIN``).
TTLs are read and ignored: the priming query (RFC 8109 §3) replaces the hints anyway.
Rules, each broken one reported as ``FILE:LINE: REASON``:

- at least one NS record at the root, and only there;
- every NS target has at least one A or AAAA record;
- A/AAAA records belong to NS targets; no other types; no ``$INCLUDE``.
"""

from __future__ import annotations

import ipaddress

from dns_suite.resolver.settings import Hints
from dns_suite.wire.name import ROOT, Name
from dns_suite.wire.types import RRType
from dns_suite.zone.errors import ZoneError
from dns_suite.zone.reader import ZoneReader

_A, _AAAA, _NS = int(RRType.A), int(RRType.AAAA), int(RRType.NS)


def parse_hints(text: str, file: str, *, port: int = 53) -> Hints:
    """Read root hints.

    Args:
        text: the file's contents.
        file: its name, for errors.
        port: the port the hinted servers listen on (53; labs and tests use others).

    Returns:
        The hints: servers in the order of their NS records, each with its addresses in file
        order (duplicates dropped).

    Raises:
        ZoneError: a syntax error or a broken rule above, with file and line (line 0 when the
            whole file is at fault: no NS record at all).
    """
    reader = ZoneReader(ROOT, file=file, default_ttl=3600000, allow_generate=False)
    ns_lines: dict[Name, int] = {}
    addresses: dict[Name, list[tuple[str, int]]] = {}
    for owner, _ttl, rrtype, rdata, where, line in reader.records(text.splitlines()):
        if rrtype == _NS:
            if owner != ROOT:
                raise ZoneError(where, line, f"NS record at {owner}: root hints hold NS records at '.' only")
            ns_lines.setdefault(Name(rdata), line)
        elif rrtype in (_A, _AAAA):
            address = str(ipaddress.ip_address(rdata))
            addresses.setdefault(owner, []).append((address, line))
        else:
            kind = RRType(rrtype).to_text()
            raise ZoneError(where, line, f"{kind} record: root hints hold only NS, A and AAAA records")
    if not ns_lines:
        raise ZoneError(file, 0, "no NS record for the root '.'")
    for owner, found in addresses.items():
        if owner not in ns_lines:
            raise ZoneError(file, found[0][1], f"address of {owner}, which no root NS record names")
    servers = []
    for name, line in ns_lines.items():
        found = addresses.get(name)
        if not found:
            raise ZoneError(file, line, f"root NS {name} has no A or AAAA record")
        servers.append((name, tuple(dict.fromkeys(address for address, _ in found))))
    return Hints(servers=tuple(servers), port=port)
