"""Which authoritative server to ask: smoothed RTT, timeouts with backoff, lame servers (pure).

How it works: per server address the table keeps a smoothed round-trip time (RFC 6298
style, alpha 1/8), the count of timeouts in a row, and whether it spoke EDNS. A server
never heard from starts with a small random RTT, so unknown servers are tried early and
in random order. A timeout doubles the server's next timeout (up to ``max_timeout``)
and raises its RTT, so it sinks in the order; an answer resets the backoff. A server
that is lame for a zone (REFUSED, SERVFAIL, not authoritative, or no answer at all) is
avoided for that zone for ``lame_ttl`` seconds.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Callable

_PRIVATE_NETS = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.168.0.0/16", "::/128", "::1/128", "fc00::/7", "fe80::/10", "::ffff:0:0/96"))


def is_private(address: str) -> bool:
    """True for loopback, private, link-local, unspecified and mapped addresses (RFC 6890)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return True
    return any(ip in net for net in _PRIVATE_NETS if net.version == ip.version)


@dataclass(slots=True)
class Server:
    """What is known of one server address.

    Attributes:
        srtt: smoothed round-trip time, seconds.
        timeouts: timeouts in a row (the backoff exponent).
        no_edns: until when (monotonic seconds) EDNS is left out for it: it answered FORMERR
            to EDNS (RFC 6891 §7); tried again after ``lame_ttl``.
    """

    srtt: float
    timeouts: int = 0
    no_edns: float = 0.0


class ServerTable:
    """Statistics of all upstream servers.

    Args:
        timeout: the first timeout, seconds.
        max_timeout: the ceiling of any timeout, seconds.
        lame_ttl: seconds a lame (zone, server) pair is avoided.
        randbits: randomness (``secrets.randbits`` in production).
        max_entries: the table's bound; the oldest entries are forgotten beyond.
    """

    def __init__(self, *, timeout: float, max_timeout: float, lame_ttl: int,
                 randbits: Callable[[int], int], max_entries: int = 100_000) -> None:
        self.timeout, self.max_timeout, self.lame_ttl = timeout, max_timeout, lame_ttl
        self.randbits = randbits
        self.max_entries = max_entries
        self.servers: dict[str, Server] = {}
        self.lame: dict[tuple[bytes, str], float] = {}

    def get(self, address: str) -> Server:
        """The entry for ``address``, created with a small random RTT (0..10 ms)."""
        server = self.servers.get(address)
        if server is None:
            if len(self.servers) >= self.max_entries:
                self.servers.pop(next(iter(self.servers)))
            server = self.servers[address] = Server(srtt=self.randbits(10) / 100_000)
        return server

    def order(self, zone_key: bytes, addresses: list[str], now: float) -> list[str]:
        """``addresses`` not lame for the zone, fastest first."""
        usable = [a for a in addresses if self.lame.get((zone_key, a), 0.0) < now]
        return sorted(usable, key=lambda a: self.get(a).srtt)

    def timeout_for(self, address: str) -> float:
        """Seconds to wait for ``address``: 3 x its RTT, at least ``timeout``, doubled per timeout."""
        server = self.get(address)
        base = max(self.timeout, 3 * server.srtt)
        return min(self.max_timeout, base * (2 ** min(server.timeouts, 6)))

    def answered(self, address: str, rtt: float) -> None:
        """A reply came after ``rtt`` seconds."""
        server = self.get(address)
        server.srtt += (max(rtt, 0.0) - server.srtt) / 8
        server.timeouts = 0

    def timed_out(self, address: str) -> None:
        """No reply in time: back off."""
        server = self.get(address)
        server.timeouts += 1
        server.srtt = min(self.max_timeout, max(server.srtt * 2, self.timeout))

    def mark_lame(self, zone_key: bytes, address: str, now: float) -> None:
        """Avoid ``address`` for this zone for ``lame_ttl`` seconds."""
        if len(self.lame) >= self.max_entries:
            self.lame = {k: t for k, t in self.lame.items() if t >= now}
        self.lame[(zone_key, address)] = now + self.lame_ttl
