"""Certificate names as they go to the CA (pure): lowercase, IDNA A-labels, wildcards kept.

How it works: a configured name (``Example.TEST``, ``bücher.example.test``, ``*.Example.test.``)
is split into labels; the trailing dot is dropped and a leading ``*`` label (a wildcard) kept.

================================  ===========================================================
label                             becomes
================================  ===========================================================
ASCII (``WWW``, ``xn--bcher-kva``) lowercased; it must then be letters, digits, ``-`` and
                                  ``_``, not starting or ending with ``-``; an ``xn--`` label
                                  must be a valid A-label (Punycode that decodes and encodes
                                  back to itself, to a label that IDNA accepts)
other characters (``Bücher``)     lowercased (``str.lower``, the case mapping of UTS #46), then
                                  Python's IDNA 2003 ``ToASCII`` (``encodings.idna``, RFC 3490:
                                  nameprep — NFKC, case folding, prohibited characters, the
                                  bidi rule — then Punycode): ``xn--bcher-kva``
================================  ===========================================================

The four "deviation" characters that IDNA 2003 and IDNA 2008 (UTS #46 nontransitional, as
browsers use) map differently — ß, final sigma ς, ZERO WIDTH (NON-)JOINER — are refused: the two
standards would name different hosts (``straße`` is ``strasse`` in IDNA 2003, ``xn--strae-oqa``
in IDNA 2008). The error gives the IDNA 2008 A-label, which may be configured instead. A name
longer than 253 octets once converted, or a label longer than 63, is refused.

The result is the identifier of the order (RFC 8555 §7.1.4), the CSR's subjectAltName and the
base of the ``_acme-challenge`` name; two spellings of one name (``Example.TEST`` and
``example.test``, ``bücher`` and ``xn--bcher-kva``) are one name. :func:`acme_certificates`
converts every configured certificate (``dns-suite acme`` does at start) and refuses one
certificate configured twice under two spellings.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterable, Sequence
from encodings import idna
from typing import Any

from dns_suite.errors import DnsSuiteError

__all__ = ["NameConversionError", "acme_certificates", "acme_name", "acme_names"]

MAX_NAME = 253  # octets of a name in presentation form, without the trailing dot (RFC 1035 §2.3.4)
MAX_LABEL = 63  # octets of a label (RFC 1035 §2.3.4)
DEVIATIONS = {"\u00df": "ß", "\u03c2": "ς (final sigma)", "\u200c": "ZERO WIDTH NON-JOINER",
              "\u200d": "ZERO WIDTH JOINER"}
"""Characters IDNA 2003 and IDNA 2008 treat differently (UTS #46 §1.3.2), with their names."""

_ASCII_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?")
_NEUTRAL = {ord(char): "a" for char in DEVIATIONS}


class NameConversionError(DnsSuiteError):
    """A configured certificate name cannot be made an ACME identifier (the message names it)."""


def acme_certificates(certs: Sequence[Any]) -> tuple[Any, ...]:
    """The configured certificates with their names as ACME identifiers (:func:`acme_names`),
    so that the order, the CSR, the TXT names, the schedule and ``status`` use one spelling.

    Args:
        certs: ``AcmeCertificateConfig`` dataclasses (``name``, ``names``, ``key_type``,
            ``profile`` are read; config.py is not imported by this pure module).

    Returns:
        The same certificates, each with converted ``names`` (a copy where they changed).

    Raises:
        DnsSuiteError: A name cannot be converted (the message names the certificate and the
            name); two certificates' folder names differ only in case; or two certificates are
            one certificate spelled twice (the same names once converted, key type and profile).
    """
    done: list[Any] = []
    folders: dict[str, str] = {}
    identities: dict[tuple[frozenset[str], str, str | None], str] = {}
    for cert in certs:
        try:
            names = acme_names(cert.names)
        except NameConversionError as exc:
            raise NameConversionError(f"certificate {cert.name}: {exc}") from None
        other = folders.setdefault(cert.name.casefold(), cert.name)
        if other != cert.name:
            raise DnsSuiteError(f"certificates {other!r} and {cert.name!r} differ only in case: "
                                "give one certificate one name")
        other = identities.setdefault((frozenset(names), cert.key_type, cert.profile), cert.name)
        if other != cert.name:
            raise DnsSuiteError(f"certificates {other!r} and {cert.name!r} are one certificate configured "
                                f"twice ({' '.join(names)}, {cert.key_type}): remove one")
        done.append(dataclasses.replace(cert, names=names) if names != tuple(cert.names) else cert)
    return tuple(done)


def acme_names(names: Iterable[str]) -> tuple[str, ...]:
    """Each name as :func:`acme_name` makes it, in the given order, repeats dropped.

    Args:
        names: Configured names (wildcards as ``*.example.test``).

    Returns:
        The identifiers, e.g. ``("example.test", "xn--bcher-kva.example.test")`` for
        ``("Example.TEST", "bücher.example.test", "EXAMPLE.test")``.

    Raises:
        NameConversionError: A name cannot be converted (the message names it and says why).
    """
    return tuple(dict.fromkeys(acme_name(name) for name in names))


def acme_name(name: str) -> str:
    """One configured name as an ACME ``dns`` identifier (see the module docstring).

    Args:
        name: ``Example.TEST``, ``bücher.example.test``, ``*.Example.test.``.

    Returns:
        Lowercase ASCII with A-labels and no trailing dot: ``example.test``,
        ``xn--bcher-kva.example.test``, ``*.example.test``.

    Raises:
        NameConversionError: An empty label, a ``*`` other than a whole first label, a label
            IDNA refuses (prohibited characters, bidi rule, too long), a deviation character, an
            invalid ``xn--`` label, or a name over 253 octets.
    """
    text = name[:-1] if name.endswith(".") else name
    labels = text.split(".")
    wildcard = labels[0] == "*" and len(labels) > 1
    try:
        converted = [_label(label) for label in (labels[1:] if wildcard else labels)]
    except ValueError as exc:
        raise NameConversionError(f"certificate name {name!r}: {exc}") from None
    result = ".".join(["*", *converted] if wildcard else converted)
    if len(result) > MAX_NAME:
        raise NameConversionError(f"certificate name {name!r}: {len(result)} octets as {result!r}, "
                                  f"over {MAX_NAME}")
    return result


def _label(label: str) -> str:
    """One label (not a wildcard) as lowercase ASCII; ValueError says why it cannot be."""
    if not label:
        raise ValueError("empty label")
    lower = label.lower()
    if lower.isascii():
        if "*" in lower:
            raise ValueError("'*' is allowed only as the whole first label")
        if not _ASCII_LABEL.fullmatch(lower) or len(lower) > MAX_LABEL:
            raise ValueError(f"label {label!r} is not a host name label (letters, digits, '-', '_'; "
                             f"at most {MAX_LABEL})")
        if lower.startswith("xn--"):
            _check_a_label(lower)
        return lower
    found = [what for char, what in DEVIATIONS.items() if char in lower]
    if found:
        a_label = "xn--" + unicodedata.normalize("NFC", lower).encode("punycode").decode("ascii")
        raise ValueError(f"label {label!r} holds {', '.join(found)}, which IDNA 2003 and IDNA 2008 map "
                         f"differently; configure the A-label meant (IDNA 2008: {a_label!r})")
    try:
        ascii_label = idna.ToASCII(lower).decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"label {label!r} cannot be converted to IDNA: {exc}") from None
    return _label(ascii_label) if not ascii_label.startswith("xn--") else ascii_label


def _check_a_label(label: str) -> None:
    """An ``xn--`` label must be Punycode that round-trips to a label nameprep leaves as it is
    (deviation characters allowed: an IDNA 2008 A-label may hold them)."""
    try:
        unicode = label[4:].encode("ascii").decode("punycode")
    except UnicodeError:
        unicode = ""
    if not unicode or unicode.isascii() or unicode.encode("punycode").decode("ascii") != label[4:]:
        raise ValueError(f"label {label!r} is not a valid IDNA A-label (bad Punycode)")
    neutral = unicode.translate(_NEUTRAL)
    try:
        prepared = idna.nameprep(neutral)
    except UnicodeError as exc:
        raise ValueError(f"label {label!r} is not a valid IDNA A-label ({unicode!r}: {exc})") from None
    if prepared != neutral:
        raise ValueError(f"label {label!r} is not a valid IDNA A-label ({unicode!r} is not in "
                         f"nameprep's normal form, {prepared!r})")
