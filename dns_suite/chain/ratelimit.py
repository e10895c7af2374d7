"""Rate limits on the hot path (pure; time passed in): response rate limiting (RRL) for the
authoritative service and a per-client query limit for the resolver.

How it works: :class:`TokenBuckets` keeps, per key, a bucket of at most ``burst`` tokens that
fills at ``rate`` tokens per second; each event takes one token, and an event that finds
less than one is over the rate. The table is bounded (``max_keys``; when full it is emptied
at once, so a flood of sources costs memory only up to the bound and at worst forgives the
limited clients for a moment).

:class:`ResponseRateLimiter` is RRL as NSD, Knot and BIND do it (the technique of Vixie and
Schryver, 2012): a UDP reply is counted against its client's network prefix (/24 for IPv4,
/56 for IPv6 by default) and its kind (:func:`reply_kind`: answer, NODATA, NXDOMAIN,
referral, error), so a reflection flood aimed at a victim's addresses is cut while other
clients, and other kinds of answers, are not. Over the rate a reply is dropped, except every
``slip``-th limited reply of a bucket, which is sent truncated (TC, no records) so a real
client behind the prefix retries over TCP, which is never limited (a spoofed source cannot
complete a TCP handshake). ``slip = 0`` drops them all, ``slip = 1`` truncates them all.
Its buckets hold ``rate`` tokens and are refilled once a second rather than continuously, so
the per-reply check reads no clock (see :class:`ResponseRateLimiter`).

:class:`QueryRateLimiter` counts queries per client address for the resolver's
``client_rate``.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable

from dns_suite.chain.acl import client_ip
from dns_suite.chain.opt import truncated

ANSWER, NODATA, NXDOMAIN, REFERRAL, ERROR = range(5)
KIND_NAMES = ("answer", "nodata", "nxdomain", "referral", "error")
MAX_KEYS = 1 << 17
MAX_TRUNCATED = 10_000  # truncated replies remembered
LOG_EVERY = 10.0  # seconds between log lines about limited prefixes

log = logging.getLogger("dns_suite.rrl")

#: ``handler(query_octets, client_address) -> reply_octets | None`` (see the package docstring).
Handler = Callable[[bytes, str], "bytes | None"]


class TokenBuckets:
    """Token buckets by key.

    Args:
        rate: tokens added per second (> 0).
        burst: the most tokens a bucket holds (default ``rate``, at least 1).
        max_keys: buckets kept before the table is emptied.
    """

    __slots__ = ("rate", "burst", "max_keys", "buckets")

    def __init__(self, rate: float, burst: float | None = None, max_keys: int = MAX_KEYS) -> None:
        self.rate = float(rate)
        self.burst = max(1.0, float(rate if burst is None else burst))
        self.max_keys = max_keys
        self.buckets: dict = {}

    def take(self, key, now: float) -> bool:
        """Take a token from ``key``'s bucket at ``now`` (seconds); False when it had none."""
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= self.max_keys:
                self.buckets.clear()
            self.buckets[key] = [self.burst - 1.0, now, 0]
            return True
        tokens = bucket[0] + (now - bucket[1]) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return True
        bucket[0] = tokens if tokens > 0.0 else 0.0
        return False


def reply_kind(reply: bytes) -> int:
    """The RRL kind of a reply, from its header alone: rcode, AA and ANCOUNT."""
    rcode = reply[3] & 0x0F
    if rcode == 3:
        return NXDOMAIN
    if rcode:
        return ERROR
    if reply[6] or reply[7]:
        return ANSWER
    return NODATA if reply[2] & 0x04 else REFERRAL


def prefix_of(address: str, ipv4_prefix: int, ipv6_prefix: int) -> str:
    """The network ``address`` belongs to, as text (``"192.0.2.0/24"``); the address itself
    when it does not parse."""
    ip = client_ip(address)
    if ip is None:
        return address
    length = ipv4_prefix if ip.version == 4 else ipv6_prefix
    return str(ipaddress.ip_network(f"{ip}/{length}", strict=False))


class ResponseRateLimiter:
    """RRL for UDP replies.

    Args:
        rate: replies per second per prefix and kind (>= 1).
        clock: monotonic seconds (``time.monotonic`` in production).
        slip: every ``slip``-th limited reply of a bucket is sent truncated; 0: none.
        ipv4_prefix, ipv6_prefix: prefix lengths clients are grouped by.
        max_keys: client addresses and prefixes remembered (each table is emptied when full).

    Attributes:
        dropped, slipped: replies not sent, and sent truncated, since the start.

    The buckets are refilled once a second (to ``rate`` tokens, not more: a token bucket with
    a one-second refill, as NSD counts per second), so the hot path (:meth:`limit`) reads no
    clock: one dict lookup (client address -> its prefix's five buckets, one per kind), a
    decrement and a comparison; only a bucket found empty asks the clock whether a second has
    passed since its last refill.
    """

    __slots__ = ("rate", "clock", "slip", "ipv4_prefix", "ipv6_prefix", "max_keys", "_clients", "_prefixes",
                 "dropped", "slipped", "_logged", "_truncated")

    def __init__(self, rate: int, *, clock: Callable[[], float], slip: int = 2, ipv4_prefix: int = 24,
                 ipv6_prefix: int = 56, max_keys: int = MAX_KEYS) -> None:
        if rate < 1:
            raise ValueError("RRL rate must be at least 1 (a rate of 0 means no limiter at all)")
        self.rate, self.clock = int(rate), clock
        self.slip, self.ipv4_prefix, self.ipv6_prefix = slip, ipv4_prefix, ipv6_prefix
        self.max_keys = max_keys
        self._clients: dict[str, list] = {}    # address -> its prefix's buckets
        self._prefixes: dict[str, list] = {}   # prefix -> [prefix, bucket per kind]
        self.dropped = self.slipped = 0
        self._logged = float("-inf")
        self._truncated: dict[bytes, bytes] = {}  # reply after its ID -> the truncated copy's

    def _state(self, client: str) -> list:
        """The buckets of ``client``'s prefix: ``[prefix, [tokens, refilled, limited] * 5 kinds]``."""
        prefix = prefix_of(client, self.ipv4_prefix, self.ipv6_prefix)
        state = self._prefixes.get(prefix)
        if state is None:
            if len(self._prefixes) >= self.max_keys:
                self._prefixes.clear()
            now = self.clock()
            state = [prefix] + [[self.rate, now, 0] for _ in KIND_NAMES]
            self._prefixes[prefix] = state
        if len(self._clients) >= self.max_keys:
            self._clients.clear()
        self._clients[client] = state
        return state

    def prefix(self, address: str) -> str:
        """``address``'s prefix as text."""
        return (self._clients.get(address) or self._state(address))[0]

    def limit(self, reply: bytes, client: str) -> bytes | None:
        """The reply to send to ``client``: ``reply``, a truncated copy, or None (dropped)."""
        state = self._clients.get(client)
        if state is None:
            state = self._state(client)
        rcode = reply[3] & 0x0F  # the kind, as reply_kind() says, inline
        if rcode:
            bucket = state[1 + (NXDOMAIN if rcode == 3 else ERROR)]
        elif reply[6] or reply[7]:
            bucket = state[1 + ANSWER]
        else:
            bucket = state[1 + (NODATA if reply[2] & 0x04 else REFERRAL)]
        if bucket[0] > 0:
            bucket[0] -= 1
            return reply
        now = self.clock()
        if now - bucket[1] >= 1.0:  # a second since the last refill: full again
            bucket[0], bucket[1] = self.rate - 1, now
            return reply
        return self._limited(reply, state, bucket, now)

    def _limited(self, reply: bytes, state: list, bucket: list, now: float) -> bytes | None:
        bucket[2] += 1
        if now - self._logged >= LOG_EVERY:
            self._logged = now
            log.info("rrl limiting prefix=%s kind=%s dropped=%d slipped=%d", state[0],
                     KIND_NAMES[state.index(bucket) - 1], self.dropped, self.slipped)
        if self.slip and bucket[2] % self.slip == 0:
            self.slipped += 1
            tail = self._truncated.get(reply[2:])  # a flood repeats its questions: made once each
            if tail is None:
                made = truncated(reply)
                if made is None:
                    return None
                if len(self._truncated) >= MAX_TRUNCATED:
                    self._truncated.clear()
                tail = self._truncated[reply[2:]] = made[2:]
            return reply[:2] + tail
        self.dropped += 1
        return None

    def counters(self) -> dict[str, int]:
        """``{"dropped": N, "slipped": M}`` since the start."""
        return {"dropped": self.dropped, "slipped": self.slipped}


def guard(rrl: ResponseRateLimiter, inner: Handler) -> Handler:
    """Middleware: ``inner``'s UDP replies through ``rrl``. Deferred replies (b"") pass
    untouched: the control process answers those."""

    def handler(query: bytes, client: str) -> bytes | None:
        reply = inner(query, client)
        if not reply:
            return reply
        return rrl.limit(reply, client)

    return handler


class QueryRateLimiter:
    """Queries per second per client address (the resolver's ``client_rate``).

    Args:
        rate: queries per second a client may send (> 0); a burst of one second's worth.

    Attributes:
        limited: queries over the rate since the start.
    """

    __slots__ = ("buckets", "limited")

    def __init__(self, rate: float, max_keys: int = MAX_KEYS) -> None:
        self.buckets = TokenBuckets(rate, None, max_keys)
        self.limited = 0

    def allows(self, client: str, now: float) -> bool:
        """Whether ``client``'s query at ``now`` is within its rate (counted either way)."""
        if self.buckets.take(client, now):
            return True
        self.limited += 1
        return False
