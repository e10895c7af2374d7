"""Errors of zone files and zone data, and how error messages quote zone text."""

from dns_suite.errors import FileLineError

#: Characters of a token quoted in an error message; a longer one is cut, with its length.
SHOWN = 60
#: Characters of a whole reason kept (head and tail) as a last resort.
MAX_REASON = 240


class ZoneError(FileLineError):
    """A zone file is wrong: the operator's fault.

    Attributes:
        file: the file as named (an $INCLUDE'd file by its own path).
        line: 1-based line number (0 when not tied to a line).
        reason: what is wrong.
    """


class RdataError(ValueError):
    """Rdata text could not be read; the reader adds file and line."""


def _readable(text: str) -> str:
    """``text`` with octets that are not UTF-8 (read with surrogateescape) shown as ``\\xHH``
    and other non-printable characters escaped as ``repr`` does."""
    if text.isprintable() and text.isascii():
        return text
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def shown(text: str, limit: int = SHOWN) -> str:
    """A token quoted for an error message: non-printable characters and undecodable octets
    escaped (``'\\x00'``), and when that is over ``limit`` characters its start, an ellipsis
    and the token's length: ``'aaaa…' (5000002 characters)``."""
    out = _readable(text[:limit])
    if len(out) <= limit and len(text) <= limit:
        return f"'{out}'"
    n = limit
    while len(_readable(text[:n])) > limit:  # escapes made it longer: fewer characters
        n = n * 3 // 4
    return f"'{_readable(text[:n])}…' ({len(text)} characters)"


def clipped(reason: str) -> str:
    """A reason made safe to print: non-printable characters escaped, and when longer than
    :data:`MAX_REASON` its middle cut out (a message that quoted a whole token)."""
    if len(reason) > MAX_REASON:
        reason = f"{reason[:MAX_REASON - 60]} … ({len(reason)} characters) … {reason[-40:]}"
    return _readable(reason)
