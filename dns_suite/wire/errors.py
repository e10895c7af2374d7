"""Errors of the wire codec."""

from dns_suite.errors import DnsSuiteError


class WireError(DnsSuiteError):
    """A DNS message or name could not be decoded or encoded.

    The one error type the codec raises on malformed input (RFC 1035 §4,
    RFC 6891, RFC 8945). A service answers FORMERR to it, or drops the
    packet when no header could be read.

    Attributes:
        offset: octet offset in the input where the fault was found
            (-1 for encoding errors that have no input offset).
        reason: short human-readable description.
    """

    def __init__(self, reason: str, offset: int = -1) -> None:
        super().__init__(f"{reason} (at offset {offset})" if offset >= 0 else reason)
        self.reason = reason
        self.offset = offset
