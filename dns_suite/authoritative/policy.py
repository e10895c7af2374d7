"""Per-zone UPDATE policy: which key may change which records (RFC 2136 §3.3; pure).

RFC 2136 §3.3 leaves the permission model to the server: each update RR
is checked against the requestor's rights before anything is applied, and
an update holding one RR the key may not change is REFUSED as a whole.
A zone's policy is a list of grants (``[[authoritative.zones]]``
``update_policy``), each naming a TSIG key and what it may change:

==============  ==============================================================
grant           the update RRs it permits
==============  ==============================================================
``zone``        any RR whose owner is in the zone (apex included)
``acme``        TXT only, at an owner in the zone whose first label is
                ``_acme-challenge`` (any case): ``_acme-challenge.<apex>`` and
                ``_acme-challenge.www.<apex>`` (and the apex of a zone named
                ``_acme-challenge.<domain>``, delegated for DNS-01); as an add (the zone's class),
                the deletion of one TXT (class NONE) or of the TXT RRset
                (class ANY) -- never the deletion of every RRset at the name
                (class ANY, type ANY)
``subdomain``   any RR whose owner is at or below the grant's ``name``
==============  ==============================================================

An unsigned update, or a key without a grant, is permitted nothing; a
policy without grants is false, and its zone refuses UPDATE. A key may hold
several grants: an RR is permitted when any of them permits it. Key names
and owners are compared case-insensitively (RFC 4343).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from dns_suite.errors import DnsSuiteError
from dns_suite.wire.errors import WireError
from dns_suite.wire.message import RR
from dns_suite.wire.name import Name

__all__ = ["Grant", "Policy", "PolicyError"]

TXT, TYPE_ANY = 16, 255
CLASS_NONE, CLASS_ANY = 254, 255
ACME_LABEL = b"_acme-challenge"


class Grant(Protocol):
    """The fields of :class:`dns_suite.config.GrantConfig` read here."""

    key: str
    grant: str
    name: str | None


class PolicyError(DnsSuiteError):
    """A grant of the policy is wrong: the operator's fault.

    Attributes:
        index: position of the grant in ``update_policy``.
        reason: what is wrong.
    """

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"update_policy[{index}]: {reason}")
        self.index = index
        self.reason = reason


def _absolute(text: str) -> Name:
    """A name from config text; absolute whether or not it ends in a dot (as in ``named.conf``)."""
    return Name.from_text(text if text.endswith(".") else text + ".")


class Policy:
    """The compiled update policy of one zone.

    Args:
        grants: the zone's ``update_policy`` entries (``key``, ``grant``, ``name``).
        origin: the zone's apex.
        rrclass: the zone's class (class of adds; RFC 2136 §2.5.1).

    Raises:
        PolicyError: a bad key name; ``subdomain`` without a ``name``, or with a
            name outside the zone; a ``name`` on another grant; an unknown grant.
    """

    __slots__ = ("origin", "rrclass", "_rules")

    def __init__(self, grants: Iterable[Grant], origin: Name, rrclass: int = 1) -> None:
        self.origin = origin
        self.rrclass = rrclass
        self._rules: dict[bytes, list[tuple[str, Name]]] = {}
        for index, grant in enumerate(grants):
            key, rule = self._compile(index, grant)
            self._rules.setdefault(key.key, []).append(rule)

    def _compile(self, index: int, grant: Grant) -> tuple[Name, tuple[str, Name]]:
        """``(key name, (kind, scope))`` for one grant; scope is the apex or the subdomain."""
        try:
            key = _absolute(grant.key)
        except WireError as exc:
            raise PolicyError(index, f"bad key name {grant.key!r}: {exc.reason}") from None
        if grant.grant not in ("zone", "acme", "subdomain"):
            raise PolicyError(index, f"unknown grant {grant.grant!r} (zone, acme or subdomain)")
        if grant.grant != "subdomain":
            if grant.name is not None:
                raise PolicyError(index, f"name is only for grant = \"subdomain\", not {grant.grant!r}")
            return key, (grant.grant, self.origin)
        if grant.name is None:
            raise PolicyError(index, "grant = \"subdomain\" needs a name")
        try:
            scope = _absolute(grant.name)
        except WireError as exc:
            raise PolicyError(index, f"bad name {grant.name!r}: {exc.reason}") from None
        if not scope.is_subdomain(self.origin):
            raise PolicyError(index, f"name {scope} is not inside the zone {self.origin}")
        return key, ("subdomain", scope)

    def __bool__(self) -> bool:
        """False when there are no grants: the zone refuses UPDATE."""
        return bool(self._rules)

    def permits(self, key: Name | None, rr: RR) -> bool:
        """May ``key`` apply the update RR ``rr`` (RFC 2136 §3.3)?

        Args:
            key: the name of the TSIG key that signed the update (already
                verified), or None for an unsigned update.
            rr: one RR of the update section: an add (the zone's class), a
                deletion of an RRset or of a name (class ANY) or of one RR
                (class NONE), RFC 2136 §2.5.

        Returns:
            True when one of the key's grants covers ``rr``.
        """
        if key is None:
            return False
        return any(self._covers(kind, scope, rr) for kind, scope in self._rules.get(key.key, ()))

    def _covers(self, kind: str, scope: Name, rr: RR) -> bool:
        """Does one grant cover ``rr``?"""
        if not rr.owner.is_subdomain(scope):
            return False
        if kind != "acme":
            return True
        wire = rr.owner.key
        return (rr.rrtype == TXT and rr.rrclass in (self.rrclass, CLASS_NONE, CLASS_ANY)
                and wire[1:1 + wire[0]] == ACME_LABEL)

    def __repr__(self) -> str:
        rules = sum(len(r) for r in self._rules.values())
        return f"Policy({self.origin}, {rules} grants for {len(self._rules)} keys)"
