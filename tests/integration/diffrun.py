"""Running a differential test against NSD: the closed list of allowed differences, the run over
a corpus, the honesty check of each entry's example, and the report (test_nsd_differential.py,
test_dnssec_differential.py)."""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Callable

import dns.flags
import dns.name

from diffcorpus import AAAA, NS, A, Query
from diffreply import Client, Exchange, Reply, exchange, show


@dataclass(frozen=True)
class Allowed:
    """One allowed difference: what it excuses, when, why, and a query that shows it."""

    key: str
    reason: str
    fields: frozenset[str]
    applies: Callable[[Exchange], bool]
    example: Query
    example_transport: str
    confirm: Callable[[Exchange, dict], str | None] | None = None  # a further check, or None


def required_glue(r: Reply) -> set:
    """In-domain glue of a referral: A/AAAA of NS targets at or below the cut (RFC 9471)."""
    if r.aa or r.answer:
        return set()
    cuts = {(rr[0], rr[4].lower()) for rr in r.authority if rr[1] == NS}
    out = set()
    for cut, target in cuts:
        if dns.name.from_text(target).is_subdomain(dns.name.from_text(cut)):
            out |= {rr for rr in r.additional if rr[1] in (A, AAAA) and rr[0] == target}
    return out


def cd_copied(x: Exchange) -> bool:
    """We copy CD from the query; NSD clears it (the entry 'cd-bit' of both tests)."""
    return x.query.cd and bool(x.ours.flags & dns.flags.CD) and not x.nsd.flags & dns.flags.CD


def explain(x: Exchange, allowed: list[Allowed]) -> tuple[list[str], dict[str, Allowed]]:
    """(unexplained differences, {field: the allowed entry that excused it})."""
    left, used = [], {}
    for f in x.diffs:
        for a in allowed:
            if f in a.fields and a.applies(x):
                used[f] = a
                break
        else:
            left.append(f)
    return left, used


@dataclass
class Outcome:
    """What sending a list of queries to both servers gave."""

    unexplained: list[Exchange] = field(default_factory=list)
    used: collections.Counter = field(default_factory=collections.Counter)
    unconfirmed: list[str] = field(default_factory=list)
    tc_observed: int = 0
    exchanges: int = 0
    identical: int = 0


def run_queries(clients: dict[str, Client], queries: list[Query],
                allowed: list[Allowed]) -> Outcome:
    """Each query over TCP then UDP to ours and NSD; differences explained by ``allowed``."""
    out = Outcome()
    for query in queries:
        tcp = exchange(clients, query, "tcp", None)
        udp = exchange(clients, query, "udp", tcp.nsd)
        out.tc_observed += bool(udp.ours and udp.ours.tc) or bool(udp.nsd and udp.nsd.tc)
        for x in (udp, tcp):
            out.exchanges += 1
            if not x.diffs:
                out.identical += 1
                continue
            left, excused = explain(x, allowed)
            for a in excused.values():
                out.used[a.key] += 1
                problem = a.confirm(x, clients) if a.confirm else None
                if problem:
                    out.unconfirmed.append(f"[{a.key}] {problem}")
            if left:
                x.diffs = left
                out.unexplained.append(x)
    return out


def check_examples(clients: dict[str, Client], allowed: list[Allowed], out: Outcome) -> list[str]:
    """The honesty check: each entry's example shows its difference (confirmed where the entry
    says how); returns the entries whose example does not, adds unconfirmed ones to ``out``."""
    dishonest = []
    for a in allowed:
        q = a.example
        full = clients["nsd"].ask(q, "tcp")
        x = exchange(clients, q, a.example_transport, full)
        if not (set(x.diffs) & a.fields) or not a.applies(x):
            dishonest.append(f"{a.key}: example {q} over {a.example_transport} shows "
                             f"differences {x.diffs}")
        elif a.confirm and (problem := a.confirm(x, clients)):
            out.unconfirmed.append(f"[{a.key}] {problem}")
    return dishonest


def describe(unexplained: list[Exchange]) -> str:
    """The first 20 differing exchanges in full, then one line for each (up to 300)."""
    by_field = collections.Counter(f for x in unexplained for f in x.diffs)
    shown = "\n".join(show(x) for x in unexplained[:20])
    shown += "\nall of them, in short:\n" + "\n".join(
        f"{x.query} over {x.transport}: {', '.join(x.diffs)}" for x in unexplained[:300])
    return (f"{len(unexplained)} exchanges differ from NSD beyond the allowed list "
            f"({dict(by_field)}); the first 20:\n{shown}")


def report(counts: collections.Counter, minimums: dict[str, int], out: Outcome,
           min_tc: int, allowed: list[Allowed], headline: str) -> str:
    """The table of categories, TC seen, the headline and each allowed entry with its reason."""
    lines = [f"\n{'category':<36}{'queries':>8}{'minimum':>9}"]
    for cat in sorted(set(counts) | set(minimums)):
        lines.append(f"{cat:<36}{counts[cat]:>8}{minimums.get(cat, ''):>9}")
    lines.append(f"{'UDP exchanges with TC observed':<36}{out.tc_observed:>8}{min_tc:>9}")
    lines.append(f"{headline}; allowed differences used: {dict(out.used)}")
    for a in allowed:
        lines.append(f"allowed [{a.key}] fields={sorted(a.fields)} example: {a.example} over "
                     f"{a.example_transport}\n    {a.reason}")
    return "\n".join(lines)


def problems(counts: collections.Counter, minimums: dict[str, int], out: Outcome, min_tc: int,
             dishonest: list[str]) -> list[str]:
    """Everything that fails the test: categories below their minimum, too little TC, dishonest
    or unconfirmed entries, unexplained differences."""
    found = []
    below = {c: counts[c] for c, m in minimums.items() if counts[c] < m}
    if below:
        found.append(f"categories below their minimum: {below}")
    if out.tc_observed < min_tc:
        found.append(f"only {out.tc_observed} UDP exchanges had TC set")
    if dishonest:
        found.append("allowed differences not shown by their example:\n" + "\n".join(dishonest))
    if out.unconfirmed:
        found.append("allowed differences not confirmed:\n" + "\n".join(out.unconfirmed[:20]))
    if out.unexplained:
        found.append(describe(out.unexplained))
    return found
