"""Zone-file text (RFC 1035 §5) -> records, fast.

How it works: lines are read one at a time. A line with none of ``;"()\\``
is split on whitespace (the fast path); other lines go through the small
regex tokenizer of :mod:`dns_suite.zone.tokens` (comments, quoted strings,
escapes, parentheses that carry a record over several lines), which also holds
the token and line limits. Each logical record is
then read as ``[owner] [ttl] [class] type rdata`` (TTL and class in either
order); the rdata is turned into wire octets by the per-type parsers of
:mod:`dns_suite.zone.rdatatext`, or by dnspython for rare mnemonics.
Directives: ``$ORIGIN``, ``$TTL`` (RFC 2308 §4), ``$INCLUDE`` (path relative
to the including file; origin and last owner restored afterwards),
``$GENERATE`` (BIND semantics; can be disabled).

The reader is pure: file contents arrive as iterables of lines, and
``$INCLUDE`` goes through an injected ``open_include`` callable.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

from dns_suite.wire.errors import WireError
from dns_suite.wire.name import Name
from dns_suite.wire.types import RRClass, RRType
from dns_suite.zone.errors import RdataError, ZoneError, clipped, shown
from dns_suite.zone.rdatatext import PARSERS, generic, parse_rare
# Also reader's public names (loader, rdatatext and tests import MAX_LINE, MAX_TOKEN, parse_ttl from here)
from dns_suite.zone.tokens import (MAX_LINE, MAX_TOKEN, MAX_TTL, SPECIAL, overlong, parse_ttl,  # noqa: F401
                                   tokenize)

#: ``(owner, ttl, rrtype, rdata, file, line)`` as yielded by :meth:`ZoneReader.records`.
Record = tuple[Name, int, int, bytes, str, int]
#: ``open_include(path, including_file) -> (file_name, lines)``; raises OSError.
IncludeOpener = Callable[[str, str], tuple[str, Iterable[str]]]

MAX_INCLUDE_DEPTH = 16
MAX_GENERATE = 1_000_000  # records from all $GENERATE lines of one zone
MAX_ERRORS = 100
MAX_RDATA = 65535  # octets (RDLENGTH is 16 bits, RFC 1035 §3.2.1)
_NAME_CACHE_MAX = 65536

_META = frozenset({41, 249, 250, 251, 252, 253, 254, 255})  # OPT, TKEY, TSIG, IXFR ... ANY
_TYPES = {m.to_text(): int(m) for m in RRType if int(m) not in _META}
_CLASSES = {"IN": 1, "CH": 3, "HS": 4, "CS": 2}


class ZoneReader:
    """Reads one zone's master file(s) into records.

    Args:
        origin: the zone's origin (the initial ``$ORIGIN``).
        file: name of the top file, used in errors.
        rrclass: the zone's class; records of another class are refused.
        default_ttl: TTL for records before any ``$TTL`` or explicit TTL.
        allow_generate: accept ``$GENERATE``.
        open_include: opens ``$INCLUDE`` files; None refuses ``$INCLUDE``.
        keep_going: collect errors in :attr:`errors` and go on (check-zone
            reports them all) instead of raising the first.
    """

    def __init__(self, origin: Name, *, file: str, rrclass: int = 1, default_ttl: int | None = None,
                 allow_generate: bool = True, open_include: IncludeOpener | None = None,
                 keep_going: bool = False) -> None:
        self.origin = origin
        self.file = file
        self.rrclass = rrclass
        self.default_ttl = default_ttl
        self.last_ttl: int | None = None
        self.allow_generate = allow_generate
        self.open_include = open_include
        self.last_owner: Name | None = None
        self._last_owner_text = ""
        self._names: dict[str, bytes] = {}
        self._ttls: dict[str, int] = {}
        self._depth = 0
        self._generated = 0
        self.keep_going = keep_going
        self.errors: list[ZoneError] = []

    # --- public -----------------------------------------------------------
    def records(self, lines: Iterable[str], file: str | None = None) -> Iterator[Record]:
        """Yield ``(owner, ttl, rrtype, rdata, file, line)`` for every record.

        Args:
            lines: the file's lines. A line longer than :data:`MAX_LINE` may come in pieces
                of ``MAX_LINE + 1`` characters, all but the last without a newline (as
                ``readline(MAX_LINE + 1)`` gives them); the reader refuses it and skips its
                other pieces, so no line or token is ever held whole past those limits.
            file: the name for errors (default: the reader's ``file``).

        Raises:
            ZoneError: the first syntax or rdata error, with file and line; with
                ``keep_going`` errors are collected in :attr:`errors` instead
                (up to :data:`MAX_ERRORS`) and the bad records skipped. NUL octets in an
                over-long line stop the file at once (binary data).
        """
        file = self.file if file is None else file
        special = SPECIAL.search
        record = self._record
        acc: list[str] = []
        depth = start = size = 0
        blank = skip = False
        pieces = iter(lines)
        for lineno, line in enumerate(pieces, 1):
            if len(line) > MAX_TOKEN and self._overlong(line, pieces, file, lineno):
                depth, acc, skip = 0, [], False
                continue
            if depth == 0 and not special(line):  # the fast path
                tokens = line.split()
                if not tokens:
                    continue
                blank, start = line[0] in " \t", lineno
            else:
                if depth == 0:
                    start, blank, acc, size = lineno, line[:1] in (" ", "\t"), [], 0
                try:
                    more, delta = tokenize(line)
                except RdataError as exc:
                    self._fail(file, lineno, str(exc))
                    depth, acc, skip = 0, [], False
                    continue
                size += len(line)
                if size > MAX_LINE + 2 and not skip:  # a '(' never closed, or closed too late
                    self._fail(file, lineno, f"record too long (over {MAX_LINE} characters in "
                               f"lines {start}-{lineno})")
                    skip = True
                if skip:
                    acc = []
                else:
                    acc += more
                depth += delta
                if depth < 0:
                    self._fail(file, lineno, "unbalanced ')'")
                    depth, acc, skip = 0, [], False
                    continue
                if depth or not acc:
                    skip = skip and depth > 0
                    continue
                tokens = acc
            try:
                if tokens[0][0] == "$" and not blank:
                    yield from self._directive(tokens, file, start)
                else:
                    yield record(tokens, blank, file, start)
            except (RdataError, WireError) as exc:
                self._fail(file, start, getattr(exc, "reason", None) or str(exc))
        if depth:
            self._fail(file, start, "unbalanced '(' at end of file")

    def _overlong(self, line: str, pieces: Iterator[str], file: str, lineno: int) -> bool:
        """Check a line of over :data:`MAX_TOKEN` characters (rare) with
        :func:`~dns_suite.zone.tokens.overlong`: True when it was refused (its further
        pieces then skipped).

        Raises:
            ZoneError: the line holds NUL octets (a binary file): the file is not read on.
        """
        reason = overlong(line, pieces)
        if reason is None:
            return False
        if "\0" in line:
            raise ZoneError(file, lineno, f"{reason}, with NUL octets: binary data, not a zone "
                            "file; not read further")
        self._fail(file, lineno, reason)
        return True

    def _fail(self, file: str, line: int, reason: str) -> None:
        error = ZoneError(file, line, clipped(reason))
        if not self.keep_going:
            raise error
        if len(self.errors) >= MAX_ERRORS:
            raise ZoneError(file, line, f"too many errors ({MAX_ERRORS} shown), stopping; "
                            f"the next: {error.reason}")
        self.errors.append(error)

    # --- one record ----------------------------------------------------------
    def _record(self, tokens: list[str], blank: bool, file: str, line: int) -> Record:
        i = 0
        if blank:
            owner = self.last_owner
            if owner is None:
                raise RdataError("no owner: first record starts with a blank")
        else:
            text = tokens[0]
            if text == self._last_owner_text and self.last_owner is not None:
                owner = self.last_owner
            else:
                owner = Name(self._names.get(text) or self._name(text))
                self.last_owner, self._last_owner_text = owner, text
            i = 1
        ttl = rrclass = None
        n = len(tokens)
        while True:
            if i >= n:
                raise RdataError("missing type")
            tok = tokens[i]
            rrtype = _TYPES.get(tok)
            if rrtype is not None:
                break
            if tok[0].isdigit():
                if ttl is not None:
                    raise RdataError(f"two TTLs, or a type that is a number: {shown(tok)}")
                ttl = self._ttls.get(tok)
                if ttl is None:
                    ttl = parse_ttl(tok)
                    if len(self._ttls) < 4096:
                        self._ttls[tok] = ttl
            else:
                up = tok.upper()
                code = _CLASSES.get(up)
                if code is None and up.startswith("CLASS") and up[5:].isdigit():
                    code = int(RRClass.from_text(up))
                if code is None or rrclass is not None:
                    rrtype = self._type(tok)
                    break
                rrclass = code
            i += 1
        if rrclass is not None and rrclass != self.rrclass:
            raise RdataError(f"class {RRClass(rrclass).to_text()} in a zone of class "
                             f"{RRClass(self.rrclass).to_text()}")
        rdata_toks = tokens[i + 1:]
        rdata = self._rdata(rrtype, rdata_toks)
        if len(rdata) > MAX_RDATA:
            raise RdataError(f"rdata of {len(rdata)} octets (max {MAX_RDATA})")
        if ttl is None:
            ttl = self._implicit_ttl(rrtype, rdata)
        else:
            self.last_ttl = ttl
        return owner, ttl, rrtype, rdata, file, line

    def _type(self, tok: str) -> int:
        code = _TYPES.get(tok)
        if code is None:
            try:
                code = int(RRType.from_text(tok))
            except ValueError:
                raise RdataError(f"unknown type {shown(tok)}") from None
        if code in _META:
            raise RdataError(f"type {tok} cannot appear in a zone file")
        return code

    def _rdata(self, rrtype: int, toks: list[str]) -> bytes:
        if toks and toks[0] == "\\#":
            return generic(toks[1:], rrtype)
        parser = PARSERS.get(rrtype)
        if parser is not None:
            return parser(toks, self.name_wire)
        if not toks:
            raise RdataError("missing rdata")
        return parse_rare(self.rrclass, rrtype, toks, self.origin.to_text())

    def _implicit_ttl(self, rrtype: int, rdata: bytes) -> int:
        if self.default_ttl is not None:
            return self.default_ttl
        if self.last_ttl is not None:
            return self.last_ttl
        if rrtype == 6:  # SOA before any TTL: its MINIMUM (RFC 1035 §5.1 leaves it open)
            ttl = int.from_bytes(rdata[-4:], "big")
            self.last_ttl = ttl
            return ttl
        raise RdataError("no TTL: set $TTL or give one")

    def name_wire(self, text: str) -> bytes:
        """A name token (relative to the current origin) as wire octets.

        Raises:
            WireError: empty label, label or name too long, bad escape.
        """
        wire = self._names.get(text)
        if wire is None:
            wire = self._name(text)
            if len(self._names) >= _NAME_CACHE_MAX:
                self._names.clear()
            self._names[text] = wire
        return wire

    def _name(self, text: str) -> bytes:
        if text == "@":
            return self.origin.wire
        if "\\" in text or text == ".":
            wire = Name.from_text(text, self.origin).wire
        elif "." not in text:  # one relative label, the common case
            raw = text.encode("utf-8", "surrogateescape")
            if len(raw) > 63:
                raise WireError(f"bad name {shown(text)}: label over 63 octets")
            wire = bytes((len(raw),)) + raw + self.origin.wire
            if len(wire) > 255:
                raise WireError(f"name {shown(text)} longer than 255 octets")
        else:
            absolute = text[-1] == "."
            raw = (text[:-1] if absolute else text).encode("utf-8", "surrogateescape")
            labels = raw.split(b".")
            if b"" in labels or max(map(len, labels)) > 63:
                raise WireError(f"bad name {shown(text)}: empty label or label over 63 octets")
            wire = b"".join([bytes((len(x),)) + x for x in labels])
            wire += b"\0" if absolute else self.origin.wire
            if len(wire) > 255:
                raise WireError(f"name {shown(text)} longer than 255 octets")
        return wire

    # --- directives ----------------------------------------------------------
    def _directive(self, tokens: list[str], file: str, lineno: int) -> Iterator[Record]:
        word = tokens[0].upper()
        if word == "$ORIGIN":
            if len(tokens) != 2:
                raise RdataError("$ORIGIN takes one name")
            self.origin = Name(self.name_wire(tokens[1]))
            self._names.clear()
            self._last_owner_text = ""  # the same owner text now names another owner
        elif word == "$TTL":
            if len(tokens) != 2:
                raise RdataError("$TTL takes one TTL")
            self.default_ttl = parse_ttl(tokens[1])
        elif word == "$INCLUDE":
            yield from self._include(tokens, file)
        elif word == "$GENERATE":
            if not self.allow_generate:
                raise RdataError("$GENERATE is disabled in the configuration")
            from dns_suite.zone.generate import expand
            for toks in expand(tokens[1:]):
                self._generated += 1
                if self._generated > MAX_GENERATE:
                    raise RdataError(f"$GENERATE lines make more than {MAX_GENERATE} records in this zone")
                yield self._record(toks, False, file, lineno)
        else:
            raise RdataError(f"unknown directive {tokens[0]}")

    def _include(self, tokens: list[str], file: str) -> Iterator[Record]:
        if not 2 <= len(tokens) <= 3:
            raise RdataError("$INCLUDE takes a file and an optional origin")
        if self.open_include is None:
            raise RdataError("$INCLUDE is not allowed here")
        if self._depth >= MAX_INCLUDE_DEPTH:
            raise RdataError(f"$INCLUDE nested deeper than {MAX_INCLUDE_DEPTH}")
        path = tokens[1][1:-1] if tokens[1][:1] == '"' else tokens[1]
        try:
            name, lines = self.open_include(path, file)
        except OSError as exc:
            raise RdataError(f"$INCLUDE {path}: {exc.strerror or exc}") from None
        saved = (self.origin, self.last_owner, self._last_owner_text)
        if len(tokens) == 3:
            self.origin = Name(self.name_wire(tokens[2]))
            self._names.clear()
            self._last_owner_text = ""
        self._depth += 1
        try:
            yield from self.records(lines, name)
        finally:
            self._depth -= 1
            self.origin, self.last_owner, self._last_owner_text = saved
            self._names.clear()
