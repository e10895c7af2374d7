"""Small in-place edits of DNS messages on the hot path (pure): the OPT record and its options.

The middleware of this package must look at a query's OPT record (for the COOKIE option),
hand the query on without it, and add an option to the reply, without decoding and encoding
whole messages. These helpers walk the octets (names skipped, pointers followed by length
only) and return offsets; anything they cannot walk is reported as ``None`` so the caller
leaves the message to the full decoder (which answers FORMERR where due).
"""

from __future__ import annotations

from struct import pack, unpack_from

OPT = 41


def skip_name(data: bytes, pos: int) -> int | None:
    """The offset after the (possibly compressed) name at ``pos``, or None when it runs out."""
    n = len(data)
    while pos < n:
        length = data[pos]
        if length == 0:
            return pos + 1
        if length >= 0xC0:
            return pos + 2 if pos + 2 <= n else None
        if length > 63:
            return None
        pos += length + 1
    return None


def question_end(data: bytes) -> int | None:
    """The offset after the question section, or None."""
    if len(data) < 12:
        return None
    pos = 12
    for _ in range(unpack_from("!H", data, 4)[0]):
        pos = skip_name(data, pos)
        if pos is None or pos + 4 > len(data):
            return None
        pos += 4
    return pos


def find_opt(data: bytes) -> tuple[int, int, int, bool] | None:
    """Where the OPT record of a message sits.

    Returns:
        ``(record_start, rdata_start, rdata_end, last)``: the record's first octet (its
        owner name, the root), the first and past-the-end octets of its rdata, and whether
        it is the message's last record; None when there is no OPT or the message cannot be
        walked.
    """
    pos = question_end(data)
    if pos is None:
        return None
    an, ns, ar = unpack_from("!HHH", data, 6)
    total = an + ns + ar
    for index in range(total):
        start = pos
        pos = skip_name(data, pos)
        if pos is None or pos + 10 > len(data):
            return None
        rrtype = unpack_from("!H", data, pos)[0]
        rdlength = unpack_from("!H", data, pos + 8)[0]
        end = pos + 10 + rdlength
        if end > len(data):
            return None
        if rrtype == OPT and index >= an + ns:
            return start, pos + 10, end, index == total - 1 and end == len(data)
        pos = end
    return None


def options(data: bytes, start: int, end: int) -> list[tuple[int, int, int]] | None:
    """The options of the OPT rdata ``data[start:end]`` as ``(code, data_start, data_end)``,
    or None when an option runs past the rdata."""
    out = []
    pos = start
    while pos < end:
        if pos + 4 > end:
            return None
        code, length = unpack_from("!HH", data, pos)
        if pos + 4 + length > end:
            return None
        out.append((code, pos + 4, pos + 4 + length))
        pos += 4 + length
    return out


def add_option(message: bytes, code: int, value: bytes, limit: int = 65535) -> bytes:
    """``message`` with the option ``code``/``value`` appended to its OPT record.

    The message is returned unchanged when it has no OPT record, when the OPT is not its last
    record (a TSIG follows: the signature covers the octets), or when the result would be
    longer than ``limit`` octets.
    """
    found = find_opt(message)
    if found is None or not found[3] or len(message) + 4 + len(value) > limit:
        return message
    _, rdata, end, _ = found
    rdlength = end - rdata + 4 + len(value)
    return message[:rdata - 2] + pack("!H", rdlength) + message[rdata:] + pack("!HH", code, len(value)) + value


def truncated(reply: bytes) -> bytes | None:
    """An empty reply with TC set (RFC 1035 §4.1.1): ``reply``'s header and question, and its
    OPT record emptied of options when it has one, so the client retries over TCP. None when
    ``reply`` cannot be walked."""
    qend = question_end(reply)
    if qend is None:
        return None
    found = find_opt(reply)
    opt = b""
    if found is not None:
        start, rdata, _, _ = found
        opt = reply[start:rdata - 2] + b"\0\0"
    flags = reply[2] | 0x02  # TC
    return (reply[:2] + bytes((flags, reply[3])) + reply[4:6] + pack("!HHH", 0, 0, 1 if opt else 0)
            + reply[12:qend] + opt)


def min_ttl(message: bytes) -> int | None:
    """The smallest TTL of the records in ``message`` other than OPT (for DoH's Cache-Control,
    RFC 8484 §5.1), or None when it has none or cannot be walked."""
    pos = question_end(message)
    if pos is None:
        return None
    an, ns, ar = unpack_from("!HHH", message, 6)
    least = None
    for _ in range(an + ns + ar):
        pos = skip_name(message, pos)
        if pos is None or pos + 10 > len(message):
            return None
        rrtype, _, ttl, rdlength = unpack_from("!HHIH", message, pos)
        if rrtype != OPT and (least is None or ttl < least):
            least = ttl
        pos += 10 + rdlength
    return least
