"""Trust anchors and negative trust anchors (pure; RFC 4033 §5, RFC 7646).

How it works: a :class:`TrustAnchors` holds, per anchored name, the DS and DNSKEY records
configured for it (zone-file text: ``owner [ttl] [class] DS|DNSKEY rdata``, parentheses
and ``;`` comments allowed). The root's KSK-2017 (key tag 20326) and KSK-2024 (key tag
38696) DS records ship as ``root.ds`` beside this module; the caller reads that file (pure
modules read no files) and passes its text first. Anchors given for a name replace the
shipped ones for that name, so a lab can anchor its own root. A negative trust anchor
(NTA) makes its name and everything below it insecure: nothing there is validated.

Lookups: :meth:`TrustAnchors.closest` (the deepest anchor at or above a name) and
:meth:`TrustAnchors.negative` (an NTA at or above a name).
"""

from __future__ import annotations

from dataclasses import dataclass

import dns.exception
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.zonefile

from dns_suite.errors import DnsSuiteError
from dns_suite.wire.name import Name

DS, DNSKEY = 43, 48


class TrustAnchorError(DnsSuiteError):
    """A trust anchor text that cannot be read (the caller names the file or key)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Anchor:
    """The anchors of one name.

    Attributes:
        name: the anchored zone's apex.
        ds: DS rdata (dnspython objects) a DNSKEY of the zone must match.
        dnskey: DNSKEY rdata trusted as they are.
    """

    name: Name
    ds: tuple = ()
    dnskey: tuple = ()


def parse_anchors(text: str) -> list[tuple[Name, int, object]]:
    """Records in zone-file syntax -> ``(owner, DS or DNSKEY, dnspython rdata)``.

    Raises:
        TrustAnchorError: the text is not zone-file syntax, or holds another type.
    """
    try:
        rrsets = dns.zonefile.read_rrsets(text, name=None, default_ttl=3600, origin=dns.name.root,
                                          relativize=False, rdclass=None,
                                          default_rdclass=dns.rdataclass.IN)
    except (dns.exception.DNSException, ValueError) as exc:
        raise TrustAnchorError(f"bad trust anchor {text.strip()[:60]!r}: {exc}") from None
    out = []
    for rrset in rrsets:
        if rrset.rdtype not in (DS, DNSKEY):
            raise TrustAnchorError(f"trust anchor of type {dns.rdatatype.to_text(rrset.rdtype)} "
                                   f"(only DS and DNSKEY): {rrset.name}")
        owner = Name(rrset.name.to_wire())
        out.extend((owner, int(rrset.rdtype), rdata) for rdata in rrset)
    return out


class TrustAnchors:
    """Anchors by name and negative trust anchors.

    Args:
        shipped: texts of the built-in anchors (the root's DS), used for a name only when
            ``configured`` has none for it.
        configured: anchor texts from the configuration.
        negative: NTA names (text).

    Raises:
        TrustAnchorError: an anchor text or an NTA name cannot be read.
    """

    def __init__(self, shipped: tuple[str, ...] = (), configured: tuple[str, ...] = (),
                 negative: tuple[str, ...] = ()) -> None:
        mine = self._collect(configured)
        base = self._collect(shipped)
        for key, records in base.items():
            mine.setdefault(key, records)
        self.anchors: dict[bytes, Anchor] = {}
        for key, (name, records) in mine.items():
            self.anchors[key] = Anchor(name=name, ds=tuple(r for t, r in records if t == DS),
                                       dnskey=tuple(r for t, r in records if t == DNSKEY))
        self.negatives: set[bytes] = set()
        for text in negative:
            try:
                self.negatives.add(Name.from_text(text if text.endswith(".") else text + ".").key)
            except Exception as exc:  # noqa: BLE001 - WireError and friends: a bad name
                raise TrustAnchorError(f"bad negative trust anchor {text!r}: {exc}") from None

    @staticmethod
    def _collect(texts: tuple[str, ...]) -> dict[bytes, tuple[Name, list]]:
        found: dict[bytes, tuple[Name, list]] = {}
        for text in texts:
            for owner, rrtype, rdata in parse_anchors(text):
                found.setdefault(owner.key, (owner, []))[1].append((rrtype, rdata))
        return found

    def __bool__(self) -> bool:
        return bool(self.anchors)

    def closest(self, name: Name) -> Anchor | None:
        """The deepest anchor at or above ``name``, or None (no anchor: insecure)."""
        if not self.anchors:
            return None
        key = name.key
        while True:
            anchor = self.anchors.get(key)
            if anchor is not None:
                return anchor
            if key == b"\0":
                return None
            key = key[key[0] + 1:]

    def negative(self, name: Name) -> bool:
        """True when an NTA is at or above ``name`` (RFC 7646: treat it as insecure)."""
        if not self.negatives:
            return False
        key = name.key
        while True:
            if key in self.negatives:
                return True
            if key == b"\0":
                return False
            key = key[key[0] + 1:]

    def covered(self, name: Name) -> bool:
        """True when ``name`` is to be validated: an anchor above it and no NTA."""
        return self.closest(name) is not None and not self.negative(name)
