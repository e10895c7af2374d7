"""Domain names (RFC 1035 §2.3, §3.1, §4.1.4; RFC 4343; RFC 4034 §6.1).

A :class:`Name` is its uncompressed wire form with the original case kept,
plus the lowercased wire form (``key``) used for comparison and hashing.
Comparison is case-insensitive for ASCII letters only (RFC 4343).
"""

from __future__ import annotations

from dns_suite.wire.errors import WireError

MAX_LABEL = 63
MAX_NAME = 255
MAX_POINTER_HOPS = 16

# Octets written as themselves in presentation form; the rest is escaped.
_SPECIAL = frozenset(b'."();\\@$ ')


class Name:
    """An absolute domain name.

    Attributes:
        wire: uncompressed wire form, original case, ending in the root label.
        key: ``wire`` lowercased (ASCII), the identity of the name.
    """

    __slots__ = ("wire", "key")

    def __init__(self, wire: bytes, key: bytes | None = None) -> None:
        self.wire = wire
        if key is None:
            key = wire.lower()
            if key == wire:
                key = wire  # one object when already lowercase: zones hold millions
        self.key = key

    # --- construction -----------------------------------------------------
    @classmethod
    def from_labels(cls, labels: list[bytes] | tuple[bytes, ...]) -> Name:
        """Build from labels, root label omitted.

        Raises:
            WireError: a label is empty or over 63 octets, or the name is over
                255 octets (RFC 1035 §2.3.4).
        """
        parts = []
        for label in labels:
            if not 0 < len(label) <= MAX_LABEL:
                raise WireError(f"label of {len(label)} octets")
            parts.append(bytes((len(label),)) + label)
        wire = b"".join(parts) + b"\0"
        if len(wire) > MAX_NAME:
            raise WireError(f"name of {len(wire)} octets")
        return cls(wire)

    @classmethod
    def from_text(cls, text: str, origin: Name | None = None) -> Name:
        """Parse presentation form (RFC 1035 §5.1: ``\\X`` and ``\\DDD``).

        A name without a trailing dot is relative to ``origin``; ``@`` is the
        origin itself.

        Raises:
            WireError: bad escape, empty label, label or name too long, or a
                relative name without an origin.
        """
        if text == "@":
            if origin is None:
                raise WireError("@ without an origin")
            return origin
        if text == ".":
            return ROOT
        if "\\" not in text:
            raw = text.encode("utf-8", "surrogateescape")
            absolute = raw.endswith(b".")
            labels = (raw[:-1] if absolute else raw).split(b".")
        else:
            labels, absolute = _split_escaped(text)
        if not absolute:
            if origin is None:
                raise WireError(f"relative name {text!r} without an origin")
            return cls.from_labels(labels).concatenate(origin)
        return cls.from_labels(labels)

    def concatenate(self, suffix: Name) -> Name:
        """``self`` (treated as relative: its root label dropped) + ``suffix``.

        Raises:
            WireError: the result is over 255 octets.
        """
        wire = self.wire[:-1] + suffix.wire
        if len(wire) > MAX_NAME:
            raise WireError(f"name of {len(wire)} octets")
        return Name(wire, self.key[:-1] + suffix.key)

    # --- inspection -------------------------------------------------------
    @property
    def labels(self) -> tuple[bytes, ...]:
        """The labels, leftmost first, root label omitted."""
        return tuple(_iter_labels(self.wire))

    def label_count(self) -> int:
        """Number of labels, root not counted."""
        return len(self.labels)

    def parent(self) -> Name:
        """The name with its leftmost label removed.

        Raises:
            WireError: for the root.
        """
        if self.wire == b"\0":
            raise WireError("the root has no parent")
        cut = self.wire[0] + 1
        return Name(self.wire[cut:], self.key[cut:])

    def is_subdomain(self, other: Name) -> bool:
        """True when ``self`` is ``other`` or below it."""
        key, okey = self.key, other.key
        if not key.endswith(okey):
            return False
        start = len(key) - len(okey)
        pos = 0
        while pos < start:
            pos += key[pos] + 1
        return pos == start

    def canonical_key(self) -> tuple[bytes, ...]:
        """Sort key for canonical order (RFC 4034 §6.1)."""
        return tuple(reversed(tuple(_iter_labels(self.key))))

    def to_text(self) -> str:
        """Presentation form, absolute (trailing dot), escapes per RFC 1035 §5.1."""
        if self.wire == b"\0":
            return "."
        return "".join(_escape(label) + "." for label in _iter_labels(self.wire))

    def relativize_text(self, origin: Name) -> str:
        """Presentation form relative to ``origin`` (``@`` for the origin)."""
        if self.key == origin.key:
            return "@"
        if self.is_subdomain(origin):
            head = Name(self.wire[: len(self.wire) - len(origin.wire)] + b"\0")
            return head.to_text()[:-1]
        return self.to_text()

    # --- protocol ---------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Name) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __lt__(self, other: Name) -> bool:
        return self.canonical_key() < other.canonical_key()

    def __repr__(self) -> str:
        return f"Name({self.to_text()!r})"

    def __str__(self) -> str:
        return self.to_text()


def _iter_labels(wire: bytes):
    pos = 0
    n = wire[0]
    while n:
        yield wire[pos + 1:pos + 1 + n]
        pos += n + 1
        n = wire[pos]


def _escape(label: bytes) -> str:
    out = []
    for b in label:
        if b in _SPECIAL:
            out.append("\\" + chr(b))
        elif 0x20 < b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"\\{b:03d}")
    return "".join(out)


def _split_escaped(text: str) -> tuple[list[bytes], bool]:
    """Split presentation text with escapes into labels; say if absolute."""
    raw = text.encode("utf-8", "surrogateescape")
    labels: list[bytes] = []
    cur = bytearray()
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if c == 0x5C:  # backslash
            if i + 1 >= n:
                raise WireError(f"dangling escape in {text!r}")
            if raw[i + 1:i + 2].isdigit():
                digits = raw[i + 1:i + 4]
                if len(digits) != 3 or not digits.isdigit() or int(digits) > 255:
                    raise WireError(f"bad \\DDD escape in {text!r}")
                cur.append(int(digits))
                i += 4
                continue
            cur.append(raw[i + 1])
            i += 2
            continue
        if c == 0x2E:  # dot
            labels.append(bytes(cur))
            cur = bytearray()
        else:
            cur.append(c)
        i += 1
    if cur or not labels:
        labels.append(bytes(cur))
        return labels, False
    return labels, True


def decode_name(data: bytes, pos: int, end: int, *, decompress: bool = True) -> tuple[Name, int]:
    """Read a possibly compressed name from a message (RFC 1035 §4.1.4).

    Pointers must point strictly backwards: before the first octet of the
    label sequence being read, which rules out loops.

    Args:
        data: the whole message.
        pos: offset of the name in octets.
        end: the name's own octets must lie before ``end`` (rdata bound).
        decompress: allow compression pointers.

    Returns:
        ``(name, next_pos)``: the name and the offset after it in ``data``.

    Raises:
        WireError: truncated name, label over 63 octets, reserved label
            type, pointer not backwards, or name over 255 octets.
    """
    parts = []
    total = 1
    next_pos = -1
    start = pos
    limit = end
    hops = 0
    while True:
        if pos >= limit:
            raise WireError("name runs past the end", pos)
        n = data[pos]
        if n == 0:
            break
        if n < 64:
            if pos + 1 + n > limit:
                raise WireError("label runs past the end", pos)
            total += n + 1
            if total > MAX_NAME:
                raise WireError("name longer than 255 octets", pos)
            parts.append(data[pos:pos + 1 + n])
            pos += n + 1
            continue
        if n < 0xC0:
            raise WireError(f"reserved label type 0x{n & 0xC0:02x}", pos)
        if not decompress:
            raise WireError("compression pointer where none is allowed", pos)
        if pos + 2 > limit:
            raise WireError("pointer runs past the end", pos)
        target = ((n & 0x3F) << 8) | data[pos + 1]
        if target >= start:
            raise WireError("compression pointer not backwards", pos)
        hops += 1
        if hops > MAX_POINTER_HOPS:
            raise WireError("too many compression pointers", pos)
        if next_pos < 0:
            next_pos = pos + 2
        limit = start
        start = pos = target
    if next_pos < 0:
        next_pos = pos + 1
    wire = b"".join(parts) + b"\0"
    return Name(wire), next_pos


class Compressor:
    """Name compression table for one message being written (RFC 1035 §4.1.4).

    Maps the lowercased wire form of each name suffix written so far to its
    offset; only offsets below 0x4000 can be pointed to. With
    ``case_sensitive`` suffixes match only with the same case, so every name
    keeps its own case (zone transfers).
    """

    __slots__ = ("table", "case_sensitive")

    def __init__(self, case_sensitive: bool = False) -> None:
        self.table: dict[bytes, int] = {}
        self.case_sensitive = case_sensitive

    def write(self, buf: bytearray, name: Name, compress: bool = True) -> None:
        """Append ``name`` to ``buf``, compressed when ``compress`` is set."""
        if not compress:
            buf += name.wire
            return
        wire, table = name.wire, self.table
        key = wire if self.case_sensitive else name.key
        base = len(buf)
        i = 0
        while wire[i]:
            suffix = key[i:]
            ptr = table.get(suffix)
            if ptr is not None:
                buf += wire[:i]
                buf.append(0xC0 | (ptr >> 8))
                buf.append(ptr & 0xFF)
                return
            if base + i < 0x4000:
                table[suffix] = base + i
            i += wire[i] + 1
        buf += wire


ROOT = Name(b"\0")
