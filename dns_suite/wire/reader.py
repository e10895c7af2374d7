"""Bounds-checked cursor over wire bytes (the dnspython ``wirebase`` model).

Every read past the end of the data, or past the current restriction, raises
:class:`~dns_suite.wire.errors.WireError` with the offset of the fault.
"""

from __future__ import annotations

from contextlib import contextmanager
from struct import unpack_from
from typing import Iterator

from dns_suite.wire.errors import WireError


class Reader:
    """A cursor over ``data``: ``pos`` is the next octet, ``end`` the limit.

    Args:
        data: the whole message (names may point anywhere before them).
        pos: start offset in octets.
        end: limit in octets; defaults to ``len(data)``.
    """

    __slots__ = ("data", "pos", "end")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def remaining(self) -> int:
        """Octets left before ``end``."""
        return self.end - self.pos

    def _need(self, n: int, what: str) -> int:
        pos = self.pos
        if pos + n > self.end:
            raise WireError(f"{what}: needs {n} octets, {self.end - pos} left", pos)
        self.pos = pos + n
        return pos

    def u8(self, what: str = "u8") -> int:
        """Read one unsigned octet."""
        return self.data[self._need(1, what)]

    def u16(self, what: str = "u16") -> int:
        """Read a network-order 16-bit unsigned integer."""
        return unpack_from("!H", self.data, self._need(2, what))[0]

    def u32(self, what: str = "u32") -> int:
        """Read a network-order 32-bit unsigned integer."""
        return unpack_from("!I", self.data, self._need(4, what))[0]

    def take(self, n: int, what: str = "bytes") -> bytes:
        """Read ``n`` octets."""
        pos = self._need(n, what)
        return self.data[pos:pos + n]

    def counted(self, what: str = "character-string") -> bytes:
        """Read a one-octet length then that many octets (RFC 1035 §3.3)."""
        return self.take(self.u8(what), what)

    def counted16(self, what: str = "counted octets") -> bytes:
        """Read a two-octet length then that many octets."""
        return self.take(self.u16(what), what)

    def rest(self) -> bytes:
        """Read everything up to ``end``."""
        pos, self.pos = self.pos, self.end
        return self.data[pos:self.end]

    @contextmanager
    def restrict_to(self, n: int, what: str = "rdata") -> Iterator[None]:
        """Limit reads to the next ``n`` octets, which must all be consumed.

        Raises:
            WireError: when ``n`` runs past the current end, or when the body
                leaves octets unread.
        """
        if self.pos + n > self.end:
            raise WireError(f"{what} length {n} runs past the end", self.pos)
        saved, self.end = self.end, self.pos + n
        yield
        if self.pos != self.end:
            raise WireError(f"{what}: {self.end - self.pos} octets left unread", self.pos)
        self.end = saved
