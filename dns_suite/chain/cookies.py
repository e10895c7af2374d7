"""DNS cookies (RFC 7873) with interoperable server cookies (RFC 9018) (pure; time injected).

How it works: a query's COOKIE option holds the client's 8-octet cookie and, once the client
has learned one, the server cookie we gave it. Our server cookies are RFC 9018 version 1:
version (1), three reserved octets, a 32-bit timestamp (seconds since the epoch) and
SipHash-2-4 (``chain/siphash.py``) keyed with a 16-octet server secret over client cookie,
version, reserved, timestamp and the client's address (4 or 16 octets). A server cookie is
valid when its hash matches under the current secret or the previous one (kept after a
rotation, RFC 9018 §5) and its timestamp is at most an hour old and at most five minutes
ahead (§4.3). Each reply to a cookie carries the client cookie and a server cookie: the
client's own while valid, younger than half an hour and made with the current secret, else a
fresh one.

:meth:`CookieJar.prepare` is what the transports call per query:

========================================  ==============================================
query                                     outcome
========================================  ==============================================
no OPT, or no COOKIE option               None: hand the query on unchanged
COOKIE of a bad length (§5.2.2)           FORMERR, made here
cookie-only query (QDCOUNT 0, §5.4)       NOERROR with our cookie, made here
UDP, no valid server cookie, client over  BADCOOKIE with a fresh cookie (§5.2.3), made
``required_above`` queries/s              here: the client retries with it
otherwise                                 hand on the query without the option; add
                                          ``option`` to the reply (:func:`finish`)
========================================  ==============================================

A query whose OPT is not its last record (a TSIG follows) is handed on unchanged: the
signature covers its octets, and the control process answers cookies there itself. Clients
without cookies are never asked for one (as BIND's ``require-server-cookie``); RRL covers
them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from struct import pack, unpack_from

from dns_suite.chain.acl import client_ip
from dns_suite.chain.opt import add_option, find_opt, options
from dns_suite.chain.ratelimit import TokenBuckets
from dns_suite.chain.siphash import siphash24
from dns_suite.wire.edns import Edns, EdnsOption
from dns_suite.wire.errors import WireError
from dns_suite.wire.message import Message, decode, encode
from dns_suite.wire.types import Flag, Rcode

COOKIE = 10
VERSION = 1
LIFETIME = 3600      # seconds a server cookie is accepted after its timestamp (RFC 9018 §4.3)
RENEW_AFTER = 1800   # seconds after which a reply carries a fresh one
SKEW = 300           # seconds a timestamp may be ahead of our clock
REPLY_PAYLOAD = 1232
FRESH_REUSE = 60     # seconds a fresh server cookie is handed out again to the same client
MAX_REMEMBERED = 65536

#: ``handler(query_octets, client_address) -> reply_octets | None`` (see the package docstring).
Handler = Callable[[bytes, str], "bytes | None"]


class Verdict(IntEnum):
    """What a query's COOKIE option is (RFC 7873 §5.2)."""

    MALFORMED = 0    # §5.2.2: FORMERR
    CLIENT_ONLY = 1  # §5.2.3
    INVALID = 2      # §5.2.4: a server cookie that is not ours, or too old
    VALID = 3        # §5.2.5


@dataclass(slots=True, kw_only=True)  # not frozen: made per cookie query, frozen __init__ is slow
class Prepared:
    """A query after :meth:`CookieJar.prepare`.

    Attributes:
        query: the query to hand on (without its COOKIE option).
        option: the COOKIE option data for the reply (client cookie + server cookie).
        verdict: what the client sent.
        reply: a reply made here (FORMERR, BADCOOKIE, cookie-only): send it, hand nothing on.
        limit: the largest reply the client takes (its EDNS payload, at least 512; UDP).
    """

    query: bytes
    option: bytes | None
    verdict: Verdict
    reply: bytes | None = None
    limit: int = 65535


def server_cookie(secret: bytes, client_cookie: bytes, address: bytes, timestamp: int,
                  head: bytes = b"\x01\0\0\0") -> bytes:
    """The 16-octet RFC 9018 server cookie (§4.2, §4.4).

    Args:
        secret: the 16-octet server secret.
        client_cookie: the client's 8 octets.
        address: the client's address, 4 (IPv4) or 16 (IPv6) octets.
        timestamp: seconds since the epoch (taken modulo 2**32).
        head: version and reserved octets (as received, when checking one).
    """
    stamp = pack("!I", timestamp & 0xFFFFFFFF)
    return head + stamp + siphash24(secret, client_cookie + head + stamp + address)


def age(timestamp: int, now: int) -> int:
    """Seconds from ``timestamp`` to ``now`` in serial arithmetic (RFC 1982: 32-bit wrap)."""
    diff = (now - timestamp) & 0xFFFFFFFF
    return diff - (1 << 32) if diff >= 1 << 31 else diff


class CookieJar:
    """Server secrets, the clock, and who must show a cookie.

    Args:
        secret: the 16-octet server secret (shared by the servers of an anycast set).
        clock: wall-clock seconds since the epoch (``time.time`` in production).
        previous: the secret before the last rotation, still accepted.
        required_above: UDP queries per second (per client address) above which a client
            that sends a cookie must show a valid server cookie; 0: never required.
        recursive: the replies made here have RA set (a resolver's, RFC 1035 §4.1.1).

    Raises:
        ValueError: a secret is not 16 octets.
    """

    def __init__(self, secret: bytes, *, clock: Callable[[], float], previous: bytes | None = None,
                 required_above: float = 0, recursive: bool = False) -> None:
        for s in (secret, previous):
            if s is not None and len(s) != 16:
                raise ValueError(f"cookie secret of {len(s)} octets (16 expected)")
        self.secret, self.previous, self.clock = secret, previous, clock
        self.gate = TokenBuckets(required_above) if required_above > 0 else None
        self._addresses: dict[str, bytes] = {}
        self._valid: dict[bytes, bool] = {}   # cookie + address -> made with the current secret
        self._made: dict[bytes, tuple[int, bytes]] = {}  # client cookie + address -> (stamp, option)
        self.badcookies = 0  # BADCOOKIE replies sent
        self.ra = Flag.RA if recursive else 0

    def rotate(self, secret: bytes) -> None:
        """Make ``secret`` current; the current one stays accepted as the previous one."""
        if len(secret) != 16:
            raise ValueError(f"cookie secret of {len(secret)} octets (16 expected)")
        if secret != self.secret:
            self.previous, self.secret = self.secret, secret
            self._valid.clear()
            self._made.clear()

    def _address(self, client: str) -> bytes:
        packed = self._addresses.get(client)
        if packed is None:
            ip = client_ip(client)
            packed = ip.packed if ip is not None else bytes(4)
            _remember(self._addresses, client, packed)
        return packed

    def check(self, cookie: bytes, client: str, now: int) -> tuple[Verdict, bytes | None]:
        """Judge the COOKIE option data ``cookie`` of a query from ``client`` at ``now``.

        SipHash in pure Python costs about 10 µs, so outcomes are remembered: a server cookie
        found valid (by its octets and the client's address; its age is checked each time),
        and the fresh cookie made for a client cookie and address (handed out again for
        ``FRESH_REUSE`` seconds). Both tables are bounded and emptied on a rotation.

        Returns:
            ``(verdict, option)``: the option data for the reply (None when malformed).
        """
        n = len(cookie)
        if n != 8 and not 16 <= n <= 40:
            return Verdict.MALFORMED, None
        client_cookie, address = cookie[:8], self._address(client)
        if n == 24 and cookie[8] == VERSION:
            stamp = unpack_from("!I", cookie, 12)[0]
            old = age(stamp, now)
            if -SKEW <= old <= LIFETIME:
                key = cookie + address
                current = self._valid.get(key)
                if current is None:
                    current = self._verify(cookie, client_cookie, address, stamp)
                    if current is not None:
                        _remember(self._valid, key, current)
                if current is not None:
                    if old <= RENEW_AFTER and current and cookie[9:12] == b"\0\0\0":
                        return Verdict.VALID, cookie
                    return Verdict.VALID, self._fresh(client_cookie, address, now)
        fresh = self._fresh(client_cookie, address, now)
        return (Verdict.CLIENT_ONLY if n == 8 else Verdict.INVALID), fresh

    def _verify(self, cookie: bytes, client_cookie: bytes, address: bytes, stamp: int) -> bool | None:
        """True: made with the current secret; False: with the previous one; None: not ours."""
        for secret in (self.secret, self.previous):
            if secret is not None and server_cookie(secret, client_cookie, address, stamp,
                                                    cookie[8:12]) == cookie[8:]:
                return secret is self.secret
        return None

    def _fresh(self, client_cookie: bytes, address: bytes, now: int) -> bytes:
        """Client cookie + a server cookie stamped at most ``FRESH_REUSE`` seconds ago."""
        key = client_cookie + address
        made = self._made.get(key)
        if made is not None and 0 <= age(made[0], now) < FRESH_REUSE:
            return made[1]
        option = client_cookie + server_cookie(self.secret, client_cookie, address, now)
        _remember(self._made, key, (now, option))
        return option

    def reply_option(self, cookie: bytes, client: str) -> bytes | None:
        """The COOKIE option data answering ``cookie`` from ``client`` now (None: malformed).
        For the responder's own replies (``Options.server_cookie``)."""
        return self.check(cookie, client, int(self.clock()))[1]

    def prepare(self, query: bytes, client: str, *, udp: bool) -> Prepared | None:
        """Take the COOKIE option out of ``query`` (see the module docstring), or None."""
        if len(query) < 12 or not (query[10] or query[11]) or query[2] & 0x80:
            return None  # no additional records: no OPT; or a response
        if (query[10] == 0 and query[11] == 1 and len(query) >= 23 and query[-11:-8] == b"\0\0\x29"
                and query[-2:] == b"\0\0"):
            return None  # the usual EDNS query: its one additional record an OPT without options
        located = _cookie_alone(query) or _cookie_anywhere(query)
        if located is None:
            return None
        rdata, end, cstart, cend = located
        now = self.clock()
        verdict, option = self.check(query[cstart:cend], client, int(now))
        stripped = query[:rdata - 2] + pack("!H", end - rdata - (cend - cstart) - 4) + \
            query[rdata:cstart - 4] + query[cend:end]
        limit = max(512, unpack_from("!H", query, rdata - 8)[0]) if udp else 65535
        if verdict is Verdict.MALFORMED:
            return Prepared(query=stripped, option=None, verdict=verdict,
                            reply=_reply(query, Rcode.FORMERR, None, self.ra))
        if (udp and verdict is not Verdict.VALID and self.gate is not None
                and not self.gate.take(client, now)):
            self.badcookies += 1
            return Prepared(query=stripped, option=option, verdict=verdict,
                            reply=_reply(query, Rcode.BADCOOKIE, option, self.ra))
        if query[4:6] == b"\0\0" and query[2] & 0x78 == 0:  # cookie-only query (§5.4)
            return Prepared(query=stripped, option=option, verdict=verdict,
                            reply=_reply(query, Rcode.NOERROR, option, self.ra))
        return Prepared(query=stripped, option=option, verdict=verdict, limit=limit)


def _cookie_alone(query: bytes) -> tuple[int, int, int, int] | None:
    """``(rdata, rdata_end, cookie_start, cookie_end)`` when the query is the common shape: no
    answer or authority records, one additional record, an OPT last whose only option is an
    8- or 24-octet COOKIE; found from the end, without walking the question. Else None."""
    if query[6:12] != b"\0\0\0\0\0\1":
        return None
    n = len(query)
    for size in (8, 24):
        rdata = n - 4 - size
        if (rdata >= 23 and query[rdata:rdata + 4] == _COOKIE_HEADS[size]
                and query[rdata - 11:rdata - 8] == b"\0\0\x29" and query[rdata - 2:rdata] == _RDLENGTHS[size]):
            return rdata, n, rdata + 4, n
    return None


_COOKIE_HEADS = {size: pack("!HH", COOKIE, size) for size in (8, 24)}
_RDLENGTHS = {size: pack("!H", size + 4) for size in (8, 24)}


def _cookie_anywhere(query: bytes) -> tuple[int, int, int, int] | None:
    """As :func:`_cookie_alone` for any query whose OPT is its last record (walked)."""
    found = find_opt(query)
    if found is None or not found[3]:
        return None
    _, rdata, end, _ = found
    cookie = next((o for o in options(query, rdata, end) or () if o[0] == COOKIE), None)
    return None if cookie is None else (rdata, end, cookie[1], cookie[2])


def _remember(table: dict, key, value) -> None:
    """``table[key] = value``, the table emptied first when it holds ``MAX_REMEMBERED`` entries."""
    if len(table) >= MAX_REMEMBERED:
        table.clear()
    table[key] = value


def finish(prepared: Prepared, reply: bytes | None) -> bytes | None:
    """The reply to send: ``reply`` with the COOKIE option added (when it has an OPT record and
    room under the client's limit). None (no reply) and b"" (deferred) are passed through."""
    if not reply or prepared.option is None:
        return reply
    return add_option(reply, COOKIE, prepared.option, prepared.limit)


def _reply(query: bytes, rcode: int, option: bytes | None, ra: int = 0) -> bytes | None:
    """A reply made here: the query's ID, opcode, RD/CD and question, ``rcode``, our cookie;
    ``ra``: ``Flag.RA`` for a resolver's replies, else 0."""
    try:
        msg = decode(query)
    except WireError:
        return query[:2] + bytes((0x80 | (query[2] & 0x79), Rcode.FORMERR | (0x80 if ra else 0))) + bytes(8)
    opts = (EdnsOption(code=COOKIE, data=option),) if option is not None else ()
    reply = Message(id=msg.id, flags=Flag.QR | ra | (msg.flags & (Flag.RD | Flag.CD)), opcode=msg.opcode,
                    rcode=rcode, question=msg.question[:1],
                    edns=Edns(payload=REPLY_PAYLOAD, options=opts))
    return encode(reply)


def guard(jar: CookieJar, inner: Handler, *, udp: bool, verified: Handler | None = None) -> Handler:
    """Middleware: cookies answered (and required over the rate, on UDP) in front of ``inner``.

    Args:
        jar: secrets, clock, requirement.
        inner: the handler for queries (it sees them without their COOKIE option).
        udp: whether this is the UDP path (requirement and size limit apply).
        verified: the handler for queries with a valid server cookie (e.g. ``inner`` without
            the response rate limit: such a client is not spoofed); default ``inner``.
    """
    valid_inner = verified or inner

    def handler(query: bytes, client: str) -> bytes | None:
        prepared = jar.prepare(query, client, udp=udp)
        if prepared is None:
            return inner(query, client)
        if prepared.reply is not None:
            return prepared.reply
        chosen = valid_inner if prepared.verdict is Verdict.VALID else inner
        return finish(prepared, chosen(prepared.query, client))

    return handler
