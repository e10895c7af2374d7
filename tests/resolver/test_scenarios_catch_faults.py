"""The replay harness catches a broken resolver: deliberate faults fail named scenarios.

Each fault is patched into the real core (monkeypatch); the named scenarios must then
fail, and pass again without the fault (test_scenarios.py runs them all).
"""

from __future__ import annotations

import pytest
from replay import replay_file
from test_scenarios import SCENARIO_DIR

import dns_suite.resolver.resolution as resolution
import dns_suite.resolver.scrub as scrub
from dns_suite.resolver import cache as C
from dns_suite.wire.name import ROOT


def _ignore_glue(self, found, now):
    self.cache.put(found.ns, C.AUTHORITY, now)  # the NS, but none of the glue


def _no_bailiwick(original):
    return lambda rrs, zone: original(rrs, ROOT)  # every record counts as in bailiwick


@pytest.mark.parametrize("fault,scenarios", [
    ("ignores glue", ["iter_resolve", "iter_pcname", "iter_escape_bailiwick"]),
    ("caches and answers out-of-bailiwick data", ["iter_badglue"]),
])
def test_a_broken_resolver_fails_named_scenarios(monkeypatch, fault, scenarios):
    if fault == "ignores glue":  # caches a referral's NS but drops its glue
        monkeypatch.setattr(resolution.Iteration, "_store_referral", _ignore_glue)
    else:  # keeps every record of a reply and answers clients from whatever it kept
        monkeypatch.setattr(scrub, "_group", _no_bailiwick(scrub._group))
        lookup = C.Cache.lookup
        monkeypatch.setattr(C.Cache, "lookup", lambda self, key, qtype, now, stale=False, min_rank=0:
                            lookup(self, key, qtype, now, stale=stale, min_rank=0))
    for name in scenarios:
        with pytest.raises(AssertionError):
            replay_file(SCENARIO_DIR / f"{name}.rpl", qname_minimisation=False)
