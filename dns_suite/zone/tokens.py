"""Zone-file tokens (RFC 1035 §5.1) and the limits that keep reading them bounded.

How it works: :func:`tokenize` splits one line with a small regex that understands
comments, quoted strings, escapes and parentheses (their net count is returned, so the
reader can carry a record over several lines); the reader calls it only for lines holding
one of ``;"()\\`` (:data:`SPECIAL`), the rest it splits on whitespace. :func:`overlong`
checks the rare line of over :data:`MAX_TOKEN` characters against the token and line
limits before any of it is tokenized. :func:`parse_ttl` reads a TTL token (decimal or
BIND units).

Pure: text in, tokens, numbers and reasons out.
"""

from __future__ import annotations

import re
from typing import Iterator

from dns_suite.zone.errors import RdataError, shown
from dns_suite.zone.rdatatext import Glued

MAX_TTL = 0x7FFFFFFF  # RFC 2181 §8
#: Characters of one token: the longest that can be valid is the hex of the largest rdata
#: (``\\# 65535`` and 131,070 hex digits); a <character-string> is at most 1,022 (255 ``\\DDD``).
MAX_TOKEN = 131_072
#: Characters of one line, and of the lines of one parenthesised record together (1 MiB).
#: A longer line reaches the reader in pieces of ``MAX_LINE + 1`` characters (see
#: :meth:`dns_suite.zone.reader.ZoneReader.records`) and is refused without being held whole.
MAX_LINE = 1 << 20

#: A line with none of these characters is split on whitespace (the reader's fast path).
SPECIAL = re.compile(r'[;"()\\]')
# Possessive (``*+``, ``++``): a long token is scanned with no backtracking stack (a greedy
# group kept ~200 octets per character of it: 1 MiB of token took ~200 MB).
_TOKEN = re.compile(r'\s*(?:("(?:[^"\\]|\\.)*+")|(;.*)|([()])|((?:[^\s"();\\]|\\.)++)|(\S))')
_TTL_PART = re.compile(r"([0-9]+)([wdhms]?)", re.IGNORECASE)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_ttl(tok: str) -> int:
    """A TTL in seconds: decimal, or BIND units (``1h30m``, ``2w``).

    Raises:
        RdataError: not a TTL, or over 2**31-1 (RFC 2181 §8).
    """
    if tok.isdigit() and tok.isascii():
        value = int(tok)
    else:
        parts = _TTL_PART.findall(tok)
        if not parts or "".join(n + u for n, u in parts) != tok or not all(u for _, u in parts):
            raise RdataError(f"bad TTL {shown(tok)}")
        value = sum(int(n) * _UNITS[u.lower()] for n, u in parts)
    if value > MAX_TTL:
        raise RdataError(f"TTL {tok} over 2**31-1 seconds")
    return value


def tokenize(line: str) -> tuple[list[str], int]:
    """Split one line into tokens; quoted strings keep their quotes.

    Returns:
        ``(tokens, paren_delta)``: parentheses are not tokens, their net
        count is returned instead. A quoted string that follows the previous
        token with no whitespace between is a :class:`Glued` (SVCB ``key="v"``).

    Raises:
        RdataError: an unterminated quoted string or stray backslash.
    """
    tokens: list[str] = []
    depth = 0
    last_end = -1  # where the last token ended, for Glued
    pos, end = 0, len(line.rstrip("\r\n"))
    while pos < end:
        m = _TOKEN.match(line, pos, end)
        if m is None or m.end() == pos:
            break
        pos = m.end()
        quoted, comment, paren, word, stray = m.groups()
        if comment is not None:
            break
        if paren is not None:
            depth += 1 if paren == "(" else -1
        elif quoted is not None:
            tokens.append(Glued(quoted) if m.start(1) == last_end else quoted)
            last_end = pos
        elif word is not None:
            tokens.append(word)
            last_end = pos
        elif stray is not None:
            raise RdataError("unterminated quoted string" if stray == '"' else f"bad character {shown(stray)}")
    return tokens, depth


def overlong(line: str, pieces: Iterator[str]) -> str | None:
    """Check a line of over :data:`MAX_TOKEN` characters (rare) against the limits.

    Args:
        line: the line, or its first piece of ``MAX_LINE + 1`` characters with no newline.
        pieces: the lines that follow; the further pieces of a cut line are taken from it
            (and dropped unread into any token).

    Returns:
        Why the line is refused — a token over :data:`MAX_TOKEN` or the line over
        :data:`MAX_LINE` characters (``N+`` when it ran past what was read) — or None.
    """
    cut = False
    piece = line
    while len(piece) == MAX_LINE + 1 and piece[-1] != "\n":  # a piece of a longer line
        piece, cut = next(pieces, ""), True
    length, at_end = _long_token(line)
    if length:
        plus = "+" if cut and at_end else ""
        return f"token too long ({length}{plus} characters, max {MAX_TOKEN})"
    if cut or len(line.rstrip("\r\n")) > MAX_LINE:
        return f"line too long ({len(line)}{'+' if cut else ''} characters, max {MAX_LINE})"
    return None


def _long_token(text: str) -> tuple[int, bool]:
    """The length of the first token of ``text`` over :data:`MAX_TOKEN` characters (0 when
    none) and whether it runs to the end of ``text``; an unterminated quoted string runs to
    the end."""
    pos, end = 0, len(text)
    while pos < end:
        m = _TOKEN.match(text, pos, end)
        if m is None or m.end() == pos or m.lastindex == 2:  # the end, or a comment
            break
        group = m.lastindex
        if group == 5 and m.group(5) == '"':
            n = end - m.start(5)
            return (n, True) if n > MAX_TOKEN else (0, False)
        if m.end(group) - m.start(group) > MAX_TOKEN:
            return m.end(group) - m.start(group), m.end() == end
        pos = m.end()
    return 0, False
