"""DNSSEC differential test: ``dns-suite authoritative`` against NSD on zones signed at test time
(issue 9, part 1), then ``delv`` validating our answers from each zone's trust anchor.

The zones (:mod:`signedzones`) are keyed and signed in a temporary directory by ldns-signzone and
dnssec-signzone, with NSEC, NSEC3 and NSEC3 opt-out, RSA/SHA-256, ECDSA P-256/P-384 and
Ed25519 keys; they hold wildcards (one at an apex), empty non-terminals (one of them a wildcard),
secure and insecure delegations (below empty non-terminals too), served child zones with their
real DS in the parent, DNAME and CNAME chains within and across zones and into an unsigned zone.
Every question of the corpus (:mod:`dnsseccorpus`) is asked with DO and without, over UDP and TCP,
of both servers; each exchange is compared as in test_nsd_differential.py (:mod:`diffreply`):
header flags, rcode, question, OPT presence/version/DO, and the answer and authority sections as
multisets of RRs (TTLs included), RRSIGs, NSEC and NSEC3 among them; the additional section too,
excused only by the entry 'additional' below. With TC set in both, the kept sections are compared.

The closed list of allowed differences is ``ALLOWED``: each entry has its reason, the fields it
excuses, a predicate saying exactly when, an example query that must show it (checked), and where
NSD is the one at odds with the RFCs, a check that our reply is the one the RFC asks for.
"""

from __future__ import annotations

import collections
import re
import subprocess
import time
from pathlib import Path

import dns.name
import dns.rcode
import dns.rdatatype
import pytest

from diffcorpus import ANY, Query, analyse
from diffreply import Client, Exchange, Reply
from diffrun import (Allowed, cd_copied, check_examples, problems, report, required_glue,
                     run_queries)
from dnsseccorpus import MINIMUMS, build_corpus
from peers import REPO, ZoneSpec, check_zone_nsd, kill_all, missing, start_nsd, start_ours
from signedzones import PROGRAMS, Signed, sign_all

pytestmark = [pytest.mark.integration, pytest.mark.slow]

T = dns.rdatatype
A, AAAA, NS, DNAME, CNAME, RRSIG, NSEC, NSEC3 = (T.A, T.AAAA, T.NS, T.DNAME, T.CNAME, T.RRSIG,
                                                 T.NSEC, T.NSEC3)
MIN_TC_OBSERVED = 40  # UDP exchanges where a reply had TC set (signatures at 512 octets)
OUR_PAYLOAD = 1232  # dns-suite's EDNS payload size (responder.Options)
UNSIGNED = ZoneSpec("example.test.", REPO / "zones" / "example.test.zone")


def _sets(r: Reply, section: str) -> dict:
    """RRsets of a section, RRSIGs left out."""
    return {k: v for k, v in r.rrsets(section).items() if k[1] != RRSIG}


def _covered(rows) -> set[str]:
    return {row[4].split()[0] for row in rows if row[1] == RRSIG}


def _any_one_rrset(x: Exchange) -> bool:
    """ANY: each server answers one RRset of the node (with its RRSIGs under DO)."""
    if x.query.qtype != ANY or not x.ours or not x.nsd:
        return False
    o, n = _sets(x.ours, "answer"), _sets(x.nsd, "answer")
    if not (len(o) == 1 and len(n) == 1 and next(iter(o))[0] == next(iter(n))[0]):
        return False
    return all(_covered(r.answer) <= {T.to_text(next(iter(s))[1])}
               for r, s in ((x.ours, o), (x.nsd, n)))


def _any_rrset_is_the_nodes(x: Exchange, clients: dict) -> str | None:
    """Our one ANY RRset (and its RRSIGs) is what NSD answers when asked for that type."""
    (_, rdtype, _), = _sets(x.ours, "answer")
    q = Query(x.query.qname, rdtype, x.query.edns, x.query.rd)
    nsd = clients["nsd"].ask(q, x.transport)
    if nsd is None or nsd.answer != x.ours.answer:
        return f"{x.query}: our ANY answer is not NSD's answer to {q}"
    return None


def _nsd_tc_for_additional_rrsig(x: Exchange) -> bool:
    """Over UDP NSD sets TC (and drops the RRset) when an additional RRset fits but its RRSIGs
    do not; we leave it out with TC clear. Answer and authority are the same and complete."""
    full = x.nsd_tcp
    return (x.transport == "udp" and full is not None and x.nsd.tc and not x.ours.tc
            and x.ours.answer == x.nsd.answer == full.answer
            and x.ours.authority == x.nsd.authority == full.authority
            and any(rr[1] == RRSIG for rr in full.additional))


def _nsec_covers(row: tuple, name: dns.name.Name) -> bool:
    """True when the NSEC ``row`` covers ``name`` (RFC 4034 §6.1 order, with the wrap)."""
    owner = dns.name.from_text(row[0])
    nxt = dns.name.from_text(row[4].split()[0])
    if owner < nxt:
        return owner < name < nxt
    return name > owner or name < nxt


def _dname_target(r: Reply) -> dns.name.Name | None:
    targets = [dns.name.from_text(rr[4]) for rr in r.answer if rr[1] == CNAME]
    return targets[-1] if targets else None


def _nsd_dname_nxdomain_nsec(x: Exchange) -> bool:
    """NXDOMAIN after a DNAME in an NSEC zone: NSD's NSEC proofs are a subset of ours; or, over
    UDP, ours (one NSEC more) did not fit where NSD's did: we set TC."""
    o, n = x.ours, x.nsd
    if not (o.rcode == n.rcode == dns.rcode.NXDOMAIN and o.answer == n.answer
            and any(rr[1] == DNAME for rr in o.answer)
            and not any(rr[1] == NSEC3 for rr in o.authority + n.authority)):
        return False
    if x.transport == "udp" and o.tc and not n.tc:
        return True
    return not o.tc and not n.tc and set(n.authority) < set(o.authority)


def _ours_covers_the_target(x: Exchange, clients: dict) -> str | None:
    """Our NSECs cover the synthesized target (RFC 4035 §3.1.3.2) and NSD's do not; when we set
    TC, our full reply (over TCP) holds NSD's proofs and more, and does not fit the payload."""
    ours = x.ours
    if ours.tc:
        ours = clients["ours"].ask(x.query, "tcp")
        if ours is None or not set(x.nsd.authority) < set(ours.authority):
            return f"{x.query}: our TCP reply does not hold NSD's proofs and more"
        if len(ours.raw) <= max(512, min(x.query.edns[0], OUR_PAYLOAD)):
            return f"{x.query}: our reply of {len(ours.raw)} octets would fit, yet TC was set"
    target = _dname_target(ours)
    mine = [rr for rr in ours.authority if rr[1] == NSEC]
    theirs = [rr for rr in x.nsd.authority if rr[1] == NSEC]
    if target is None or not any(_nsec_covers(rr, target) for rr in mine):
        return f"{x.query}: our NSECs do not cover {target}"
    if any(_nsec_covers(rr, target) for rr in theirs):
        return f"{x.query}: NSD's NSECs cover {target} after all"
    return None


ALLOWED: list[Allowed] = [
    Allowed(
        key="additional",
        reason="Additional-section data is optional (RFC 1034 §4.3.2 step 6, RFC 2181 §9): "
               "which target addresses and sibling glue are added (with their RRSIGs under DO), "
               "and whether NSD's minimal-responses leaves them out, is each server's choice. "
               "Required glue is compared (it is unsigned).",
        fields=frozenset({"additional"}),
        applies=lambda x: x.ours.tc or x.nsd.tc or required_glue(x.ours) == required_glue(x.nsd),
        example=Query("mx.nsec.bind.test.", T.MX, (1232, True)),
        example_transport="udp",
    ),
    Allowed(
        key="any",
        reason="RFC 8482 §4.1: a responder may answer ANY with one RRset of the node. We answer "
               "the RRset with the lowest type code (RRSIG, NSEC and NSEC3 last); NSD prefers "
               "A/AAAA/SOA/MX/PTR. Under DO each side's RRSIGs cover its RRset only (checked), "
               "and our RRset with its RRSIGs is NSD's answer to that type (confirmed).",
        fields=frozenset({"answer"}),
        applies=_any_one_rrset,
        confirm=_any_rrset_is_the_nodes,
        example=Query("nsec.ldns.test.", ANY, (1232, True)),
        example_transport="udp",
    ),
    Allowed(
        key="cd-bit",
        reason="RFC 4035 §3 'MUST copy the CD bit' against §3.1.6 'SHOULD clear the CD bit "
               "when composing an authoritative response': we copy it (DESIGN.md, hot path), "
               "NSD clears it (as in test_nsd_differential.py).",
        fields=frozenset({"flag:CD"}),
        applies=cd_copied,
        example=Query("www.nsec3.ldns.test.", A, (1232, True), cd=True),
        example_transport="udp",
    ),
    Allowed(
        key="nsd-tc-additional-rrsig",
        reason="RFC 4035 §3.1.1: when an additional RRset fits but its RRSIGs do not, the "
               "server 'MUST NOT set the TC bit solely because these RRSIG RRs didn't fit'. NSD "
               "4.6 drops that RRset and sets TC; we leave it out (it is optional, DESIGN "
               "'Truncation') with TC clear. Answer and authority are the same in both, and "
               "equal to NSD's TCP reply's (checked), so TC excuses nothing required.",
        fields=frozenset({"flag:TC", "additional"}),
        applies=_nsd_tc_for_additional_rrsig,
        example=Query("d.ent2.nsec.ldns.test.", NS, (512, True)),
        example_transport="udp",
    ),
    Allowed(
        key="nsd-dname-nxdomain-nsec",
        reason="RFC 4035 §3.1.3.2: an NXDOMAIN needs the NSEC covering the name that does not "
               "exist. After a DNAME in an NSEC-signed zone NSD starts its search for that NSEC "
               "at the closest encloser of the synthesized target instead of the target itself "
               "(query_synthesize_cname makes a temporary domain that find_covering_nsec climbs "
               "out of), so its proof does not cover the target (checked; delv does not see it, "
               "as it asks for the target itself). Ours is NSD's plus the NSEC covering the "
               "target, as NSD answers an NXDOMAIN reached by a CNAME; over UDP that NSEC "
               "more may not fit where NSD's reply does, and we set TC (checked: our full reply "
               "exceeds the payload).",
        fields=frozenset({"authority", "flag:TC"}),
        applies=_nsd_dname_nxdomain_nsec,
        confirm=_ours_covers_the_target,
        example=Query("x.dn.nsec.bind.test.", A, (1232, True)),
        example_transport="udp",
    ),
]


# --- fixtures --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def signed(tmp_path_factory) -> dict[str, Signed]:
    gone = missing("nsd", "nsd-checkzone", "delv", *PROGRAMS)
    if gone:
        pytest.fail(f"not installed (scripts/test installs it): {', '.join(gone)}")
    zones = sign_all(tmp_path_factory.mktemp("signed"))
    for s in zones.values():
        check_zone_nsd(s.spec)
    return zones


@pytest.fixture(scope="module")
def served(signed) -> list[ZoneSpec]:
    return [s.spec for s in signed.values()] + [UNSIGNED]


@pytest.fixture(scope="module")
def servers(served, tmp_path_factory):
    root = tmp_path_factory.mktemp("servers")
    started = []
    try:
        for name, start in (("nsd", start_nsd), ("ours", start_ours)):
            started.append(start(served, root / name))
        yield dict(zip(("nsd", "ours"), started))
    finally:
        kill_all(started)


# --- the differential test -------------------------------------------------------------------

def test_dnssec_differential_against_nsd(servers, signed, capsys):
    started = time.monotonic()
    corpus = build_corpus([analyse(s.spec) for s in signed.values()])
    counts = corpus.counts()
    clients = {name: Client(s) for name, s in servers.items()}
    try:
        result = run_queries(clients, corpus.queries, ALLOWED)
        dishonest = check_examples(clients, ALLOWED, result)
    finally:
        for c in clients.values():
            c.close()
    with capsys.disabled():
        print(report(counts, MINIMUMS, result, MIN_TC_OBSERVED, ALLOWED,
                     f"{len(corpus.queries)} queries x 2 transports x 2 servers in "
                     f"{time.monotonic() - started:.1f} s: {result.exchanges} exchanges, "
                     f"{result.identical} identical"))
    found = problems(counts, MINIMUMS, result, MIN_TC_OBSERVED, dishonest)
    if found:
        pytest.fail("\n\n".join(found))


# --- delv ------------------------------------------------------------------------------------

# (qname relative to the zone, qtype, what delv must say of our answer). Referrals are left out:
# delv asks only the server given, and the delegated servers are not there. delv follows a
# CNAME or DNAME by asking for the target itself, so a chain ending in NXDOMAIN shows the
# chain validated and the target's negative answer.
VALIDATED = "fully validated"
NODATA = "negative response, fully validated / ncache nxrrset"
NXDOMAIN = "negative response, fully validated / ncache nxdomain"
CHAIN_NX = "fully validated / ncache nxdomain"
UNSIGNED_ANSWER = "unsigned answer"
DELV_QUERIES = [
    ("@", "SOA", VALIDATED), ("@", "DNSKEY", VALIDATED), ("@", "MX", VALIDATED),
    ("www", "A", VALIDATED), ("www", "MX", NODATA), ("nx", "A", NXDOMAIN),
    ("a.nx", "TXT", NXDOMAIN), ("ent", "A", NODATA), ("b.ent", "DS", NODATA),
    ("a.b.ent", "TXT", VALIDATED), ("_443._tcp.www", "TLSA", VALIDATED),
    ("foo.wild", "A", VALIDATED), ("a.foo.wild", "TXT", VALIDATED), ("foo.wild", "MX", NODATA),
    ("host.wild", "A", VALIDATED), ("foo.wc", "A", VALIDATED), ("x.went", "A", NODATA),
    ("www.dn", "A", VALIDATED), ("nothere.dn", "A", CHAIN_NX), ("c1", "A", VALIDATED),
    ("cnx", "A", CHAIN_NX), ("secure", "DS", VALIDATED), ("insecure", "DS", NODATA),
    ("d.ent2", "DS", NODATA), ("sub.ent3", "DS", VALIDATED), ("ent2", "A", NODATA),
]
CHILD_QUERIES = [("www.child", "A", VALIDATED), ("nx.child", "A", NXDOMAIN),
                 ("x.w.child", "A", VALIDATED), ("e.child", "A", NODATA),
                 ("child", "DS", VALIDATED), ("child", "DNSKEY", VALIDATED)]
APEX_WILD_QUERIES = [("anything", "TXT", VALIDATED), ("anything", "MX", NODATA),
                     ("www", "TXT", NODATA), ("x.www", "A", NXDOMAIN), ("@", "DNSKEY", VALIDATED)]
# Where delv must say something else of our answer (and says the same of NSD's), and why:
EXPECTED_OTHERWISE = {
    # RFC 5155 §7.2.6, §8.8: a wildcard answer whose next closer name is covered by an opt-out
    # NSEC3 cannot rule out an unsigned delegation there: the answer is insecure, not bogus.
    ("optout", "foo.wild", "A"): UNSIGNED_ANSWER, ("optout", "a.foo.wild", "TXT"): UNSIGNED_ANSWER,
    ("optout", "foo.wc", "A"): UNSIGNED_ANSWER,
}


def _anchor(tmp: Path, signed: Signed) -> Path:
    parts = signed.ksk_dnskey.split()
    i = parts.index("DNSKEY")
    flags, proto, alg, key = parts[i + 1], parts[i + 2], parts[i + 3], "".join(parts[i + 4:])
    path = tmp / f"anchor-{signed.spec.origin}conf"
    path.write_text(f'trust-anchors {{ "{signed.spec.origin}" static-key {flags} {proto} {alg} '
                    f'"{key}"; }};\n')
    return path


_STATUS = re.compile(r"^; ((?:negative response, )?(?:fully validated|unsigned answer))\s*$")


def delv(port: int, anchor: Path, root: str, qname: str, qtype: str) -> str:
    """delv's verdict: its first status comment ('fully validated', 'unsigned answer', ...)
    and, after ' / ', why resolution ended without an answer ('ncache nxdomain', a failure)."""
    done = subprocess.run(["delv", "@127.0.0.1", "-p", str(port), "-a", str(anchor),
                           f"+root={root}", qname, qtype],
                          capture_output=True, text=True, timeout=60)
    lines = (done.stdout + done.stderr).splitlines()
    status = next((m.group(1) for ln in lines if (m := _STATUS.match(ln))), "")
    failed = next((ln.split("resolution failed:", 1)[1].strip() for ln in lines
                   if "resolution failed:" in ln), "")
    return " / ".join(part for part in (status, failed) if part)


def test_delv_validates_our_answers(servers, signed, tmp_path, capsys):
    counts: collections.Counter = collections.Counter()
    wrong = []
    for origin, s in signed.items():
        if origin.startswith("child."):
            continue  # validated through its parent's anchor
        anchor = _anchor(tmp_path, s)
        queries = APEX_WILD_QUERIES if origin.startswith("wild.") else list(DELV_QUERIES)
        if s.signing.children:
            queries += CHILD_QUERIES
        kind = origin.split(".")[0]
        for rel, qtype, expected in queries:
            qname = origin if rel == "@" else f"{rel}.{origin}"
            expected = EXPECTED_OTHERWISE.get((kind, rel, qtype), expected)
            ours = delv(servers["ours"].port, anchor, origin, qname, qtype)
            theirs = delv(servers["nsd"].port, anchor, origin, qname, qtype)
            counts[ours] += 1
            if ours != expected:
                wrong.append(f"{qname} {qtype}: delv says {ours!r} of ours, expected {expected!r}")
            if theirs != ours:
                wrong.append(f"{qname} {qtype}: delv says {theirs!r} of NSD, {ours!r} of ours")
    with capsys.disabled():
        print(f"\ndelv verdicts on our answers: {dict(counts)}")
    assert not wrong, "\n".join(wrong)


# --- check-zone ------------------------------------------------------------------------------

def test_check_zone_accepts_the_signed_zones(signed):
    """Signed zones load without errors or warnings (RRSIGs keep their own TTLs)."""
    for s in signed.values():
        done = subprocess.run(["dns-suite", "check-zone", s.spec.origin, str(s.spec.path)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        noise = [ln for ln in (done.stdout + done.stderr).splitlines()
                 if re.search(r"\b(error|warning)\b", ln)]
        assert not noise, noise
