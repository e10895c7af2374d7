"""SvcParams of SVCB and HTTPS: presentation text -> wire octets (RFC 9460 §2.1, §7, §8, Appendix A).

How it works: each SvcParam is ``key``, ``key=value`` or ``key="value"``. A
value is a <character-string> (RFC 1035 §5.1 escapes), decoded first; list
values are then split on commas (Appendix A.1: for ``alpn`` and ``docpath``
``\\,`` and ``\\\\`` keep a comma or backslash inside an item; the items of
``mandatory``, ``ipv4hint`` and ``ipv6hint`` cannot hold either). Every value
becomes wire octets and is then checked in its wire form, so a value given
in the generic ``keyNNNNN`` form (whose decoded value *is* the wire form,
§2.1) gets the same checks as the named form. Keys go out sorted (§2.2).

The reader's tokenizer splits ``key="value"`` into ``key=`` and the quoted
string, marking the quoted string :class:`~dns_suite.zone.rdatatext.Glued`
when no whitespace came between; ``key= "value"`` (whitespace after ``=``) is
refused, as the grammar of Appendix A has no room for it. A single token
``key="value"`` is accepted too.
"""

from __future__ import annotations

import re
from struct import pack

from dns_suite.zone.errors import RdataError, shown
from dns_suite.zone.rdatatext import Glued, b64data, ipv4, ipv6, uint, unescape

#: SvcParamKey names of the IANA registry (RFC 9460 §14.3.2; docpath: DNS over CoAP).
KEYS = {"mandatory": 0, "alpn": 1, "no-default-alpn": 2, "port": 3, "ipv4hint": 4, "ech": 5,
        "ipv6hint": 6, "dohpath": 7, "ohttp": 8, "docpath": 10}
_NAMES = {code: name for name, code in KEYS.items()}
_KEY_TEXT = re.compile(r"[a-z0-9-]{1,63}")  # RFC 9460 §2.1: 1*63(LCALPHA / DIGIT / "-")
_GENERIC = re.compile(r"key(0|[1-9][0-9]{0,4})")
_EMPTY_ONLY = (2, 8)  # no-default-alpn (§7.1.1), ohttp (RFC 9540 §4)


def svc_params(tokens: list[str]) -> bytes:
    """The SvcParams of one SVCB/HTTPS record as wire octets (RFC 9460 §2.2).

    Args:
        tokens: the rdata tokens after SvcPriority and TargetName; quoted
            tokens keep their quotes.

    Returns:
        ``key(u16) length(u16) value`` for each SvcParam, keys ascending.

    Raises:
        RdataError: bad key or value, a key twice, ``key=`` not followed
            directly by a quoted value, a mandatory key absent (§8), or
            no-default-alpn without alpn (§7.1.1).
    """
    params: dict[int, bytes] = {}
    i, n = 0, len(tokens)
    while i < n:
        tok = tokens[i]
        i += 1
        if tok[:1] == '"':
            raise RdataError(f"SvcParam {tok} does not start with a key (RFC 9460 §2.1)")
        key_text, eq, value = tok.partition("=")
        if not eq:
            value = None
        elif value == "":
            if i < n and isinstance(tokens[i], Glued):
                value = tokens[i][1:-1]
                i += 1
            else:
                raise RdataError(f"no value right after '=' in {shown(tok)} (RFC 9460 Appendix A)")
        elif value[0] == '"':
            if len(value) < 2 or value[-1] != '"':
                raise RdataError(f"unterminated quoted value in {shown(tok)}")
            value = value[1:-1]
        key, generic = _key(key_text)
        if key in params:
            raise RdataError(f"SvcParamKey {key_text} given twice (RFC 9460 §2.2)")
        wire = unescape(value or "") if generic else _from_text(key, value or "")
        _check_wire(key, wire)
        params[key] = wire
    _check_set(params)
    return b"".join(pack("!HH", k, len(v)) + v for k, v in sorted(params.items()))


def _key(text: str) -> tuple[int, bool]:
    """``(code, generic_form)`` of a SvcParamKey (RFC 9460 §2.1)."""
    code = KEYS.get(text)
    if code is not None:
        return code, False
    m = _GENERIC.fullmatch(text) if _KEY_TEXT.fullmatch(text) else None
    if m is None:
        raise RdataError(f"unknown SvcParamKey {shown(text)} (RFC 9460 §2.1, §14.3.2)")
    code = int(m.group(1))
    if code > 0xFFFF:
        raise RdataError(f"SvcParamKey {text} over 65535")
    return code, True


def _from_text(key: int, value: str) -> bytes:
    """The wire octets of a named key's presentation value (RFC 9460 §7, §8)."""
    data = unescape(value)
    if key in (1, 10):  # alpn, docpath: Appendix A.1 value-list
        items = _value_list(data) if data else []
        for item in items:
            if len(item) > 255:
                raise RdataError(f"{_NAMES[key]} item of {len(item)} octets (max 255)")
        return b"".join(bytes((len(x),)) + x for x in items)
    if key == 3:
        return pack("!H", uint(data.decode("latin-1"), 16))
    if key in (0, 4, 6):
        items = _simple_list(key, data)
        if key == 4:
            return b"".join(ipv4(x) for x in items)
        if key == 6:
            return b"".join(ipv6(x) for x in items)
        codes = sorted(_key(x)[0] for x in items)
        return b"".join(pack("!H", c) for c in codes)
    if key == 5:
        return b64data([data.decode("latin-1")]) if data else b""
    return data  # no-default-alpn and ohttp (checked empty), dohpath: octets as given


def _value_list(data: bytes) -> list[bytes]:
    """Split a decoded char-string on unescaped commas (RFC 9460 Appendix A.1)."""
    items, cur = [], bytearray()
    i, n = 0, len(data)
    while i < n:
        c = data[i]
        if c == 0x5C:
            if i + 1 >= n or data[i + 1] not in b",\\":
                raise RdataError("only \\, and \\\\ may be escaped in a value list (RFC 9460 Appendix A.1)")
            cur.append(data[i + 1])
            i += 2
            continue
        if c == 0x2C:
            items.append(bytes(cur))
            cur = bytearray()
        else:
            cur.append(c)
        i += 1
    items.append(bytes(cur))
    return items


def _simple_list(key: int, data: bytes) -> list[str]:
    """Items of a list whose items hold neither ``,`` nor ``\\`` (RFC 9460 Appendix A.1)."""
    if not data:
        return []
    if b"\\" in data:
        raise RdataError(f"backslash in the {_NAMES[key]} list (RFC 9460 Appendix A.1)")
    items = data.decode("latin-1").split(",")
    if "" in items:
        raise RdataError(f"empty item in the {_NAMES[key]} list (RFC 9460 Appendix A.1)")
    return items


def _check_wire(key: int, wire: bytes) -> None:
    """Refuse a value whose wire form is wrong for its key (RFC 9460 §7, §8).

    Keys without a rule here (dohpath, unknown keys) take any octets.
    """
    name = _NAMES.get(key, f"key{key}")
    n = len(wire)
    if n > 0xFFFF:
        raise RdataError(f"{name} value of {n} octets (max 65535)")
    if key in _EMPTY_ONLY:
        if n:
            raise RdataError(f"{name} takes no value (RFC 9460 §7.1.1, RFC 9540 §4)")
    elif key in (1, 10):
        pos = 0
        while pos < n:
            length = wire[pos]
            if length == 0 or pos + 1 + length > n:
                raise RdataError(f"{name}: empty or truncated item (RFC 9460 §7.1.1)")
            pos += 1 + length
        if key == 1 and not n:
            raise RdataError("alpn needs at least one protocol id (RFC 9460 §7.1.1)")
    elif key == 0:
        codes = [int.from_bytes(wire[j:j + 2], "big") for j in range(0, n, 2)]
        if not n or n % 2 or 0 in codes or codes != sorted(set(codes)):
            raise RdataError("mandatory: a non-empty list of distinct keys other than "
                             "mandatory, ascending (RFC 9460 §8)")
    elif key == 3 and n != 2:
        raise RdataError(f"port value of {n} octets (RFC 9460 §7.2: 2)")
    elif key in (4, 6):
        size = 4 if key == 4 else 16
        if not n or n % size:
            raise RdataError(f"{name}: one or more addresses of {size} octets (RFC 9460 §7.3)")
    elif key == 5:
        # An ECHConfigList: a 2-octet length and 4 or more octets (RFC 9849 §4).
        if n < 6 or int.from_bytes(wire[:2], "big") != n - 2:
            raise RdataError("ech is not an ECHConfigList (RFC 9460 §9, RFC 9849 §4)")


def _check_set(params: dict[int, bytes]) -> None:
    """Checks across SvcParams: mandatory keys present (§8), alpn with no-default-alpn (§7.1.1)."""
    listed = params.get(0, b"")
    for j in range(0, len(listed), 2):
        code = int.from_bytes(listed[j:j + 2], "big")
        if code not in params:
            raise RdataError(f"mandatory lists {_NAMES.get(code, f'key{code}')}, which is absent "
                             "(RFC 9460 §8)")
    if 2 in params and 1 not in params:
        raise RdataError("no-default-alpn without alpn (RFC 9460 §7.1.1)")
