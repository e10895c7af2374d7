"""Security status of cached data (pure; RFC 4035 §4.3, RFC 4033 §5).

A :class:`Security` travels with an RRset or a negative answer through the cache: its
validation status, the reason when bogus (an RFC 8914 extended error), and the DNSSEC
records that go with it to clients that set DO (its RRSIGs; for a negative answer or a
wildcard expansion, the NSEC/NSEC3 records proving it, with their RRSIGs).
"""

from __future__ import annotations

from dataclasses import dataclass

from dns_suite.wire.message import RR

SECURE, INSECURE, BOGUS, UNCHECKED = "secure", "insecure", "bogus", "unchecked"
RRSIG, NSEC, NSEC3, DS, DNSKEY = 46, 47, 50, 43, 48
DNSSEC_TYPES = frozenset({RRSIG, NSEC, NSEC3})


@dataclass(frozen=True, slots=True)
class Security:
    """What validation said about some data.

    Attributes:
        status: SECURE, INSECURE, BOGUS or UNCHECKED (not validated: CD, or no anchor asked).
        why: (EDE info code, text) when BOGUS.
        sigs: the RRSIGs of the RRset (for a negative answer: of its SOA).
        proof: NSEC/NSEC3 records and their RRSIGs (denial, or a wildcard's no-closer-match).
    """

    status: str = UNCHECKED
    why: tuple[int, str] | None = None
    sigs: tuple[RR, ...] = ()
    proof: tuple[RR, ...] = ()

    def with_ttl(self, ttl: int) -> Security:
        """The same with every record's TTL set to ``ttl`` (answers count TTLs down)."""
        if not self.sigs and not self.proof:
            return self
        return Security(self.status, self.why, _with_ttl(self.sigs, ttl), _with_ttl(self.proof, ttl))


NONE = Security()
"""Unvalidated, no DNSSEC records: the default of every cache entry."""


def _with_ttl(rrs: tuple[RR, ...], ttl: int) -> tuple[RR, ...]:
    return tuple(RR(owner=r.owner, rrtype=r.rrtype, rrclass=r.rrclass, ttl=ttl, rdata=r.rdata) for r in rrs)
