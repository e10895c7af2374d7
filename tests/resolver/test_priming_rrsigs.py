"""The root's NS RRset cached by priming (RFC 8109) keeps its RRSIGs: a client asking ``. NS``
with DO and CD is answered from that entry and must get them (found by the signed local
Internet's differential test against Unbound, tests/integration/test_resolver_dnssec_vs_unbound.py)."""

from __future__ import annotations

import dns.flags
import dns.rdatatype
import pytest

from signedlab import Lab


@pytest.mark.parametrize("flags", [dict(do=True, cd=True), dict(do=True)])
def test_root_ns_after_priming_has_its_rrsigs(flags) -> None:
    lab = Lab()
    lab.ask("www.example.", "A", do=True)  # primes from the hints
    reply = lab.ask(".", "NS", **flags)
    types = {(r.rdtype, r.covers) for r in reply.answer}
    assert (dns.rdatatype.NS, dns.rdatatype.NONE) in types
    assert (dns.rdatatype.RRSIG, dns.rdatatype.NS) in types
    assert reply.flags & dns.flags.AD  # validated, with CD too (as Unbound)
