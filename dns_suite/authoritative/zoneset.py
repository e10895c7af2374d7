"""The set of zones a server answers for, looked up by closest enclosing zone."""

from __future__ import annotations

from dns_suite.zone.model import Zone


class ZoneSet:
    """Served zones keyed by origin (lowercased wire form).

    Args:
        zones: the zones; origins must differ.
        version: increases with every published change.
        expired: origin keys of secondary zones past EXPIRE: answered SERVFAIL (RFC 1034 §4.3.5).
    """

    __slots__ = ("zones", "version", "expired")

    def __init__(self, zones: list[Zone] | tuple[Zone, ...] = (), version: int = 0,
                 expired: frozenset[bytes] = frozenset()) -> None:
        self.zones = {z.origin.key: z for z in zones}
        self.version = version
        self.expired = expired

    def find(self, key: bytes) -> Zone | None:
        """The closest enclosing zone of the name with ``key``, or None."""
        zones = self.zones
        while True:
            zone = zones.get(key)
            if zone is not None:
                return zone
            if key == b"\0":
                return None
            key = key[key[0] + 1:]

    def parent_of(self, zone: Zone) -> Zone | None:
        """The closest enclosing served zone strictly above ``zone``'s apex."""
        key = zone.origin.key
        return None if key == b"\0" else self.find(key[key[0] + 1:])
