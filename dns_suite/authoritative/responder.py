"""A query's wire octets -> the reply's wire octets (pure; sans-IO).

Policy around the engine (RFC 1035 §4.1, RFC 6891, RFC 9619):

- fewer than 12 octets, or QR set: no reply;
- undecodable message, QDCOUNT other than 1 (0 is allowed only for a
  cookie-only query, RFC 7873 §5.4), answer or authority records in a query,
  OPT or TSIG as qtype: FORMERR with the same ID;
- opcode other than QUERY: NOTIMP;
- EDNS version above 0: BADVERS, question copied (RFC 6891 §6.1.3);
- class IN: the engine; class CH: ``version.bind``/``version.server`` and
  ``id.server``/``hostname.bind`` TXT when configured; otherwise REFUSED;
- UPDATE, NOTIFY, AXFR/IXFR, and any message carrying a TSIG: :data:`DEFER` — the
  control process owns keys, transfers and zone changes (``dynamic.py``);
  :func:`answer` itself refuses AXFR/IXFR.

UDP replies are sized to max(512, min(client payload, ours)) octets; 512
without EDNS. OPT is in the reply iff it was in the query.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from dns_suite.authoritative.engine import resolve
from dns_suite.authoritative.zoneset import ZoneSet
from dns_suite.wire.edns import COOKIE, NSID, Edns, EdnsOption
from dns_suite.wire.errors import WireError
from dns_suite.wire.message import RR, Message, decode, encode
from dns_suite.wire.name import Name
from dns_suite.wire.types import Flag

FORMERR, NOTIMP, REFUSED, BADVERS = 1, 4, 5, 16
TXT, AXFR, IXFR, OPT, TSIG, ANY = 16, 252, 251, 41, 250, 255
IN, CH = 1, 3
_VERSION_NAMES = {Name.from_text("version.bind.").key, Name.from_text("version.server.").key}
_ID_NAMES = {Name.from_text("id.server.").key, Name.from_text("hostname.bind.").key}


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """What the server says about itself.

    Attributes:
        payload_size: our EDNS UDP payload size in octets (RFC 6891 §6.2.5).
        nsid: NSID payload (RFC 5001), or None to ignore NSID requests.
        identity: answer to CH TXT id.server/hostname.bind, or None (REFUSED).
        version: answer to CH TXT version.bind/version.server, or None (REFUSED).
        cookie_secret: key of the server cookie (RFC 7873 §4.2).
        server_cookie: ``(cookie option data, client) -> reply option data | None`` (the
            service's RFC 9018 cookie jar, chain/cookies.py); None: the blake2b fallback.
    """

    payload_size: int = 1232
    nsid: bytes | None = None
    identity: str | None = None
    version: str | None = None
    cookie_secret: bytes = b"dns-suite"
    server_cookie: Callable[[bytes, str], "bytes | None"] | None = None


def udp_size(edns: Edns | None, ours: int) -> int:
    """The UDP reply size limit in octets for a query's EDNS (RFC 6891 §6.2.5)."""
    return 512 if edns is None else max(512, min(edns.payload, ours))


#: Returned instead of a reply for messages the control process must handle
#: (UPDATE, TSIG-signed): an empty reply, which the transports (net/udp.py,
#: net/tcp.py) hand to their slow handler.
DEFER = b""
UPDATE, NOTIFY = 5, 4


def respond(zones: ZoneSet, data: bytes, opts: Options, *, tcp: bool, client: str = "") -> bytes | None:
    """The reply to the query ``data``, None when no reply is due, or :data:`DEFER`.

    Args:
        zones: the served zones.
        data: the query (without TCP's length prefix).
        opts: server options.
        tcp: True for TCP (no size limit beyond 65535 octets).
        client: the client's address as text (keys the server cookie).
    """
    if len(data) < 12 or data[2] & 0x80:
        return None
    try:
        query = decode(data)
    except WireError:
        return _header_only(data, FORMERR)
    if query.tsig is not None or query.opcode in (UPDATE, NOTIFY) or _is_transfer(query):
        return DEFER
    return answer(zones, query, opts, tcp=tcp, client=client)


def _is_transfer(query: Message) -> bool:
    return query.opcode == 0 and len(query.question) == 1 and query.question[0].qtype in (AXFR, IXFR)


def answer(zones: ZoneSet, query: Message, opts: Options, *, tcp: bool, client: str = "",
           reserve: int = 0) -> bytes:
    """The encoded reply to a decoded query (no TSIG handling: see ``dynamic.py``).

    Args:
        reserve: octets to leave free in a UDP reply (for a TSIG added after).
    """
    message, required = _answer(zones, query, opts, client)
    limit = 65535 if tcp else udp_size(query.edns, opts.payload_size)
    return encode(message, limit, required_additional=required, reserve=reserve)


def _header_only(data: bytes, rcode: int) -> bytes:
    """A reply with the query's ID, opcode and RD, no sections."""
    flags = 0x80 | (data[2] & 0x79)
    return data[:2] + bytes((flags, rcode)) + bytes(8)


def _base(query: Message, rcode: int, opts: Options, *, question: bool = True, aa: bool = False,
          extra_options: tuple[EdnsOption, ...] = ()) -> Message:
    flags = Flag.QR | (query.flags & (Flag.RD | Flag.CD)) | (Flag.AA if aa else 0)
    edns = None
    if query.edns is not None:
        edns = Edns(payload=opts.payload_size, do=query.edns.do, options=extra_options)
    return Message(id=query.id, flags=flags, opcode=query.opcode, rcode=rcode,
                   question=query.question if question else (), edns=edns)


def _answer(zones: ZoneSet, query: Message, opts: Options, client: str) -> tuple[Message, int]:
    if query.opcode != 0:
        return _base(query, NOTIMP, opts), 0
    options = _server_options(query, opts, client)
    if query.edns is not None and query.edns.version > 0:
        return _base(query, BADVERS, opts, extra_options=options), 0
    if len(query.question) != 1 or query.answer or query.authority:
        cookie_only = not query.question and options and not query.answer and not query.authority
        return _base(query, 0 if cookie_only else FORMERR, opts, extra_options=options), 0
    q = query.question[0]
    if q.qtype in (OPT, TSIG):
        return _base(query, FORMERR, opts, extra_options=options), 0
    if q.qclass == CH:
        return _chaos(query, opts, options), 0
    if q.qclass != IN or q.qtype in (AXFR, IXFR):
        return _base(query, REFUSED, opts, extra_options=options), 0
    res = resolve(zones, q.qname, q.qtype, query.edns is not None and query.edns.do)
    base = _base(query, res.rcode, opts, aa=res.aa, extra_options=options)
    msg = Message(id=base.id, flags=base.flags, opcode=0, rcode=res.rcode, question=base.question,
                  answer=tuple(res.answer), authority=tuple(res.authority),
                  additional=tuple(res.glue + res.extra), edns=base.edns)
    return msg, len(res.glue)


def _server_options(query: Message, opts: Options, client: str) -> tuple[EdnsOption, ...]:
    """NSID when asked and configured; a COOKIE answered with our server cookie."""
    if query.edns is None:
        return ()
    out = []
    if opts.nsid is not None and query.edns.option(NSID) is not None:
        out.append(EdnsOption(code=NSID, data=opts.nsid))
    cookie = query.edns.option(COOKIE)
    if cookie is not None and opts.server_cookie is not None:
        data = opts.server_cookie(cookie.data, client)
        if data is not None:
            out.append(EdnsOption(code=COOKIE, data=data))
    elif cookie is not None and (len(cookie.data) == 8 or 16 <= len(cookie.data) <= 40):
        client_cookie = cookie.data[:8]
        server = hashlib.blake2b(client_cookie + client.encode(), key=opts.cookie_secret[:64],
                                 digest_size=8).digest()
        out.append(EdnsOption(code=COOKIE, data=client_cookie + server))
    return tuple(out)


def _chaos(query: Message, opts: Options, options: tuple[EdnsOption, ...]) -> Message:
    q = query.question[0]
    text = None
    if q.qtype in (TXT, ANY):
        if q.qname.key in _VERSION_NAMES:
            text = opts.version
        elif q.qname.key in _ID_NAMES:
            text = opts.identity
    if text is None:
        return _base(query, REFUSED, opts, extra_options=options)
    data = text.encode()[:255]
    rr = RR(owner=q.qname, rrtype=TXT, rrclass=CH, ttl=0, rdata=bytes((len(data),)) + data)
    base = _base(query, 0, opts, aa=True, extra_options=options)
    return Message(id=base.id, flags=base.flags, rcode=0, question=base.question, answer=(rr,),
                   edns=base.edns)
