"""The machinery of the resolver differential tests (test_resolver_vs_unbound.py, unsigned, and
test_resolver_dnssec_vs_unbound.py, validating): ask two resolvers the same corpus, compare,
excuse differences by a closed list, report.

A test brings its own query type (``category``, ``qname``, ``qtype``, and ``message()`` giving
the dnspython query to send) and outcome type (``of(message, seconds)``, ``key()`` compared
between the two sides, ``rcode``, ``seconds``, ``rrsets_text()`` for the report, and a
constructor taking ``(rcode, seconds=...)`` for timeouts and errors).
"""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass
from typing import Any, Callable

import dns.asyncquery
import dns.exception
import dns.flags

from peers import Server


@dataclass(frozen=True)
class Allowed:
    """One allowed difference: when it applies (query, the left outcome, the right one) and why."""

    name: str
    reason: str
    applies: Callable[[Any, Any, Any], bool]


@dataclass(frozen=True)
class Budget:
    """Time limits of one differential run, seconds."""

    try_timeout: float  # one attempt
    per_query: float  # every attempt of one query
    run: float  # the whole corpus
    in_flight: int = 20  # queries outstanding per resolver


async def ask(server: Server, q, deadline: float, outcome: type, budget: Budget):
    """Ask ``server`` (UDP, then TCP on TC), retrying timeouts until the budget is spent;
    ``outcome.of(reply, seconds)``, or ``outcome("TIMEOUT"|"ERROR <kind>", seconds=...)``."""
    start = time.monotonic()
    end = min(start + budget.per_query, deadline)
    while time.monotonic() < end:
        query = q.message()
        timeout = min(budget.try_timeout, max(0.1, end - time.monotonic()))
        try:
            # A late reply to an earlier attempt may reach a socket that reuses its port:
            # ignore_errors skips what does not answer this query.
            reply = await dns.asyncquery.udp(query, server.host, timeout=timeout, port=server.port,
                                             ignore_unexpected=True, ignore_errors=True)
            if reply.flags & dns.flags.TC:
                reply = await dns.asyncquery.tcp(query, server.host, timeout=timeout, port=server.port)
            return outcome.of(reply, time.monotonic() - start)
        except dns.exception.Timeout:
            continue
        except (OSError, EOFError, dns.exception.DNSException) as exc:
            return outcome(f"ERROR {type(exc).__name__}", seconds=time.monotonic() - start)
    return outcome("TIMEOUT", seconds=time.monotonic() - start)


def compare(left: Server, right: Server, phases: list[list], outcome: type, budget: Budget) -> list[tuple]:
    """``[(query, left outcome, right outcome)]`` for each phase in turn, in order; both sides
    are asked each query at once, ``budget.in_flight`` queries at a time."""

    async def run() -> list[tuple]:
        limit = asyncio.Semaphore(budget.in_flight)
        deadline = time.monotonic() + budget.run

        async def one(q) -> tuple:
            async with limit:
                a, b = await asyncio.gather(ask(left, q, deadline, outcome, budget),
                                            ask(right, q, deadline, outcome, budget))
                return q, a, b

        results = []
        for phase in phases:
            results += await asyncio.gather(*(one(q) for q in phase))
        return results

    return asyncio.run(run())


def check_minimums(counts: collections.Counter, minimums: dict[str, int]) -> None:
    """Print the corpus counts; fail when a category is below its minimum."""
    print("\ncorpus:", dict(sorted(counts.items())))
    short = {c: (counts[c], n) for c, n in minimums.items() if counts[c] < n}
    assert not short, f"corpus categories below their minimum (have, want): {short}"


def report(results: list[tuple], allowed: list[Allowed], title: str) -> tuple[int, list[tuple]]:
    """Print the counts and examples; return (equal count, uncategorised differences)."""
    per_cat = collections.Counter(q.category for q, _, _ in results)
    diff_cat: collections.Counter = collections.Counter()
    excused: collections.Counter = collections.Counter()
    bad = []
    for q, a, b in results:
        if a.key() == b.key():
            continue
        diff_cat[q.category] += 1
        hit = next((x for x in allowed if x.applies(q, a, b)), None)
        if hit is None:
            bad.append((q, a, b))
        else:
            excused[hit.name] += 1
    equal = len(results) - sum(diff_cat.values())
    print(f"\n{title}: total {len(results)}, equal {equal} "
          f"({100.0 * equal / max(1, len(results)):.2f} %), different {sum(diff_cat.values())}, "
          f"uncategorised {len(bad)}")
    print("left rcodes:", dict(collections.Counter(a.rcode for _, a, _ in results)))
    print("right rcodes:", dict(collections.Counter(b.rcode for _, _, b in results)))
    for side, pick in (("left", 1), ("right", 2)):
        slow = sorted(results, key=lambda r: -r[pick].seconds)[:3]
        print(f"slowest {side}:", ", ".join(f"{r[0].qname} {r[0].qtype} {r[pick].seconds:.1f} s"
                                            for r in slow))
    for cat in sorted(per_cat):
        print(f"  {cat:20} {per_cat[cat]:5} queries, {diff_cat[cat]:4} different")
    for name, n in excused.items():
        print(f"  allowed '{name}': {n}")
    for q, a, b in bad[:25]:
        print(f"--- {q.qname} {q.qtype} [{q.category}]")
        print(f"    left  {a.rcode}: {a.rrsets_text()}")
        print(f"    right {b.rcode}: {b.rrsets_text()}")
    return equal, bad
