"""TSIG keys as BIND key files hold them, and as the TOML config names them (pure).

A key file is a list of ``named.conf`` statements; the ``key`` statements are
read and every other statement (``options``, ``server``, ...) is skipped with
its braces balanced::

    key "example.key" {
        algorithm hmac-sha256;
        secret "ZmgdU4dq8RsR+Elex5iX9Lci2LI90QvdTg5ui9qAZtM=";
    };

That is what ``tsig-keygen``, ``ddns-confgen -q`` and ``rndc-confgen``
write (RFC 8945 keys, BIND 9 syntax). Comments are ``#`` and ``//`` to the end
of the line and ``/* ... */``; whitespace and newlines may sit between any two
tokens; names, algorithms and secrets may be quoted or not; keywords are
matched in any case. Inside a quoted string ``\\"`` is a quote and any other
backslash is kept (a name's own escapes, RFC 1035 §5.1, pass through). An
algorithm with a ``-BITS`` suffix (``hmac-sha256-128``) sets the key's shortest
accepted MAC, as BIND does (RFC 8945 §5.2.2.1). Keys nested in other
statements (``view``) are not read. Stricter than BIND on purpose: an empty
secret and a truncation below max(80 bits, half the hash) are errors (BIND
accepts the first and only warns about the second); more lenient: algorithm
names may end in a dot.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from dns_suite.errors import DnsSuiteError, FileLineError
from dns_suite.wire.errors import WireError
from dns_suite.wire.name import Name
from dns_suite.wire.tsig import ALGORITHMS, TsigKey, algorithm_name

__all__ = ["KeyConfigError", "KeyEntry", "KeyFileError", "format_key", "keys_from_config", "parse_key_file"]

_BARE = re.compile(r'(?:[^\s{};"#/]|/(?![/*]))+')  # a bare word ends at a comment
_TRUNCATED = re.compile(r"^(hmac-[a-z0-9]+)-([0-9]+)$", re.IGNORECASE)
_SHORT_NAMES = {"hmac-md5.sig-alg.reg.int.": "hmac-md5"}


class KeyFileError(FileLineError):
    """A key file is wrong: the operator's fault.

    Attributes:
        file: the file as named by the caller.
        line: 1-based line of the fault (0 when not tied to a line).
        reason: what is wrong.
    """


class KeyConfigError(DnsSuiteError):
    """A configured key cannot be built (bad inline secret, unreadable file, key absent from its file).

    Attributes:
        index: position of the key in the config's key list (``authoritative.keys[INDEX]``).
        name: the key's name as configured.
        reason: what is wrong; for file problems it names the file and line.
    """

    def __init__(self, index: int, name: str, reason: str) -> None:
        super().__init__(f"keys[{index}] ({name}): {reason}")
        self.index = index
        self.name = name
        self.reason = reason


class KeyEntry(Protocol):
    """The fields of :class:`dns_suite.config.KeyConfig` used here (wire may not import config)."""

    name: str
    algorithm: str
    secret: str | None
    file: str | None
    min_mac: int


@dataclass(frozen=True, slots=True)
class _Token:
    """One token: ``kind`` is ``word`` (bare), ``string`` (quoted), ``{``, ``}`` or ``;``."""

    kind: str
    text: str
    line: int


# --------------------------------------------------------------------------- tokens


def _tokens(text: str, file: str) -> Iterator[_Token]:
    """Split ``text`` into tokens, dropping whitespace and comments.

    Raises:
        KeyFileError: an unterminated quoted string or ``/*`` comment.
    """
    pos, line, end = 0, 1, len(text)
    while pos < end:
        ch = text[pos]
        if ch == "\n":
            line += 1
            pos += 1
        elif ch.isspace():
            pos += 1
        elif ch == "#" or text.startswith("//", pos):
            nl = text.find("\n", pos)
            pos = end if nl < 0 else nl
        elif text.startswith("/*", pos):
            close = text.find("*/", pos + 2)
            if close < 0:
                raise KeyFileError(file, line, "unterminated /* comment")
            line += text.count("\n", pos, close)
            pos = close + 2
        elif ch in "{};":
            yield _Token(ch, ch, line)
            pos += 1
        elif ch == '"':
            value, pos = _quoted(text, pos, line, file)
            yield _Token("string", value, line)
        else:
            word = _BARE.match(text, pos).group()  # every other character starts a bare word
            yield _Token("word", word, line)
            pos += len(word)


def _quoted(text: str, pos: int, line: int, file: str) -> tuple[str, int]:
    """The quoted string opening at ``pos``, and the position after its closing quote."""
    out, i = [], pos + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] == '"':
            out.append('"')
            i += 2
        elif ch == '"':
            return "".join(out), i + 1
        elif ch == "\n":
            break
        else:
            out.append(ch)
            i += 1
    raise KeyFileError(file, line, "unbalanced quotes: a quoted string does not end on its line")


# --------------------------------------------------------------------------- statements


class _Parser:
    """Reads statements from the token stream; keeps the key statements."""

    def __init__(self, text: str, file: str) -> None:
        self.file = file
        self.tokens = _tokens(text, file)
        self.last_line = 1

    def next(self, wanted: str) -> _Token:
        """The next token; ``wanted`` describes it for the error at the end of the file."""
        token = next(self.tokens, None)
        if token is None:
            raise KeyFileError(self.file, self.last_line, f"file ends where {wanted} was expected")
        self.last_line = token.line
        return token

    def expect(self, kind: str, after: str) -> _Token:
        """The next token, which must be of ``kind``."""
        token = self.next(f"'{kind}' {after}")
        if token.kind != kind:
            raise KeyFileError(self.file, token.line, f"expected '{kind}' {after}, got {token.text!r}")
        return token

    def value(self, what: str) -> _Token:
        """The next token, which must be a word or a quoted string."""
        token = self.next(what)
        if token.kind not in ("word", "string"):
            raise KeyFileError(self.file, token.line, f"expected {what}, got {token.text!r}")
        return token

    def keys(self) -> list[TsigKey]:
        """Every key statement of the file, in order."""
        found: dict[bytes, TsigKey] = {}
        for token in self.tokens:
            self.last_line = token.line
            if token.kind != "word":
                raise KeyFileError(self.file, token.line, f"expected a statement, got {token.text!r}")
            if token.text.lower() != "key":
                self.skip_statement(token)
                continue
            key = self.key_statement(token)
            if key.name.key in found:
                raise KeyFileError(self.file, token.line, f"key {key.name} defined twice")
            found[key.name.key] = key
        return list(found.values())

    def skip_statement(self, start: _Token) -> None:
        """Skip a statement that is not ``key``: up to its ``;`` outside braces."""
        depth = 0
        while True:
            token = self.next(f"the end of the {start.text!r} statement of line {start.line}")
            if token.kind == "{":
                depth += 1
            elif token.kind == "}":
                depth -= 1
                if depth < 0:
                    raise KeyFileError(self.file, token.line, "'}' without its '{'")
            elif token.kind == ";" and depth == 0:
                return

    def key_statement(self, start: _Token) -> TsigKey:
        """``key NAME { algorithm A; secret S; };`` (``key`` already read)."""
        name = self.value("a key name after 'key'")
        self.expect("{", f"after key {name.text!r}")
        clauses: dict[str, _Token] = {}
        while (token := self.next(f"'}}' closing key {name.text!r}")).kind != "}":
            if token.kind != "word" or token.text.lower() not in ("algorithm", "secret"):
                raise KeyFileError(self.file, token.line,
                                   f"key {name.text!r}: expected 'algorithm' or 'secret', got {token.text!r}")
            clause = token.text.lower()
            if clause in clauses:
                raise KeyFileError(self.file, token.line, f"key {name.text!r}: {clause} given twice")
            clauses[clause] = self.value(f"a value after {clause!r}")
            self.expect(";", f"after the {clause} of key {name.text!r}")
        self.expect(";", f"after the '}}' of key {name.text!r}")
        for clause in ("algorithm", "secret"):
            if clause not in clauses:
                raise KeyFileError(self.file, start.line, f"key {name.text!r} has no {clause}")
        return self.build(name, clauses["algorithm"], clauses["secret"])

    def build(self, name: _Token, algorithm: _Token, secret: _Token) -> TsigKey:
        """The key, with each fault tied to the line of the field at fault."""
        try:
            alg, min_mac = _algorithm(algorithm.text)
        except WireError as exc:
            raise KeyFileError(self.file, algorithm.line, f"key {name.text!r}: {exc.reason}") from None
        compact = "".join(secret.text.split())
        if not compact:
            raise KeyFileError(self.file, secret.line, f"key {name.text!r}: empty secret")
        try:
            base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError):
            raise KeyFileError(self.file, secret.line, f"key {name.text!r}: secret is not base64") from None
        try:
            return TsigKey.from_text(name.text, alg, compact, min_mac)
        except WireError as exc:
            raise KeyFileError(self.file, name.line, f"bad key name {name.text!r}: {exc.reason}") from None


def _algorithm(text: str) -> tuple[str, int]:
    """``(algorithm, min_mac octets)`` from ``hmac-sha256`` or the truncated ``hmac-sha256-128``.

    Raises:
        WireError: unknown algorithm, or a truncation BIND would refuse.
    """
    match = _TRUNCATED.match(text)
    if match is None:
        return algorithm_name(text).to_text(), 0
    base, bits = match.group(1), int(match.group(2))
    full = hashlib.new(ALGORITHMS[algorithm_name(base).to_text().lower()]).digest_size * 8
    if bits % 8 or not max(80, full // 2) <= bits <= full:
        raise WireError(f"{text!r}: MAC length must be a multiple of 8 bits in {max(80, full // 2)}..{full}")
    return algorithm_name(base).to_text(), bits // 8


# --------------------------------------------------------------------------- public API


def parse_key_file(text: str, file: str = "<text>") -> list[TsigKey]:
    """Read the ``key`` statements of a BIND key file (see the module docstring).

    Args:
        text: the file's contents.
        file: its name, for errors.

    Returns:
        The keys in file order (empty when the file holds none).

    Raises:
        KeyFileError: a syntax error, a key without algorithm or secret, an
            unsupported algorithm, a secret that is not base64, a bad key name,
            or one key name twice (names compared case-insensitively).
    """
    return _Parser(text, file).keys()


def format_key(name: str, algorithm: str, secret: bytes) -> str:
    """A key statement exactly as ``tsig-keygen -a ALGORITHM NAME`` prints it.

    Args:
        name: the key name, printed as given (``example.key`` or ``Example.Key.``).
        algorithm: any spelling :func:`~dns_suite.wire.tsig.algorithm_name` accepts;
            printed in BIND's short form (``hmac-sha256``, ``hmac-md5``).
        secret: the secret octets (printed in base64).

    Returns:
        Four lines: ``key "NAME" {``, TAB ``algorithm A;``, TAB ``secret "B64";``, ``};``,
        each ending in a newline.

    Raises:
        WireError: a bad key name or an unsupported algorithm.
    """
    canon = algorithm_name(algorithm).to_text().lower()
    try:
        Name.from_text(name if name.endswith(".") else name + ".")
    except WireError as exc:
        raise WireError(f"bad key name {name!r}: {exc.reason}") from None
    short = _SHORT_NAMES.get(canon, canon[:-1])
    quoted = name.replace('"', '\\"')
    return (f'key "{quoted}" {{\n\talgorithm {short};\n'
            f'\tsecret "{base64.b64encode(secret).decode()}";\n}};\n')


def keys_from_config(keys: tuple[KeyEntry, ...], read_file: Callable[[str], str]) -> dict[bytes, TsigKey]:
    """Build the TSIG key table from ``[[authoritative.keys]]`` entries.

    Args:
        keys: :class:`~dns_suite.config.KeyConfig` entries. Each has either an
            inline base64 ``secret`` (with ``algorithm``), or a ``file`` holding
            a key statement of the same name (matched case-insensitively); the
            file's algorithm is used then. ``min_mac`` (octets), when not 0,
            overrides the file's truncation.
        read_file: returns a file's text given the configured path (paths are
            resolved by the caller); may raise :class:`OSError`.

    Returns:
        Key name in lowercase wire form (``Name.key``) -> key.

    Raises:
        KeyConfigError: naming the key: both or neither of secret and file, a
            bad name, algorithm or secret, an unreadable or malformed file, the
            key absent from its file, or two entries with one name.
    """
    table: dict[bytes, TsigKey] = {}
    for index, cfg in enumerate(keys):
        key = _one_key(index, cfg, read_file)
        if key.name.key in table:
            raise KeyConfigError(index, cfg.name, f"key {key.name} is configured twice")
        table[key.name.key] = key
    return table


def _one_key(index: int, cfg: KeyEntry, read_file: Callable[[str], str]) -> TsigKey:
    """One configured key: inline, or looked up in its file."""
    if (cfg.secret is None) == (cfg.file is None):
        raise KeyConfigError(index, cfg.name, "give exactly one of secret and file")
    if cfg.secret is not None:
        try:
            return TsigKey.from_text(cfg.name, cfg.algorithm, cfg.secret, cfg.min_mac)
        except WireError as exc:
            raise KeyConfigError(index, cfg.name, exc.reason) from None
    try:
        found = parse_key_file(read_file(cfg.file), cfg.file)
    except OSError as exc:
        raise KeyConfigError(index, cfg.name, f"cannot read key file {cfg.file}: {exc.strerror or exc}") from None
    except KeyFileError as exc:
        raise KeyConfigError(index, cfg.name, str(exc)) from None
    try:
        wanted = Name.from_text(cfg.name if cfg.name.endswith(".") else cfg.name + ".")
    except WireError as exc:
        raise KeyConfigError(index, cfg.name, exc.reason) from None
    for key in found:
        if key.name == wanted:
            return TsigKey(name=key.name, algorithm=key.algorithm, secret=key.secret,
                           min_mac=cfg.min_mac or key.min_mac)
    names = ", ".join(str(k.name) for k in found) or "none"
    raise KeyConfigError(index, cfg.name, f"key file {cfg.file} has no key {wanted} (it has: {names})")
